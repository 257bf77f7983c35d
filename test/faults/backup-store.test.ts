/**
 * Fault cases of the store and of runs that are stopped: an S3 endpoint that accepts TCP and never
 * answers, a backup or restore killed (SIGKILL) mid-way, a full disk (`ulimit -f`), a second backup
 * while one runs, and what prune's dry run reports.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { listFiles } from '../helpers/fake-host';
import { type FaultWorld, faultWorlds, finding, SLOW, silentServer, until } from './backup-harness';

const world = faultWorlds();
let closers: (() => Promise<void>)[] = [];
// Registered after faultWorlds' afterEach, so it runs first (after-hooks run in reverse): servers close,
// then worlds are disposed.
afterEach(async () => {
  for (const close of closers) await close();
  closers = [];
});

/** A world whose destination is an S3 endpoint that accepts connections and never answers. */
async function silentWorld(): Promise<{ w: FaultWorld; connections: () => number }> {
  const srv = await silentServer();
  closers.push(srv.close);
  const w = await world('file');
  w.setBackup({ destination: 's3://fault-bucket/fleet', s3EndpointUrl: srv.url, storeTimeoutSeconds: 1 });
  return { w, connections: srv.connections };
}

const kill = (pids: readonly number[]) => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};

describe('a store that never answers', () => {
  test(
    'A silent S3 endpoint: snapshots list ends with an error naming the store and the timeout',
    async () => {
      const { w, connections } = await silentWorld();
      const run = await w.cli(['snapshots', 'list']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/s3:\/\/fault-bucket\/fleet\/: .*(timed out|timeout)/i);
      expect(connections()).toBeGreaterThan(1);
    },
    SLOW,
  );

  test(
    'A silent S3 endpoint: prune ends with an error and deletes nothing',
    async () => {
      const { w } = await silentWorld();
      const run = await w.cli(['prune']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/s3:\/\/fault-bucket\/fleet\/: .*(timed out|timeout)/i);
    },
    SLOW,
  );

  test(
    'A silent S3 endpoint: a backup fails with "cannot list" and the AWS CLI calls are bounded',
    async () => {
      const { w } = await silentWorld();
      w.write('m/a', 'a');
      const run = await w.backup();
      expect(run.code).toBe(1);
      expect(finding(run.result, 'backup.run')?.message).toBe('backup failed: cannot list s3://fault-bucket/fleet/backups/fault-host/');
    },
    SLOW,
  );
});

