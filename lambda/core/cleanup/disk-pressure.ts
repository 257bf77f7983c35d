/**
 * Disk-pressure trigger (cleanup.onDiskPressure): when a health-check result has health.disk critical,
 * dispatch cleanup to that host, at most once per cleanup.cooldownHours, and say so in the alert. The
 * decision is pure (`diskPressureDecision`); `triggerCleanupOnDiskPressure` runs it against two ports,
 * a cooldown store (DynamoDB conditional write in AWS, a JSON file locally) and a dispatcher (SSM
 * SendCommand of the cleanup document to one instance in AWS, a local run of the cleanup task locally).
 */
import type { TaskResult } from '../types';

export interface DiskPressurePolicy {
  /** cleanup.onDiskPressure */
  readonly enabled: boolean;
  /** cleanup.cooldownHours */
  readonly cooldownHours: number;
  /** cleanup.dryRun: a triggered cleanup in dry-run mode reports but frees nothing, and the alert says so. */
  readonly dryRun: boolean;
}

export interface DiskPressureDecision {
  /** True when the result calls for a cleanup on its host (before the cooldown is checked). */
  readonly eligible: boolean;
  /** The critical health.disk messages, e.g. `/data is 97% full (…)`. */
  readonly criticalDisks: readonly string[];
  /** Why not eligible (for logs). */
  readonly reason: string;
}

/** Records dispatches per host; `claim` is atomic so two collectors never both dispatch. */
export interface CleanupCooldownStore {
  /**
   * Records a dispatch to `host` at `at` unless one was recorded after `notBefore`.
   * @returns true when this caller may dispatch; false when another dispatch is within the cooldown.
   */
  claim(host: string, at: Date, notBefore: Date): Promise<boolean>;
  /** Gives back a claim whose dispatch failed, so that the next critical result retries. */
  release(host: string, at: Date): Promise<void>;
}

export interface CleanupDispatcher {
  /** Starts the cleanup task on one host; returns an id to quote (SSM command id, local run id). */
  dispatchCleanup(host: string): Promise<{ readonly id: string }>;
}

export type DiskPressureOutcome =
  | { readonly action: 'none'; readonly reason: string }
  | { readonly action: 'dispatched'; readonly id: string; readonly note: string }
  | { readonly action: 'cooldown'; readonly note: string }
  | { readonly action: 'failed'; readonly error: string; readonly note: string };

/** Decides from one result whether its host needs a cleanup (pure). */
export function diskPressureDecision(result: TaskResult, policy: DiskPressurePolicy): DiskPressureDecision {
  const criticalDisks = result.findings.filter((f) => f.check === 'health.disk' && f.severity === 'critical').map((f) => f.message);
  if (!policy.enabled) return { eligible: false, criticalDisks, reason: 'cleanup.onDiskPressure is off' };
  if (result.task !== 'health-check')
    return { eligible: false, criticalDisks: [], reason: `task ${result.task} does not report disk pressure` };
  if (criticalDisks.length === 0) return { eligible: false, criticalDisks, reason: 'no critical health.disk finding' };
  return { eligible: true, criticalDisks, reason: 'health.disk critical' };
}

function hours(n: number): string {
  return `${Number.isInteger(n) ? n : n.toFixed(1)} h`;
}

/**
 * Dispatches a cleanup when the result calls for one and the host is outside its cooldown.
 * Returns the outcome with the line to add to the host's alert (`note`); never throws for a failed
 * dispatch (the alert says it failed, and the claim is given back so the next result retries).
 */
export async function triggerCleanupOnDiskPressure(
  result: TaskResult,
  policy: DiskPressurePolicy,
  deps: { readonly store: CleanupCooldownStore; readonly dispatcher: CleanupDispatcher; readonly now: Date },
): Promise<DiskPressureOutcome> {
  const decision = diskPressureDecision(result, policy);
  if (!decision.eligible) return { action: 'none', reason: decision.reason };
  const notBefore = new Date(deps.now.getTime() - policy.cooldownHours * 3_600_000);
  const claimed = await deps.store.claim(result.host, deps.now, notBefore);
  if (!claimed) {
    return {
      action: 'cooldown',
      note: `cleanup not dispatched again: one was dispatched to ${result.host} within the last ${hours(policy.cooldownHours)} (cleanup.cooldownHours)`,
    };
  }
  try {
    const { id } = await deps.dispatcher.dispatchCleanup(result.host);
    const mode = policy.dryRun ? ' in dry-run mode (cleanup.dryRun is true: it reports what it could free and deletes nothing)' : '';
    return { action: 'dispatched', id, note: `disk critical: cleanup dispatched to ${result.host}${mode} (${id})` };
  } catch (err) {
    const error = (err as Error).message ?? String(err);
    let held = '';
    try {
      await deps.store.release(result.host, deps.now);
    } catch (releaseErr) {
      // Report the dispatch failure, not only the store's: and say that no retry comes before the cooldown ends.
      held = `; the cooldown could not be given back (${(releaseErr as Error).message ?? String(releaseErr)}), so no retry within ${hours(policy.cooldownHours)}`;
    }
    return { action: 'failed', error, note: `disk critical: dispatching cleanup to ${result.host} failed: ${error}${held}` };
  }
}

/** An in-memory cooldown store (tests, and a single local process). */
export function memoryCooldownStore(
  initial: Readonly<Record<string, Date>> = {},
): CleanupCooldownStore & { readonly last: Map<string, Date> } {
  const last = new Map<string, Date>(Object.entries(initial));
  return {
    last,
    async claim(host, at, notBefore) {
      const previous = last.get(host);
      if (previous && previous.getTime() > notBefore.getTime()) return false;
      last.set(host, at);
      return true;
    },
    async release(host, at) {
      if (last.get(host)?.getTime() === at.getTime()) last.delete(host);
    },
  };
}
