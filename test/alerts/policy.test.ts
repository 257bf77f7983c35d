import { describe, expect, test } from 'vitest';
import { type AlertRecord, emptyHostState, type HostAlertState } from '../../lambda/core/alerts/model';
import { buildNotification, evaluateHost, type Observation, type TransitionContext, transition } from '../../lambda/core/alerts/policy';
import type { Finding } from '../../lambda/core/types';
import { at, date, disk, hot, result, settingsFor, xid } from './helpers';

const HOUR = 60;
const ctx = (over: Partial<TransitionContext> = {}): TransitionContext => ({
  at: at(0),
  task: 'gpu-check',
  forCount: 1,
  repeatIntervalMs: { critical: 4 * 3_600_000, warning: 24 * 3_600_000 },
  silenced: false,
  ...over,
});
/** Flap damping as the policy sees it: starts already in the window, 2 make it flapping, 30 min to be stable. */
const flap = (recentStarts: number) => ({ recentStarts, firings: 2, stableMs: 30 * 60_000 });
const obs = (severity: 'warning' | 'critical'): Observation => ({
  check: 'gpu.temperature',
  gpu: 3,
  severity,
  message: `GPU 3 ${severity}`,
});
const record = (over: Partial<AlertRecord> = {}): AlertRecord => ({
  check: 'gpu.temperature',
  gpu: 3,
  task: 'gpu-check',
  status: 'firing',
  severity: 'warning',
  message: 'GPU 3 warning',
  consecutive: 3,
  since: at(-10 * HOUR),
  firingSince: at(-10 * HOUR),
  lastEvaluatedAt: at(-5),
  lastBreachAt: at(-5),
  notifiedSeverity: 'warning',
  lastNotifiedAt: at(-1 * HOUR),
  ...over,
});

