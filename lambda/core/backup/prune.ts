/**
 * Applies retention to a backup store, host by host, and audits snapshot age. Used by the prune
 * Lambda (S3) and `gpu-maint prune` / `gpu-maint snapshots list` (file:// and s3://).
 *
 * Per host: read every manifest, decide what to keep, delete the manifests that go, then delete the
 * archives that no remaining manifest references and that are older than the grace period. A host
 * with an unreadable manifest keeps all its archives (what it references is unknown). Manifests
 * written while prune runs are read again before archives are deleted.
 */
import { z } from 'zod';
import { METRICS } from '../metric-names';
import type { MetricsSink } from '../ports';
import type { Finding, MetricDatum } from '../types';
import { describeIssue } from '../validation';
import { compareSnapshotIds, futureSnapshotMessage, type Manifest, parseManifest, snapshotSequence, snapshotTime } from './manifest';
import { decideRetention, type KeepReason, type RetentionPolicy, unreferencedArchives } from './retention';
import type { BackupStore } from './store';

export interface PrunePolicy extends RetentionPolicy {
  /** Days an unreferenced archive is kept before it is deleted. */
  readonly graceDays: number;
}

export interface KeptSnapshot {
  readonly id: string;
  readonly reasons: readonly KeepReason[];
}

export interface HostPruneReport {
  readonly hostKey: string;
  /** Host id from the newest readable manifest (the instance id on EC2); null when none is readable. */
  readonly host: string | null;
  readonly snapshots: number;
  readonly kept: readonly KeptSnapshot[];
  readonly removedSnapshots: readonly string[];
  readonly removedArchives: readonly string[];
  /** Bytes of the archives deleted; 0 on a dry run, which deletes nothing. */
  readonly bytesFreed: number;
  /** Bytes of the archives selected for deletion: what this run frees, or on a dry run would free. */
  readonly bytesToFree: number;
  /**
   * Newest readable snapshot (written last: highest sequence), its time and age at the audit. The time is
   * the snapshot's own date, or the store's write time when that date lies in the future (a wrong clock).
   */
  readonly newestSnapshot: string | null;
  readonly newestAt: string | null;
  readonly newestAgeHours: number | null;
  readonly unreadable: readonly string[];
  /** Set when the newest snapshot is dated in the future: the host's clock was wrong (backup.age warns). */
  readonly clockSkew: string | null;
  readonly warnings: readonly string[];
  /** Archives no kept manifest references that are younger than the grace period: deleted by a later prune. */
  readonly waitingArchives?: { readonly count: number; readonly bytes: number; readonly graceDays: number };
  /** Set when the host could not be pruned at all (listing failed); nothing was deleted then. */
  readonly error?: string;
}

export interface PruneReport {
  readonly location: string;
  readonly dryRun: boolean;
  readonly at: string;
  /** The retention applied (the configured one, or one a command line overrode); pruneStore sets it. */
  readonly policy?: PrunePolicy;
  readonly hosts: readonly HostPruneReport[];
  /** Set when time ran out first: the last host key done and how many hosts were not started. */
  readonly unfinished?: { readonly after: string; readonly hostsLeft: number };
}

