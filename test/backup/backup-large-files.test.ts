/**
 * Large files stored on their own (scripts/backup.sh): each file at or above the threshold below the
 * unit depth is a unit of its own path, so a rewritten shard re-sends that shard only, its archive is
 * a plain tar.zst of the one file, and a restore of the model directory brings its shards back.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseManifest } from '../../lambda/core/backup/manifest';
import { ScriptHarness } from './harness';

const SHARD_BYTES = 2 * 1024 * 1024;
const THRESHOLD = String(1024 * 1024);

let h: ScriptHarness;
let src: string;
let dest: string;
let first: string;
let second: string;

const env = (extra: Record<string, string> = {}) => ({
  GPU_MAINT_BACKUP_SOURCES: src,
  GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
  GPU_MAINT_BACKUP_LARGE_FILE_BYTES: THRESHOLD,
  ...extra,
});
const manifest = (id: string) =>
  parseManifest(fs.readFileSync(path.join(dest, 'backups', 'test-host', 'snapshots', `${id}.json`), 'utf8'), id);

beforeAll(async () => {
  h = new ScriptHarness();
  src = path.join(h.root, 'src');
  dest = path.join(h.root, 'dest');
  fs.mkdirSync(path.join(src, 'model-0'), { recursive: true });
  fs.writeFileSync(path.join(src, 'model-0', 'config.json'), '{"shards":3}\n');
  for (const n of [0, 1, 2]) fs.writeFileSync(path.join(src, 'model-0', `shard-${n}.bin`), randomBytes(SHARD_BYTES));
  fs.writeFileSync(path.join(src, 'model-0', 'small.bin'), randomBytes(1024));
  const run = await h.run('backup', env());
  expect(run.code, run.stderr).toBe(0);
  first = run.kv.snapshot;
  // A new second: snapshot ids have one-second resolution.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  fs.writeFileSync(path.join(src, 'model-0', 'shard-1.bin'), randomBytes(SHARD_BYTES));
  const rerun = await h.run('backup', env());
  expect(rerun.code, rerun.stderr).toBe(0);
  second = rerun.kv.snapshot;
});

afterAll(() => h.cleanup());

describe('large files stored on their own', () => {
  test('each file at or above the threshold is a unit of its own path; smaller files stay in their directory unit', () => {
    expect(manifest(first).units.map((u) => u.path)).toEqual([
      'model-0',
      'model-0/shard-0.bin',
      'model-0/shard-1.bin',
      'model-0/shard-2.bin',
    ]);
    expect(manifest(first).units[0].files).toBe(3);
  });

  test('a rewritten shard re-sends that shard alone, within 1.1x of the bytes that changed', () => {
    const units = manifest(second).units;
    expect(units.filter((u) => u.uploaded).map((u) => u.path)).toEqual(['model-0/shard-1.bin']);
    const sent = units.filter((u) => u.uploaded).reduce((sum, u) => sum + u.bytes, 0);
    expect(sent).toBeLessThanOrEqual(1.1 * SHARD_BYTES);
  });

  test("a shard's archive is a plain tar.zst holding the one file under its path", () => {
    const unit = manifest(second).units.find((u) => u.path === 'model-0/shard-1.bin');
    const archive = path.join(dest, 'backups', 'test-host', unit?.key ?? 'missing');
    const listing = execFileSync('bash', ['-c', 'zstd -d -q -c -- "$1" | tar -tf -', 'list', archive], { encoding: 'utf8' });
    expect(listing.trim().split('\n')).toEqual(['./model-0/shard-1.bin']);
  });

  test('restoring the model directory by its path brings back its shards, byte for byte', async () => {
    const target = path.join(h.root, 'restored');
    const run = await h.run('restore', {
      GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
      GPU_MAINT_RESTORE_TARGET: target,
      GPU_MAINT_RESTORE_UNITS: 'model-0',
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv.units_done).toBe('4');
    for (const name of ['config.json', 'shard-0.bin', 'shard-1.bin', 'shard-2.bin', 'small.bin'])
      expect(fs.readFileSync(path.join(target, 'model-0', name)).equals(fs.readFileSync(path.join(src, 'model-0', name))), name).toBe(true);
  });
});
