/**
 * scripts/backup.sh picks a zstd level per unit from a sample of its largest files: data that
 * barely compresses (fp16 weights) is stored with zstd --fast=1, anything else at the configured
 * level; and an archive whose fsync fails never gets a manifest.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Manifest, parseManifest } from '../../lambda/core/backup/manifest';
import { listFiles } from '../helpers/fake-host';
import { loggedCalls, ScriptHarness, type ScriptRun } from './harness';

const MiB = 1024 * 1024;

/** fp16-like bytes as in bench/backup/generate-corpus.ts: zstd -3 saves about 8%, --fast=1 nothing. */
function fp16Weights(bytes: number): Buffer {
  const buf = randomBytes(bytes);
  for (let i = 1; i < buf.length; i += 2) {
    const b = buf[i];
    buf[i] = (b & 0x80) | ((0x0a + (b % 5)) << 2) | (b & 0x03);
  }
  return buf;
}

let h: ScriptHarness;
let src: string;
let defaultRun: ScriptRun;

function backup(name: string, extra: Record<string, string> = {}, pathPrefix: string[] = []): Promise<ScriptRun> {
  return h.run(
    'backup',
    {
      GPU_MAINT_BACKUP_SOURCES: src,
      GPU_MAINT_BACKUP_DESTINATION: `file://${path.join(h.root, name)}`,
      GPU_MAINT_STATE_DIR: path.join(h.root, `state-${name}`),
      ...extra,
    },
    { pathPrefix },
  );
}

function manifestOf(name: string, run: ScriptRun): Manifest {
  const file = path.join(h.root, name, 'backups', 'test-host', 'snapshots', `${run.kv.snapshot}.json`);
  return parseManifest(fs.readFileSync(file, 'utf8'), file);
}

/** Archive bytes per unit path. */
function archiveBytes(manifest: Manifest): Record<string, number> {
  return Object.fromEntries(manifest.units.map((u) => [u.path, u.bytes]));
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-backup-level-');
  src = path.join(h.root, 'src');
  fs.mkdirSync(path.join(src, 'weights'), { recursive: true });
  fs.writeFileSync(path.join(src, 'weights', 'shard-0.safetensors'), fp16Weights(2 * MiB));
  fs.writeFileSync(path.join(src, 'weights', 'shard-1.safetensors'), fp16Weights(2 * MiB));
  fs.writeFileSync(path.join(src, 'weights', 'config.json'), '{"dtype": "float16"}\n');
  fs.mkdirSync(path.join(src, 'text'));
  fs.writeFileSync(path.join(src, 'text', 'tokenizer.json'), '{"token": "weights", "id": 12345}\n'.repeat(64 * 1024));
  fs.mkdirSync(path.join(src, 'small'));
  fs.writeFileSync(path.join(src, 'small', 'notes.txt'), 'small files keep the configured level\n');
  defaultRun = await backup('dest-default');
  expect(defaultRun.code, defaultRun.stderr).toBe(0);
});

afterAll(() => h.cleanup());

describe('zstd level per unit', () => {
  test('a unit of fp16-like weights is stored with zstd --fast=1 and the log says why', () => {
    const bytes = archiveBytes(manifestOf('dest-default', defaultRun));
    expect(bytes.weights).toBeGreaterThanOrEqual(4 * MiB);
    expect(defaultRun.stderr).toMatch(/unit weights: its largest files save \d% \(< 10%\), zstd --fast=1/);
  });

  test('a unit of compressible files keeps the configured level', () => {
    const bytes = archiveBytes(manifestOf('dest-default', defaultRun));
    expect(bytes.text).toBeLessThan(MiB / 8);
    expect(defaultRun.stderr).not.toMatch(/unit (text|small):/);
  });

  test('with a minimum savings of 0 the weights are compressed at the configured level', async () => {
    const run = await backup('dest-always', { GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT: '0' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('--fast=1');
    const fast = archiveBytes(manifestOf('dest-default', defaultRun)).weights;
    expect(archiveBytes(manifestOf('dest-always', run)).weights).toBeLessThan(fast * 0.96);
  });

  test('weights stored with the fast level restore byte for byte', async () => {
    const target = path.join(h.root, 'restore-default');
    const run = await h.run('restore', {
      GPU_MAINT_BACKUP_DESTINATION: `file://${path.join(h.root, 'dest-default')}`,
      GPU_MAINT_RESTORE_TARGET: target,
    });
    expect(run.code, run.stderr).toBe(0);
    for (const file of ['weights/shard-0.safetensors', 'weights/shard-1.safetensors', 'text/tokenizer.json']) {
      expect(sha256(path.join(target, file)), file).toBe(sha256(path.join(src, file)));
    }
  });

  test.each(['101', 'ten', '-1', '010'])('a minimum savings of %j is rejected naming the variable and the value', async (value) => {
    const run = await backup('dest-invalid', { GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT: value });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT must be a whole number from 0 to 100, got: '${value}'`);
    expect(listFiles(path.join(h.root, 'dest-invalid'))).toEqual([]);
  });
});

describe('zstd threads per unit', () => {
  test('a unit below one zstd job is compressed without worker threads, a larger one with them', async () => {
    const threads = path.join(h.root, 'threads-src');
    fs.mkdirSync(path.join(threads, 'big'), { recursive: true });
    fs.writeFileSync(path.join(threads, 'big', 'blob.bin'), randomBytes(9 * MiB));
    fs.mkdirSync(path.join(threads, 'small'));
    fs.writeFileSync(path.join(threads, 'small', 'notes.txt'), 'notes\n');
    const log = path.join(h.root, 'zstd-calls.log');
    const run = await backup('dest-threads', { GPU_MAINT_BACKUP_SOURCES: threads }, [h.loggingBin('zstd', log)]);
    expect(run.code, run.stderr).toBe(0);
    // The archiving calls (level sampling runs zstd too, without a thread option).
    const archiving = loggedCalls(log).filter((c) => / (-T0|--single-thread) /.test(` ${c} `));
    expect(archiving.map((c) => c.split(' ').find((a) => a === '-T0' || a === '--single-thread')).sort()).toEqual([
      '--single-thread',
      '--single-thread',
      '-T0',
    ]);
  });
});

describe('durability before the manifest', () => {
  test('an archive whose fsync fails leaves no snapshot and the backup exits non-zero', async () => {
    // sync(1) that fails for archives only (the kernel could not write them back), as a failing disk would.
    const failing = h.fakeBin('failing-sync', {
      sync: 'for a in "$@"; do [[ "$a" == *.tar.zst ]] && exit 1; done\nexec /usr/bin/env -i PATH=/usr/bin:/bin sync "$@"',
    });
    const run = await backup('dest-fsync', {}, [failing]);
    expect(run.code).toBe(1);
    expect(run.kv.status).toBe('failed');
    expect(run.stderr).toContain('fsync of an archive');
    expect(listFiles(path.join(h.root, 'dest-fsync')).filter((f) => f.includes('/snapshots/'))).toEqual([]);
  });
});
