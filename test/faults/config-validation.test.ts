/**
 * Faults in the configuration: typos in nested settings, cleanup roots over backups or the state dir, and
 * settings too large for a process environment. Each is refused before any script runs (exit 2), in the
 * CLI and in the CDK app, with the key path and what was expected.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { appConfig } from '../../bin/app';
import { testApp } from '../helpers/cdk';
import { age, disposeFaultHosts, makeFaultHost, put, runCliProcess, writeConfig } from './cli-harness';

afterEach(disposeFaultHosts);

describe('typos in nested settings', () => {
  test.each([
    [{ backup: { retention: { keeplast: 3 } } }, 'backup.retention.keeplast', 'backup.retention.keepLast'],
    [{ cleanup: { protected: ['/data/keep'] } }, 'cleanup.protected', 'cleanup.protect'],
    [{ thresholds: { gpuTemperatureC: { warnng: 70 } } }, 'thresholds.gpuTemperatureC.warnng', 'thresholds.gpuTemperatureC.warning'],
    [{ alerts: { repeatIntervalHours: { critcal: 1 } } }, 'alerts.repeatIntervalHours.critcal', 'alerts.repeatIntervalHours.critical'],
  ])('a typo %j in the config file stops the CLI with exit 2 and a did-you-mean naming the full key path', async (config, bad, good) => {
    const host = makeFaultHost(config);
    const run = await runCliProcess(host, ['run', 'cleanup']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${bad}: unknown setting`);
    expect(run.stderr).toContain(`did you mean ${good}?`);
    // Nothing ran: no script was written, no metrics.
    expect(existsSync(path.join(host.stateDir, 'scripts'))).toBe(false);
  });

  test('a typo cleanup.protected never lets a real cleanup delete the directory it meant to protect', async () => {
    const host = makeFaultHost();
    const exp = path.join(host.data, 'exp');
    const keep = path.join(exp, 'precious-run');
    put(path.join(keep, 'weights.bin'), 100, 60);
    age(keep, 60);
    writeConfig(host, { cleanup: { dryRun: false, maxDeleteFraction: 1, protected: [keep], experiments: { paths: [exp] } } });
    const run = await runCliProcess(host, ['run', 'cleanup']);
    expect(run.code).toBe(2);
    expect(existsSync(path.join(keep, 'weights.bin'))).toBe(true);
  });

  test('a typo in --set is refused like one in the file', async () => {
    const host = makeFaultHost();
    const run = await runCliProcess(host, ['--set', 'backup.retention.keepDayly=3', 'run', 'cleanup']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('did you mean backup.retention.keepDaily?');
  });

  test('a typo in the CDK context is refused by the app (cdk synth) with the same suggestion', () => {
    const app = testApp({ gpuMaint: { backup: { retention: { keeplast: 3 } } } });
    expect(() => appConfig(app)).toThrow(/backup\.retention\.keeplast: unknown setting .*did you mean backup\.retention\.keepLast\?/);
  });

  test('a misspelt key inside a list item (a logrotate group) is refused with its index in the path', () => {
    const group = { name: 'app', paths: ['/var/log/app/*.log'], rotate: 7, copytrunate: true };
    const app = testApp({ gpuMaint: { logrotate: { groups: [group] } } });
    expect(() => appConfig(app)).toThrow(
      /logrotate\.groups\.0\.copytrunate: unknown setting .*did you mean logrotate\.groups\.0\.copytruncate\?/,
    );
  });
});

describe('cleanup roots over what must be kept', () => {
  test.each([
    ['equal to a backup source', (d: string) => ({ root: `${d}/models`, backup: { sources: [`${d}/models`] } }), 'is'],
    ['inside a backup source', (d: string) => ({ root: `${d}/models/old`, backup: { sources: [`${d}/models`] } }), 'is inside'],
    ['containing a backup source', (d: string) => ({ root: d, backup: { sources: [`${d}/models`] } }), 'contains'],
    [
      'inside the file:// backup store',
      (d: string) => ({ root: `${d}/store/h`, backup: { destination: `file://${d}/store` } }),
      'is inside',
    ],
    ['containing the file:// backup store', (d: string) => ({ root: d, backup: { destination: `file://${d}/store` } }), 'contains'],
  ])('a cleanup root %s is refused at validation (exit 2) and nothing is deleted', async (_what, make, relation) => {
    const host = makeFaultHost();
    const { root, backup } = make(host.data);
    const victim = put(path.join(root, 'old-run', 'file.bin'), 10, 90);
    age(path.dirname(victim), 90);
    writeConfig(host, {
      backup: { sources: [], ...backup },
      cleanup: { dryRun: false, maxDeleteFraction: 1, experiments: { paths: [root] } },
    });
    const run = await runCliProcess(host, ['run', 'cleanup']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cleanup.experiments.paths.0');
    expect(run.stderr).toContain(`which it ${relation}`);
    expect(existsSync(victim)).toBe(true);
  });

  test('a cleanup root containing the state dir is refused at validation', async () => {
    const host = makeFaultHost();
    writeConfig(host, { cleanup: { experiments: { paths: [host.root] } } });
    const run = await runCliProcess(host, ['run', 'cleanup']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cleanup\.experiments\.paths\.0: .*state dir local\.stateDir.*which it contains/);
  });

  test('a cleanup root that reaches the state dir only through a symlinked spelling is refused by the script: exit 1, cleanup.guard, nothing deleted', async () => {
    const host = makeFaultHost();
    // The state dir is spelt through a symlink; the root is the real directory above it.
    const real = path.join(host.data, 'real');
    mkdirSync(real, { recursive: true });
    const link = path.join(host.data, 'link');
    symlinkSync(real, link);
    const victim = put(path.join(real, 'old-run', 'file.bin'), 10, 90);
    age(path.dirname(victim), 90);
    writeConfig(host, {
      local: { stateDir: path.join(link, 'state') },
      backup: { sources: [] },
      cleanup: { dryRun: false, maxDeleteFraction: 1, experiments: { paths: [real] } },
    });
    const run = await runCliProcess(host, ['run', 'cleanup']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('cleanup.guard');
    expect(run.stdout).toMatch(/contains .*cleanup never touches/);
    expect(existsSync(victim)).toBe(true);
  });
});

describe('settings too large for a process environment', () => {
  test('a 200,000-character setting is refused at validation with its size, never spawn E2BIG', async () => {
    const host = makeFaultHost();
    const file = path.join(host.root, 'big.json');
    writeFileSync(file, JSON.stringify({ local: { stateDir: host.stateDir }, cleanup: { protect: [`/${'a'.repeat(200_000)}`] } }));
    const run = await runCliProcess(host, ['--config', file, 'run', 'cleanup']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cleanup.protect.0: got a value of 200001 characters; expected at most 4096');
    expect(run.stderr).not.toContain('E2BIG');
  });

  test('lists that are fine one by one but too long joined are refused naming the script parameter', async () => {
    const host = makeFaultHost();
    const mounts = Array.from({ length: 200 }, (_, i) => `/${'m'.repeat(400)}${i}`);
    writeConfig(host, { healthCheck: { mounts } });
    const run = await runCliProcess(host, ['run', 'health-check']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/health-check parameter Mounts \(GPU_MAINT_MOUNTS\): got \d+ characters/);
    expect(run.stderr).not.toContain('E2BIG');
  });
});
