/**
 * Alert vocabulary: the state kept per (host, check, gpu) between evaluations, silences, and the
 * notifications the policy emits. Everything here is plain data so it can be stored as JSON (a file
 * locally, DynamoDB items in AWS) and replayed by the simulator.
 */
import type { CheckName, Severity, TaskName } from '../types';

/** Severities an alert can fire at. */
export type AlertSeverity = Exclude<Severity, 'ok'>;

/** `pending`: breaching but fewer consecutive evaluations than `for`; `firing`: an active alert. */
export type AlertStatus = 'pending' | 'firing';

/**
 * Why an alert appears in a notification:
 * `firing` first notification of an incident (also the first one after a silence withheld it),
 * `escalated` warning → critical, `repeat` still firing after the repeat interval,
 * `resolved` a notified alert cleared (a flapping one: once it has stayed clear for `alerts.flapping.stableMinutes`),
 * `flapping` first notification of an alert that started firing again within `alerts.flapping.windowMinutes`:
 * it fires and clears repeatedly, so its further cycles are not notified until it is stable.
 */
export type ChangeKind = 'firing' | 'flapping' | 'escalated' | 'repeat' | 'resolved';

/** The state of one alert: one (check, gpu) on one host, from its first breach until it clears. */
export interface AlertRecord {
  readonly check: CheckName;
  readonly gpu?: number;
  /** Task whose results decide this alert (a result of that task without the check clears it). */
  readonly task: TaskName;
  readonly status: AlertStatus;
  /** Severity at the latest evaluation. */
  readonly severity: AlertSeverity;
  readonly message: string;
  readonly reading?: number | string | null;
  readonly threshold?: string;
  /** Breaching evaluations in a row (compared with `for`). */
  readonly consecutive: number;
  /** First breaching evaluation of this incident. */
  readonly since: string;
  /** When the alert passed `for` and started firing. */
  readonly firingSince?: string;
  readonly lastEvaluatedAt: string;
  /** Latest breaching evaluation (differs from lastEvaluatedAt while keep-firing holds a cleared alert). */
  readonly lastBreachAt: string;
  /** Highest severity notified in this incident; absent while nothing was sent. */
  readonly notifiedSeverity?: AlertSeverity;
  readonly lastNotifiedAt?: string;
  /** A notification was due at the latest evaluation but a silence withheld it. */
  readonly silenced?: boolean;
  /**
   * The alert started firing again within the flapping window: it stays firing through clear readings
   * and resolves only once clear for `alerts.flapping.stableMinutes`.
   */
  readonly flapping?: boolean;
}

/** Everything the policy keeps about one host; stored and replaced as a unit under `version`. */
export interface HostAlertState {
  readonly host: string;
  /** Optimistic-concurrency version: 0 = never stored. Every save increments it. */
  readonly version: number;
  /** Time of the latest evaluated result per task (duplicate and out-of-order results are skipped). */
  readonly lastSeen: Readonly<Partial<Record<TaskName, string>>>;
  /** Active (pending or firing) alerts by {@link alertKey}. */
  readonly alerts: Readonly<Record<string, AlertRecord>>;
  /** Notifications committed but not delivered (the notifier failed); sent before the next ones. */
  readonly undelivered: readonly Notification[];
  /**
   * When each alert started firing, by {@link alertKey}, within `alerts.flapping.windowMinutes`: kept after
   * the alert resolves, so that a restart soon after is recognized as flapping. Absent when empty.
   */
  readonly firingStarts?: Readonly<Record<string, readonly string[]>>;
}

export interface Silence {
  readonly host: string;
  /** Only this check; absent = every check of the host. */
  readonly check?: CheckName;
  /** End of the silence (ISO-8601). */
  readonly until: string;
  readonly reason: string;
  readonly createdBy?: string;
  readonly createdAt?: string;
  /** `cli`: `gpu-maint silence`; `tag`: the instance tag `gpu-maint:silence-until`. */
  readonly source: 'cli' | 'tag';
}

/** One alert in a notification. */
export interface AlertChange {
  readonly change: ChangeKind;
  readonly check: CheckName;
  readonly gpu?: number;
  readonly task: TaskName;
  /** Current severity; for `resolved`, the highest severity notified during the incident. */
  readonly severity: AlertSeverity;
  /** For `escalated`: the severity notified before. */
  readonly previousSeverity?: AlertSeverity;
  /** The finding's message; for `resolved`, the last message seen while it fired. */
  readonly message: string;
  readonly reading?: number | string | null;
  readonly threshold?: string;
  /** Start of the incident (first breaching evaluation). */
  readonly since: string;
  /** `<runbookUrl>#<check>`, e.g. `docs/runbook.md#gpu.xid`. */
  readonly runbook: string;
}

/** What the policy sends: one per host per evaluation, grouping every alert that changed. */
export interface Notification {
  /** Unique and stable across retries: `<host>/<state version>`. */
  readonly id: string;
  readonly at: string;
  readonly fleet: string;
  readonly host: string;
  /** `firing` when any change is not a resolve. */
  readonly status: 'firing' | 'resolved';
  /** Worst severity among the firing changes (or among the resolved ones when all resolved). */
  readonly severity: AlertSeverity;
  readonly tasks: readonly TaskName[];
  /** Changed alerts, most severe first. */
  readonly alerts: readonly AlertChange[];
  /** Alerts of this host still firing (and notified) after this evaluation, for context and PagerDuty resolves. */
  readonly stillFiring: readonly { readonly check: CheckName; readonly gpu?: number; readonly severity: AlertSeverity }[];
}

/** Storage key of an alert: check plus GPU index when the finding is about one GPU. */
export function alertKey(check: CheckName, gpu?: number): string {
  return gpu === undefined ? check : `${check}#gpu${gpu}`;
}

export function emptyHostState(host: string): HostAlertState {
  return { host, version: 0, lastSeen: {}, alerts: {}, undelivered: [] };
}

const RANK: Record<AlertSeverity, number> = { warning: 1, critical: 2 };

export function higherSeverity(a: AlertSeverity, b: AlertSeverity): AlertSeverity {
  return RANK[a] >= RANK[b] ? a : b;
}

export function severityRank(s: AlertSeverity): number {
  return RANK[s];
}

/** `gpu.temperature GPU 3`, or the check alone. */
export function alertLabel(a: { readonly check: string; readonly gpu?: number }): string {
  return a.gpu === undefined ? a.check : `${a.check} GPU ${a.gpu}`;
}