describe('transition: one alert, one evaluation', () => {
  test.each<[string, AlertRecord | undefined, Observation | null, Partial<TransitionContext>, string | null, string | undefined]>([
    // name, previous state, observation, context, expected change, expected next status
    ['ok stays ok silently', undefined, null, {}, null, undefined],
    ['ok → warning notifies firing', undefined, obs('warning'), {}, 'firing', 'firing'],
    ['ok → critical notifies firing', undefined, obs('critical'), {}, 'firing', 'firing'],
    ['warning → critical escalates at once', record(), obs('critical'), {}, 'escalated', 'firing'],
    [
      'critical → warning (de-escalation) does not notify',
      record({ severity: 'critical', notifiedSeverity: 'critical' }),
      obs('warning'),
      {},
      null,
      'firing',
    ],
    ['warning notified 23 h ago stays quiet', record({ lastNotifiedAt: at(-23 * HOUR) }), obs('warning'), {}, null, 'firing'],
    ['warning notified 24 h ago repeats', record({ lastNotifiedAt: at(-24 * HOUR) }), obs('warning'), {}, 'repeat', 'firing'],
    [
      'critical notified 3 h 59 min ago stays quiet',
      record({ severity: 'critical', notifiedSeverity: 'critical', lastNotifiedAt: at(-4 * HOUR + 1) }),
      obs('critical'),
      {},
      null,
      'firing',
    ],
    [
      'critical notified 4 h ago repeats',
      record({ severity: 'critical', notifiedSeverity: 'critical', lastNotifiedAt: at(-4 * HOUR) }),
      obs('critical'),
      {},
      'repeat',
      'firing',
    ],
    [
      'a de-escalated alert repeats on the warning interval',
      record({ severity: 'critical', notifiedSeverity: 'critical', lastNotifiedAt: at(-5 * HOUR) }),
      obs('warning'),
      {},
      null,
      'firing',
    ],
    ['notified firing → ok resolves', record(), null, {}, 'resolved', undefined],
    [
      'pending → ok clears without a message',
      record({ status: 'pending', consecutive: 1, notifiedSeverity: undefined, lastNotifiedAt: undefined, firingSince: undefined }),
      null,
      {},
      null,
      undefined,
    ],
    [
      'firing but never notified (silenced) → ok clears without a message',
      record({ notifiedSeverity: undefined, lastNotifiedAt: undefined, silenced: true }),
      null,
      {},
      null,
      undefined,
    ],
    ['for 2: first breach is pending', undefined, obs('warning'), { forCount: 2 }, null, 'pending'],
    [
      'for 2: second breach fires',
      record({ status: 'pending', consecutive: 1, notifiedSeverity: undefined, lastNotifiedAt: undefined, firingSince: undefined }),
      obs('warning'),
      { forCount: 2 },
      'firing',
      'firing',
    ],
    [
      'for 3: second breach is still pending',
      record({ status: 'pending', consecutive: 1, notifiedSeverity: undefined, lastNotifiedAt: undefined, firingSince: undefined }),
      obs('critical'),
      { forCount: 3 },
      null,
      'pending',
    ],
    ['silenced: a due first notification is withheld', undefined, obs('critical'), { silenced: true }, null, 'firing'],
    ['silenced: a due escalation is withheld', record(), obs('critical'), { silenced: true }, null, 'firing'],
    [
      'silence over: the withheld alert notifies as firing',
      record({ notifiedSeverity: undefined, lastNotifiedAt: undefined, silenced: true }),
      obs('warning'),
      {},
      'firing',
      'firing',
    ],
    ['silenced: a notified alert that clears still resolves', record(), null, { silenced: true }, 'resolved', undefined],
    [
      'keep firing: ok within the hold keeps it firing',
      record({ lastBreachAt: at(-30) }),
      null,
      { keepFiringForMs: 3_600_000 },
      null,
      'firing',
    ],
    [
      'keep firing: ok after the hold resolves',
      record({ lastBreachAt: at(-60) }),
      null,
      { keepFiringForMs: 3_600_000 },
      'resolved',
      undefined,
    ],
    [
      'keep firing does not hold a pending alert',
      record({ status: 'pending', notifiedSeverity: undefined, lastNotifiedAt: undefined }),
      null,
      { keepFiringForMs: 3_600_000 },
      null,
      undefined,
    ],
    [
      'flapping: a start after one within the window notifies flapping',
      undefined,
      obs('warning'),
      { flapping: flap(1) },
      'flapping',
      'firing',
    ],
    ['flapping: the first start in the window is an ordinary firing', undefined, obs('warning'), { flapping: flap(0) }, 'firing', 'firing'],
    [
      'flapping: clear readings within the stable time keep it firing, silently',
      record({ flapping: true, lastBreachAt: at(-29) }),
      null,
      { flapping: flap(2) },
      null,
      'firing',
    ],
    [
      'flapping: clear for the stable time resolves',
      record({ flapping: true, lastBreachAt: at(-30) }),
      null,
      { flapping: flap(2) },
      'resolved',
      undefined,
    ],
    [
      'flapping: a breach while held notifies nothing',
      record({ flapping: true, lastBreachAt: at(-10) }),
      obs('warning'),
      { flapping: flap(2) },
      null,
      'firing',
    ],
    [
      'flapping: an escalation is still notified',
      record({ flapping: true }),
      obs('critical'),
      { flapping: flap(2) },
      'escalated',
      'firing',
    ],
    [
      'flapping: a start withheld by a silence notifies flapping when it ends',
      record({ flapping: true, notifiedSeverity: undefined, lastNotifiedAt: undefined, silenced: true }),
      obs('warning'),
      { flapping: flap(1) },
      'flapping',
      'firing',
    ],
  ])('%s', (_name, prev, observation, over, change, status) => {
    const out = transition(prev, observation, ctx(over));
    expect(out.change).toBe(change);
    expect(out.next?.status).toBe(status);
  });

  test('a notification records the time and the highest severity notified', () => {
    const out = transition(record(), obs('critical'), ctx({ at: at(7) }));
    expect(out.next).toMatchObject({ notifiedSeverity: 'critical', lastNotifiedAt: at(7), severity: 'critical' });
  });

  test('a withheld notification leaves the last notification time alone and marks the alert silenced', () => {
    const out = transition(record({ lastNotifiedAt: at(-30 * HOUR) }), obs('warning'), ctx({ silenced: true }));
    expect(out.next).toMatchObject({ silenced: true, lastNotifiedAt: at(-30 * HOUR) });
  });
});

function run(
  state: HostAlertState,
  minutes: number,
  findings: Finding[],
  options: { task?: 'gpu-check' | 'health-check'; failed?: boolean; settings?: ReturnType<typeof settingsFor> } = {},
) {
  const settings = options.settings ?? settingsFor();
  const r = result('i-0abc', minutes, findings, options.task ?? 'gpu-check', options.failed ? 'failed' : undefined);
  const ev = evaluateHost(state, [r], [], settings, date(minutes));
  const next = { ...ev.state, version: state.version + 1 };
  return { ev, next, n: buildNotification({ id: 'n', at: ev.at, fleet: 'f', state: ev.state, changes: ev.changes }) };
}

