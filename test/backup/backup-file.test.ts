/**
 * scripts/backup.sh, restore.sh and restore-test.sh against a file:// destination, run as bundles
 * with real bash, tar, zstd and sha256sum on an adversarial tree.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseManifest } from '../../lambda/core/backup/manifest';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import { taskDefinition } from '../../lambda/tasks/registry';
import { parseConfigForTest } from '../helpers/config';
import { listFiles } from '../helpers/fake-host';
import { type ScriptHarness as Harness, ScriptHarness } from './harness';
import { type AdversarialTree, buildAdversarialTree, describeTree, diffTrees, type EntryInfo, hexPath, withoutExcluded } from './tree';

const EXCLUDE = '*.tmp,checkpoints/temp';

let h: Harness;
let tree: AdversarialTree;
let dest: string;
let hostDir: string;
/** The source as the first snapshot saw it. */
let firstState: Map<string, EntryInfo>;
let firstSnapshot: string;

function backupEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    GPU_MAINT_BACKUP_SOURCES: tree.root,
    GPU_MAINT_BACKUP_EXCLUDE: EXCLUDE,
    GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
    ...extra,
  };
}

function restoreEnv(target: string, extra: Record<string, string> = {}): Record<string, string> {
  return { GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`, GPU_MAINT_RESTORE_TARGET: target, ...extra };
}

const snapshots = () => listFiles(path.join(hostDir, 'snapshots'));
const archives = () => listFiles(path.join(hostDir, 'units'));
const freshDir = (name: string) => {
  const dir = path.join(h.root, name);
  fs.rmSync(dir, { recursive: true, force: true });
  return dir;
};

beforeAll(async () => {
  h = new ScriptHarness();
  tree = buildAdversarialTree(path.join(h.root, 'src'));
  dest = path.join(h.root, 'dest');
  hostDir = path.join(dest, 'backups', 'test-host');
  firstState = withoutExcluded(describeTree(tree.root), tree.excluded);
  const run = await h.run('backup', backupEnv());
  expect(run.code, run.stderr).toBe(0);
  firstSnapshot = run.kv.snapshot;
});

afterAll(() => h.cleanup());

describe('backup to file://', () => {
  test('the first backup archives every top-level entry as one unit and writes a manifest', () => {
    const manifest = parseManifest(fs.readFileSync(path.join(hostDir, 'snapshots', `${firstSnapshot}.json`), 'utf8'), 'first manifest');
    expect(manifest.host).toBe('test-host');
    expect(manifest.units.map((u) => Buffer.from(u.pathBase64, 'base64').toString('hex')).sort()).toEqual(tree.units.map(hexPath).sort());
    expect(manifest.units.every((u) => u.uploaded)).toBe(true);
  });

  test('a restore of the first snapshot equals the source entry by entry, excludes left out', async () => {
    const target = freshDir('restore-full');
    const run = await h.run('restore', restoreEnv(target, { GPU_MAINT_RESTORE_SNAPSHOT: firstSnapshot }));
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv.units_done).toBe(String(tree.units.length));
    expect(diffTrees(firstState, describeTree(target))).toEqual([]);
  });

  test('symlinks come back as the same links, never as the files they point to', async () => {
    const target = freshDir('restore-links');
    await h.run('restore', restoreEnv(target, { GPU_MAINT_RESTORE_UNITS: 'links,top-link' }));
    expect(fs.readlinkSync(path.join(target, 'links/outside'))).toBe('/etc/hostname');
    expect(fs.lstatSync(path.join(target, 'links/outside')).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(path.join(target, 'links/dir-link')).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(path.join(target, 'top-link')).isSymbolicLink()).toBe(true);
  });

  test('hard links, sparse files and empty directories survive', () => {
    const restored = describeTree(path.join(h.root, 'restore-full'));
    expect(restored.get(hexPath('hard/a'))?.hardLinks).toEqual([hexPath('hard/b')]);
    expect(restored.get(hexPath('sparse/holes.bin'))?.sparse).toBe(true);
    expect(restored.get(hexPath('nested/empty1/empty2'))?.type).toBe('dir');
    expect(restored.get(hexPath('empty-top'))?.type).toBe('dir');
  });

  test('excluded entries are neither archived nor restored', () => {
    const restored = describeTree(path.join(h.root, 'restore-full'));
    for (const rel of tree.excluded) expect(restored.has(hexPath(rel)), rel).toBe(false);
    expect(restored.has(hexPath('ck/checkpoints/keep.pt'))).toBe(true);
  });

  test('an unchanged rerun uploads no archive bytes and reuses every unit', async () => {
    const before = archives();
    const run = await h.run('backup', backupEnv());
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv).toMatchObject({
      status: 'ok',
      units_uploaded: '0',
      bytes_uploaded: '0',
      bytes_read: '0',
      units_reused: String(tree.units.length),
    });
    expect(archives()).toEqual(before);
    expect(snapshots()).toHaveLength(2);
    const manifest = parseManifest(fs.readFileSync(path.join(hostDir, 'snapshots', `${run.kv.snapshot}.json`), 'utf8'), 'rerun manifest');
    expect(manifest.units.map((u) => Buffer.from(u.pathBase64, 'base64').toString('hex')).sort()).toEqual(tree.units.map(hexPath).sort());
  });

  test('changing one unit re-sends only that unit', async () => {
    const before = archives();
    fs.writeFileSync(path.join(tree.root, 'modes/secret'), 'a new secret');
    const run = await h.run('backup', backupEnv());
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv).toMatchObject({ units_uploaded: '1', units_reused: String(tree.units.length - 1) });
    const added = archives().filter((a) => !before.includes(a));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^modes-[0-9a-f]{12}\//);
  });

  test('a stream cut mid-upload leaves no snapshot and no partial archive, and exits non-zero', async () => {
    fs.writeFileSync(path.join(tree.root, 'model a/weights.bin'), randomBytes(256 * 1024));
    const before = { snapshots: snapshots(), archives: archives() };
    // zstd that sends 10 KiB of its output, then dies: the archive stream is cut mid-way.
    const cut = h.fakeBin('cut-zstd', { zstd: '/usr/bin/zstd "$@" | head -c 10240\nexit 1' });
    const run = await h.run('backup', backupEnv(), { pathPrefix: [cut] });
    expect(run.code).toBe(1);
    expect(run.kv.status).toBe('failed');
    expect(run.kv.error).toContain('no snapshot written');
    expect(snapshots()).toEqual(before.snapshots);
    expect(archives()).toEqual(before.archives);
    expect(listFiles(hostDir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  test('after a cut upload the previous snapshot still restores', async () => {
    const target = freshDir('restore-after-cut');
    const run = await h.run('restore', restoreEnv(target, { GPU_MAINT_RESTORE_UNITS: 'model a' }));
    expect(run.code, run.stderr).toBe(0);
    expect(describeTree(target).get(hexPath('model a/weights.bin'))?.sha256).toBe(firstState.get(hexPath('model a/weights.bin'))?.sha256);
  });

  test('a second backup while one runs reports "already running" (busy, exit 0) and writes nothing', async () => {
    const slow = h.fakeBin('slow-zstd', { zstd: 'sleep 1\nexec /usr/bin/zstd "$@"' });
    fs.writeFileSync(path.join(tree.root, 'README.md'), '# changed\n');
    const before = snapshots();
    let startSecond: () => void = () => undefined;
    const firstStarted = new Promise<void>((resolve) => (startSecond = resolve));
    const first = h.run('backup', backupEnv(), {
      pathPrefix: [slow],
      onStderr: (text) => text.includes('backup started') && startSecond(),
    });
    await firstStarted;
    const second = await h.run('backup', backupEnv());
    expect(second.code).toBe(0);
    expect(second.kv.status).toBe('busy');
    expect(second.kv.error).toContain('already running');
    expect(second.stderr).toContain('already running');
    const firstRun = await first;
    expect(firstRun.code, firstRun.stderr).toBe(0);
    expect(snapshots().filter((s) => !before.includes(s))).toEqual([`${firstRun.kv.snapshot}.json`]);
  });

  test('a source that does not exist reports nothing to back up, exits 0 and writes no snapshot', async () => {
    const before = snapshots();
    const run = await h.run('backup', backupEnv({ GPU_MAINT_BACKUP_SOURCES: path.join(h.root, 'no-such-dir') }));
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv.status).toBe('empty');
    expect(run.kv.error).toContain('does not exist');
    expect(snapshots()).toEqual(before);
  });

  test('with unitDepth 2 each second-level entry is its own unit', async () => {
    const src = path.join(h.root, 'depth2');
    fs.mkdirSync(path.join(src, 'org/model-1'), { recursive: true });
    fs.mkdirSync(path.join(src, 'org/model-2'), { recursive: true });
    fs.writeFileSync(path.join(src, 'org/model-1/w'), '1');
    fs.writeFileSync(path.join(src, 'org/model-2/w'), '2');
    fs.writeFileSync(path.join(src, 'top-file'), 't');
    const run = await h.run('backup', {
      GPU_MAINT_BACKUP_SOURCES: src,
      GPU_MAINT_BACKUP_UNIT_DEPTH: '2',
      GPU_MAINT_BACKUP_DESTINATION: `file://${path.join(h.root, 'dest-depth2')}`,
    });
    expect(run.code, run.stderr).toBe(0);
    const manifest = parseManifest(
      fs.readFileSync(path.join(h.root, 'dest-depth2/backups/test-host/snapshots', `${run.kv.snapshot}.json`), 'utf8'),
      'depth-2 manifest',
    );
    expect(manifest.units.map((u) => u.path).sort()).toEqual(['org/model-1', 'org/model-2', 'top-file']);
  });

  test('the result evaluates to backup.run ok with the snapshot details and metrics', async () => {
    const run = await h.run('backup', backupEnv());
    const def = taskDefinition('backup');
    const result = evaluateTaskOutput(
      { task: 'backup', stdout: run.stdout, exitCode: run.code },
      def.evaluate,
      evaluationSettings(parseConfigForTest()),
      new Date(),
    );
    expect(result.status).toBe('ok');
    expect(result.findings.map((f) => [f.check, f.severity])).toEqual([
      ['backup.run', 'ok'],
      ['backup.age', 'ok'],
    ]);
    expect(result.snapshot).toMatchObject({ id: run.kv.snapshot, unitsTotal: tree.units.length, unitsUploaded: 0, bytesUploaded: 0 });
    expect(result.metrics.map((m) => m.name)).toEqual(
      expect.arrayContaining(['BackupSuccess', 'BackupBytesUploaded', 'BackupDurationSeconds']),
    );
  });
});

