/**
 * scripts/logrotate-apply.sh (task logrotate) with the real logrotate: atomic install, validation with
 * logrotate -d, rollback to the previous file when validation fails.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { runTaskScript } from '../../lambda/adapters/local/script-runner';
import type { ConfigInput } from '../../lambda/config/schema';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateLogrotate } from '../../lambda/core/logrotate/evaluate';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import { TASKS } from '../../lambda/tasks/registry';
import { inheritedClockEnv } from '../helpers/clock-env';
import { parseConfigForTest } from '../helpers/config';
import { tempDir } from '../helpers/temp';

interface Host {
  readonly root: string;
  readonly target: string;
  readonly logs: string;
}

function makeHost(): Host {
  const root = tempDir('gpu-maint-lra-');
  mkdirSync(path.join(root, 'logrotate.d'));
  mkdirSync(path.join(root, 'logs'));
  return { root, target: path.join(root, 'logrotate.d', 'gpu-maint'), logs: path.join(root, 'logs') };
}

const groupsFor = (host: Host, over: Record<string, unknown> = {}): ConfigInput => ({
  logrotate: { groups: [{ name: 'api', paths: [`${host.logs}/*.log`], rotate: 5, ...over }] },
});

async function apply(host: Host, input: ConfigInput, env: Record<string, string> = {}) {
  const config = parseConfigForTest(input);
  const output = await runTaskScript('logrotate', config, {
    stateDir: path.join(host.root, 'state'),
    timeoutMs: 60_000,
    env: { ...inheritedClockEnv(), GPU_MAINT_IMDS: 'off', GPU_MAINT_HOST_ID: 'test-host', GPU_MAINT_LOGROTATE_TARGET: host.target, ...env },
  });
  const result = evaluateTaskOutput(output, evaluateLogrotate, evaluationSettings(config), new Date());
  return { output, result };
}

describe('logrotate apply', () => {
  test('writes the rendered config with mode 0644 and reports it valid', async () => {
    const host = makeHost();
    const { output, result } = await apply(host, groupsFor(host));
    expect(output.exitCode, output.stderr).toBe(0);
    expect(readFileSync(host.target, 'utf8')).toContain(`${host.logs}/*.log {`);
    expect(statSync(host.target).mode & 0o777).toBe(0o644);
    expect(result.findings).toEqual([
      expect.objectContaining({
        check: 'logrotate.config',
        severity: 'ok',
        message: `${host.target} updated and valid (logrotate -d), 1 group(s)`,
      }),
    ]);
  });

  test('leaves no temp file behind in the logrotate directory', async () => {
    const host = makeHost();
    await apply(host, groupsFor(host));
    expect(readdirSync(path.dirname(host.target))).toEqual(['gpu-maint']);
  });

  test('a second run with the same config changes nothing', async () => {
    const host = makeHost();
    await apply(host, groupsFor(host));
    const before = statSync(host.target).mtimeMs;
    const { result } = await apply(host, groupsFor(host));
    expect(statSync(host.target).mtimeMs).toBe(before);
    expect(result.findings[0].message).toContain('up to date');
  });

  test('an invalid config is rolled back to the previous file and the run fails', async () => {
    // GIVEN a valid installed config
    const host = makeHost();
    await apply(host, groupsFor(host));
    const previous = readFileSync(host.target, 'utf8');
    // WHEN a new config names a user that does not exist (logrotate -d rejects it)
    const { output, result } = await apply(host, groupsFor(host, { su: 'no_such_user_gm nogroup' }));
    // THEN the previous file is back, the run exits 1 and the finding says why
    expect(readFileSync(host.target, 'utf8')).toBe(previous);
    expect(output.exitCode).toBe(1);
    expect(result.findings).toContainEqual(
      expect.objectContaining({
        check: 'logrotate.config',
        severity: 'critical',
        message: expect.stringMatching(/rejected: logrotate -d exited 1: error: .*no_such_user_gm.*; the previous file was restored$/),
      }),
    );
  });

  test('an invalid config with no previous file leaves no file', async () => {
    const host = makeHost();
    const broken = Buffer.from(`${host.logs}/*.log {\n    rotate x\n}\n`).toString('base64');
    const { output } = await apply(host, groupsFor(host), { GPU_MAINT_LOGROTATE_CONFIG_B64: broken });
    expect(output.exitCode).toBe(1);
    expect(existsSync(host.target)).toBe(false);
  });

  test('a config that makes the main config invalid (a log listed twice) is rolled back', async () => {
    // GIVEN a main config that includes the directory and already rotates the same logs
    const host = makeHost();
    const main = path.join(host.root, 'logrotate.conf');
    writeFileSync(path.join(host.root, 'other.conf'), `${host.logs}/api.log {\n    rotate 2\n}\n`, { mode: 0o644 });
    writeFileSync(main, `include ${path.join(host.root, 'other.conf')}\ninclude ${path.dirname(host.target)}\n`, { mode: 0o644 });
    writeFileSync(path.join(host.logs, 'api.log'), 'x\n');
    // WHEN our config lists the same log
    const { output, result } = await apply(host, groupsFor(host), { GPU_MAINT_LOGROTATE_MAIN_CONFIG: main });
    // THEN it is not installed
    expect(output.exitCode).toBe(1);
    expect(existsSync(host.target)).toBe(false);
    // The head of a long message (the main config's temp path) may be elided; the reason is at its end.
    expect(result.findings[0].message).toMatch(/validates with the new file: error: .*duplicate log entry/);
  });

  test('a lock held by another run fails with the reason and a complete result, changing nothing', async () => {
    // GIVEN an installed config and a flock that times out (another apply holds the lock)
    const host = makeHost();
    await apply(host, groupsFor(host));
    const previous = readFileSync(host.target, 'utf8');
    const bin = path.join(host.root, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'flock'), '#!/usr/bin/env bash\nexit 1\n', { mode: 0o755 });
    // WHEN a different config is applied
    const { output, result } = await apply(host, groupsFor(host, { rotate: 9 }), { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` });
    // THEN the result has its end line and says why, and the file is untouched
    expect(output.exitCode).toBe(1);
    expect(output.stdout).toContain('@@gpu-maint v1 end task=logrotate');
    expect(result.findings).toContainEqual(
      expect.objectContaining({ check: 'logrotate.config', message: expect.stringContaining('another logrotate apply holds') }),
    );
    expect(readFileSync(host.target, 'utf8')).toBe(previous);
  });

  test('logrotate is a task that runs only when named', () => {
    expect(TASKS.get('logrotate')?.inRunAll).toBe(false);
    expect(TASKS.get('cleanup')?.inRunAll).toBe(true);
  });
});

describe('what a failed apply left behind', () => {
  const output = (summary: string[]) =>
    [
      '@@gpu-maint v1 begin task=logrotate host=h at=2026-11-28T12:00:00Z',
      '@@gpu-maint section logrotate-apply',
      ...summary,
      '@@gpu-maint status logrotate-apply exit=0 seconds=0',
      '@@gpu-maint v1 end task=logrotate',
      '',
    ].join('\n');

  test.each([
    [['valid=false', 'changed=false', 'rolled_back=false', 'message=lock busy'], /lock busy; nothing was changed$/],
    [['valid=false', 'changed=true', 'rolled_back=true', 'message=bad'], /bad; the previous file was restored$/],
    [
      ['valid=false', 'changed=true', 'rolled_back=false', 'message=restore failed'],
      /restore failed; the file was changed and the previous one could not be restored: fix it by hand$/,
    ],
  ])('%j is reported as it is', (summary, message) => {
    const r = evaluateTaskOutput(
      { task: 'logrotate', stdout: output(summary), exitCode: 1 },
      evaluateLogrotate,
      evaluationSettings(parseConfigForTest()),
      new Date(),
    );
    expect(r.findings).toContainEqual(
      expect.objectContaining({ check: 'logrotate.config', severity: 'critical', message: expect.stringMatching(message) }),
    );
  });
});
