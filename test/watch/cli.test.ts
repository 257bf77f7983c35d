/**
 * `gpu-maint watch` as a user runs it: the real CLI (bin/gpu-maint.cjs) in its own process
 * (test/faults/cli-harness.ts), following a fake journal (test/fakes/bin/journalctl first on PATH), stopped
 * with Ctrl-C (SIGINT) once it has alerted. Waits are bounded; no timed assertions.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { disposeFaultHosts, makeFaultHost, runCliProcess, startCli } from '../faults/cli-harness';
import { pollUntil } from '../helpers/watch-bus';

afterEach(disposeFaultHosts);

const WAIT_MS = 60_000;
const XID =
  "2026-11-28T12:00:00.000001+0000 ip-10-0-0-1 kernel: NVRM: Xid (PCI:0000:00:09): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.";

/** Processes (of this user) whose environment names this journal: the watcher and its follower. */
function processesFollowing(journal: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').includes(`FAKE_JOURNAL_FILE=${journal}\0`)) pids.push(Number(entry));
    } catch {
      // another user's process, or one that ended
    }
  }
  return pids;
}

describe('gpu-maint watch (the CLI command)', () => {
  test('in the foreground it prints each Xid event with its gpu.xid finding, alerts once, and Ctrl-C stops it and its watcher cleanly', async () => {
    const host = makeFaultHost();
    const journal = path.join(host.data, 'journal');
    writeFileSync(journal, '');
    const { done } = startCli(host, ['watch', '--json', '--debounce', '1'], {
      env: { FAKE_JOURNAL_FILE: journal },
      signals: [{ signal: 'SIGINT', whenOutput: / gpu\.xid / }],
      killAfterMs: WAIT_MS,
    });
    await pollUntil(() => existsSync(path.join(host.stateDir, 'host', 'gpu-watch.journal-cursor')), WAIT_MS, 'the follower to start');
    expect(processesFollowing(journal).length).toBeGreaterThan(0);
    appendFileSync(journal, `${XID}\n`);
    const run = await done;
    expect(run.code).toBe(0);
    const event = JSON.parse(run.stdout.split('\n').find((l) => l.includes('"gpu-maint.watcher"')) as string);
    expect(event).toMatchObject({
      event: { host: 'fault-host', key: 'PCI:0000:00:09|79', count: 1 },
      findings: [expect.objectContaining({ check: 'gpu.xid', severity: 'critical' })],
    });
    // With --json the notification goes to stderr (stdout stays JSON lines).
    expect(run.stderr.split('\n').filter((l) => l.includes(' gpu.xid '))).toEqual([expect.stringMatching(/CRITICAL.*fault-host.*FIRING/)]);
    await pollUntil(() => processesFollowing(journal).length === 0, WAIT_MS, 'the watcher processes to end');
  }, 120_000);

  test('a --debounce outside 1-60 is a usage error naming the value', async () => {
    const run = await runCliProcess(makeFaultHost(), ['watch', '--debounce', '0'], { killAfterMs: WAIT_MS });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--debounce must be a whole number of seconds from 1 to 60, got: "0"');
  }, 60_000);
});
