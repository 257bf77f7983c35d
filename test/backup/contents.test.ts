/**
 * Snapshot contents over the manifest abstraction, with an in-memory ArchiveReader: resolving snapshot
 * names, checking readings against the manifest, and diffing units and entries.
 */
import { describe, expect, test } from 'vitest';
import type { ArchiveEntry } from '../../lambda/core/backup/archive-listing';
import { checkSnapshot, checkSnapshotListing, type VerdictCache } from '../../lambda/core/backup/check';
import {
  type ArchiveReader,
  type ArchiveReading,
  listSnapshot,
  type ResolvedSnapshot,
  readingProblems,
  resolveSnapshotRef,
} from '../../lambda/core/backup/contents';
import { diffSnapshots, entryDifferences } from '../../lambda/core/backup/diff';
import { parseManifest } from '../../lambda/core/backup/manifest';
import { HEX, manifestJson } from './manifests';

const IDS = ['20261126T020000Z-1', '20261127T020000Z-2', '20261128T020000Z-3', '20261128T140000Z-4'];

describe('resolveSnapshotRef', () => {
  test.each([
    ['latest', '20261128T140000Z-4'],
    ['20261127T020000Z-2', '20261127T020000Z-2'],
    ['20261126', '20261126T020000Z-1'],
  ])('%j names %s', (ref, id) => {
    expect(resolveSnapshotRef(ref, IDS, 'h1')).toBe(id);
  });

  test('latest is the snapshot written last, even when a wrong clock dated an older one later', () => {
    expect(resolveSnapshotRef('latest', ['29991231T000000Z-1', '20261128T020000Z-2'], 'h1')).toBe('20261128T020000Z-2');
  });

  test.each([
    ['20261128', 'snapshot "20261128" is ambiguous: 2 snapshots of h1 start with it (20261128T020000Z-3, 20261128T140000Z-4)'],
    ['2025', 'no snapshot "2025" for host h1; its snapshots run from 20261126T020000Z-1 to 20261128T140000Z-4 (gpu-maint snapshots list)'],
  ])('%j is refused: %s', (ref, message) => {
    expect(() => resolveSnapshotRef(ref, IDS, 'h1')).toThrow(message);
  });

  test('a host without snapshots is named', () => {
    expect(() => resolveSnapshotRef('latest', [], 'h1')).toThrow('host h1 has no snapshots');
  });
});

const entry = (path: string, size = 1, extra: Partial<ArchiveEntry> = {}): ArchiveEntry => ({
  rawPath: path,
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size,
  mtime: '2026-11-28 02:00:00',
  ...extra,
});

/** Readings by archive key; a key not listed cannot be fetched. */
function reader(readings: Record<string, ArchiveReading>): ArchiveReader & { readonly keys: string[] } {
  const keys: string[] = [];
  return {
    keys,
    read: async (_host, archive) => {
      keys.push(archive.key);
      const r = readings[archive.key];
      if (!r) throw new Error(`${archive.key}: NoSuchKey`);
      return r;
    },
  };
}

const FP_A = 'a'.repeat(64);
const FP_B = 'b'.repeat(64);
const FP_C = 'c'.repeat(64);
const key = (unit: string, fp: string) => `units/${unit}/${fp}.tar.zst`;
const snapshot = (id: string, units: { id: string; fp?: string }[]): ResolvedSnapshot => ({
  hostKey: 'h1',
  id,
  manifest: parseManifest(manifestJson(id, units), id),
  location: id,
});
/** A reading that matches manifestJson's unit (sha256 HEX, 100 bytes, 3 entries). */
const good = (...entries: ArchiveEntry[]): ArchiveReading => ({ sha256: HEX, bytes: 100, entries });

describe('readingProblems', () => {
  const archive = { key: 'units/u/x.tar.zst', sha256: HEX, bytes: 100, entries: 1 };

  test('a reading that matches the manifest has no problem', () => {
    expect(readingProblems(archive, good(entry('u/a')))).toEqual([]);
  });

  test('a changed byte is a sha256 mismatch that names both digests', () => {
    expect(readingProblems(archive, { ...good(entry('u/a')), sha256: 'f'.repeat(64) })).toEqual([
      `units/u/x.tar.zst has sha256 ${'f'.repeat(64)}; the manifest says ${HEX} (corrupt)`,
    ]);
  });

  test('a truncated archive is reported by size and by what zstd said', () => {
    expect(readingProblems(archive, { sha256: HEX, bytes: 60, entries: [], error: 'zstd exited 1: truncated input' })).toEqual([
      'units/u/x.tar.zst is 60 bytes; the manifest says 100',
      'units/u/x.tar.zst cannot be read: zstd exited 1: truncated input',
    ]);
  });

  test('an entry count that differs from the manifest is reported', () => {
    expect(readingProblems(archive, good(entry('u/a'), entry('u/b')))).toEqual(['units/u/x.tar.zst lists 2 entries; the manifest says 1']);
  });
});

describe('checkSnapshot', () => {
  test('every archive is read, a missing one is reported and the others are still checked', async () => {
    const r = reader({ [key('llama', FP_A)]: good(entry('llama'), entry('llama/a'), entry('llama/b')) });
    const report = await checkSnapshot(
      snapshot('20261128T020000Z-3', [
        { id: 'bert', fp: FP_B },
        { id: 'llama', fp: FP_A },
      ]),
      r,
    );
    expect(r.keys).toEqual([key('bert', FP_B), key('llama', FP_A)]);
    expect(report.units.map((u) => [u.unitId, u.status])).toEqual([
      ['bert', 'missing'],
      ['llama', 'ok'],
    ]);
    expect(report.units[0].problems).toEqual([`${key('bert', FP_B)} cannot be fetched: ${key('bert', FP_B)}: NoSuchKey`]);
    expect(report.ok).toBe(false);
  });
});

