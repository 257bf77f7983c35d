/**
 * Snapshot manifests as scripts/backup.sh writes them (format `gpu-maint-backup`, version 1): one JSON
 * object per snapshot listing its units. A snapshot exists only once its manifest does; the manifest
 * is the only thing restore, retention and the age audit trust.
 */
import { z } from 'zod';

export const MANIFEST_FORMAT = 'gpu-maint-backup';
export const MANIFEST_VERSION = 1;
/** Snapshot ids are the UTC start time in basic ISO-8601, e.g. `20261128T020000Z`. */
export const SNAPSHOT_ID = /^\d{8}T\d{6}Z$/;

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
  /** Unit path relative to its source, exactly (base64 of the raw bytes). */
  pathBase64: z.string(),
  /** The same path for display (invalid UTF-8 shows as U+FFFD). */
  path: z.string(),
});

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  id: z.string().regex(SNAPSHOT_ID, 'a snapshot id such as 20261128T020000Z'),
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
      .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`)
      .join('; ');
    throw new ManifestError(`${origin}: not a ${MANIFEST_FORMAT} v${MANIFEST_VERSION} manifest (${problems})`);
  }
  return result.data;
}

/** The time a snapshot id names. @throws on an id that is not one. */
export function snapshotTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  if (!m) throw new ManifestError(`snapshot id ${JSON.stringify(id)} is not of the form 20261128T020000Z`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
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
