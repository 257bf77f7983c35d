/**
 * Faults around health-check: Ctrl-C while a probe hangs, and a state dir that cannot be used. The CLI
 * ends promptly with a clear message and leaves no probe running.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from 'vitest';
import { alive, disposeFaultHosts, fakeTool, makeFaultHost, REPO_ROOT, runCliProcess, writeConfig } from './cli-harness';

afterEach(disposeFaultHosts);

test('Ctrl-C while health-check waits on a journalctl that ignores SIGTERM: exit 130 at once, the probe is killed', async () => {
  const host = makeFaultHost();
  const pids = path.join(host.root, 'journalctl.pids');
  fakeTool(host, 'journalctl', `echo $$ >>"${pids}"\nexec "${path.join(REPO_ROOT, 'test', 'fakes', 'bin', 'journalctl')}" "$@"`);
  const run = await runCliProcess(host, ['run', 'health-check'], {
    env: { FAKE_JOURNAL_MODE: 'hang' },
    signals: [{ signal: 'SIGINT', whenFile: pids, delayMs: 300 }],
  });
  expect(run.code).toBe(130);
  expect(run.stderr).toContain('interrupted by SIGINT');
  // The report says it was stopped, not that the host cannot run tasks.
  expect(run.stdout).toMatch(/health-check interrupted by SIGINT on fault-host/);
  expect(run.stdout).toContain('0 critical');
  await sleep(500);
  const started = readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number);
  expect(started.filter(alive)).toEqual([]);
});

test('a state dir that is a file, not a directory: exit 1 with a message naming local.stateDir, no stack trace', async () => {
  const host = makeFaultHost();
  const file = path.join(host.root, 'not-a-dir');
  writeFileSync(file, 'x');
  writeConfig(host, { local: { stateDir: file } });
  const run = await runCliProcess(host, ['run', 'health-check']);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/cannot write the health-check script under .*not-a-dir\/scripts \(local\.stateDir\): ENOTDIR/);
  expect(run.stderr).not.toMatch(/\n\s+at /);
});