describe('checkSnapshot across snapshots', () => {
  test('an archive two snapshots share is read once with a verdict cache, and its verdict counts for both', async () => {
    const r = reader({ [key('llama', FP_A)]: good(entry('llama'), entry('llama/a'), entry('llama/b')) });
    const verdicts: VerdictCache = new Map();
    const first = await checkSnapshot(snapshot('20261127T020000Z-2', [{ id: 'llama', fp: FP_A }]), r, undefined, verdicts);
    const second = await checkSnapshot(snapshot('20261128T020000Z-3', [{ id: 'llama', fp: FP_A }]), r, undefined, verdicts);
    expect(r.keys).toEqual([key('llama', FP_A)]);
    expect([first.ok, second.ok, first.bytesRead, second.bytesRead]).toEqual([true, true, 100, 0]);
  });
});

describe('checkSnapshotListing', () => {
  const s = snapshot('20261128T020000Z-3', [
    { id: 'bert', fp: FP_B },
    { id: 'gpt', fp: FP_C },
    { id: 'llama', fp: FP_A },
  ]);
  const at = new Date('2026-11-28T02:00:00Z');

  test('each archive must be listed with the size the manifest says; nothing is read', () => {
    const report = checkSnapshotListing(s, [
      { key: key('llama', FP_A), bytes: 100, lastModified: at },
      { key: key('gpt', FP_C), bytes: 99, lastModified: at },
    ]);
    expect(report.units.map((u) => [u.unitId, u.status, u.problems])).toEqual([
      ['bert', 'missing', [`${key('bert', FP_B)} is not in the store`]],
      ['gpt', 'corrupt', [`${key('gpt', FP_C)} is 99 bytes; the manifest says 100`]],
      ['llama', 'ok', []],
    ]);
    expect([report.ok, report.readData, report.bytesRead]).toEqual([false, false, 0]);
  });
});

describe('listSnapshot', () => {
  test('a path reads only the archives of units at or around it', async () => {
    const r = reader({ [key('llama', FP_A)]: good(entry('llama'), entry('llama/x/a'), entry('llama/y')) });
    const s = snapshot('20261128T020000Z-3', [
      { id: 'bert', fp: FP_B },
      { id: 'llama', fp: FP_A },
    ]);
    const listing = await listSnapshot(s, r, 'llama/x');
    expect(r.keys).toEqual([key('llama', FP_A)]);
    expect(listing.entries.map((e) => e.fullPath)).toEqual(['/opt/ml/models/llama/x/a']);
  });
});

describe('diffSnapshots', () => {
  const from = snapshot('20261127T020000Z-2', [
    { id: 'bert', fp: FP_B },
    { id: 'llama', fp: FP_A },
    { id: 'same', fp: FP_A },
  ]);
  const to = snapshot('20261128T020000Z-3', [
    { id: 'gpt', fp: FP_C },
    { id: 'llama', fp: FP_C },
    { id: 'same', fp: FP_A },
  ]);
  const readings = {
    [key('llama', FP_A)]: good(entry('llama', 0, { type: 'dir' }), entry('llama/a', 1), entry('llama/gone', 5)),
    [key('llama', FP_C)]: good(
      entry('llama', 0, { type: 'dir', mtime: '2026-11-28 03:00:00' }),
      entry('llama/a', 7, { mtime: '2026-11-28 03:00:00' }),
      entry('llama/new', 2),
    ),
  };

  test('units are added, removed or changed by fingerprint; unchanged units are counted, not read', async () => {
    const r = reader(readings);
    const diff = await diffSnapshots(from, to, r);
    expect(diff.units.map((u) => [u.kind, u.path])).toEqual([
      ['removed', '/opt/ml/models/bert'],
      ['added', '/opt/ml/models/gpt'],
      ['changed', '/opt/ml/models/llama'],
    ]);
    expect(diff.unitsUnchanged).toBe(1);
    expect(r.keys).toEqual([key('llama', FP_A), key('llama', FP_C)]);
  });

  test('the entries of a changed unit are compared; a directory whose mtime alone moved is no change', async () => {
    const diff = await diffSnapshots(from, to, reader(readings));
    expect(diff.units[2].entries?.map((e) => [e.kind, e.path, e.what])).toEqual([
      ['changed', '/opt/ml/models/llama/a', ['size', 'mtime']],
      ['removed', '/opt/ml/models/llama/gone', []],
      ['added', '/opt/ml/models/llama/new', []],
    ]);
    expect([diff.entriesAdded, diff.entriesRemoved, diff.entriesChanged]).toEqual([3 + 1, 3 + 1, 1]);
  });

  test('with files off no archive is read', async () => {
    const r = reader({});
    const diff = await diffSnapshots(from, to, r, { files: false });
    expect(r.keys).toEqual([]);
    expect(diff.units[2].entries).toBeUndefined();
  });
});

test.each([
  [{ mode: 0o600 }, ['mode']],
  [{ uid: 1 }, ['owner']],
  [{ type: 'symlink' as const, size: 0, target: 'x' }, ['type', 'size', 'target']],
])('entryDifferences of a file and %j is %j', (change, what) => {
  const a = entry('f');
  expect(entryDifferences(a, { ...a, ...change })).toEqual(what);
});