export interface PruneOptions {
  /** Report what would be deleted without deleting. */
  readonly dryRun: boolean;
  /** Only these host keys (default: every host in the store). */
  readonly hostKeys?: readonly string[];
  /** Hosts pruned at the same time. @default 8 */
  readonly concurrency?: number;
  /** Start after this host key of the sorted listing (a continued prune). @default - from the first */
  readonly after?: string;
  /** Asked before each host: once true, no further host is started and the report says where to go on. */
  readonly outOfTime?: () => boolean;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

async function readManifests(store: BackupStore, hostKey: string, ids: readonly string[]) {
  const manifests = new Map<string, Manifest>();
  const unreadable: string[] = [];
  for (const id of ids) {
    try {
      manifests.set(id, parseManifest(await store.readManifest(hostKey, id), `${store.location}backups/${hostKey}/snapshots/${id}.json`));
    } catch {
      unreadable.push(id);
    }
  }
  return { manifests, unreadable };
}

export async function pruneHost(
  store: BackupStore,
  hostKey: string,
  policy: PrunePolicy,
  now: Date,
  options: PruneOptions,
): Promise<HostPruneReport> {
  const warnings: string[] = [];
  const ids = (await store.listSnapshotIds(hostKey)).sort(compareSnapshotIds);
  const writtenAt = (await store.listSnapshotWriteTimes?.(hostKey)) ?? new Map<string, Date>();
  const { manifests, unreadable } = await readManifests(store, hostKey, ids);
  for (const id of unreadable) warnings.push(`manifest ${id} cannot be read: it is kept, and no archive of this host is deleted`);

  // A date ahead of both the store's write time and this audit's clock came from a wrong host clock.
  const trusted = (id: string) => new Date(Math.min(writtenAt.get(id)?.getTime() ?? now.getTime(), now.getTime()));
  const future = new Map<string, string>();
  for (const id of ids) {
    const message = futureSnapshotMessage(id, trusted(id));
    if (message) future.set(id, message);
  }
  for (const message of future.values()) warnings.push(message);

  const decision = decideRetention(
    ids.map((id) => ({ id, at: snapshotTime(id), sequence: snapshotSequence(id), readable: manifests.has(id) })),
    policy,
  );
  const removedSnapshots = decision.remove.map((s) => s.id);
  if (!options.dryRun) for (const id of removedSnapshots) await store.deleteSnapshot(hostKey, id);

  const newest = decision.keep.find((s) => s.readable) ?? null;
  const newestManifest = newest ? (manifests.get(newest.id) ?? null) : null;
  const newestAt = newest ? (future.has(newest.id) ? trusted(newest.id) : newest.at) : null;
  const base = {
    hostKey,
    host: newestManifest?.host ?? null,
    snapshots: ids.length,
    kept: decision.keep.map((s) => ({ id: s.id, reasons: decision.reasons.get(s.id) ?? [] })),
    removedSnapshots,
    newestSnapshot: newest?.id ?? null,
    newestAt: newestAt ? newestAt.toISOString() : null,
    newestAgeHours: newestAt ? round((now.getTime() - newestAt.getTime()) / 3_600_000) : null,
    unreadable,
    clockSkew: newest ? (future.get(newest.id) ?? null) : null,
  };
  if (unreadable.length > 0) return { ...base, removedArchives: [], bytesFreed: 0, bytesToFree: 0, warnings };

  // Manifests that appeared since the listing (a backup finishing now) protect their archives too.
  const referenced = new Set<string>();
  const removed = new Set(removedSnapshots);
  for (const s of decision.keep) for (const u of manifests.get(s.id)?.units ?? []) referenced.add(u.key);
  const latestIds = await store.listSnapshotIds(hostKey);
  const newIds = latestIds.filter((id) => !manifests.has(id) && !removed.has(id));
  const late = await readManifests(store, hostKey, newIds);
  if (late.unreadable.length > 0) {
    warnings.push(`manifests written during prune cannot be read (${late.unreadable.join(', ')}): no archive deleted`);
    return { ...base, removedArchives: [], bytesFreed: 0, bytesToFree: 0, warnings };
  }
  for (const m of late.manifests.values()) for (const u of m.units) referenced.add(u.key);

  const archives = await store.listArchives(hostKey);
  const doomed = unreferencedArchives(archives, referenced, policy.graceDays, now);
  const doomedKeys = new Set(doomed.map((a) => a.key));
  const waiting = archives.filter((a) => !referenced.has(a.key) && !doomedKeys.has(a.key));
  if (!options.dryRun && doomed.length > 0)
    await store.deleteArchives(
      hostKey,
      doomed.map((a) => a.key),
    );
  const bytesToFree = doomed.reduce((sum, a) => sum + a.bytes, 0);
  return {
    ...base,
    removedArchives: doomed.map((a) => a.key),
    bytesFreed: options.dryRun ? 0 : bytesToFree,
    bytesToFree,
    waitingArchives: { count: waiting.length, bytes: waiting.reduce((sum, a) => sum + a.bytes, 0), graceDays: policy.graceDays },
    warnings,
  };
}

/** Prunes every host (or the chosen ones). One host's failure is reported, never fatal to the others. */
export async function pruneStore(store: BackupStore, policy: PrunePolicy, now: Date, options: PruneOptions): Promise<PruneReport> {
  const listed = options.hostKeys ? [...options.hostKeys] : (await store.listHostKeys()).sort();
  const after = options.after;
  const hostKeys = after === undefined ? listed : listed.filter((k) => k > after);
  const hosts: HostPruneReport[] = new Array(hostKeys.length);
  let next = 0;
  const worker = async () => {
    while (next < hostKeys.length && !options.outOfTime?.()) {
      const i = next++;
      const hostKey = hostKeys[i];
      try {
        hosts[i] = await pruneHost(store, hostKey, policy, now, options);
      } catch (err) {
        hosts[i] = {
          hostKey,
          host: null,
          snapshots: 0,
          kept: [],
          removedSnapshots: [],
          removedArchives: [],
          bytesFreed: 0,
          bytesToFree: 0,
          newestSnapshot: null,
          newestAt: null,
          newestAgeHours: null,
          unreadable: [],
          clockSkew: null,
          warnings: [],
          error: (err as Error).message,
        };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 8, hostKeys.length)) }, worker));
  // Hosts are started in order and every started one finishes: the done ones are a prefix.
  const done = hosts.slice(0, next);
  const unfinished = next < hostKeys.length && next > 0 ? { after: hostKeys[next - 1], hostsLeft: hostKeys.length - next } : undefined;
  if (next === 0 && hostKeys.length > 0) throw new Error(`prune: out of time before the first host (${hostKeys[0]})`);
  return {
    location: store.location,
    dryRun: options.dryRun,
    at: now.toISOString(),
    policy,
    hosts: done,
    ...(unfinished ? { unfinished } : {}),
  };
}

