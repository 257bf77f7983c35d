/**
 * `gpu-maint check`: reads every archive of a snapshot once, as `restic check --read-data` does, and
 * compares it with the manifest (size, sha256, entries) and with what zstd and tar can read, without
 * restoring anything.
 */
import { type ArchiveReader, type ResolvedSnapshot, readingProblems, unitDisplayPath } from './contents';
import { unitArchives } from './manifest';

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
  /** True when every archive was read whole and matches the manifest. */
  readonly ok: boolean;
}

/**
 * Checks each unit's archives. A failure of one unit never stops the others: the report names every
 * bad archive. `onUnit` sees each unit as it finishes (progress).
 */
export async function checkSnapshot(
  snapshot: ResolvedSnapshot,
  reader: ArchiveReader,
  onUnit?: (done: UnitCheck, index: number, total: number) => void,
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
      try {
        const reading = await reader.read(snapshot.hostKey, archive);
        bytesRead += reading.bytes;
        const found = readingProblems(archive, reading);
        if (found.length > 0) status = 'corrupt';
        problems.push(...found);
      } catch (err) {
        if (status === 'ok') status = 'missing';
        problems.push(`${archive.key} cannot be fetched: ${(err as Error).message}`);
      }
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
    ok: units.every((u) => u.status === 'ok'),
  };
}