describe('evaluateHost: one host, one evaluation', () => {
  test('one notification per host per evaluation lists every alert that changed, with readings, thresholds and runbook links', () => {
    const { n } = run(emptyHostState('i-0abc'), 0, [
      xid(5),
      { check: 'gpu.count', severity: 'critical', message: '7 of 8 GPUs visible', reading: 7, threshold: '= 8' },
      hot('warning', 1),
    ]);
    expect(n?.alerts.map((a) => [a.check, a.change])).toEqual([
      ['gpu.count', 'firing'],
      ['gpu.xid', 'firing'],
    ]);
    expect(n?.alerts[0]).toMatchObject({ reading: 7, threshold: '= 8', runbook: 'docs/runbook.md#gpu.count' });
    expect(n).toMatchObject({ host: 'i-0abc', status: 'firing', severity: 'critical', tasks: ['gpu-check'] });
  });

  test('a check of the same task absent from the next result resolves; another task’s alert is untouched', () => {
    let s = run(emptyHostState('i-0abc'), 0, [xid()], {}).next;
    s = run(s, 1, [disk()], { task: 'health-check' }).next;
    const { n, next } = run(s, 65, []);
    expect(n?.alerts.map((a) => [a.check, a.change])).toEqual([['gpu.xid', 'resolved']]);
    expect(Object.keys(next.alerts)).toEqual(['health.disk']);
  });

  test('a failed run resolves nothing but task checks', () => {
    let s = run(emptyHostState('i-0abc'), 0, [disk()], { task: 'health-check' }).next;
    s = run(s, 15, [{ check: 'task.failed', severity: 'critical', message: 'exit 1' }], { task: 'health-check', failed: true }).next;
    const { n, next } = run(s, 30, [{ check: 'task.failed', severity: 'critical', message: 'exit 1' }], {
      task: 'health-check',
      failed: true,
    });
    expect(n).toBeNull();
    expect(Object.keys(next.alerts).sort()).toEqual(['health.disk', 'task.failed']);
  });

  test('a result not newer than the last one of its task is skipped as a duplicate', () => {
    const first = run(emptyHostState('i-0abc'), 0, [xid()]);
    const again = evaluateHost(first.next, [result('i-0abc', 0, [xid()])], [], settingsFor(), date(0));
    expect(again).toMatchObject({ skipped: 1, changed: false, changes: [] });
  });

  test('a notification whose alerts all resolved is RESOLVED with the highest severity notified', () => {
    let s = run(emptyHostState('i-0abc'), 0, [hot('critical'), hot('critical', 4)]).next;
    s = run(s, 5, [hot('critical'), hot('warning', 4)]).next;
    const { n } = run(s, 10, []);
    expect(n).toMatchObject({ status: 'resolved', severity: 'critical', stillFiring: [] });
    expect(n?.alerts.map((a) => a.change)).toEqual(['resolved', 'resolved']);
  });

  test('stillFiring lists what keeps firing after the evaluation', () => {
    let s = run(emptyHostState('i-0abc'), 0, [xid(5), xid(6)]).next;
    s = run(s, 61, [xid(6)]).next;
    const { n } = run(s, 125, [xid(6), xid(7)]);
    expect(n?.alerts.map((a) => a.gpu)).toEqual([7]);
    expect(n?.stillFiring).toEqual([
      { check: 'gpu.xid', gpu: 6, severity: 'critical' },
      { check: 'gpu.xid', gpu: 7, severity: 'critical' },
    ]);
  });
});

describe('repeat timing while firing', () => {
  test.each([
    ['critical', 4, 9 * 60],
    ['warning', 24, 50 * 60],
  ] as const)('a %s alert firing for its whole span notifies every %i h from its first notification', (severity, hours, spanMinutes) => {
    // GIVEN a check breaching at every 5-minute evaluation for spanMinutes
    const settings = settingsFor();
    let s = emptyHostState('i-0abc');
    const sentAt: number[] = [];
    for (let m = 0; m <= spanMinutes; m += 5) {
      const { next, n } = run(s, m, [disk(severity)], { task: 'health-check', settings });
      s = next;
      if (n) sentAt.push(m);
    }
    // THEN notifications come at 0, hours, 2*hours, ... within the span
    const expected = Array.from({ length: Math.floor(spanMinutes / (hours * 60)) + 1 }, (_, i) => i * hours * 60);
    expect(sentAt).toEqual(expected);
  });

  test('repeat intervals come from alerts.repeatIntervalHours', () => {
    const settings = settingsFor({ repeatIntervalHours: { critical: 1 } });
    let s = emptyHostState('i-0abc');
    let count = 0;
    for (let m = 0; m <= 180; m += 5) {
      const { next, n } = run(s, m, [xid()], { settings });
      s = next;
      if (n) count++;
    }
    expect(count).toBe(4);
  });
});

