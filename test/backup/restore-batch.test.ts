/**
 * scripts/restore.sh verifies a file:// snapshot after extracting every unit: the archives' sha256 come
 * from a hasher that follows the extraction, the restored listings from one pass over the staging dir.
 * Batched that way, each unit is still judged on its own: a bad unit fails alone, named, and never
 * reaches the target; units moved in together land where each belongs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Manifest, parseManifest } from '../../lambda/core/backup/manifest';
import { loggedCalls, ScriptHarness } from './harness';

const MODELS = ['m1', 'm2', 'm3', 'm4'];

let h: ScriptHarness;
let dest: string;
let manifestFile: string;
let manifest: Manifest;
/** The source directories' modification times, set before the backup. */
const DIR_MTIME = new Date('2026-03-04T05:06:07Z');

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-restore-batch-');
  const src = path.join(h.root, 'src');
  for (const [i, model] of MODELS.entries()) {
    fs.mkdirSync(path.join(src, model), { recursive: true });
    fs.writeFileSync(path.join(src, model, 'config.json'), `{"model":${i}}\n`);
    // Two files above the threshold below: units of their own, moved into the model dir together.
    fs.writeFileSync(path.join(src, model, 'shard-0.bin'), Buffer.alloc(4096, i + 1));
    fs.writeFileSync(path.join(src, model, 'shard-1.bin'), Buffer.alloc(4096, i + 11));
    fs.utimesSync(path.join(src, model), DIR_MTIME, DIR_MTIME);
  }
  dest = path.join(h.root, 'dest');
  const run = await h.run('backup', {
    GPU_MAINT_BACKUP_SOURCES: src,
    GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
    GPU_MAINT_BACKUP_LARGE_FILE_BYTES: '2048',
  });
  expect(run.code, run.stderr).toBe(0);
  manifestFile = path.join(dest, 'backups', 'test-host', 'snapshots', `${run.kv.snapshot}.json`);
  manifest = parseManifest(fs.readFileSync(manifestFile, 'utf8'), run.kv.snapshot);
});
afterAll(() => h.cleanup());

/** A copy of the store, changed by `change` (given the copy's host dir), for one restore. */
function storeCopy(name: string, change: (hostDir: string) => void): string {
  const copy = path.join(h.root, name);
  fs.cpSync(dest, copy, { recursive: true });
  change(path.join(copy, 'backups', 'test-host'));
  return copy;
}

const unitAt = (unitPath: string) => {
  const unit = manifest.units.find((u) => u.path === unitPath);
  if (!unit) throw new Error(`no unit ${unitPath} in the snapshot`);
  return unit;
};

/** A restore of `store` into `target`, with `pathPrefix` (fake tools) first on PATH. */
async function restore(store: string, target: string, pathPrefix: string[] = []) {
  return h.run('restore', { GPU_MAINT_BACKUP_DESTINATION: `file://${store}`, GPU_MAINT_RESTORE_TARGET: target }, { pathPrefix });
}

test('every unit is restored into place: shards inside their model dir, which keeps its mtime', async () => {
  const target = path.join(h.root, 'restored');
  const run = await restore(dest, target);
  expect(run.code, run.stderr).toBe(0);
  expect(run.kv.units_done).toBe(String(manifest.units.length));
  expect(manifest.units).toHaveLength(MODELS.length * 3);
  for (const [i, model] of MODELS.entries()) {
    expect(fs.readdirSync(path.join(target, model)).sort()).toEqual(['config.json', 'shard-0.bin', 'shard-1.bin']);
    expect(fs.readFileSync(path.join(target, model, 'shard-1.bin')).equals(Buffer.alloc(4096, i + 11))).toBe(true);
    expect(fs.statSync(path.join(target, model)).mtime.toISOString()).toBe(DIR_MTIME.toISOString());
  }
  expect(fs.readdirSync(target).sort()).toEqual(MODELS);
});

test('the archives are decompressed by two zstd processes, one per stream, whatever the number of units', async () => {
  const log = path.join(h.root, 'zstd-calls.log');
  const target = path.join(h.root, 'restored-streams');
  const run = await restore(dest, target, [h.loggingBin('zstd', log)]);
  expect(run.code, run.stderr).toBe(0);
  const calls = loggedCalls(log);
  expect(calls).toHaveLength(2);
  // Each stream holds whole models, two each: a model's shards, then the model's own archive.
  const pathOfKey = new Map(manifest.units.map((u) => [u.key, u.path]));
  const streams = calls.map((call) => call.split(' ').flatMap((arg) => pathOfKey.get(arg) ?? []));
  for (const paths of streams) {
    const models = paths.filter((p) => !p.includes('/'));
    expect(models).toHaveLength(2);
    for (const model of models) {
      const shards = paths.filter((p) => p.startsWith(`${model}/`));
      expect(shards).toHaveLength(2);
      for (const shard of shards) expect(paths.indexOf(shard)).toBeLessThan(paths.indexOf(model));
    }
  }
  expect(run.kv.units_done).toBe(String(manifest.units.length));
});

