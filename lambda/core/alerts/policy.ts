/**
 * The alert policy, pure: from a host's stored alert state, new task results, active silences and the
 * time, to the next state and the alerts that changed. Alertmanager's semantics on our data:
 * notify on ok → warning/critical and on escalation, repeat while firing, resolve what was notified,
 * `for` consecutive evaluations, host.stale for hosts that stop reporting gpu-check, silences, and
 * flap damping (an alert that keeps starting again is notified once as flapping and resolved once stable).
 */
import type { CheckName, Finding, TaskName, TaskResult } from '../types';
import {
  type AlertChange,
  type AlertRecord,
  type AlertSeverity,
  alertKey,
  type ChangeKind,
  type HostAlertState,
  higherSeverity,
  type Notification,
  type Silence,
  severityRank,
} from './model';
import { type AlertSettings, flapDamping, forCount, keepFiringForMs, repeatIntervalMs, runbookLink } from './settings';

/** A breaching reading of one (check, gpu) at one evaluation. */
export interface Observation {
  readonly check: CheckName;
  readonly gpu?: number;
  readonly severity: AlertSeverity;
  readonly message: string;
  readonly reading?: number | string | null;
  readonly threshold?: string;
}

export interface TransitionContext {
  readonly at: string;
  readonly task: TaskName;
  /** Consecutive breaching evaluations needed before firing. */
  readonly forCount: number;
  /** A firing alert resolves only once its last breach is this old (0: at the first ok evaluation). */
  readonly keepFiringForMs?: number;
  readonly repeatIntervalMs: Readonly<Record<AlertSeverity, number>>;
  /** A silence matches this alert at `at`: due notifications are withheld. */
  readonly silenced: boolean;
  /** Flap damping; absent: off. */
  readonly flapping?: {
    /** Times this alert started firing within the window before `at`. */
    readonly recentStarts: number;
    /** Starts within the window, this one included, that make it flapping. */
    readonly firings: number;
    /** A flapping alert resolves once its last breach is this old. */
    readonly stableMs: number;
  };
}

export interface Transition {
  /** The alert's next state; undefined once it has cleared. */
  readonly next: AlertRecord | undefined;
  /** The notification this evaluation owes for the alert, if any. */
  readonly change: ChangeKind | null;
}

/**
 * One alert, one evaluation. `observation` null means the check is ok now.
 * Resolves are sent even under a silence: the receivers were told it fired and must learn it ended.
 */
export function transition(prev: AlertRecord | undefined, observation: Observation | null, ctx: TransitionContext): Transition {
  if (observation === null) {
    if (prev === undefined) return { next: undefined, change: null };
    const holdMs = Math.max(ctx.keepFiringForMs ?? 0, prev.flapping === true ? (ctx.flapping?.stableMs ?? 0) : 0);
    if (prev.status === 'firing' && holdMs > 0 && Date.parse(ctx.at) - Date.parse(prev.lastBreachAt) < holdMs) {
      return { next: { ...prev, lastEvaluatedAt: ctx.at }, change: null };
    }
    return { next: undefined, change: prev.notifiedSeverity !== undefined ? 'resolved' : null };
  }
  const consecutive = (prev?.consecutive ?? 0) + 1;
  const base = {
    check: observation.check,
    ...(observation.gpu !== undefined ? { gpu: observation.gpu } : {}),
    task: ctx.task,
    severity: observation.severity,
    message: observation.message,
    ...(observation.reading !== undefined ? { reading: observation.reading } : {}),
    ...(observation.threshold !== undefined ? { threshold: observation.threshold } : {}),
    consecutive,
    since: prev?.since ?? ctx.at,
    lastEvaluatedAt: ctx.at,
    lastBreachAt: ctx.at,
  };
  const firing = prev?.status === 'firing' || consecutive >= ctx.forCount;
  if (!firing) return { next: { ...base, status: 'pending' }, change: null };

  const starting = prev?.status !== 'firing';
  const flapping =
    prev?.flapping === true || (starting && ctx.flapping !== undefined && ctx.flapping.recentStarts + 1 >= ctx.flapping.firings);
  const notified = prev?.notifiedSeverity;
  let due: ChangeKind | null = null;
  if (notified === undefined) due = flapping ? 'flapping' : 'firing';
  else if (severityRank(observation.severity) > severityRank(notified)) due = 'escalated';
  else if (
    prev?.lastNotifiedAt === undefined ||
    Date.parse(ctx.at) - Date.parse(prev.lastNotifiedAt) >= ctx.repeatIntervalMs[observation.severity]
  )
    due = 'repeat';

  const firingRecord = {
    ...base,
    status: 'firing' as const,
    firingSince: prev?.firingSince ?? ctx.at,
    ...(flapping ? { flapping: true } : {}),
    ...(notified !== undefined ? { notifiedSeverity: notified } : {}),
    ...(prev?.lastNotifiedAt !== undefined ? { lastNotifiedAt: prev.lastNotifiedAt } : {}),
  };
  if (due === null) return { next: firingRecord, change: null };
  if (ctx.silenced) return { next: { ...firingRecord, silenced: true }, change: null };
  return {
    next: {
      ...firingRecord,
      notifiedSeverity: notified === undefined ? observation.severity : higherSeverity(notified, observation.severity),
      lastNotifiedAt: ctx.at,
    },
    change: due,
  };
}