describe('for: consecutive evaluations before firing', () => {
  test.each([
    ['gpu.temperature defaults to 2', hot(), {}, [null, 'firing']],
    ['gpu.xid defaults to 1', xid(), {}, ['firing', null]],
    ['alerts.for raises gpu.xid to 3', xid(), { for: { 'gpu.xid': 3 } }, [null, null, 'firing']],
    ['alerts.for keeps the other defaults', hot(), { for: { 'gpu.xid': 3 } }, [null, 'firing']],
  ] as const)('%s', (_name, finding, alerts, expected) => {
    const settings = settingsFor(alerts);
    let s = emptyHostState('i-0abc');
    const changes: (string | null)[] = [];
    for (let i = 0; i < expected.length; i++) {
      const { next, n } = run(s, i * 5, [finding], { settings });
      s = next;
      changes.push(n?.alerts[0]?.change ?? null);
    }
    expect(changes).toEqual(expected);
  });

  test('a breach that alternates with ok never reaches for 2', () => {
    let s = emptyHostState('i-0abc');
    let sent = 0;
    for (let i = 0; i < 24; i++) {
      const { next, n } = run(s, i * 5, i % 2 === 0 ? [hot()] : []);
      s = next;
      if (n) sent++;
    }
    expect(sent).toBe(0);
  });
});

describe('host.stale', () => {
  const sweep = (state: HostAlertState, minutes: number, settings = settingsFor()) => {
    const ev = evaluateHost(state, [], [], settings, date(minutes));
    return {
      next: { ...ev.state, version: state.version + 1 },
      n: buildNotification({ id: 'n', at: ev.at, fleet: 'f', state: ev.state, changes: ev.changes }),
    };
  };

  test.each([
    [19, null],
    [20, 'firing'],
  ])('%i min after the last gpu-check the sweep says %s', (minutes, change) => {
    const s = run(emptyHostState('i-0abc'), 0, []).next;
    expect(sweep(s, minutes).n?.alerts[0]?.change ?? null).toBe(change);
  });

  test('a host that never reported gpu-check is never stale', () => {
    const s = run(emptyHostState('i-0abc'), 0, [], { task: 'health-check' }).next;
    expect(sweep(s, 600).n).toBeNull();
  });

  test('a health-check result does not clear host.stale; the next gpu-check result resolves it', () => {
    let s = run(emptyHostState('i-0abc'), 0, []).next;
    s = sweep(s, 25).next;
    const health = run(s, 30, [], { task: 'health-check' });
    expect(health.next.alerts['host.stale']).toBeDefined();
    const back = run(health.next, 35, []);
    expect(back.n?.alerts.map((a) => [a.check, a.change])).toEqual([['host.stale', 'resolved']]);
  });

  test('host.stale takes alerts.staleAfterMinutes and alerts.staleSeverity', () => {
    const settings = settingsFor({ staleAfterMinutes: 60, staleSeverity: 'critical' });
    const s = run(emptyHostState('i-0abc'), 0, [], { settings }).next;
    expect(sweep(s, 59, settings).n).toBeNull();
    expect(sweep(s, 60, settings).n).toMatchObject({ severity: 'critical', alerts: [{ check: 'host.stale', threshold: '≥ 60 min' }] });
  });
});

