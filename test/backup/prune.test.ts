/**
 * Prune over a real file:// store (lambda/adapters/local/backup-store-file.ts): snapshot retention,
 * archive deletion after the grace period, and the cases where prune must hold back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { FileBackupStore } from '../../lambda/adapters/local/backup-store-file';
import {
  backupAgeFinding,
  continuationEvent,
  MAX_PRUNE_PARTS,
  type PrunePolicy,
  parsePruneEvent,
  pruneHost,
  pruneMetrics,
  pruneStore,
  runPruneAudit,
} from '../../lambda/core/backup/prune';
import type { MetricDatum } from '../../lambda/core/types';
import { manifestJson } from './manifests';

const NOW = new Date('2026-11-28T12:00:00Z');
const KEEP3: PrunePolicy = { keepLast: 3, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, graceDays: 2 };
const fp = (n: number) => n.toString(16).padStart(64, '0');

let root: string;
let store: FileBackupStore;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-prune-'));
  store = new FileBackupStore(root);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000);
const idDaysAgo = (n: number) =>
  daysAgo(n)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

function writeArchive(host: string, key: string, ageDays: number): void {
  const file = path.join(root, 'backups', host, key);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'x'.repeat(100));
  fs.utimesSync(file, daysAgo(ageDays), daysAgo(ageDays));
}

/** Snapshot n days ago referencing a shared unit `base` and its own unit `u<n>`; archives as old as the snapshot. */
function seedDaily(host: string, days: number[]): void {
  fs.mkdirSync(path.join(root, 'backups', host, 'snapshots'), { recursive: true });
  writeArchive(host, `units/base/${fp(0)}.tar.zst`, Math.max(...days));
  for (const n of days) {
    fs.writeFileSync(
      path.join(root, 'backups', host, 'snapshots', `${idDaysAgo(n)}.json`),
      manifestJson(
        idDaysAgo(n),
        [
          { id: 'base', fp: fp(0) },
          { id: `u${n}`, fp: fp(n) },
        ],
        host,
      ),
    );
    writeArchive(host, `units/u${n}/${fp(n)}.tar.zst`, n);
  }
}

const files = (host: string, sub: string) => {
  const dir = path.join(root, 'backups', host, sub);
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
        .sort()
    : [];
};