/** Findings of one result as observations, one per (check, gpu): the worst wins, all messages kept. */
export function observationsOf(findings: readonly Finding[]): Map<string, Observation> {
  const grouped = new Map<string, Finding[]>();
  for (const f of findings) {
    if (f.severity === 'ok') continue;
    const key = alertKey(f.check, f.gpu);
    grouped.set(key, [...(grouped.get(key) ?? []), f]);
  }
  const out = new Map<string, Observation>();
  for (const [key, list] of grouped) {
    const sorted = [...list].sort((a, b) => severityRank(b.severity as AlertSeverity) - severityRank(a.severity as AlertSeverity));
    const worst = sorted[0];
    out.set(key, {
      check: worst.check,
      ...(worst.gpu !== undefined ? { gpu: worst.gpu } : {}),
      severity: worst.severity as AlertSeverity,
      message: [...new Set(sorted.map((f) => f.message))].join('; '),
      ...(worst.reading !== undefined ? { reading: worst.reading } : {}),
      ...(worst.threshold !== undefined ? { threshold: worst.threshold } : {}),
    });
  }
  return out;
}

function observationOf(record: AlertRecord): Observation {
  return {
    check: record.check,
    ...(record.gpu !== undefined ? { gpu: record.gpu } : {}),
    severity: record.severity,
    message: record.message,
    ...(record.reading !== undefined ? { reading: record.reading } : {}),
    ...(record.threshold !== undefined ? { threshold: record.threshold } : {}),
  };
}

export function isSilenced(silences: readonly Silence[], host: string, check: CheckName, at: string): boolean {
  const t = Date.parse(at);
  return silences.some((s) => s.host === host && (s.check === undefined || s.check === check) && Date.parse(s.until) > t);
}

export interface HostEvaluation {
  /** Next state, same version as the input (the store bumps it when saving). */
  readonly state: HostAlertState;
  readonly changes: readonly AlertChange[];
  /** Results ignored because their time is not after the last one seen for their task (duplicates). */
  readonly skipped: number;
  /** Whether the state differs from the input (needs saving). */
  readonly changed: boolean;
  /** Time of the evaluation: the latest result's time, or `now` when only the stale check ran. */
  readonly at: string;
}

