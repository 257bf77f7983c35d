/**
 * Progress inside one long unit: with GPU_MAINT_PROGRESS=1 (the CLI sets it on a terminal) backup and
 * restore print progress records while tar streams a unit, not only when it completes; the records never
 * reach the archive or the result, and without the variable there are none.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseProgressRecord } from '../../lambda/adapters/local/progress';
import { ScriptHarness, type ScriptRun } from './harness';

// Eight 5 MiB shards: under the size that is archived on its own (8 MiB), so one unit of 40 MiB streams through tar.
const SHARDS = Array.from({ length: 8 }, (_, i) => `shard-${i}.bin`);
const SHARD_BYTES = 5 * 1024 * 1024;
let h: ScriptHarness;
let src: string;
let dest: string;
let backup: ScriptRun;

const records = (run: ScriptRun, task: string) =>
  run.stderr
    .split('\n')
    .map(parseProgressRecord)
    .filter((r) => r?.task === task);

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-progress-unit-');
  src = path.join(h.root, 'src');
  // A name with a quote and a space: the record names the unit by its id, one word.
  fs.mkdirSync(path.join(src, "it's big"), { recursive: true });
  for (const shard of SHARDS) fs.writeFileSync(path.join(src, "it's big", shard), randomBytes(SHARD_BYTES));
  dest = path.join(h.root, 'dest');
  backup = await h.run('backup', {
    GPU_MAINT_BACKUP_SOURCES: src,
    GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
    GPU_MAINT_PROGRESS: '1',
  });
  expect(backup.code, backup.stderr).toBe(0);
}, 120_000);
afterAll(() => h.cleanup());

describe('a backup of one 40 MiB unit', () => {
  test('reports bytes done while the unit is read, before it completes', () => {
    const within = records(backup, 'backup').filter((r) => r!.unitsDone === 0 && r!.bytesDone > 0);
    expect(within.length).toBeGreaterThan(0);
    for (const r of within) {
      expect(r!.bytesDone).toBeLessThanOrEqual(r!.bytesTotal);
      expect(r!.unit).toMatch(/^it_s_big-[0-9a-f]+$/);
    }
    expect(records(backup, 'backup').at(-1)).toMatchObject({ unitsDone: 1, unitsTotal: 1 });
  });

  test('keeps the records out of the result on stdout', () => {
    expect(backup.stdout).not.toContain('progress:');
  });
});

describe('a restore of it', () => {
  test('reports bytes done while the unit is extracted, and restores it intact', async () => {
    const target = path.join(h.root, 'target');
    const run = await h.run('restore', {
      GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
      GPU_MAINT_RESTORE_TARGET: target,
      GPU_MAINT_PROGRESS: '1',
    });
    expect(run.code, run.stderr).toBe(0);
    const within = records(run, 'restore').filter((r) => r!.unitsDone === 0 && r!.bytesDone > 0);
    expect(within.length).toBeGreaterThan(0);
    expect(within.every((r) => r!.bytesDone < r!.bytesTotal)).toBe(true);
    for (const shard of SHARDS) {
      expect(fs.readFileSync(path.join(target, "it's big", shard)).equals(fs.readFileSync(path.join(src, "it's big", shard))), shard).toBe(
        true,
      );
    }
  }, 120_000);

  test('prints no record without GPU_MAINT_PROGRESS', async () => {
    const run = await h.run('restore', {
      GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
      GPU_MAINT_RESTORE_TARGET: path.join(h.root, 'quiet'),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('progress:');
  }, 120_000);
});