describe('prune', () => {
  test('deletes snapshots outside retention, then the archives only they referenced', async () => {
    seedDaily('h1', [1, 2, 3, 4, 5, 6]);
    const report = await pruneHost(store, 'h1', KEEP3, NOW, { dryRun: false });
    expect(report.removedSnapshots).toEqual([idDaysAgo(4), idDaysAgo(5), idDaysAgo(6)]);
    expect(files('h1', 'snapshots')).toEqual([idDaysAgo(3), idDaysAgo(2), idDaysAgo(1)].map((id) => `${id}.json`));
    expect(files('h1', 'units')).toEqual([`base/${fp(0)}.tar.zst`, `u1/${fp(1)}.tar.zst`, `u2/${fp(2)}.tar.zst`, `u3/${fp(3)}.tar.zst`]);
    expect(report.bytesFreed).toBe(300);
  });

  test('an archive first sent by a pruned snapshot stays while a kept snapshot reuses it', async () => {
    // A model directory rewritten every day, and two shards stored on their own: shard-a never
    // changes (sent by the oldest snapshot only), shard-b is rewritten two days ago.
    const host = 'h-shards';
    const days = [4, 3, 2, 1];
    fs.mkdirSync(path.join(root, 'backups', host, 'snapshots'), { recursive: true });
    const shardB = (n: number) => (n >= 3 ? fp(0xb0) : fp(0xb1));
    for (const n of days) {
      const units = [
        { id: 'model-0', fp: fp(n) },
        { id: 'model-0_shard-a', fp: fp(0xa0) },
        { id: 'model-0_shard-b', fp: shardB(n) },
      ];
      fs.writeFileSync(path.join(root, 'backups', host, 'snapshots', `${idDaysAgo(n)}.json`), manifestJson(idDaysAgo(n), units, host));
      for (const u of units) writeArchive(host, `units/${u.id}/${u.fp}.tar.zst`, 10);
    }
    const report = await pruneHost(store, host, KEEP3, NOW, { dryRun: false });
    expect(report.removedSnapshots).toEqual([idDaysAgo(4)]);
    expect(report.removedArchives).toEqual([`units/model-0/${fp(4)}.tar.zst`]);
    expect(files(host, 'units')).toEqual(
      [
        `model-0/${fp(1)}.tar.zst`,
        `model-0/${fp(2)}.tar.zst`,
        `model-0/${fp(3)}.tar.zst`,
        `model-0_shard-a/${fp(0xa0)}.tar.zst`,
        `model-0_shard-b/${fp(0xb0)}.tar.zst`,
        `model-0_shard-b/${fp(0xb1)}.tar.zst`,
      ].sort(),
    );
  });

  test('an unreferenced archive younger than the grace period stays', async () => {
    seedDaily('h1', [1, 2, 3]);
    writeArchive('h1', `units/fresh/${fp(99)}.tar.zst`, 1);
    writeArchive('h1', `units/old/${fp(98)}.tar.zst`, 3);
    const report = await pruneHost(store, 'h1', KEEP3, NOW, { dryRun: false });
    expect(report.removedArchives).toEqual([`units/old/${fp(98)}.tar.zst`]);
    expect(files('h1', 'units')).toContain(`fresh/${fp(99)}.tar.zst`);
  });

  test('stale partial files of a crashed backup go after the grace period', async () => {
    seedDaily('h1', [1]);
    writeArchive('h1', `units/u1/.partial-${fp(5)}.tar.zst.1234`, 5);
    const report = await pruneHost(store, 'h1', KEEP3, NOW, { dryRun: false });
    expect(report.removedArchives).toEqual([`units/u1/.partial-${fp(5)}.tar.zst.1234`]);
  });

  test('a dry run reports the plan and deletes nothing', async () => {
    seedDaily('h1', [1, 2, 3, 4, 5]);
    const before = [...files('h1', 'snapshots'), ...files('h1', 'units')];
    const report = await pruneHost(store, 'h1', KEEP3, NOW, { dryRun: true });
    expect(report.removedSnapshots).toHaveLength(2);
    expect(report.removedArchives).toHaveLength(2);
    expect([...files('h1', 'snapshots'), ...files('h1', 'units')]).toEqual(before);
  });

  test('the newest snapshot survives however old it is', async () => {
    seedDaily('h1', [400, 401, 402, 403]);
    const report = await pruneHost(store, 'h1', { ...KEEP3, keepLast: 1 }, NOW, { dryRun: false });
    expect(report.kept.map((k) => k.id)).toEqual([idDaysAgo(400)]);
    expect(report.newestAgeHours).toBe(9600);
  });

  test('an unreadable manifest is kept and no archive of its host is deleted', async () => {
    seedDaily('h1', [1, 2, 3, 4, 5]);
    fs.writeFileSync(path.join(root, 'backups/h1/snapshots', `${idDaysAgo(10)}.json`), '{"truncated":');
    const report = await pruneHost(store, 'h1', KEEP3, NOW, { dryRun: false });
    expect(report.unreadable).toEqual([idDaysAgo(10)]);
    expect(report.removedArchives).toEqual([]);
    expect(files('h1', 'snapshots')).toContain(`${idDaysAgo(10)}.json`);
    expect(report.warnings[0]).toContain('cannot be read');
  });

  test('a manifest written while prune runs protects the archives it references', async () => {
    seedDaily('h1', [1, 2, 3, 4]);
    // A backup that finishes during prune and reuses the archive of the snapshot prune drops.
    let calls = 0;
    const racing = Object.create(store) as FileBackupStore;
    racing.listSnapshotIds = async (host: string) => {
      if (++calls === 2) {
        fs.writeFileSync(
          path.join(root, 'backups/h1/snapshots', '20261128T115900Z.json'),
          manifestJson('20261128T115900Z', [{ id: 'u4', fp: fp(4) }], 'h1'),
        );
      }
      return store.listSnapshotIds(host);
    };
    const report = await pruneHost(racing, 'h1', KEEP3, NOW, { dryRun: false });
    expect(report.removedSnapshots).toEqual([idDaysAgo(4)]);
    expect(report.removedArchives).toEqual([]);
    expect(files('h1', 'units')).toContain(`u4/${fp(4)}.tar.zst`);
  });

  test('a host that cannot be read is reported, and the other hosts are still pruned', async () => {
    seedDaily('good', [1, 2, 3, 4]);
    seedDaily('bad', [1]);
    const failing = Object.create(store) as FileBackupStore;
    failing.listSnapshotIds = async (host: string) => {
      if (host === 'bad') throw new Error('AccessDenied');
      return store.listSnapshotIds(host);
    };
    const report = await pruneStore(failing, KEEP3, NOW, { dryRun: false });
    expect(report.hosts.map((h) => [h.hostKey, h.error ?? null, h.removedSnapshots.length])).toEqual([
      ['bad', 'AccessDenied', 0],
      ['good', null, 1],
    ]);
  });

  test('the file store refuses keys outside units/ and host keys that are not one segment', async () => {
    await expect(store.deleteArchives('h1', ['snapshots/x.json'])).rejects.toThrow('refusing to delete "snapshots/x.json"');
    await expect(store.deleteArchives('h1', ['units/../../etc'])).rejects.toThrow('refusing to delete');
    await expect(store.listSnapshotIds('../x')).rejects.toThrow('host key "../x" is not valid');
  });
});