function resultTime(result: TaskResult, now: Date): string {
  if (typeof result.at === 'string') {
    const t = Date.parse(result.at);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  return now.toISOString();
}

const STALE_CHECK: CheckName = 'host.stale';

/**
 * Evaluates a host: each result in time order (duplicates skipped), then the stale check at `now`
 * unless a gpu-check result is among them. With no results this is the stale-host sweep.
 */
export function evaluateHost(
  prev: HostAlertState,
  results: readonly TaskResult[],
  silences: readonly Silence[],
  settings: AlertSettings,
  now: Date,
): HostEvaluation {
  const alerts: Record<string, AlertRecord> = { ...prev.alerts };
  const lastSeen: Partial<Record<TaskName, string>> = { ...prev.lastSeen };
  const changes: AlertChange[] = [];
  const repeat = { critical: repeatIntervalMs(settings, 'critical'), warning: repeatIntervalMs(settings, 'warning') };
  let skipped = 0;
  let at: string | null = null;

  const damping = flapDamping(settings);
  const firingStarts: Record<string, readonly string[]> = { ...prev.firingStarts };
  /** Starts of `key` within the flapping window before `when` (older ones dropped). */
  const recentStarts = (key: string, when: string): readonly string[] => {
    const t = Date.parse(when);
    return (firingStarts[key] ?? []).filter((s) => damping !== null && t - Date.parse(s) < damping.windowMs);
  };

  const evaluated = new Set<string>();
  const apply = (key: string, task: TaskName, check: CheckName, observation: Observation | null, when: string): void => {
    evaluated.add(key);
    const before = alerts[key];
    const starts = recentStarts(key, when);
    const { next, change } = transition(before, observation, {
      at: when,
      task,
      forCount: forCount(settings, check),
      keepFiringForMs: keepFiringForMs(settings, check),
      repeatIntervalMs: repeat,
      silenced: isSilenced(silences, prev.host, check, when),
      ...(damping ? { flapping: { recentStarts: starts.length, firings: damping.firings, stableMs: damping.stableMs } } : {}),
    });
    if (next) alerts[key] = next;
    else delete alerts[key];
    if (damping && next?.status === 'firing' && before?.status !== 'firing') firingStarts[key] = [...starts, when];
    if (change === null) return;
    const source = (next ?? before) as AlertRecord;
    changes.push({
      change,
      check: source.check,
      ...(source.gpu !== undefined ? { gpu: source.gpu } : {}),
      task: source.task,
      severity: change === 'resolved' ? (before?.notifiedSeverity ?? source.severity) : source.severity,
      ...(change === 'escalated' && before?.notifiedSeverity ? { previousSeverity: before.notifiedSeverity } : {}),
      message: source.message,
      ...(source.reading !== undefined ? { reading: source.reading } : {}),
      ...(source.threshold !== undefined ? { threshold: source.threshold } : {}),
      since: source.since,
      runbook: runbookLink(settings, source.check),
    });
  };

  const ordered = results
    .filter((r) => r.host === prev.host)
    .map((r) => ({ r, when: resultTime(r, now) }))
    .sort((a, b) => Date.parse(a.when) - Date.parse(b.when));
  let sawGpuCheck = false;
  for (const { r, when } of ordered) {
    if (r.partial === true) {
      // An event (the kernel-log watcher) raises or refreshes the alerts it names; the task's next run,
      // which reads the same kernel lines, finds them already notified and, once they stop, clears them.
      at = at !== null && Date.parse(at) > Date.parse(when) ? at : when;
      for (const [key, observation] of observationsOf(r.findings)) apply(key, r.task, observation.check, observation, when);
      continue;
    }
    const last = lastSeen[r.task];
    if (last !== undefined && Date.parse(when) <= Date.parse(last)) {
      skipped++;
      continue;
    }
    lastSeen[r.task] = when;
    at = when;
    if (r.task === 'gpu-check') sawGpuCheck = true;
    const observations = observationsOf(r.findings);
    const keys = new Set<string>(observations.keys());
    for (const [key, record] of Object.entries(alerts)) if (record.task === r.task) keys.add(key);
    for (const key of keys) {
      const observation = observations.get(key) ?? null;
      const record = alerts[key];
      const check = observation?.check ?? record.check;
      // A run that failed says nothing about its other checks: only task.* and host.stale move.
      if (observation === null && r.status === 'failed' && !check.startsWith('task.') && check !== STALE_CHECK) continue;
      apply(key, r.task, check, observation, when);
    }
    // Any gpu-check result, even a failed one, proves the host reports.
    if (r.task === 'gpu-check' && alerts[STALE_CHECK] && !observations.has(STALE_CHECK))
      apply(STALE_CHECK, 'gpu-check', STALE_CHECK, null, when);
  }

  // A silence that ended owes the alerts it withheld a notification now, not at their task's next run.
  const nowIso = now.toISOString();
  for (const [key, record] of Object.entries(alerts)) {
    if (!record.silenced || record.status !== 'firing' || evaluated.has(key)) continue;
    if (Date.parse(record.lastEvaluatedAt) > now.getTime() || isSilenced(silences, prev.host, record.check, nowIso)) continue;
    at = at !== null && Date.parse(at) > now.getTime() ? at : nowIso;
    apply(key, record.task, record.check, observationOf(record), nowIso);
  }

  const lastGpuCheck = lastSeen['gpu-check'];
  if (!sawGpuCheck && lastGpuCheck !== undefined) {
    const silentMinutes = (now.getTime() - Date.parse(lastGpuCheck)) / 60_000;
    if (silentMinutes >= settings.staleAfterMinutes) {
      const when = now.toISOString();
      at = at !== null && Date.parse(at) > now.getTime() ? at : when;
      apply(
        STALE_CHECK,
        'gpu-check',
        STALE_CHECK,
        {
          check: STALE_CHECK,
          severity: settings.staleSeverity,
          message: `no gpu-check result for ${Math.floor(silentMinutes)} min (last at ${lastGpuCheck})`,
          reading: Math.floor(silentMinutes),
          threshold: `≥ ${settings.staleAfterMinutes} min`,
        },
        when,
      );
    }
  }

  const evaluatedAt = at ?? now.toISOString();
  for (const key of Object.keys(firingStarts)) {
    const kept = recentStarts(key, evaluatedAt);
    if (kept.length === 0) delete firingStarts[key];
    else if (kept.length !== firingStarts[key].length) firingStarts[key] = kept;
  }
  const { firingStarts: _previousStarts, ...rest } = prev;
  const state: HostAlertState = { ...rest, lastSeen, alerts, ...(Object.keys(firingStarts).length > 0 ? { firingStarts } : {}) };
  const changed =
    JSON.stringify(prev.alerts) !== JSON.stringify(alerts) ||
    JSON.stringify(prev.lastSeen) !== JSON.stringify(lastSeen) ||
    JSON.stringify(prev.firingStarts ?? {}) !== JSON.stringify(firingStarts);
  return { state, changes, skipped, changed, at: evaluatedAt };
}

/** Groups a host's changes into its one notification (null when nothing changed). */
export function buildNotification(input: {
  readonly id: string;
  readonly at: string;
  readonly fleet: string;
  readonly state: HostAlertState;
  readonly changes: readonly AlertChange[];
}): Notification | null {
  const { changes } = input;
  if (changes.length === 0) return null;
  const firing = changes.filter((c) => c.change !== 'resolved');
  const decisive = firing.length > 0 ? firing : changes;
  const severity = decisive.reduce<AlertSeverity>((worst, c) => higherSeverity(worst, c.severity), 'warning');
  const order: Record<ChangeKind, number> = { escalated: 0, firing: 1, flapping: 1, repeat: 2, resolved: 3 };
  const alerts = [...changes].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      order[a.change] - order[b.change] ||
      a.check.localeCompare(b.check) ||
      (a.gpu ?? -1) - (b.gpu ?? -1),
  );
  const stillFiring = Object.values(input.state.alerts)
    .filter((r) => r.status === 'firing' && r.notifiedSeverity !== undefined)
    .map((r) => ({ check: r.check, ...(r.gpu !== undefined ? { gpu: r.gpu } : {}), severity: r.severity }))
    .sort((a, b) => a.check.localeCompare(b.check) || (a.gpu ?? -1) - (b.gpu ?? -1));
  return {
    id: input.id,
    at: input.at,
    fleet: input.fleet,
    host: input.state.host,
    status: firing.length > 0 ? 'firing' : 'resolved',
    severity,
    tasks: [...new Set(changes.map((c) => c.task))].sort(),
    alerts,
    stillFiring,
  };
}
