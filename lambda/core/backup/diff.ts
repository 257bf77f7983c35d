/**
 * `gpu-maint diff A B`: what changed between two snapshots. Units are matched by source and exact path;
 * a unit whose fingerprint is the same in both is unchanged (the fingerprint covers every entry's
 * metadata). For a changed unit, both archives are listed with tar and compared entry by entry. Added and
 * removed units are described from their manifests alone, without reading their archives.
 */
import type { ArchiveEntry } from './archive-listing';
import { type ArchiveReader, entryDisplayPath, type ResolvedSnapshot, readingProblems, unitDisplayPath } from './contents';
import { type ManifestUnit, unitArchives, unitIdentity } from './manifest';

export type ChangeKind = 'added' | 'removed' | 'changed';

/** An entry's state on one side of a diff. */
export type EntryState = Pick<ArchiveEntry, 'type' | 'size' | 'mode' | 'uid' | 'gid' | 'mtime' | 'target'>;

export interface EntryChange {
  readonly kind: ChangeKind;
  readonly path: string;
  readonly before?: EntryState;
  readonly after?: EntryState;
  /** For a changed entry, what differs: type, size, mtime, mode, owner, target. */
  readonly what: readonly string[];
}

export interface UnitSide {
  readonly unitId: string;
  readonly entries: number;
  /** Bytes of the unit's regular files. */
  readonly sourceBytes: number;
  /** Stored (compressed) bytes of its archives. */
  readonly storedBytes: number;
}

export interface UnitChange {
  readonly kind: ChangeKind;
  readonly path: string;
  readonly before?: UnitSide;
  readonly after?: UnitSide;
  /** Entry changes of a changed unit; absent when its archives were not read (`files: false`). */
  readonly entries?: readonly EntryChange[];
}

export interface SnapshotDiff {
  readonly from: { readonly hostKey: string; readonly id: string };
  readonly to: { readonly hostKey: string; readonly id: string };
  readonly units: readonly UnitChange[];
  readonly unitsUnchanged: number;
  readonly entriesAdded: number;
  readonly entriesRemoved: number;
  readonly entriesChanged: number;
  /** Bytes of regular files in each snapshot. */
  readonly sourceBytesBefore: number;
  readonly sourceBytesAfter: number;
  /** Archives that could not be read whole or do not match their manifest; their entry changes may be incomplete. */
  readonly problems: readonly string[];
}

export interface DiffOptions {
  /** Read the archives of changed units and compare their entries. @default true */
  readonly files?: boolean;
}

function side(unit: ManifestUnit): UnitSide {
  return { unitId: unit.id, entries: unit.files, sourceBytes: unit.sourceBytes, storedBytes: unit.bytes };
}

function state(e: ArchiveEntry): EntryState {
  return { type: e.type, size: e.size, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, ...(e.target ? { target: e.target } : {}) };
}

/** What differs between two states of an entry. A directory's mtime changes with its contents, so it alone is no change. */
export function entryDifferences(a: EntryState, b: EntryState): string[] {
  const what: string[] = [];
  if (a.type !== b.type) what.push('type');
  if (a.size !== b.size) what.push('size');
  if (a.mtime !== b.mtime && !(a.type === 'dir' && b.type === 'dir')) what.push('mtime');
  if (a.mode !== b.mode) what.push('mode');
  if (a.uid !== b.uid || a.gid !== b.gid) what.push('owner');
  if ((a.target ?? '') !== (b.target ?? '')) what.push('target');
  return what;
}

async function readEntries(
  snapshot: ResolvedSnapshot,
  unit: ManifestUnit,
  reader: ArchiveReader,
  problems: string[],
): Promise<Map<string, ArchiveEntry>> {
  const out = new Map<string, ArchiveEntry>();
  for (const archive of unitArchives(unit)) {
    const reading = await reader.read(snapshot.hostKey, archive);
    for (const p of readingProblems(archive, reading)) problems.push(`${snapshot.id} ${unit.id}: ${p}`);
    for (const e of reading.entries) out.set(e.rawPath, e);
  }
  return out;
}

/** Entry changes between two listings of a unit, in path order. */
export function diffEntries(unit: ManifestUnit, before: Map<string, ArchiveEntry>, after: Map<string, ArchiveEntry>): EntryChange[] {
  const changes: EntryChange[] = [];
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const raw of paths) {
    const a = before.get(raw);
    const b = after.get(raw);
    const path = entryDisplayPath(unit, (b ?? a) as ArchiveEntry);
    if (!a && b) changes.push({ kind: 'added', path, after: state(b), what: [] });
    else if (a && !b) changes.push({ kind: 'removed', path, before: state(a), what: [] });
    else if (a && b) {
      const what = entryDifferences(state(a), state(b));
      if (what.length > 0) changes.push({ kind: 'changed', path, before: state(a), after: state(b), what });
    }
  }
  return changes;
}

export async function diffSnapshots(
  from: ResolvedSnapshot,
  to: ResolvedSnapshot,
  reader: ArchiveReader,
  options: DiffOptions = {},
): Promise<SnapshotDiff> {
  const before = new Map(from.manifest.units.map((u) => [unitIdentity(u), u]));
  const after = new Map(to.manifest.units.map((u) => [unitIdentity(u), u]));
  const units: UnitChange[] = [];
  const problems: string[] = [];
  let unchanged = 0;
  let entriesAdded = 0;
  let entriesRemoved = 0;
  let entriesChanged = 0;
  const keys = [...new Set([...before.keys(), ...after.keys()])];
  const order = (k: string) => unitDisplayPath((after.get(k) ?? before.get(k)) as ManifestUnit);
  keys.sort((x, y) => (order(x) < order(y) ? -1 : order(x) > order(y) ? 1 : 0));
  for (const key of keys) {
    const a = before.get(key);
    const b = after.get(key);
    if (a && b && a.fingerprint === b.fingerprint && a.key === b.key) {
      unchanged++;
      continue;
    }
    const path = unitDisplayPath((b ?? a) as ManifestUnit);
    if (!a && b) {
      units.push({ kind: 'added', path, after: side(b) });
      entriesAdded += b.files;
    } else if (a && !b) {
      units.push({ kind: 'removed', path, before: side(a) });
      entriesRemoved += a.files;
    } else if (a && b) {
      let entries: EntryChange[] | undefined;
      if (options.files ?? true) {
        entries = diffEntries(b, await readEntries(from, a, reader, problems), await readEntries(to, b, reader, problems));
        for (const e of entries) {
          if (e.kind === 'added') entriesAdded++;
          else if (e.kind === 'removed') entriesRemoved++;
          else entriesChanged++;
        }
      }
      units.push({ kind: 'changed', path, before: side(a), after: side(b), ...(entries ? { entries } : {}) });
    }
  }
  const sum = (list: readonly ManifestUnit[]) => list.reduce((n, u) => n + u.sourceBytes, 0);
  return {
    from: { hostKey: from.hostKey, id: from.id },
    to: { hostKey: to.hostKey, id: to.id },
    units,
    unitsUnchanged: unchanged,
    entriesAdded,
    entriesRemoved,
    entriesChanged,
    sourceBytesBefore: sum(from.manifest.units),
    sourceBytesAfter: sum(to.manifest.units),
    problems,
  };
}