/**
 * backup.age for one host: warning when its newest readable snapshot is older than maxAgeHours,
 * critical beyond twice that or when it has none.
 */
export function backupAgeFinding(host: HostPruneReport, maxAgeHours: number): Finding {
  const threshold = `warn > ${maxAgeHours} h, crit > ${2 * maxAgeHours} h`;
  const who = host.host && host.host !== host.hostKey ? `${host.host} (${host.hostKey})` : host.hostKey;
  if (host.error) {
    return { check: 'backup.age', severity: 'warning', message: `backups of ${who} could not be audited: ${host.error}`, threshold };
  }
  if (host.newestAgeHours === null) {
    return { check: 'backup.age', severity: 'critical', message: `${who} has no readable snapshot`, reading: null, threshold };
  }
  const age = host.newestAgeHours;
  const severity = age > 2 * maxAgeHours ? 'critical' : age > maxAgeHours || host.clockSkew ? 'warning' : 'ok';
  return {
    check: 'backup.age',
    severity,
    message: `newest snapshot of ${who} is ${host.newestSnapshot}, ${age.toFixed(1)} h old${host.clockSkew ? `; ${host.clockSkew}` : ''}`,
    reading: age,
    threshold,
  };
}

/**
 * Fleet-level metrics of one audit: each host's snapshot age is a datapoint of SnapshotAgeHours
 * (Maximum = the fleet's worst), plus what prune removed. Series are per fleet only.
 */
