/**
 * What a snapshot holds, read through its manifest (snapshot → units → archives, lambda/core/backup/
 * manifest.ts) and, where file detail is needed, through tar's listing of each archive. Used by
 * `gpu-maint check`, `ls` and `diff`. Reading an archive goes through the ArchiveReader port: the local
 * adapter streams it from the store through sha256, zstd and tar.
 */
import type { ArchiveEntry } from './archive-listing';
import { type ArchiveRef, compareSnapshotIds, type Manifest, type ManifestUnit, parseManifest, unitArchives } from './manifest';
import type { BackupStore } from './store';

/** One read of an archive: every byte hashed, and the stream decompressed and listed. */
export interface ArchiveReading {
  readonly sha256: string;
  readonly bytes: number;
  /** What tar listed (possibly partial when `error` is set). */
  readonly entries: readonly ArchiveEntry[];
  /** Why zstd or tar could not read the whole archive (corrupt or truncated data); absent when they could. */
  readonly error?: string;
}

export interface ArchiveReader {
  /**
   * Reads one archive once. @throws when it cannot be fetched at all (missing object, no access), with a
   * message naming it.
   */
  read(hostKey: string, archive: ArchiveRef): Promise<ArchiveReading>;
}

/** A snapshot named on a command line that does not resolve; the message says what exists. */
export class SnapshotRefError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotRefError';
  }
}

/**
 * Resolves `latest` (the snapshot written last), a whole snapshot id, or a unique prefix of one (e.g.
 * `20261128`) among a host's snapshots.
 * @throws SnapshotRefError when none or several match.
 */
export function resolveSnapshotRef(ref: string, ids: readonly string[], hostKey: string): string {
  const sorted = [...ids].sort(compareSnapshotIds);
  if (sorted.length === 0) throw new SnapshotRefError(`host ${hostKey} has no snapshots`);
  if (ref === 'latest') return sorted[sorted.length - 1];
  if (sorted.includes(ref)) return ref;
  const matches = sorted.filter((id) => id.startsWith(ref));
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new SnapshotRefError(
      `snapshot ${JSON.stringify(ref)} is ambiguous: ${matches.length} snapshots of ${hostKey} start with it (${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', ...' : ''})`,
    );
  }
  throw new SnapshotRefError(
    `no snapshot ${JSON.stringify(ref)} for host ${hostKey}; its snapshots run from ${sorted[0]} to ${sorted[sorted.length - 1]} (gpu-maint snapshots list)`,
  );
}

export interface ResolvedSnapshot {
  readonly hostKey: string;
  readonly id: string;
  readonly manifest: Manifest;
  /** Where its manifest lives, for messages. */
  readonly location: string;
}

/** Resolves a snapshot reference and reads its manifest. @throws SnapshotRefError, or ManifestError when it cannot be read. */
export async function openSnapshot(store: BackupStore, hostKey: string, ref: string): Promise<ResolvedSnapshot> {
  const id = resolveSnapshotRef(ref, await store.listSnapshotIds(hostKey), hostKey);
  const location = `${store.location}backups/${hostKey}/snapshots/${id}.json`;
  return { hostKey, id, manifest: parseManifest(await store.readManifest(hostKey, id), location), location };
}

/** A unit's path for display: its source joined with its path below the source. */
export function unitDisplayPath(unit: Pick<ManifestUnit, 'source' | 'path'>): string {
  return `${unit.source.replace(/\/+$/, '')}/${unit.path}`;
}

/** An entry's full path: its unit's source joined with the entry's path below it. */
export function entryDisplayPath(unit: Pick<ManifestUnit, 'source'>, entry: Pick<ArchiveEntry, 'path'>): string {
  return `${unit.source.replace(/\/+$/, '')}/${entry.path}`;
}

export interface ListedEntry extends ArchiveEntry {
  readonly unitId: string;
  readonly source: string;
  /** Source joined with the path (what `ls` prints). */
  readonly fullPath: string;
}

export interface SnapshotListing {
  readonly entries: readonly ListedEntry[];
  /** Archives whose reading went wrong (sha256, zstd, tar), one line each; the listing may then be partial. */
  readonly problems: readonly string[];
}

/** Whether `path` is `prefix` or lies below it (whole path segments). */
function within(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/**
 * The entries of a snapshot, optionally only at or below `filter` (an absolute path, or one relative to a
 * source). Only archives of units that can hold such entries are read.
 */
export async function listSnapshot(snapshot: ResolvedSnapshot, reader: ArchiveReader, filter?: string): Promise<SnapshotListing> {
  const wanted = filter?.replace(/(.)\/+$/, '$1');
  const entries: ListedEntry[] = [];
  const problems: string[] = [];
  for (const unit of snapshot.manifest.units) {
    const unitPath = unitDisplayPath(unit);
    const matches = (full: string, relativePath: string) =>
      wanted === undefined || (wanted.startsWith('/') ? within(full, wanted) : within(relativePath, wanted));
    const relevant =
      wanted === undefined ||
      (wanted.startsWith('/')
        ? within(unitPath, wanted) || within(wanted, unitPath)
        : within(unit.path, wanted) || within(wanted, unit.path));
    if (!relevant) continue;
    for (const archive of unitArchives(unit)) {
      const reading = await reader.read(snapshot.hostKey, archive);
      for (const p of readingProblems(archive, reading)) problems.push(`${unit.id}: ${p}`);
      for (const e of reading.entries) {
        const fullPath = entryDisplayPath(unit, e);
        if (matches(fullPath, e.path)) entries.push({ ...e, unitId: unit.id, source: unit.source, fullPath });
      }
    }
  }
  // In path order (bytes), as `ls` lists: tar lists in the order it read the directories.
  const order = (e: ListedEntry) => `${e.source}\u0000${e.rawPath}`;
  entries.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return { entries, problems };
}

/** What is wrong with a reading against what the manifest promises: size, sha256, decompression, entry count. */
export function readingProblems(archive: ArchiveRef, reading: ArchiveReading): string[] {
  const problems: string[] = [];
  if (reading.bytes !== archive.bytes) problems.push(`${archive.key} is ${reading.bytes} bytes; the manifest says ${archive.bytes}`);
  if (reading.sha256 !== archive.sha256) {
    problems.push(`${archive.key} has sha256 ${reading.sha256}; the manifest says ${archive.sha256} (corrupt)`);
  }
  if (reading.error) problems.push(`${archive.key} cannot be read: ${reading.error}`);
  else if (archive.entries !== undefined && reading.entries.length !== archive.entries) {
    problems.push(`${archive.key} lists ${reading.entries.length} entries; the manifest says ${archive.entries}`);
  }
  return problems;
}