describe('snapshot age audit', () => {
  const host = (newestAgeHours: number | null, error?: string) => ({
    hostKey: 'AROAX:i-0abc',
    host: 'i-0abc',
    snapshots: 1,
    kept: [],
    removedSnapshots: [],
    removedArchives: [],
    bytesFreed: 0,
    newestSnapshot: newestAgeHours === null ? null : '20261127T020000Z',
    newestAt: null,
    newestAgeHours,
    bytesToFree: 0,
    unreadable: [],
    clockSkew: null,
    warnings: [],
    ...(error ? { error } : {}),
  });

  test.each([
    ['10 h old', 10, 'ok'],
    ['30 h old', 30, 'warning'],
    ['60 h old', 60, 'critical'],
    ['missing', null, 'critical'],
  ] as const)('a newest snapshot %s is %s against maxAgeHours 26', (_label, age, severity) => {
    const f = backupAgeFinding(host(age), 26);
    expect(f.check).toBe('backup.age');
    expect(f.severity).toBe(severity);
    expect(f.message).toContain('i-0abc (AROAX:i-0abc)');
  });

  test("each host's age is a SnapshotAgeHours datapoint of the fleet series; stale hosts are counted", () => {
    const metrics = pruneMetrics(
      { location: 'x', dryRun: false, at: NOW.toISOString(), hosts: [host(10), host(30), host(null), host(null, 'denied')] },
      'gpu',
      26,
    );
    expect(metrics.filter((m) => m.name === 'SnapshotAgeHours').map((m) => m.value)).toEqual([10, 30, 100_000]);
    expect(metrics.find((m) => m.name === 'BackupHostsStale')?.value).toBe(2);
    expect(metrics.find((m) => m.name === 'PruneErrors')?.value).toBe(1);
    expect(new Set(metrics.map((m) => JSON.stringify(m.dimensions)))).toEqual(new Set(['{"Fleet":"gpu"}']));
  });

  test('a dry run publishes snapshot ages but nothing on the pruned and freed series', () => {
    const removing = { ...host(10), removedSnapshots: ['20261120T020000Z'], removedArchives: ['a'], bytesFreed: 4096 };
    const names = (dryRun: boolean) =>
      pruneMetrics({ location: 'x', dryRun, at: NOW.toISOString(), hosts: [removing] }, 'gpu', 26).map((m) => m.name);
    expect(names(true)).toContain('SnapshotAgeHours');
    expect(names(true).filter((n) => ['SnapshotsPruned', 'ArchivesPruned', 'PruneBytesFreed'].includes(n))).toEqual([]);
    expect(names(false)).toEqual(expect.arrayContaining(['SnapshotsPruned', 'ArchivesPruned', 'PruneBytesFreed']));
  });

  test('the audit logs one line per host and flushes the metrics once', async () => {
    seedDaily('h1', [1, 2]);
    const put: MetricDatum[] = [];
    let flushes = 0;
    const lines: { hostKey: string; severity: string }[] = [];
    await runPruneAudit(
      { store, metrics: { put: async (m) => void put.push(...m), flush: async () => void flushes++ }, log: (r) => lines.push(r) },
      { fleet: 'gpu', maxAgeHours: 26, retention: KEEP3 },
      NOW,
      false,
    );
    expect(lines).toEqual([expect.objectContaining({ hostKey: 'h1', severity: 'ok', newestAgeHours: 24 })]);
    expect(put.find((m) => m.name === 'SnapshotAgeHours')?.value).toBe(24);
    expect(flushes).toBe(1);
  });
});