export function pruneMetrics(report: PruneReport, fleet: string, maxAgeHours: number, carried: PruneTotals = NO_TOTALS): MetricDatum[] {
  const dims = { Fleet: fleet };
  const metrics: MetricDatum[] = [];
  for (const h of report.hosts) {
    const age = auditedAge(h);
    if (age !== null) metrics.push({ name: METRICS.SnapshotAgeHours, value: age, unit: 'None', dimensions: dims });
  }
  const sum = (f: (h: HostPruneReport) => number) => report.hosts.reduce((s, h) => s + f(h), 0);
  // Fleet counts (read as Maximum) only once a continued prune has seen every host.
  if (!report.unfinished) {
    const totals = pruneTotals(report, maxAgeHours, carried);
    metrics.push(
      { name: METRICS.BackupHosts, value: totals.hosts, unit: 'Count', dimensions: dims },
      { name: METRICS.BackupHostsStale, value: totals.stale, unit: 'Count', dimensions: dims },
    );
  }
  metrics.push({ name: METRICS.PruneErrors, value: report.hosts.filter((h) => h.error).length, unit: 'Count', dimensions: dims });
  // A dry run deleted nothing: its would-be counts must not show on the series of what prune removed.
  if (!report.dryRun) {
    metrics.push(
      { name: METRICS.SnapshotsPruned, value: sum((h) => h.removedSnapshots.length), unit: 'Count', dimensions: dims },
      { name: METRICS.ArchivesPruned, value: sum((h) => h.removedArchives.length), unit: 'Count', dimensions: dims },
      { name: METRICS.PruneBytesFreed, value: sum((h) => h.bytesFreed), unit: 'Bytes', dimensions: dims },
    );
  }
  return metrics;
}

/** A host without a readable snapshot counts as infinitely old (CloudWatch needs a number); a failed one not at all. */
function auditedAge(h: HostPruneReport): number | null {
  return h.newestAgeHours ?? (h.error ? null : 100_000);
}

/** Hosts audited and hosts with a stale newest snapshot, carried from one part of a continued prune to the next. */
export interface PruneTotals {
  readonly hosts: number;
  readonly stale: number;
  /** Hosts that could not be pruned. */
  readonly errors: number;
}
const NO_TOTALS: PruneTotals = { hosts: 0, stale: 0, errors: 0 };

export function pruneTotals(report: PruneReport, maxAgeHours: number, carried: PruneTotals = NO_TOTALS): PruneTotals {
  const stale = report.hosts.filter((h) => {
    const age = auditedAge(h);
    return age !== null && age > maxAgeHours;
  }).length;
  const errors = report.hosts.filter((h) => h.error).length;
  return { hosts: carried.hosts + report.hosts.length, stale: carried.stale + stale, errors: carried.errors + errors };
}

export interface PruneAuditSettings {
  readonly fleet: string;
  readonly maxAgeHours: number;
  readonly retention: PrunePolicy;
}

/** One structured log line per host: its snapshot age (the per-host view of SnapshotAgeHours). */
export interface HostAuditRecord {
  readonly hostKey: string;
  readonly host: string | null;
  readonly check: 'backup.age';
  readonly severity: Finding['severity'];
  readonly message: string;
  readonly newestSnapshot: string | null;
  readonly newestAgeHours: number | null;
  readonly snapshots: number;
  readonly kept: number;
  readonly removedSnapshots: readonly string[];
  readonly removedArchives: number;
  readonly bytesFreed: number;
  readonly warnings: readonly string[];
  readonly error?: string;
}

export interface PruneAuditDeps {
  readonly store: BackupStore;
  readonly metrics: MetricsSink & { flush(): Promise<void> };
  readonly log: (record: HostAuditRecord) => void;
}

/** Where a part of a continued prune starts, and what the parts before it counted. */
export interface PrunePart {
  readonly after?: string;
  readonly carried?: PruneTotals;
  readonly outOfTime?: () => boolean;
}

/**
 * The prune Lambda's job: retention over every host (or, in parts, the hosts after `part.after` until
 * time runs out), one audit line per host, fleet metrics. Each part's lines and metrics go out before it
 * returns, so nothing is lost when a later part fails.
 */
export async function runPruneAudit(
  deps: PruneAuditDeps,
  settings: PruneAuditSettings,
  now: Date,
  dryRun: boolean,
  part: PrunePart = {},
): Promise<PruneReport> {
  const report = await pruneStore(deps.store, settings.retention, now, {
    dryRun,
    ...(part.after !== undefined ? { after: part.after } : {}),
    ...(part.outOfTime ? { outOfTime: part.outOfTime } : {}),
  });
  for (const h of report.hosts) {
    const age = backupAgeFinding(h, settings.maxAgeHours);
    deps.log({
      hostKey: h.hostKey,
      host: h.host,
      check: 'backup.age',
      severity: age.severity,
      message: age.message,
      newestSnapshot: h.newestSnapshot,
      newestAgeHours: h.newestAgeHours,
      snapshots: h.snapshots,
      kept: h.kept.length,
      removedSnapshots: h.removedSnapshots,
      removedArchives: h.removedArchives.length,
      bytesFreed: h.bytesFreed,
      warnings: h.warnings,
      ...(h.error ? { error: h.error } : {}),
    });
  }
  await deps.metrics.put(pruneMetrics(report, settings.fleet, settings.maxAgeHours, part.carried), now);
  await deps.metrics.flush();
  return report;
}

