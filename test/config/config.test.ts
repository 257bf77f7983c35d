import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { expandHome } from '../../lambda/adapters/local/paths';
import { ConfigError, loadConfig, parseSetOption } from '../../lambda/config/load';
import { tempDir } from '../helpers/temp';

function tempFile(name: string, content: string): string {
  const dir = tempDir('gpu-maint-config-');
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

describe('defaults', () => {
  test('an empty config is a working config with the documented defaults', () => {
    const c = loadConfig();
    expect(c.gpuCheck).toMatchObject({ instanceType: 'auto', expectedGpuCount: 'auto' });
    expect(c.healthCheck.mounts).toEqual(['/']);
    expect(c.local.stateDir).toBe('~/.local/state/gpu-maint');
    expect(c.thresholds.gpuTemperatureC).toEqual({ warning: 83, critical: 90 });
    expect(c.metrics.detail).toBe('fleet');
  });

  test('default health endpoints are resolved on the host, never a public IP literal', () => {
    expect(loadConfig().healthCheck.endpoints).toBe('auto');
  });
});

describe('--set', () => {
  test.each([
    ['thresholds.gpuTemperatureC.warning=80', ['thresholds', 'gpuTemperatureC', 'warning'], 80],
    ['healthCheck.services=["nvidia-persistenced.service"]', ['healthCheck', 'services'], ['nvidia-persistenced.service']],
    ['fleet.name=training', ['fleet', 'name'], 'training'],
    ['cleanup.dryRun=false', ['cleanup', 'dryRun'], false],
    ['local.stateDir=/tmp/a=b', ['local', 'stateDir'], '/tmp/a=b'],
  ])('%s is parsed as JSON when it parses, else as a string', (option, keyPath, value) => {
    expect(parseSetOption(option)).toEqual({ keyPath, value });
  });

  test('a partial schedule keeps the default expression', () => {
    expect(loadConfig({ set: ['backup.restoreTestSchedule.enabled=false'] }).backup.restoreTestSchedule).toEqual({
      expression: 'cron(0 4 ? * SAT *)',
      flexibleWindowMinutes: 0,
      enabled: false,
    });
  });

  test('a --set override wins over the file', () => {
    const file = tempFile('c.yaml', 'fleet:\n  name: from-file\n');
    expect(loadConfig({ file, set: ['fleet.name=from-set'] }).fleet.name).toBe('from-set');
  });

  test.each(['novalue', '=3', 'a..b=1'])('malformed --set %j is a usage error', (option) => {
    expect(() => parseSetOption(option)).toThrow(ConfigError);
  });
});

describe('files', () => {
  test.each([
    ['c.json', '{"gpuCheck": {"expectedGpuCount": 8}}'],
    ['c.yaml', 'gpuCheck:\n  expectedGpuCount: 8\n'],
    ['c.yml', 'gpuCheck: {expectedGpuCount: 8}\n'],
  ])('%s is read', (name, content) => {
    expect(loadConfig({ file: tempFile(name, content) }).gpuCheck.expectedGpuCount).toBe(8);
  });

  test('an unreadable file names the file', () => {
    expect(() => loadConfig({ file: '/nonexistent/gpu-maint.yaml' })).toThrow(
      /--config \/nonexistent\/gpu-maint.yaml: cannot read file \(ENOENT\)/,
    );
  });

  test('a file that is not a mapping is rejected', () => {
    expect(() => loadConfig({ file: tempFile('c.yaml', '- a\n- b\n') })).toThrow(
      /expected a mapping of settings at the top level, got a list/,
    );
  });
});

describe('validation errors name the key, the bad value and what was expected', () => {
  test.each([
    ['thresholds.gpuTemperatureC.warning="hot"', /thresholds\.gpuTemperatureC\.warning: got "hot"; expected a number/],
    ['metrics.detail=host', /metrics\.detail: got "host"; expected one of "fleet"\|"instance"\|"gpu"/],
    ['gpuCheck.expectedGpuCount=-1', /gpuCheck\.expectedGpuCount: got -1/],
    ['thresholds.diskUsedPct.warning=99', /thresholds\.diskUsedPct\.warning: got 99; expected a warning level ≤ the critical level \(95\)/],
    [
      'thresholds.memoryAvailablePct.warning=2',
      /thresholds\.memoryAvailablePct\.warning: got 2; expected a warning level ≥ the critical level \(5\)/,
    ],
    ['healthCheck.endpoints=["8.8.8.8"]', /healthCheck\.endpoints\.0: got "8\.8\.8\.8"; expected host:port/],
    ['healthCheck.mounts=["relative/dir"]', /healthCheck\.mounts\.0: got "relative\/dir"; expected an absolute path/],
    ['gpuChek.instanceType=p5.48xlarge', /gpuChek: unknown setting/],
    [
      'aws.tags={"aws:owner":"me"}',
      /aws\.tags\.aws:owner: got key "aws:owner"; expected a tag key .* not starting with aws: or gpu-maint:/,
    ],
    ['aws.tags={"team":"a,b"}', /aws\.tags\.team: got "a,b"; expected a tag value of 1-256/],
    ['alerts.flapping.firings=1', /alerts\.flapping\.firings: got 1; expected a number of at least 2/],
  ])('%s', (option, message) => {
    expect(() => loadConfig({ set: [option] })).toThrow(message);
  });

  test('every problem is listed, not only the first', () => {
    const load = () => loadConfig({ set: ['metrics.detail=x', 'fleet.name=a b'] });
    expect(load).toThrow(/metrics\.detail: got "x"/);
    expect(load).toThrow(/fleet\.name: got "a b"/);
  });
});

test('expandHome expands a leading ~ only', () => {
  expect(expandHome('~/.local/state/gpu-maint')).toBe(path.join(os.homedir(), '.local/state/gpu-maint'));
  expect(expandHome('/var/lib/gpu-maint')).toBe('/var/lib/gpu-maint');
});
