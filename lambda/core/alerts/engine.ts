/**
 * The alert engine: load a host's state, run the policy, commit the new state with an optimistic version
 * check, then deliver. Commit-then-send means two collectors evaluating the same host cannot both notify:
 * the loser's save fails, it re-reads the winner's state, finds its result already evaluated (or the alert
 * already notified) and sends nothing. A notification that cannot be delivered is parked in the host's
 * state and sent at the host's next evaluation, so none is lost.
 *
 * Entry points: {@link processResults} (collect Lambda, local run), {@link sweepHosts} (stale-host
 * sweep), {@link PolicyAlertSink} (the AlertSink port of lambda/core/ports.ts).
 */
import type { AlertSink, Clock } from '../ports';
import type { TaskResult } from '../types';
import type { HostAlertState, Notification } from './model';
import { buildNotification, evaluateHost } from './policy';
import { AlertStateConflictError, type AlertStateStore, type HostSummary, type Notifier, type SilenceSource } from './ports';
import type { AlertSettings } from './settings';

export interface AlertLog {
  warn(message: string, details?: Record<string, unknown>): void;
}

export interface AlertEngineDeps {
  readonly store: AlertStateStore;
  readonly silences: SilenceSource;
  readonly settings: AlertSettings;
  readonly log?: AlertLog;
}

export interface AlertDeliveryDeps extends AlertEngineDeps {
  readonly notifier: Notifier;
}

/** Re-reads after a lost race; more than a few in a row means something loops. */
const MAX_ATTEMPTS = 5;
/**
 * Parked notifications kept per host while the notifier is down (they live in the host's state item,
 * which DynamoDB caps at 400 KB); the oldest are dropped beyond this, loudly.
 */
const MAX_UNDELIVERED = 20;

/** Raised after parking notifications the notifier refused, so the caller's invocation is retried/alarmed. */
export class AlertDeliveryError extends Error {
  constructor(
    readonly failed: readonly Notification[],
    cause: unknown,
  ) {
    super(
      `${failed.length} alert notification(s) could not be sent (${(cause as Error)?.message ?? String(cause)}); parked in the host state for the next evaluation`,
    );
    this.name = 'AlertDeliveryError';
  }
}

async function withRetries<T>(host: string, deps: AlertEngineDeps, attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof AlertStateConflictError) || n >= MAX_ATTEMPTS) throw err;
      deps.log?.warn('alert state conflict; re-reading', { host, attempt: n });
    }
  }
}

/**
 * Evaluates one host's results (none: the sweep) and commits. Returns what must now be sent: parked
 * notifications first, then this evaluation's one.
 */
async function commitHost(host: string, results: readonly TaskResult[], deps: AlertEngineDeps, now: Date): Promise<Notification[]> {
  return withRetries(host, deps, async () => {
    const previous = await deps.store.load(host);
    const silences = await deps.silences.activeSilences(host, now);
    const evaluation = evaluateHost(previous, results, silences, deps.settings, now);
    if (evaluation.skipped > 0)
      deps.log?.warn('skipped results already evaluated (duplicate delivery or out of order)', { host, skipped: evaluation.skipped });
    const version = previous.version + 1;
    const notification = buildNotification({
      id: `${host}/${version}`,
      at: evaluation.at,
      fleet: deps.settings.fleet,
      state: evaluation.state,
      changes: evaluation.changes,
    });
    const toSend = [...previous.undelivered, ...(notification ? [notification] : [])];
    if (!evaluation.changed && toSend.length === 0) return [];
    const next: HostAlertState = { ...evaluation.state, version, undelivered: [] };
    await deps.store.save(previous, next);
    return toSend;
  });
}

/** Evaluates and commits results (grouped per host); returns the notifications to deliver. */
export async function evaluateAlerts(results: readonly TaskResult[], deps: AlertEngineDeps, now: Date): Promise<Notification[]> {
  const hosts = [...new Set(results.map((r) => r.host))];
  const out: Notification[] = [];
  for (const host of hosts)
    out.push(
      ...(await commitHost(
        host,
        results.filter((r) => r.host === host),
        deps,
        now,
      )),
    );
  return out;
}

async function park(host: string, failed: readonly Notification[], deps: AlertEngineDeps): Promise<void> {
  await withRetries(host, deps, async () => {
    const previous = await deps.store.load(host);
    const all = [...previous.undelivered, ...failed];
    if (all.length > MAX_UNDELIVERED) {
      deps.log?.warn('too many undelivered alert notifications; dropping the oldest', { host, dropped: all.length - MAX_UNDELIVERED });
    }
    await deps.store.save(previous, { ...previous, version: previous.version + 1, undelivered: all.slice(-MAX_UNDELIVERED) });
  });
}