describe('runs that are killed', () => {
  test(
    'A backup killed mid-upload leaves a .partial file, which the next backup removes before it writes its snapshot',
    async () => {
      const w = await world('file');
      w.write('m/a', 'a'.repeat(1000));
      const first = w.spawn(['run', 'backup'], { pathPrefix: [w.pausingZstd('hold')] });
      await until(() => w.pausedPids('hold') !== null, 'the backup to reach its upload');
      const partials = () => listFiles(w.hostPrefix()).filter((f) => path.basename(f).startsWith('.partial-'));
      expect(partials()).toHaveLength(1);
      kill(w.pausedPids('hold') as number[]);
      await first.done;
      expect(partials()).toHaveLength(1);
      expect(w.snapshots()).toEqual([]);

      const next = await w.backup();
      expect(next.code, next.stderr).toBe(0);
      expect(partials()).toEqual([]);
      expect(w.snapshots()).toHaveLength(1);
    },
    SLOW,
  );

  test(
    'A restore killed mid-way leaves its staging dir, which the next restore into that target removes',
    async () => {
      const w = await world('file');
      w.write('m/a', 'a');
      expect((await w.backup()).code).toBe(0);
      const target = path.join(w.root, 'restored');
      const first = w.spawn(['restore', '--snapshot', 'latest', '--to', target], {
        pathPrefix: [w.pausingZstd('hold-restore', { decompress: true })],
      });
      await until(() => w.pausedPids('hold-restore') !== null, 'the restore to reach its extraction');
      expect(fs.readdirSync(target)).toEqual([expect.stringMatching(/^\.gpu-maint-restore\./)]);
      kill(w.pausedPids('hold-restore') as number[]);
      expect((await first.done).code).not.toBe(0);
      expect(fs.readdirSync(target)).toEqual([expect.stringMatching(/^\.gpu-maint-restore\./)]);

      const again = await w.restore('latest', target);
      expect(again.code, again.stderr).toBe(0);
      expect(fs.readdirSync(target)).toEqual(['m']);
    },
    SLOW,
  );

  test(
    'A restore that fails a unit removes its staging dir and names the unit and the reason',
    async () => {
      const w = await world('file', { unitDepth: 2 });
      w.write('org/model/w', 'w');
      expect((await w.backup()).code).toBe(0);
      const target = path.join(w.root, 'restored');
      const elsewhere = path.join(w.root, 'elsewhere');
      fs.mkdirSync(target);
      fs.mkdirSync(elsewhere);
      fs.symlinkSync(elsewhere, path.join(target, 'org'));
      const run = await w.restore('latest', target, ['--force']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /restore failed: 1 unit\(s\) of 1 failed: org_model-[0-9a-f]+: .*\/org\/model leads outside the target \(a symlink or \.\. on the way\)/,
      );
      expect(fs.readdirSync(elsewhere)).toEqual([]);
      expect(fs.readdirSync(target)).toEqual(['org']);
    },
    SLOW,
  );

  test(
    'A second backup while one runs exits "already running", and the first still writes its one snapshot',
    async () => {
      const w = await world('file');
      w.write('m/a', 'a');
      const first = w.spawn(['run', 'backup'], { pathPrefix: [w.pausingZstd('slow')] });
      await until(() => w.pausedPids('slow') !== null, 'the first backup to hold its lock');
      const second = await w.backup();
      expect(second.code).toBe(0);
      expect(finding(second.result, 'backup.run')).toMatchObject({
        severity: 'warning',
        message: expect.stringContaining('already running'),
      });
      w.release('slow');
      const done = await first.done;
      expect(done.code, done.stderr).toBe(0);
      expect(w.snapshots()).toHaveLength(1);
    },
    SLOW,
  );
});

describe('a full disk', () => {
  test(
    'A destination that fills up (ulimit -f): the backup fails, leaves no partial file, and the previous snapshot still restores',
    async () => {
      const w = await world('file');
      w.write('small/a', 'first');
      expect((await w.backup()).code).toBe(0);
      w.write('big/blob', randomBytes(2 * 1024 * 1024));
      const run = await w.backup({ fileSizeLimitKiB: 512 });
      expect(run.code).toBe(1);
      expect(finding(run.result, 'backup.run')?.message).toMatch(
        /backup failed: upload of unit .*\/big failed; no snapshot written, previous snapshot \S+-1 intact/,
      );
      expect(w.snapshots()).toHaveLength(1);
      expect(listFiles(w.hostPrefix()).filter((f) => path.basename(f).startsWith('.partial-'))).toEqual([]);
      const target = path.join(w.root, 'restored');
      expect((await w.restore('latest', target)).code).toBe(0);
      expect(fs.readFileSync(path.join(target, 'small/a'), 'utf8')).toBe('first');
    },
    SLOW,
  );
});

describe('prune reports', () => {
  test(
    'A dry-run prune says bytesToFree for what it would free and bytesFreed 0, and deletes nothing',
    async () => {
      const w = await world('file', { retention: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, graceDays: 0 } });
      w.write('m/a', 'version one');
      expect((await w.backup()).code).toBe(0);
      w.write('m/a', 'version two, longer');
      expect((await w.backup()).code).toBe(0);
      const before = w.stored();
      const run = await w.cli(['prune', '--dry-run', '--json']);
      expect(run.code, run.stderr).toBe(0);
      const host = (JSON.parse(run.stdout) as { hosts: { bytesFreed: number; bytesToFree: number; removedArchives: string[] }[] }).hosts[0];
      expect(host.removedArchives).toHaveLength(1);
      expect(host.bytesFreed).toBe(0);
      expect(host.bytesToFree).toBe(fs.statSync(w.storedFile(host.removedArchives[0])).size);
      expect(w.stored()).toEqual(before);
    },
    SLOW,
  );
});
