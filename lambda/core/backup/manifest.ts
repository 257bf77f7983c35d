/**
 * Snapshot manifests as scripts/backup.sh writes them (format `gpu-maint-backup`, version 1): one JSON
 * object per snapshot listing its units. A snapshot exists only once its manifest does; the manifest
 * is the only thing restore, retention and the age audit trust.
 */
import { z } from 'zod';
import { describeIssue } from '../validation';

export const MANIFEST_FORMAT = 'gpu-maint-backup';
export const MANIFEST_VERSION = 1;
/**
 * Snapshot ids: the UTC start time in basic ISO-8601 and the host's snapshot sequence number, e.g.
 * `20261128T020000Z-42`. The time comes from the host's clock, which can be wrong; the sequence (one more
 * than the highest in the store when the backup ran) cannot, so snapshots are ordered by it. Ids without a
 * sequence (`20261128T020000Z`, written before sequences existed) count as sequence 0, older than any other.
 */
export const SNAPSHOT_ID = /^\d{8}T\d{6}Z(-[1-9]\d{0,8})?$/;
/** A snapshot id named on a command line or in an SSM parameter (pattern source, no flags). */
export const SNAPSHOT_ID_PATTERN = SNAPSHOT_ID.source;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lowercase hex');
const count = z.number().int().min(0);

const unitSchema = z.object({
  /** `<slug>-<hash>`: safe as a key segment whatever bytes the unit's name holds. */
  id: z.string().regex(/^[A-Za-z0-9._-]+$/),
  fingerprint: sha256,
  /** Archive key relative to the host's prefix: `units/<id>/<fingerprint>.tar.zst`. */
  key: z.string().regex(/^units\/[A-Za-z0-9._-]+\/[0-9a-f]{64}\.tar\.zst$/),
  sha256,
  /** Archive size (compressed). */
  bytes: count,
  /** Archive entries (files, directories, links). */
  files: count,
  /** Bytes of the regular files archived (apparent sizes). */
  sourceBytes: count,
  /** sha256 of the unit's sorted listing, recomputed by restore. */
  listing: sha256,
  /** True when this snapshot sent the archive; false when it reused an earlier one. */
  uploaded: z.boolean(),
  source: z.string(),
  /**
   * Unit path relative to its source, exactly (base64 of the raw bytes). A path deeper than the
   * manifest's unitDepth is a large file archived on its own (it sorts after its directory's unit).
   */
  pathBase64: z.string(),
  /** The same path for display (invalid UTF-8 shows as U+FFFD). */
  path: z.string(),
});

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  id: z.string().regex(SNAPSHOT_ID, 'a snapshot id such as 20261128T020000Z-42'),
  /** The id's sequence, repeated for readers of the manifest alone; absent in manifests from before sequences. */
  sequence: z.number().int().min(1).optional(),
  host: z.string(),
  hostKey: z.string(),
  createdAt: z.iso.datetime(),
  completedAt: z.iso.datetime(),
  unitDepth: z.number().int().min(1),
  compression: z.literal('zstd'),
  sources: z.array(z.string()),
  exclude: z.array(z.string()),
  units: z.array(unitSchema),
});

export type ManifestUnit = z.infer<typeof unitSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/**
 * Parses and validates a manifest.
 * @param origin where it came from, for the error message (e.g. its key).
 * @throws ManifestError naming the origin and the first problems.
 */
export function parseManifest(text: string, origin: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`${origin}: not JSON (${(err as Error).message})`);
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues
      .slice(0, 3)
      .map((i) => describeIssue(i, json, { root: '(top level)', unknownKey: 'unknown field' }))
      .join('; ');
    throw new ManifestError(`${origin}: not a ${MANIFEST_FORMAT} v${MANIFEST_VERSION} manifest (${problems})`);
  }
  return result.data;
}

/** The time a snapshot id names (the host's clock when it started). @throws on an id that is not one. */
export function snapshotTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-[1-9]\d{0,8})?$/.exec(id);
  if (!m) throw new ManifestError(`snapshot id ${JSON.stringify(id)} is not of the form 20261128T020000Z-42`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/** The sequence number of a snapshot id (0 for an id from before sequences). */
export function snapshotSequence(id: string): number {
  const dash = id.indexOf('-');
  return dash < 0 ? 0 : Number(id.slice(dash + 1));
}

/** Orders snapshot ids oldest first: by sequence (written later = higher), then by time for ids without one. */
export function compareSnapshotIds(a: string, b: string): number {
  return snapshotSequence(a) - snapshotSequence(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * How far ahead of a trusted time a snapshot's own time may be before it counts as written by a host
 * whose clock is wrong (NTP keeps honest clocks within seconds; the snapshot's id is its start time).
 */
export const CLOCK_SKEW_TOLERANCE_MS = 15 * 60_000;

/**
 * A message when a snapshot's time lies in the future of `trusted` (the audit's clock, or the store's write
 * time) by more than the tolerance: the host that wrote it had a clock running ahead. Null otherwise.
 */
export function futureSnapshotMessage(id: string, trusted: Date): string | null {
  const ahead = snapshotTime(id).getTime() - trusted.getTime();
  if (ahead <= CLOCK_SKEW_TOLERANCE_MS) return null;
  const hours = ahead / 3_600_000;
  const span = hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} d`;
  return `snapshot ${id} is dated ${span} in the future: the host's clock was wrong when it was written (ordering uses its sequence, its age the store's write time)`;
}
export function isSnapshotId(id: string): boolean {
  return SNAPSHOT_ID.test(id);
}

export interface ManifestTotals {
  readonly units: number;
  readonly files: number;
  /** Stored (compressed) bytes this snapshot references. */
  readonly bytes: number;
  readonly sourceBytes: number;
}

export function manifestTotals(manifest: Manifest): ManifestTotals {
  let files = 0;
  let bytes = 0;
  let sourceBytes = 0;
  for (const u of manifest.units) {
    files += u.files;
    bytes += u.bytes;
    sourceBytes += u.sourceBytes;
  }
  return { units: manifest.units.length, files, bytes, sourceBytes };
}

/** One stored object a unit's restore reads, with what the manifest promises about it. */
export interface ArchiveRef {
  /** Key relative to the host's prefix, e.g. `units/<unit id>/<fingerprint>.tar.zst`. */
  readonly key: string;
  readonly sha256: string;
  /** Stored (compressed) size. */
  readonly bytes: number;
  /** Entries tar lists from it; absent when the manifest does not say. */
  readonly entries?: number;
}

/**
 * The archives that hold a unit: what `check` reads and verifies, and what `ls` and `diff` list. The
 * one place that knows how a manifest maps a unit to stored objects (today: one `tar | zstd` archive).
 */
export function unitArchives(unit: ManifestUnit): ArchiveRef[] {
  return [{ key: unit.key, sha256: unit.sha256, bytes: unit.bytes, entries: unit.files }];
}

/** A unit's identity across snapshots: its source and its exact path below it. */
export function unitIdentity(unit: ManifestUnit): string {
  return `${unit.source}\u0000${unit.pathBase64}`;
}