describe('restore from file://', () => {
  test('restore refuses a non-empty target without force and changes nothing there', async () => {
    const target = freshDir('restore-nonempty');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'mine'), 'keep me');
    const run = await h.run('restore', restoreEnv(target));
    expect(run.code).toBe(1);
    expect(run.kv.error).toContain('is not empty');
    expect(fs.readdirSync(target)).toEqual(['mine']);
  });

  test('restore with force replaces the restored units and leaves other entries alone', async () => {
    const target = freshDir('restore-force');
    fs.mkdirSync(path.join(target, 'hard'), { recursive: true });
    fs.writeFileSync(path.join(target, 'hard/stale'), 'old');
    fs.writeFileSync(path.join(target, 'mine'), 'keep me');
    const run = await h.run('restore', restoreEnv(target, { GPU_MAINT_RESTORE_UNITS: 'hard', GPU_MAINT_RESTORE_FORCE: 'true' }));
    expect(run.code, run.stderr).toBe(0);
    expect(fs.readdirSync(path.join(target, 'hard')).sort()).toEqual(['a', 'b']);
    expect(fs.readFileSync(path.join(target, 'mine'), 'utf8')).toBe('keep me');
  });

  test('a unit that is not in the snapshot is an error naming it', async () => {
    const run = await h.run('restore', restoreEnv(freshDir('restore-missing-unit'), { GPU_MAINT_RESTORE_UNITS: 'no-such-unit' }));
    expect(run.code).toBe(1);
    expect(run.kv.error).toContain('unit no-such-unit is not in snapshot');
  });

  test('a corrupted archive fails verification and nothing of it reaches the target', async () => {
    const copy = path.join(h.root, 'dest-corrupt');
    fs.cpSync(dest, copy, { recursive: true });
    const manifestFile = path.join(copy, 'backups/test-host/snapshots', snapshots().at(-1) as string);
    const unit = parseManifest(fs.readFileSync(manifestFile, 'utf8'), 'copy').units.find((u) => u.path === 'model a');
    const archive = path.join(copy, 'backups/test-host', unit?.key as string);
    const bytes = fs.readFileSync(archive);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(archive, bytes);
    const target = freshDir('restore-corrupt');
    const run = await h.run('restore', { GPU_MAINT_BACKUP_DESTINATION: `file://${copy}`, GPU_MAINT_RESTORE_TARGET: target });
    expect(run.code).toBe(1);
    expect(run.kv.failed_units).toBe(unit?.id);
    expect(run.stderr).toMatch(/sha256 [0-9a-f]{64} does not match|extraction failed/);
    expect(fs.existsSync(path.join(target, 'model a'))).toBe(false);
    expect(fs.existsSync(path.join(target, 'hard/a'))).toBe(true);
    expect(fs.readdirSync(target).filter((n) => n.startsWith('.gpu-maint-restore'))).toEqual([]);
  });

  test('restore-test verifies every unit of the newest snapshot and removes its scratch dir', async () => {
    const scratch = freshDir('restore-test-scratch');
    fs.mkdirSync(scratch);
    const run = await h.run('restore-test', { GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`, GPU_MAINT_RESTORE_SCRATCH_DIR: scratch });
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv).toMatchObject({ status: 'ok', units_done: String(tree.units.length), units_failed: '0' });
    expect(fs.readdirSync(scratch)).toEqual([]);
  });

  test('restore-test within a small maxBytes tests a sample of the units', async () => {
    const run = await h.run('restore-test', { GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`, GPU_MAINT_RESTORE_TEST_MAX_BYTES: '4096' });
    expect(run.code, run.stderr).toBe(0);
    expect(Number(run.kv.units_done)).toBeGreaterThan(0);
    expect(Number(run.kv.units_done)).toBeLessThan(tree.units.length);
  });

  test('restore-test reports a corrupted archive as a failed check and still exits 0', async () => {
    const run = await h.run('restore-test', { GPU_MAINT_BACKUP_DESTINATION: `file://${path.join(h.root, 'dest-corrupt')}` });
    expect(run.code).toBe(0);
    expect(run.kv.status).toBe('failed');
    const result = evaluateTaskOutput(
      { task: 'restore-test', stdout: run.stdout, exitCode: run.code },
      taskDefinition('restore-test').evaluate,
      evaluationSettings(parseConfigForTest()),
      new Date(),
    );
    expect(result.findings).toContainEqual(expect.objectContaining({ check: 'backup.restore-test', severity: 'critical' }));
    expect(result.metrics).toContainEqual(expect.objectContaining({ name: 'RestoreTestSuccess', value: 0 }));
  });
});
