/**
 * Faults: a cleanup stopped from outside (Ctrl-C, SIGTERM, SIGHUP, a second Ctrl-C, SIGKILL of the CLI).
 * The deletion under way finishes, nothing more is deleted, the report says what was done, and the CLI
 * exits 128 + the signal.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { age, disposeFaultHosts, type FaultHost, fakeTool, makeFaultHost, put, runCliProcess, startCli, writeConfig } from './cli-harness';

afterEach(disposeFaultHosts);

/** Five old run dirs under an experiments root, and an rm that announces each deletion and takes its time. */
function hostWithOldRuns(rmDelayS = 2): { host: FaultHost; runs: string[]; rmLog: string; started: string } {
  const host = makeFaultHost();
  const exp = path.join(host.data, 'exp');
  const runs = ['run-a', 'run-b', 'run-c', 'run-d', 'run-e'].map((name) => {
    const dir = path.join(exp, name);
    put(path.join(dir, 'weights.bin'), 1000, 40);
    put(path.join(dir, 'log.txt'), 10, 40);
    age(dir, 40);
    return dir;
  });
  const rmLog = path.join(host.root, 'rm.log');
  const started = path.join(host.root, 'rm-started');
  // Only deletions inside the experiments root are slowed down and logged.
  fakeTool(
    host,
    'rm',
    `case "$*" in *"${exp}/"*) printf '%s\\n' "$*" >>"${rmLog}"; touch "${started}"; sleep ${rmDelayS} ;; esac\nexec /bin/rm "$@"`,
  );
  writeConfig(host, { cleanup: { dryRun: false, maxDeleteFraction: 1, experiments: { paths: [exp], maxAgeDays: 30 } } });
  return { host, runs, rmLog, started };
}

const rmCalls = (log: string): number => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);

describe('cleanup under a stop signal', () => {
  test.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s during a real cleanup: the deletion under way finishes, no other run dir is deleted, exit %i', async (signal, code) => {
    const { host, runs, rmLog, started } = hostWithOldRuns();
    const run = await runCliProcess(host, ['run', 'cleanup'], { signals: [{ signal, whenFile: started }] });
    expect(run.code).toBe(code);
    expect(run.stderr).toContain(`interrupted by ${signal}`);
    // One deletion was under way when the signal came; it finished, and it was the only one.
    expect(rmCalls(rmLog)).toBe(1);
    expect(runs.filter((r) => existsSync(r))).toHaveLength(4);
    // The report lists what was done and what was not.
    expect(run.stdout).toMatch(/freed 1\.0 kB in 1 path|freed 1010 B in 1 path|freed .* in 1 path/);
    expect(run.stdout).toContain(`stopped by ${signal}`);
    // Nothing keeps deleting after the CLI has exited.
    await sleep(3000);
    expect(rmCalls(rmLog)).toBe(1);
    expect(runs.filter((r) => existsSync(r))).toHaveLength(4);
  });

  test('Ctrl-C twice: the second kills the cleanup at once and the CLI still exits 130 with nothing more deleted', async () => {
    const { host, runs, rmLog, started } = hostWithOldRuns(20);
    const run = await runCliProcess(host, ['run', 'cleanup'], {
      signals: [
        { signal: 'SIGINT', whenFile: started },
        { signal: 'SIGINT', delayMs: 500 },
      ],
    });
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('killing the running task');
    await sleep(1500);
    expect(rmCalls(rmLog)).toBe(1);
    // The slow rm was killed before it ran: every run dir is still there.
    expect(runs.filter((r) => existsSync(r))).toHaveLength(5);
  });

  test('SIGKILL of the CLI mid-cleanup, then a rerun: the rerun takes the lock and finishes the job', async () => {
    const { host, runs, started } = hostWithOldRuns(1);
    const first = startCli(host, ['run', 'cleanup'], { signals: [{ signal: 'SIGKILL', whenFile: started }] });
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    // The orphaned script may finish on its own; a rerun must neither fail nor leave old runs behind.
    let rerun = await runCliProcess(host, ['run', 'cleanup']);
    for (let i = 0; i < 20 && /another cleanup is already running/.test(rerun.stdout); i++) {
      await sleep(1000);
      rerun = await runCliProcess(host, ['run', 'cleanup']);
    }
    expect(rerun.code).toBe(0);
    expect(runs.filter((r) => existsSync(r))).toHaveLength(0);
    expect(readdirSync(path.join(host.stateDir, 'host'))).toContain('cleanup.lock');
  });

  test('SIGINT before any deletion starts (during the scan): nothing at all is deleted, exit 130', async () => {
    const { host, runs, rmLog } = hostWithOldRuns();
    // The scan calls find; a slow find holds the run in the scan while the signal arrives.
    const mark = path.join(host.root, 'find-started');
    fakeTool(host, 'find', `touch "${mark}"; sleep 1; exec /usr/bin/find "$@"`);
    const run = await runCliProcess(host, ['run', 'cleanup'], { signals: [{ signal: 'SIGINT', whenFile: mark }] });
    expect(run.code).toBe(130);
    expect(rmCalls(rmLog)).toBe(0);
    expect(runs.filter((r) => existsSync(r))).toHaveLength(5);
  });
});
