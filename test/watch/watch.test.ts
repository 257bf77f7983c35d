/**
 * The kernel-log watcher end to end: the bundled scripts/gpu-watch.sh under real bash, following a fake
 * journal (test/fakes/bin/journalctl -f on a file the test appends to), its events evaluated by the real
 * core and alert policy over the local state file, and the real gpu-check reading the same journal.
 * No timed assertions: each test waits for the events it expects (vi.waitFor bounds the wait only).
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { runLocalTask } from '../../lambda/adapters/local/local-run';
import { localPolicyAlertSink } from '../../lambda/adapters/local/policy-alert-sink';
import { startLocalWatch } from '../../lambda/adapters/local/watch';
import { emptyHostState } from '../../lambda/core/alerts/model';
import { evaluateHost } from '../../lambda/core/alerts/policy';
import { gpusSeenFromState, parseWatchEvent, type WatchEvent, watchEventResult } from '../../lambda/core/gpu/watch';
import { systemClock } from '../../lambda/core/ports';
import { at, date, hot, result, settingsFor } from '../alerts/helpers';
import { inheritedClockEnv } from '../helpers/clock-env';
import { parseConfigForTest } from '../helpers/config';
import { fixture, REPO_ROOT } from '../helpers/fixtures';
import { tempDir } from '../helpers/temp';

const FAKES_BIN = path.join(REPO_ROOT, 'test', 'fakes', 'bin');
const CAPTURE = 'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01';
const WAIT = { timeout: 60_000, interval: 100 };

/** A journal line at microsecond `n` (the watcher drops lines not newer than the last one it forwarded). */
const xidLine = (n: number, bus = '0000:00:09', code = 79, text = 'GPU has fallen off the bus.') =>
  `2026-11-28T12:00:00.${String(n).padStart(6, '0')}+0000 ip-10-0-0-1 kernel: NVRM: Xid (PCI:${bus}): ${code}, pid='<unknown>', name=<unknown>, ${text}`;

function setup(extraEnv: Record<string, string> = {}) {
  const dir = tempDir('gpu-maint-watch-');
  const journal = path.join(dir, 'journal');
  writeFileSync(journal, '');
  const config = parseConfigForTest({ local: { stateDir: path.join(dir, 'state') }, gpuCheck: { bootGraceMinutes: 0 } });
  const notifications: string[] = [];
  const alerts = localPolicyAlertSink(config, (line) => notifications.push(line));
  const env = {
    ...inheritedClockEnv(),
    PATH: `${FAKES_BIN}:${process.env.PATH}`,
    FAKE_JOURNAL_FILE: journal,
    GPU_MAINT_IMDS: 'off',
    GPU_MAINT_HOST_ID: 'i-0watch',
    GPU_MAINT_PCI_DEVICES_DIR: dir,
    FAKE_NVSMI_HELP: fixture('nvidia-smi', 'captures', `${CAPTURE}__help-query-gpu.txt`),
    FAKE_NVSMI_LIST: fixture('nvidia-smi', 'captures', `${CAPTURE}__list.txt`),
    FAKE_NVSMI_CSV: fixture('nvidia-smi', 'captures', `${CAPTURE}__load__query-gpu.csv`),
    ...extraEnv,
  };
  const events: WatchEvent[] = [];
  const logs: string[] = [];
  const start = () =>
    startLocalWatch({
      stateDir: config.local.stateDir,
      alerts,
      env,
      onEvent: (e) => events.push(e),
      onLog: (l) => logs.push(l),
    });
  const gpuCheck = () => runLocalTask('gpu-check', { config, clock: systemClock, alerts, env });
  const xidNotifications = () => notifications.filter((n) => n.includes(' gpu.xid '));
  const cursor = path.join(dir, 'state', 'host', 'gpu-watch.journal-cursor');
  /** Rotates the journal once the follower has read `lines` lines: the follower ends (it is then restarted). */
  const rotateAfter = async (lines: number) => {
    await vi.waitFor(() => expect(readFileSync(cursor, 'utf8')).toMatch(new RegExp(`^fake-cursor:${lines}$`, 'm')), WAIT);
    renameSync(journal, `${journal}.1`);
    writeFileSync(journal, '');
  };
  /** Writes the first line of an incident (xidLine(1)) and waits for its event. */
  const firstEvent = async () => {
    appendFileSync(journal, `${xidLine(1)}\n`);
    await vi.waitFor(() => expect(events).toHaveLength(1), WAIT);
  };
  /** Resolves once the (fake) follower has started: lines appended after that are followed. */
  const following = () => vi.waitFor(() => expect(existsSync(cursor)).toBe(true), WAIT);
  return {
    cursor,
    following,
    rotateAfter,
    firstEvent,
    dir,
    journal,
    events,
    logs,
    notifications,
    xidNotifications,
    start,
    gpuCheck,
  };
}

