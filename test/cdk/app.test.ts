/**
 * bin/app.ts: where the CDK app's configuration comes from (-c config=FILE, the gpuMaint context) and
 * how bad input is reported. No synthesis.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { appConfig, buildApp } from '../../bin/app';
import { testApp } from '../helpers/cdk';
import { cdkOutdir } from '../helpers/temp';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-app-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('appConfig', () => {
  test('no context gives the documented defaults', () => {
    const config = appConfig(testApp({}));
    expect(config.fleet).toEqual({ name: 'default', tagKey: 'gpu-maint:fleet', shards: 1, shardTagKey: 'gpu-maint:shard' });
    expect(config.gpuCheck.schedule.expression).toBe('rate(5 minutes)');
  });

  test('-c config=FILE reads the same YAML file local mode reads', () => {
    const config = appConfig(testApp({ config: file('c.yaml', 'fleet:\n  name: vision\ntimeZone: Europe/Berlin\n') }));
    expect(config.fleet.name).toBe('vision');
    expect(config.timeZone).toBe('Europe/Berlin');
  });

  test('the gpuMaint context is merged over the file, key by key', () => {
    const config = appConfig(
      testApp({
        config: file('d.json', JSON.stringify({ fleet: { name: 'vision', tagKey: 'team' }, timeZone: 'Europe/Berlin' })),
        gpuMaint: { fleet: { name: 'vision-canary' } },
      }),
    );
    expect(config.fleet).toEqual({ name: 'vision-canary', tagKey: 'team', shards: 1, shardTagKey: 'gpu-maint:shard' });
    expect(config.timeZone).toBe('Europe/Berlin');
  });

  test('the gpuMaint context may be a JSON string, as -c passes it', () => {
    const config = appConfig(testApp({ gpuMaint: '{"alerts":{"emails":[{"address":"ops@example.com"}]}}' }));
    expect(config.alerts.emails).toEqual([{ address: 'ops@example.com', minSeverity: 'warning' }]);
  });

  test.each([
    [{ gpuMaint: '{"fleet":' }, '-c gpuMaint: not valid JSON'],
    [{ gpuMaint: { fleet: { name: 'bad name!' } } }, 'fleet.name: got "bad name!"; expected 1-64 letters, digits, _ . -'],
    [{ gpuMaint: { fleeet: { name: 'x' } } }, 'fleeet: unknown setting'],
    [{ config: '/nonexistent/gpu-maint.yaml' }, '--config /nonexistent/gpu-maint.yaml: cannot read file (ENOENT)'],
  ])('%j is refused with "%s"', (context, message) => {
    expect(() => appConfig(testApp(context))).toThrow(message);
  });
});

describe('buildApp', () => {
  test('-c stackName names the stack', () => {
    expect(
      buildApp({ outdir: cdkOutdir(), context: { stackName: 'GpuMaint-vision', 'aws:cdk:bundling-stacks': [] }, nag: false }).stack
        .stackName,
    ).toBe('GpuMaint-vision');
  });

  test('a stack name CloudFormation would refuse is an error', () => {
    expect(() => buildApp({ outdir: cdkOutdir(), context: { stackName: 'gpu_maint' }, nag: false })).toThrow(
      '-c stackName: expected a CloudFormation stack name',
    );
  });

  test('a log retention CloudWatch does not offer fails before synthesis', () => {
    expect(() =>
      buildApp({
        outdir: cdkOutdir(),
        context: { gpuMaint: { aws: { logRetentionDays: 10 } }, 'aws:cdk:bundling-stacks': [] },
        nag: false,
      }),
    ).toThrow('log retention must be one of');
  });

  test('the region comes from the config when it names one', () => {
    const { stack } = buildApp({
      outdir: cdkOutdir(),
      context: { gpuMaint: { aws: { region: 'eu-west-1' } }, 'aws:cdk:bundling-stacks': [] },
      nag: false,
    });
    expect(stack.region).toBe('eu-west-1');
  });
});