/** Environment variable holding the prune Lambda's settings (set by lib/constructs/backup-pruner.ts). */
export const PRUNE_SETTINGS_ENV = 'GPU_MAINT_PRUNE_SETTINGS';

/** The prune Lambda's settings as they arrive in PRUNE_SETTINGS_ENV. */
export const pruneSettingsSchema = z.object({
  bucket: z.string().min(3),
  prefix: z.string(),
  namespace: z.string().min(1),
  fleet: z.string().min(1),
  maxAgeHours: z.number().positive(),
  retention: z.object({
    keepLast: z.number().int().min(1),
    keepDaily: z.number().int().min(0),
    keepWeekly: z.number().int().min(0),
    keepMonthly: z.number().int().min(0),
    graceDays: z.number().min(0),
  }),
});

/** Parts one prune may take before it stops (a guard against a loop; 100 parts are days of hosts). */
export const MAX_PRUNE_PARTS = 100;

/**
 * Event of the prune Lambda: `{}` from the schedule, `{ "dryRun": true }` by hand, and with
 * `continuation` from the prune itself when a part ran out of time.
 */
export const pruneEventSchema = z
  .object({
    dryRun: z.boolean().default(false),
    continuation: z
      .object({
        after: z.string().min(1),
        part: z.number().int().min(2).max(MAX_PRUNE_PARTS),
        totals: z.object({ hosts: z.number().int().min(0), stale: z.number().int().min(0), errors: z.number().int().min(0) }),
      })
      .optional(),
  })
  .loose();
export type PruneEvent = z.infer<typeof pruneEventSchema>;

/** The event that continues `report`'s prune in a new invocation, or null when it is complete. */
export function continuationEvent(event: PruneEvent, report: PruneReport, maxAgeHours: number): PruneEvent | null {
  if (!report.unfinished) return null;
  const part = (event.continuation?.part ?? 1) + 1;
  if (part > MAX_PRUNE_PARTS) {
    throw new Error(
      `prune: still ${report.unfinished.hostsLeft} host(s) left after ${MAX_PRUNE_PARTS} parts; stopped after ${report.unfinished.after}`,
    );
  }
  return {
    dryRun: event.dryRun,
    continuation: { after: report.unfinished.after, part, totals: pruneTotals(report, maxAgeHours, event.continuation?.totals) },
  };
}

/**
 * Reads the prune Lambda's event. @throws naming the field, the value and what was expected, e.g.
 * `prune event: dryRun: got "yes"; expected true or false`.
 */
export function parsePruneEvent(event: unknown): PruneEvent {
  const input = event ?? {};
  const parsed = pruneEventSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => describeIssue(i, input, { root: '(event)', unknownKey: 'unknown field' }));
    throw new Error(`prune event: ${problems.join('; ')} (send {} or {"dryRun": true})`);
  }
  return parsed.data;
}

export interface PruneSummary {
  readonly dryRun: boolean;
  readonly hosts: number;
  readonly snapshotsPruned: number;
  readonly archivesPruned: number;
  /** Host keys that could not be pruned. */
  readonly errors: readonly string[];
}

export function summarizePrune(report: PruneReport, dryRun: boolean): PruneSummary {
  return {
    dryRun,
    hosts: report.hosts.length,
    snapshotsPruned: report.hosts.reduce((n, h) => n + h.removedSnapshots.length, 0),
    archivesPruned: report.hosts.reduce((n, h) => n + h.removedArchives.length, 0),
    errors: report.hosts.filter((h) => h.error).map((h) => h.hostKey),
  };
}