describe('gpu-maint watch over a followed kernel log', () => {
  test('an Xid line is notified once, and the gpu-check that reads the same line later sends nothing more', async () => {
    const s = setup();
    // The scheduled check ran before: its GPUs-seen state gives the watcher's alert gpu-check's GPU index.
    await s.gpuCheck();
    const watch = s.start();
    try {
      await s.following();
      await s.firstEvent();
      expect(s.xidNotifications()).toEqual([
        expect.stringMatching(/\[CRITICAL\] i-0watch gpu\.xid GPU 0 FIRING: GPU 0 \(00000000:00:09\.0\): Xid 79/),
      ]);

      const later = await s.gpuCheck();
      expect(later.findings).toContainEqual(expect.objectContaining({ check: 'gpu.xid', gpu: 0, severity: 'critical' }));
      expect(s.xidNotifications()).toHaveLength(1);
    } finally {
      await watch.stop();
    }
  });

  test('an Xid storm of 5000 lines is two events (the first line, then the count) and one notification', async () => {
    const s = setup({ GPU_MAINT_WATCH_DEBOUNCE_S: '60', GPU_MAINT_WATCH_MAX_RESTARTS: '1' });
    const watch = s.start();
    await s.following();
    await s.firstEvent();
    appendFileSync(s.journal, `${Array.from({ length: 4999 }, (_, i) => xidLine(i + 2)).join('\n')}\n`);
    // Rotation ends the follower: the window's count is flushed and (one restart allowed) the watcher exits.
    await s.rotateAfter(5000);
    expect(await watch.done).toBe(0);
    expect(s.events.map((e) => e.count)).toEqual([1, 4999]);
    expect(s.events[1].line).toBe(xidLine(5000));
    expect(s.xidNotifications()).toHaveLength(1);
  });

  test('on a quiet log the debounce window closes by itself: three lines of one incident are the first line, then one event of count 2', async () => {
    const s = setup({ GPU_MAINT_WATCH_DEBOUNCE_S: '1' });
    const watch = s.start();
    try {
      await s.following();
      await s.firstEvent();
      appendFileSync(s.journal, `${xidLine(2)}\n${xidLine(3)}\n`);
      await vi.waitFor(() => expect(s.events).toHaveLength(2), WAIT);
      expect(s.events.map((e) => e.count)).toEqual([1, 2]);
      expect(s.xidNotifications()).toHaveLength(1);
    } finally {
      await watch.stop();
    }
  });

  test('a storm over 300 different GPUs is bounded: 256 keys are tracked and the rest is one overflow key', async () => {
    const s = setup({ GPU_MAINT_WATCH_DEBOUNCE_S: '60', GPU_MAINT_WATCH_MAX_RESTARTS: '1' });
    const watch = s.start();
    await s.following();
    const bus = (i: number) => `0000:${(i + 16).toString(16).padStart(2, '0')}:${i >= 240 ? '01' : '00'}`;
    appendFileSync(s.journal, `${Array.from({ length: 300 }, (_, i) => xidLine(i + 1, bus(i))).join('\n')}\n`);
    await s.rotateAfter(300);
    expect(await watch.done).toBe(0);
    const keys = new Set(s.events.map((e) => e.key));
    expect(keys.size).toBe(257);
    expect(s.events.filter((e) => e.key === 'overflow').map((e) => e.count)).toEqual([1, 43]);
  });

  test('after the journal file rotates, the follower restarts from the cursor: new lines are forwarded, old ones not again', async () => {
    const s = setup({ GPU_MAINT_WATCH_DEBOUNCE_S: '1' });
    const watch = s.start();
    try {
      await s.following();
      await s.firstEvent();
      renameSync(s.journal, `${s.journal}.1`);
      // The new file starts with a copy of the old line (a replay) and then a new incident on another GPU.
      writeFileSync(
        s.journal,
        `${xidLine(1)}\n${xidLine(2, '0000:00:0a', 48, 'An uncorrectable double bit error (DBE) has been detected')}\n`,
      );
      await vi.waitFor(() => expect(s.events).toHaveLength(2), WAIT);
      expect(s.events[1]).toMatchObject({ key: 'PCI:0000:00:0a|48', count: 1 });
      // stderr and stdout are separate pipes: the log line may come after the event.
      await vi.waitFor(() => expect(s.logs.some((l) => l.includes('restarting from the cursor'))).toBe(true), WAIT);
    } finally {
      await watch.stop();
    }
    expect(s.events).toHaveLength(2);
  });
});

describe('watcher events in the core', () => {
  const event = (line: string, count = 1): WatchEvent =>
    parseWatchEvent(JSON.stringify({ source: 'gpu-maint.watcher', host: 'i-0abc', at: at(1), key: 'k', count, line }));

  test('an event is gpu-check’s gpu.xid finding for its line, with the GPU index gpu-check saw, as a partial result', () => {
    const seen = gpusSeenFromState('boot_id=b\n00000000:00:09.0 3\n');
    expect(watchEventResult(event(xidLine(1), 40), seen)).toMatchObject({
      task: 'gpu-check',
      partial: true,
      findings: [{ check: 'gpu.xid', severity: 'critical', gpu: 3, message: expect.stringContaining('Xid 79 ×40') }],
    });
  });

  test('a line the Xid parser does not accept gives no result', () => {
    expect(watchEventResult(event('kernel: NVRM: Xid something else'), new Map())).toBeNull();
  });

  test.each([
    ['not JSON', 'nope', /not JSON/],
    ['a wrong source', JSON.stringify({ source: 'x' }), /field source must be "gpu-maint.watcher"/],
    ['a count of 0', JSON.stringify({ source: 'gpu-maint.watcher', host: 'h', at: at(0), key: 'k', count: 0, line: '' }), /field count/],
  ])('an event with %s is rejected, naming the problem', (_name, text, message) => {
    expect(() => parseWatchEvent(text)).toThrow(message);
  });

  test('a partial result neither clears the host’s other alerts nor counts as the task’s latest run', () => {
    const settings = settingsFor();
    const before = evaluateHost(emptyHostState('i-0abc'), [result('i-0abc', 0, [hot('critical', 1)])], [], settings, date(0)).state;
    const partial = watchEventResult(event(xidLine(1)), new Map([['00000000:00:09.0', 0]]));
    const after = evaluateHost(before, [partial!], [], settings, date(1));
    expect(Object.keys(after.state.alerts).sort()).toEqual(['gpu.temperature#gpu1', 'gpu.xid#gpu0']);
    expect(after.state.lastSeen).toEqual(before.lastSeen);
    expect(after.changes.map((c) => c.change)).toEqual(['firing']);
  });
});