describe('the prune event', () => {
  test.each([
    [undefined, false],
    [{}, false],
    [{ dryRun: true }, true],
  ])('%j reads as dryRun %s', (event, dryRun) => {
    expect(parsePruneEvent(event).dryRun).toBe(dryRun);
  });

  test('a dryRun that is not a boolean is named with its value and what was expected', () => {
    expect(() => parsePruneEvent({ dryRun: 'yes' })).toThrow(
      'prune event: dryRun: got "yes"; expected true or false (send {} or {"dryRun": true})',
    );
  });
});

describe('a prune in parts (fleets too large for one invocation)', () => {
  /** Out of time once `n` hosts were started. */
  const afterHosts = (n: number) => {
    let asked = 0;
    return () => asked++ >= n;
  };

  test('once time runs out no further host is started, and the report says where to go on', async () => {
    for (const h of ['h1', 'h2', 'h3', 'h4']) seedDaily(h, [1, 2, 3, 4]);
    const report = await pruneStore(store, KEEP3, NOW, { dryRun: false, concurrency: 1, outOfTime: afterHosts(2) });
    expect(report.hosts.map((h) => h.hostKey)).toEqual(['h1', 'h2']);
    expect(report.unfinished).toEqual({ after: 'h2', hostsLeft: 2 });
  });

  test('the next part starts after the last host done and finishes the store', async () => {
    for (const h of ['h1', 'h2', 'h3', 'h4']) seedDaily(h, [1, 2, 3, 4]);
    const report = await pruneStore(store, KEEP3, NOW, { dryRun: false, after: 'h2' });
    expect(report.hosts.map((h) => h.hostKey)).toEqual(['h3', 'h4']);
    expect(report.unfinished).toBeUndefined();
  });

  test('a part that cannot start a single host fails, naming it', async () => {
    seedDaily('h1', [1]);
    await expect(pruneStore(store, KEEP3, NOW, { dryRun: false, outOfTime: () => true })).rejects.toThrow(
      'prune: out of time before the first host (h1)',
    );
  });

  test('fleet counts are published once, by the last part, with what the earlier parts counted', async () => {
    for (const h of ['h1', 'h2', 'h3']) seedDaily(h, [1, 2]);
    const settings = { fleet: 'gpu', maxAgeHours: 26, retention: KEEP3 };
    const put: MetricDatum[] = [];
    const deps = { store, metrics: { put: async (m: MetricDatum[]) => void put.push(...m), flush: async () => {} }, log: () => {} };
    const first = await runPruneAudit(deps, settings, NOW, false, { outOfTime: afterHosts(1) });
    expect(put.filter((m) => m.name === 'BackupHosts')).toEqual([]);
    const next = continuationEvent({ dryRun: false }, first, 26);
    expect(next).toEqual({ dryRun: false, continuation: { after: 'h1', part: 2, totals: { hosts: 1, stale: 0, errors: 0 } } });
    const last = await runPruneAudit(deps, settings, NOW, false, { after: 'h1', carried: next?.continuation?.totals });
    expect(continuationEvent(next!, last, 26)).toBeNull();
    expect(put.filter((m) => m.name === 'BackupHosts').map((m) => m.value)).toEqual([3]);
    expect(put.filter((m) => m.name === 'SnapshotAgeHours')).toHaveLength(3);
  });

  test(`a prune still unfinished after ${MAX_PRUNE_PARTS} parts stops with an error`, () => {
    const report = { location: 'x', dryRun: false, at: NOW.toISOString(), hosts: [], unfinished: { after: 'h9', hostsLeft: 5 } };
    const event = { dryRun: false, continuation: { after: 'h8', part: MAX_PRUNE_PARTS, totals: { hosts: 9, stale: 0, errors: 0 } } };
    expect(() => continuationEvent(event, report, 26)).toThrow(
      `prune: still 5 host(s) left after ${MAX_PRUNE_PARTS} parts; stopped after h9`,
    );
  });
});
