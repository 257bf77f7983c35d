/**
 * Backup retention, pure: which snapshots to keep (keep-last plus daily/weekly/monthly, never fewer
 * than keepLast, always the newest readable snapshot whatever its age) and which archives no kept
 * snapshot references any more (deleted only after a grace period). Age alone never deletes: a month
 * of failed backups leaves the last good snapshots in place.
 */

export interface RetentionPolicy {
  /** The newest N snapshots are always kept. At least 1. */
  readonly keepLast: number;
  /** The newest snapshot of each of the N most recent days that have one. */
  readonly keepDaily: number;
  /** The newest snapshot of each of the N most recent ISO weeks that have one. */
  readonly keepWeekly: number;
  /** The newest snapshot of each of the N most recent months that have one. */
  readonly keepMonthly: number;
}

export interface SnapshotRef {
  readonly id: string;
  /** When the snapshot was taken (from its id: the host's clock, which can be wrong). */
  readonly at: Date;
  /**
   * The host's snapshot sequence (from its id; 0 for ids from before sequences): the order snapshots were
   * written in, which a wrong clock cannot change. Newest means the highest sequence. @default 0
   */
  readonly sequence?: number;
  /** False when its manifest could not be read: it is kept, and never counted as a good snapshot. */
  readonly readable: boolean;
}

export type KeepReason = 'newest' | 'last' | 'daily' | 'weekly' | 'monthly' | 'unreadable';

export interface RetentionDecision {
  /** Kept snapshots, newest first. */
  readonly keep: readonly SnapshotRef[];
  /** Snapshots to delete, newest first. */
  readonly remove: readonly SnapshotRef[];
  /** Why each kept snapshot is kept. */
  readonly reasons: ReadonlyMap<string, readonly KeepReason[]>;
}

/** @throws naming the bad field and value when the policy is not usable. */
export function validateRetentionPolicy(policy: RetentionPolicy): void {
  const fields: [keyof RetentionPolicy, number][] = [
    ['keepLast', 1],
    ['keepDaily', 0],
    ['keepWeekly', 0],
    ['keepMonthly', 0],
  ];
  for (const [field, min] of fields) {
    const value = policy[field];
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`retention.${field} must be an integer ≥ ${min}, got: ${JSON.stringify(value)}`);
    }
  }
}

const pad = (n: number) => String(n).padStart(2, '0');

export function dayBucket(at: Date): string {
  return `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
}

/** ISO-8601 week, e.g. `2026-W48` (weeks start on Monday; the year is the week's Thursday's). */
export function weekBucket(at: Date): string {
  const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

export function monthBucket(at: Date): string {
  return `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}`;
}

function newestFirst(a: SnapshotRef, b: SnapshotRef): number {
  return (b.sequence ?? 0) - (a.sequence ?? 0) || b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * Decides which snapshots to keep. Newest means written last (highest sequence), whatever the dates say:
 * a snapshot dated years ahead by a wrong clock never outranks the ones written after it. Buckets are UTC
 * days, ISO weeks and months of the snapshots' dates; in each the newest snapshot counts. Unreadable
 * snapshots are always kept and never satisfy a rule.
 */
export function decideRetention(snapshots: readonly SnapshotRef[], policy: RetentionPolicy): RetentionDecision {
  validateRetentionPolicy(policy);
  const sorted = [...snapshots].sort(newestFirst);
  const reasons = new Map<string, KeepReason[]>();
  const mark = (s: SnapshotRef, reason: KeepReason) => {
    const list = reasons.get(s.id) ?? [];
    if (!list.includes(reason)) list.push(reason);
    reasons.set(s.id, list);
  };
  const readable = sorted.filter((s) => s.readable);
  if (readable.length > 0) mark(readable[0], 'newest');
  for (const s of readable.slice(0, policy.keepLast)) mark(s, 'last');
  const rules: [KeepReason, number, (at: Date) => string][] = [
    ['daily', policy.keepDaily, dayBucket],
    ['weekly', policy.keepWeekly, weekBucket],
    ['monthly', policy.keepMonthly, monthBucket],
  ];
  for (const [reason, limit, bucketOf] of rules) {
    const seen = new Set<string>();
    for (const s of readable) {
      if (seen.size >= limit) break;
      const bucket = bucketOf(s.at);
      if (seen.has(bucket)) continue;
      seen.add(bucket);
      mark(s, reason);
    }
  }
  for (const s of sorted) if (!s.readable) mark(s, 'unreadable');
  return {
    keep: sorted.filter((s) => reasons.has(s.id)),
    remove: sorted.filter((s) => !reasons.has(s.id)),
    reasons,
  };
}

export interface StoredArchive {
  /** Key relative to the host's prefix, e.g. `units/<id>/<fingerprint>.tar.zst`. */
  readonly key: string;
  readonly bytes: number;
  readonly lastModified: Date;
}

/**
 * Archives that no kept snapshot references and that are older than the grace period. The grace
 * period protects archives of a backup still running (its manifest is not written yet) and gives
 * an operator time to notice a mistake.
 */
export function unreferencedArchives(
  archives: readonly StoredArchive[],
  referenced: ReadonlySet<string>,
  graceDays: number,
  now: Date,
): StoredArchive[] {
  if (!Number.isFinite(graceDays) || graceDays < 0) {
    throw new Error(`retention.graceDays must be a number ≥ 0, got: ${JSON.stringify(graceDays)}`);
  }
  const cutoff = now.getTime() - graceDays * 86_400_000;
  return archives.filter((a) => !referenced.has(a.key) && a.lastModified.getTime() < cutoff);
}