/** Sends each notification; the ones that fail are parked per host and an {@link AlertDeliveryError} is thrown. */
export async function deliver(notifications: readonly Notification[], deps: AlertDeliveryDeps): Promise<void> {
  const failed: Notification[] = [];
  let firstError: unknown;
  for (const n of notifications) {
    try {
      await deps.notifier.send(n);
    } catch (err) {
      firstError ??= err;
      failed.push(n);
    }
  }
  if (failed.length === 0) return;
  for (const host of new Set(failed.map((n) => n.host)))
    await park(
      host,
      failed.filter((n) => n.host === host),
      deps,
    );
  throw new AlertDeliveryError(failed, firstError);
}

/** Evaluate, commit, deliver: what the collect Lambda and local runs call per batch of results. */
export async function processResults(results: readonly TaskResult[], deps: AlertDeliveryDeps, now: Date): Promise<Notification[]> {
  const notifications = await evaluateAlerts(results, deps, now);
  await deliver(notifications, deps);
  return notifications;
}

/**
 * The periodic sweep: hosts silent on gpu-check for `staleAfterMinutes` (but not yet forgotten) get
 * host.stale, and hosts with alerts a silence withheld notify once the silence has ended.
 */
/** Hosts the sweep must evaluate: silent on gpu-check past staleAfterMinutes (not yet forgotten), or withheld. */
async function hostsToSweep(deps: AlertEngineDeps, now: Date): Promise<string[]> {
  const staleMs = deps.settings.staleAfterMinutes * 60_000;
  const forgetMs = deps.settings.forgetHostAfterDays * 86_400_000;
  const due: HostSummary[] = [];
  for (const summary of await deps.store.listHosts()) {
    const silentMs = summary.lastGpuCheckAt === undefined ? null : now.getTime() - Date.parse(summary.lastGpuCheckAt);
    const stale = silentMs !== null && silentMs >= staleMs && silentMs < forgetMs;
    if (stale || summary.withheld) due.push(summary);
  }
  // A sweep cut short by its time limit must not starve new news: hosts whose silence ended first
  // (withheld), then the hosts that went silent last (not notified yet), the long-silent ones (repeats) last.
  const rank = (h: HostSummary) => (h.withheld ? Number.MAX_SAFE_INTEGER : Date.parse(h.lastGpuCheckAt ?? '') || 0);
  return due.sort((a, b) => rank(b) - rank(a)).map((h) => h.host);
}

export async function evaluateSweep(deps: AlertEngineDeps, now: Date): Promise<Notification[]> {
  const out: Notification[] = [];
  for (const host of await hostsToSweep(deps, now)) out.push(...(await commitHost(host, [], deps, now)));
  return out;
}

export interface SweepOptions {
  /** Hosts evaluated at once. @default 16 */
  readonly concurrency?: number;
  /** Stop starting hosts when this returns true (the Lambda's time is nearly up); the next sweep finds the rest. */
  readonly outOfTime?: () => boolean;
}

export interface SweepOutcome {
  readonly notifications: readonly Notification[];
  /** Hosts left for the next sweep because time ran out. */
  readonly deferred: number;
  /** Notifications the notifier refused (parked in their host's state for its next evaluation). */
  readonly parked: number;
}

/**
 * The stale-host sweep in chunks: hosts are evaluated `concurrency` at a time, and each host's
 * notifications are sent (or parked) as soon as its state is committed, so a sweep cut short by its
 * timeout loses nothing: what it committed went out, what it did not start stays stale for the next one.
 */
export async function sweepHosts(deps: AlertDeliveryDeps, now: Date, options: SweepOptions = {}): Promise<SweepOutcome> {
  const queue = await hostsToSweep(deps, now);
  const total = queue.length;
  const sent: Notification[] = [];
  let parked = 0;
  let started = 0;
  const worker = async () => {
    while (started < total && !options.outOfTime?.()) {
      const host = queue[started++];
      const notifications = await commitHost(host, [], deps, now);
      try {
        await deliver(notifications, deps);
        sent.push(...notifications);
      } catch (err) {
        if (!(err instanceof AlertDeliveryError)) throw err;
        parked += err.failed.length;
        sent.push(...notifications.filter((n) => !err.failed.includes(n)));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 16) }, worker));
  if (parked > 0) deps.log?.warn('sweep notifications parked for the next evaluation', { parked });
  return { notifications: sent, deferred: total - started, parked };
}

/** The policy behind the AlertSink port: a one-line swap for sinks that printed every finding. */
export class PolicyAlertSink implements AlertSink {
  constructor(private readonly deps: AlertDeliveryDeps & { readonly clock: Clock }) {}

  async publish(result: TaskResult): Promise<void> {
    await processResults([result], this.deps, this.deps.clock.now());
  }
}
