/**
 * `gpu-maint check`: reads every archive of a snapshot once, as `restic check --read-data` does, and
 * compares it with the manifest (size, sha256, entries) and with what zstd and tar can read, without
 * restoring anything.
 */
import { type ArchiveReader, type ResolvedSnapshot, readingProblems, unitDisplayPath } from './contents';
import { unitArchives } from './manifest';
import type { StoredArchive } from './retention';

export type UnitCheckStatus = 'ok' | 'corrupt' | 'missing';

export interface UnitCheck {
  readonly unitId: string;
  readonly path: string;
  readonly status: UnitCheckStatus;
  /** Bytes read from the store for this unit. */
  readonly bytesRead: number;
  readonly problems: readonly string[];
}

export interface CheckReport {
  readonly hostKey: string;
  readonly snapshot: string;
  readonly units: readonly UnitCheck[];
  readonly archives: number;
  readonly bytesRead: number;
  /** True when the archives were read (sha256, zstd, tar); false when only their listed sizes were compared. */
  readonly readData: boolean;
  /** True when every archive was read whole and matches the manifest. */
  readonly ok: boolean;
  /** Why the snapshot could not be checked at all (its manifest cannot be read); no unit was read then. */
  readonly error?: string;
}

/** The report of a snapshot whose manifest cannot be read: nothing in it can be checked or restored. */
export function unreadableSnapshotReport(hostKey: string, snapshot: string, error: string): CheckReport {
  return { hostKey, snapshot, units: [], archives: 0, bytesRead: 0, readData: false, ok: false, error };
}

/** What reading one archive found, kept so that snapshots sharing it (check --all) read it once. */
export interface ArchiveVerdict {
  readonly status: UnitCheckStatus;
  readonly problems: readonly string[];
}

/** Verdicts by host, archive key and what the manifest promises (a re-uploaded archive is read again). */
export type VerdictCache = Map<string, ArchiveVerdict>;

/**
 * Checks each unit's archives. A failure of one unit never stops the others: the report names every
 * bad archive. `onUnit` sees each unit as it finishes (progress). With `verdicts`, an archive already
 * read for another snapshot is not read again (its bytes count as 0 here).
 */
export async function checkSnapshot(
  snapshot: ResolvedSnapshot,
  reader: ArchiveReader,
  onUnit?: (done: UnitCheck, index: number, total: number) => void,
  verdicts?: VerdictCache,
): Promise<CheckReport> {
  const units: UnitCheck[] = [];
  let archives = 0;
  const total = snapshot.manifest.units.length;
  for (const unit of snapshot.manifest.units) {
    const problems: string[] = [];
    let status: UnitCheckStatus = 'ok';
    let bytesRead = 0;
    for (const archive of unitArchives(unit)) {
      archives++;
      const cacheKey = `${snapshot.hostKey}\u0000${archive.key}\u0000${archive.sha256}\u0000${archive.bytes}`;
      let verdict = verdicts?.get(cacheKey);
      if (!verdict) {
        try {
          const reading = await reader.read(snapshot.hostKey, archive);
          bytesRead += reading.bytes;
          const found = readingProblems(archive, reading);
          verdict = { status: found.length > 0 ? 'corrupt' : 'ok', problems: found };
        } catch (err) {
          verdict = { status: 'missing', problems: [`${archive.key} cannot be fetched: ${(err as Error).message}`] };
        }
        verdicts?.set(cacheKey, verdict);
      }
      if (verdict.status !== 'ok' && status !== 'corrupt') status = verdict.status;
      problems.push(...verdict.problems);
    }
    const done: UnitCheck = { unitId: unit.id, path: unitDisplayPath(unit), status, bytesRead, problems };
    units.push(done);
    onUnit?.(done, units.length, total);
  }
  return {
    hostKey: snapshot.hostKey,
    snapshot: snapshot.id,
    units,
    archives,
    bytesRead: units.reduce((sum, u) => sum + u.bytesRead, 0),
    readData: true,
    ok: units.every((u) => u.status === 'ok'),
  };
}

/**
 * The cheap check (`check --no-read-data`, like `restic check` without `--read-data`): every archive the
 * snapshot references exists in the store's listing with the size the manifest says. Reads no archive,
 * so it cannot see a changed byte.
 */
export function checkSnapshotListing(snapshot: ResolvedSnapshot, stored: readonly StoredArchive[]): CheckReport {
  const sizes = new Map(stored.map((a) => [a.key, a.bytes]));
  let archives = 0;
  const units = snapshot.manifest.units.map((unit): UnitCheck => {
    const problems: string[] = [];
    let status: UnitCheckStatus = 'ok';
    for (const archive of unitArchives(unit)) {
      archives++;
      const size = sizes.get(archive.key);
      if (size === undefined) {
        if (status === 'ok') status = 'missing';
        problems.push(`${archive.key} is not in the store`);
      } else if (size !== archive.bytes) {
        status = 'corrupt';
        problems.push(`${archive.key} is ${size} bytes; the manifest says ${archive.bytes}`);
      }
    }
    return { unitId: unit.id, path: unitDisplayPath(unit), status, bytesRead: 0, problems };
  });
  return {
    hostKey: snapshot.hostKey,
    snapshot: snapshot.id,
    units,
    archives,
    bytesRead: 0,
    readData: false,
    ok: units.every((u) => u.status === 'ok'),
  };
}