test('units whose restored listing differs from the manifest fail one by one, the others are restored', async () => {
  const tampered = [unitAt('m2'), unitAt('m4/shard-0.bin')];
  const store = storeCopy('dest-listing', (hostDir) => {
    const file = path.join(hostDir, 'snapshots', path.basename(manifestFile));
    let text = fs.readFileSync(file, 'utf8');
    for (const unit of tampered) text = text.replace(`"listing":"${unit.listing}"`, `"listing":"${'0'.repeat(64)}"`);
    fs.writeFileSync(file, text);
  });
  const target = path.join(h.root, 'restored-listing');
  const run = await restore(store, target);
  expect(run.code).toBe(1);
  expect(run.kv.failed_units).toBe(tampered.map((u) => u.id).join(' '));
  expect(run.kv.units_done).toBe(String(manifest.units.length - 2));
  expect(run.kv.error).toMatch(/^2 unit\(s\) of 12 failed: m2-[0-9a-f]+: restored listing differs from the manifest .*; m4_shard-0\.bin-/);
  // The shards of m2 are units of their own and verified: they go into a new m2 without its config.
  expect(fs.readdirSync(path.join(target, 'm2')).sort()).toEqual(['shard-0.bin', 'shard-1.bin']);
  expect(fs.readdirSync(path.join(target, 'm4')).sort()).toEqual(['config.json', 'shard-1.bin']);
  expect(fs.readdirSync(target).filter((n) => n.startsWith('.gpu-maint-restore'))).toEqual([]);
});

test('corrupt archives at both ends of the run are each found by their sha256 and quarantined', async () => {
  const bad = [manifest.units[0], manifest.units.at(-1)].map((u) => u?.key as string);
  const store = storeCopy('dest-corrupt', (hostDir) => {
    for (const key of bad) {
      const bytes = fs.readFileSync(path.join(hostDir, key));
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      fs.writeFileSync(path.join(hostDir, key), bytes);
    }
  });
  const target = path.join(h.root, 'restored-corrupt');
  const run = await restore(store, target);
  expect(run.code).toBe(1);
  expect(run.kv.units_failed).toBe('2');
  expect(run.kv.error.match(/archive sha256 [0-9a-f]{64} does not match the manifest's/g)).toHaveLength(2);
  for (const key of bad) expect(fs.existsSync(path.join(store, 'backups', 'test-host', 'quarantine', key))).toBe(true);
  expect(run.kv.units_done).toBe(String(manifest.units.length - 2));
});

test('an archive the hasher cannot read fails its unit alone, as not hashed rather than corrupt', async () => {
  const unreadable = unitAt('m2/shard-0.bin');
  // openssl hashes every archive but that one, says it cannot open it, and exits 1 (as for EACCES).
  const openssl = h.fakeBin('openssl-one-unreadable', {
    openssl: [
      'args=()',
      'for a in "$@"; do',
      `  if [[ "\${a}" == '${unreadable.key}' ]]; then echo "\${a}: Permission denied" >&2; failed=1; else args+=("\${a}"); fi`,
      'done',
      '/usr/bin/openssl "${args[@]}" || exit',
      'exit "${failed:-0}"',
    ].join('\n'),
  });
  const target = path.join(h.root, 'restored-unhashed');
  const run = await restore(dest, target, [openssl]);
  expect(run.code).toBe(1);
  expect(run.kv.failed_units).toBe(unreadable.id);
  expect(run.kv.error).toContain(
    `${unreadable.id}: the sha256 of file://${dest}/backups/test-host/${unreadable.key} could not be computed (exit 1)`,
  );
  expect(fs.existsSync(path.join(dest, 'backups', 'test-host', 'quarantine'))).toBe(false);
  expect(fs.readdirSync(path.join(target, 'm2')).sort()).toEqual(['config.json', 'shard-1.bin']);
  expect(run.kv.units_done).toBe(String(manifest.units.length - 1));
});

test('a missing archive fails its unit as missing, not as corrupt, and the others are restored', async () => {
  const gone = unitAt('m3/shard-1.bin');
  const store = storeCopy('dest-missing', (hostDir) => fs.rmSync(path.join(hostDir, gone.key)));
  const target = path.join(h.root, 'restored-missing');
  const run = await restore(store, target);
  expect(run.code).toBe(1);
  expect(run.kv.failed_units).toBe(gone.id);
  expect(run.kv.error).toContain(`${gone.id}: archive file://${store}/backups/test-host/${gone.key} is missing`);
  expect(fs.existsSync(path.join(store, 'backups', 'test-host', 'quarantine'))).toBe(false);
  expect(fs.readdirSync(path.join(target, 'm3')).sort()).toEqual(['config.json', 'shard-0.bin']);
});

test('a stream whose extraction fails is extracted again unit by unit: only the units that fail alone fail, each reported', async () => {
  // tar fails on any input holding a file of units 1 or 2: their stream, then each of them alone.
  const failing = [manifest.units[1], manifest.units[2]];
  const tar = h.fakeBin('failing-tar', {
    tar: [
      'input="$(mktemp)"',
      'cat >"${input}"',
      `if /usr/bin/tar -t -i -f "\${input}" | grep -qxF -e './${failing[0].path}' -e './${failing[1].path}'; then`,
      '  rm -f "${input}"; echo "tar: cannot write" >&2; exit 2',
      'fi',
      '/usr/bin/tar "$@" <"${input}"; rc=$?',
      'rm -f "${input}"',
      'exit "${rc}"',
    ].join('\n'),
  });
  // A copy: a failed extraction quarantines the archive.
  const store = storeCopy('dest-tar', () => {});
  const target = path.join(h.root, 'restored-tar');
  const run = await restore(store, target, [tar]);
  expect(run.code).toBe(1);
  expect(run.kv.failed_units).toBe(failing.map((u) => u.id).join(' '));
  expect(run.kv.error).toMatch(
    /^2 unit\(s\) of 12 failed: .*extraction failed \(zstd 0, tar 2\): tar: cannot write .*; .*extraction failed \(zstd 0, tar 2\)/,
  );
  expect(run.kv.units_done).toBe(String(manifest.units.length - 2));
  expect(run.stderr).toContain(`unit ${manifest.units[0].id}: extracted again on its own`);
  expect(fs.readdirSync(path.join(target, 'm1')).sort()).toEqual(['config.json']);
});