describe('silences', () => {
  const silence = (until: number, check?: 'gpu.xid') => [
    { host: 'i-0abc', ...(check ? { check } : {}), until: at(until), reason: 'maintenance', source: 'cli' as const },
  ];

  test('a silenced host records its alerts but sends nothing', () => {
    const ev = evaluateHost(emptyHostState('i-0abc'), [result('i-0abc', 0, [xid()])], silence(120), settingsFor(), date(0));
    expect(ev.changes).toEqual([]);
    expect(ev.state.alerts['gpu.xid#gpu5']).toMatchObject({ status: 'firing', silenced: true });
  });

  test('a silence of one check leaves the others notifying', () => {
    const count: Finding = { check: 'gpu.count', severity: 'critical', message: '7 of 8 GPUs visible' };
    const ev = evaluateHost(
      emptyHostState('i-0abc'),
      [result('i-0abc', 0, [xid(), count])],
      silence(120, 'gpu.xid'),
      settingsFor(),
      date(0),
    );
    expect(ev.changes.map((c) => c.check)).toEqual(['gpu.count']);
  });

  test('when the silence ends and the alert still fires, the next sweep notifies it', () => {
    const first = evaluateHost(
      emptyHostState('i-0abc'),
      [result('i-0abc', 0, [{ ...disk(), severity: 'critical' }], 'health-check')],
      silence(120),
      settingsFor(),
      date(0),
    );
    const during = evaluateHost({ ...first.state, version: 1 }, [], silence(120), settingsFor(), date(115));
    expect(during.changes).toEqual([]);
    const after = evaluateHost({ ...first.state, version: 1 }, [], silence(120), settingsFor(), date(120));
    expect(after.changes.map((c) => [c.check, c.change])).toEqual([['health.disk', 'firing']]);
    expect(after.state.alerts['health.disk'].silenced).toBeUndefined();
  });

  test('an alert that clears while silenced and was never notified leaves no trace', () => {
    const first = evaluateHost(emptyHostState('i-0abc'), [result('i-0abc', 0, [xid()])], silence(300), settingsFor(), date(0));
    const cleared = evaluateHost({ ...first.state, version: 1 }, [result('i-0abc', 65, [])], silence(300), settingsFor(), date(65));
    expect(cleared.changes).toEqual([]);
    expect(cleared.state.alerts).toEqual({});
  });
});

describe('flapping: an alert that keeps starting again', () => {
  /** gpu.temperature (for 2) breaching twice in every three 5-minute checks for an hour, then clear. */
  const pattern = (minute: number): Finding[] => (minute < 60 && (minute / 5) % 3 !== 2 ? [hot()] : []);

  function replay(settings = settingsFor(), until = 120) {
    let s = emptyHostState('i-0abc');
    const sent: [number, string][] = [];
    for (let m = 0; m <= until; m += 5) {
      const { next, n } = run(s, m, pattern(m), { settings });
      s = next;
      for (const a of n?.alerts ?? []) sent.push([m, a.change]);
    }
    return { sent, state: s };
  }

  test('is notified once as flapping, and resolved once it stayed clear for alerts.flapping.stableMinutes', () => {
    // fires at 5 (second breach), clears at 10, starts again at 20: flapping; last breach at 50, stable at 80
    expect(replay().sent).toEqual([
      [5, 'firing'],
      [10, 'resolved'],
      [20, 'flapping'],
      [80, 'resolved'],
    ]);
  });

  test('with alerts.flapping.enabled false, every cycle fires and resolves', () => {
    const { sent } = replay(settingsFor({ flapping: { enabled: false } }));
    expect(sent.filter(([, c]) => c === 'firing')).toHaveLength(4);
    expect(sent.filter(([, c]) => c === 'resolved')).toHaveLength(4);
  });

  test('alerts.flapping.firings 3 lets two cycles through and damps the third start', () => {
    const { sent } = replay(settingsFor({ flapping: { firings: 3 } }));
    expect(sent.map(([, c]) => c)).toEqual(['firing', 'resolved', 'firing', 'resolved', 'flapping', 'resolved']);
  });

  test('alerts.flapping.stableMinutes sets how long it must stay clear', () => {
    const { sent } = replay(settingsFor({ flapping: { stableMinutes: 10 } }));
    expect(sent.at(-1)).toEqual([60, 'resolved']);
  });

  test('a start after the window has passed is an ordinary firing', () => {
    let s = emptyHostState('i-0abc');
    const changes: string[] = [];
    for (const [m, findings] of [
      [0, [xid()]],
      [65, []],
      [130, [xid()]],
    ] as const) {
      const { next, n } = run(s, m, [...findings]);
      s = next;
      changes.push(...(n?.alerts ?? []).map((a) => a.change));
    }
    expect(changes).toEqual(['firing', 'resolved', 'firing']);
  });

  test('starts older than the window leave the stored state', () => {
    const { state } = replay(settingsFor(), 150);
    expect(state.firingStarts).toBeUndefined();
    const early = replay(settingsFor(), 25);
    expect(Object.keys(early.state.firingStarts ?? {})).toEqual(['gpu.temperature#gpu3']);
  });
});
