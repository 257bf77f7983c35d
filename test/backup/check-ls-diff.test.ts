/**
 * `gpu-maint check`, `ls` and `diff` on snapshots that the real backup bundle wrote (bash, tar, zstd)
 * of the adversarial tree into a file:// destination, read back through real zstd and tar: a corrupt
 * byte, a truncated archive and a missing one are each reported and fail the command.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CheckReport } from '../../lambda/core/backup/check';
import type { SnapshotDiff } from '../../lambda/core/backup/diff';
import { parseManifest } from '../../lambda/core/backup/manifest';
import { runCli } from '../helpers/cli';
import { ScriptHarness } from './harness';
import { type AdversarialTree, buildAdversarialTree, describeTree, hexPath, withoutExcluded } from './tree';

let h: ScriptHarness;
let tree: AdversarialTree;
let dest: string;
let first: string;
let second: string;
/** Units of the first snapshot: the adversarial tree's and `ipc`. */
let unitCount: number;
/** Holds a unix socket open in the source (closing it removes the socket file). */
let socketServer: Server;

const backup = async () => {
  const run = await h.run('backup', {
    GPU_MAINT_BACKUP_SOURCES: tree.root,
    GPU_MAINT_BACKUP_EXCLUDE: '*.tmp,checkpoints/temp',
    GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
  });
  expect(run.code, run.stderr).toBe(0);
  return run.kv.snapshot;
};

/** The CLI on a destination (a copy of the store, for tests that damage it). */
const cli = (args: string[], destination = dest) => runCli(['--set', `backup.destination=file://${destination}`, ...args]);

/** A copy of the store whose archive of `unit` (a path, as in the manifest) is changed by `damage`. */
function damagedCopy(name: string, unit: string, damage: (file: string) => void): { dest: string; unitId: string } {
  const copy = path.join(h.root, name);
  fs.cpSync(dest, copy, { recursive: true });
  const snapshots = path.join(copy, 'backups/test-host/snapshots');
  const manifest = parseManifest(fs.readFileSync(path.join(snapshots, `${second}.json`), 'utf8'), second);
  const u = manifest.units.find((x) => x.path === unit);
  if (!u) throw new Error(`no unit ${unit}`);
  damage(path.join(copy, 'backups/test-host', u.key));
  return { dest: copy, unitId: u.id };
}

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-check-ls-diff-');
  tree = buildAdversarialTree(path.join(h.root, 'src'));
  // A unit with a named pipe (archived) and a socket (tar cannot archive one: the backup leaves it out).
  fs.mkdirSync(path.join(tree.root, 'ipc'));
  expect(spawnSync('mkfifo', [path.join(tree.root, 'ipc/pipe')]).status).toBe(0);
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(path.join(tree.root, 'ipc/sock'), resolve));
  unitCount = tree.units.length + 1;
  dest = path.join(h.root, 'dest');
  first = await backup();
  // The second snapshot: one file grows, one file appears, one unit goes, one unit is new.
  fs.appendFileSync(path.join(tree.root, 'model a/config.json'), ' ');
  fs.writeFileSync(path.join(tree.root, 'model a/sub dir/added.txt'), 'new file\n');
  fs.rmSync(path.join(tree.root, 'README.md'));
  fs.mkdirSync(path.join(tree.root, 'gpt'));
  fs.writeFileSync(path.join(tree.root, 'gpt/weights.bin'), 'gpt weights');
  second = await backup();
});

afterAll(async () => {
  await new Promise<void>((resolve) => (socketServer ? socketServer.close(() => resolve()) : resolve()));
  h?.cleanup();
});

describe('gpu-maint check', () => {
  test('an intact snapshot passes: every unit ok, and the verdict says what was verified', async () => {
    const run = await cli(['check']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe(`snapshot ${second} of test-host in file://${dest}/`);
    expect(run.stdout).toMatch(/^ {2}unit +path +read +result$/m);
    expect(run.stdout).toMatch(/^no errors: \d+ archives \(.+\) read; every sha256, size and entry count matches the manifest/m);
  });

  test('on a terminal one progress line counts units and bytes, and is cleared at the end', async () => {
    const status: string[] = [];
    const run = await runCli(['--set', `backup.destination=file://${dest}`, 'check'], { isTty: true, status: (line) => status.push(line) });
    expect(run.code, run.stderr).toBe(0);
    expect(status).toContainEqual(expect.stringMatching(new RegExp(`^check ${unitCount}/${unitCount} units · \\S+ · .+ of .+`)));
    expect(status.at(-1)).toBe('');
  });

  test('--json shows no progress line, even on a terminal', async () => {
    const status: string[] = [];
    await runCli(['--set', `backup.destination=file://${dest}`, 'check', '--json'], { isTty: true, status: (line) => status.push(line) });
    expect(status).toEqual([]);
  });

  test('--json reports every unit of the snapshot as ok', async () => {
    const run = await cli(['check', first, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as CheckReport;
    expect(report.snapshot).toBe(first);
    expect(report.units).toHaveLength(unitCount);
    expect(report.units.every((u) => u.status === 'ok')).toBe(true);
  });

  test('one changed byte in an archive fails the check and names the unit and both digests', async () => {
    const damaged = damagedCopy('flipped', 'model a', (file) => {
      const bytes = fs.readFileSync(file);
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      fs.writeFileSync(file, bytes);
    });
    const run = await cli(['check'], damaged.dest);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^ {2}${damaged.unitId} .* CORRUPT$`, 'm'));
    expect(run.stdout).toMatch(
      new RegExp(`${damaged.unitId}: units/\\S+ has sha256 [0-9a-f]{64}; the manifest says [0-9a-f]{64} \\(corrupt\\)`),
    );
    expect(run.stderr).toContain(`check failed: 1 of ${unitCount} units of snapshot ${second} damaged (${damaged.unitId})`);
  });

  test('a truncated archive is reported by its size and by what zstd says', async () => {
    const damaged = damagedCopy('truncated', 'model a', (file) => fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2)));
    const run = await cli(['check'], damaged.dest);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/ is \d+ bytes; the manifest says \d+/);
    expect(run.stdout).toMatch(/cannot be read: zstd exited 1: /);
  });

  test('an archive that zstd reads but that is not a tar archive fails even when its manifest matches it', async () => {
    const copy = path.join(h.root, 'not-tar');
    fs.cpSync(dest, copy, { recursive: true });
    const manifestFile = path.join(copy, 'backups/test-host/snapshots', `${second}.json`);
    const text = fs.readFileSync(manifestFile, 'utf8');
    const unit = parseManifest(text, second).units.find((u) => u.path === 'hard');
    if (!unit) throw new Error('no unit hard');
    const bytes = spawnSync('zstd', ['-q', '-c'], { input: 'this is not a tar archive\n'.repeat(100) }).stdout;
    fs.writeFileSync(path.join(copy, 'backups/test-host', unit.key), bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(
      manifestFile,
      text.replace(`"sha256":"${unit.sha256}","bytes":${unit.bytes},`, `"sha256":"${sha}","bytes":${bytes.length},`),
    );
    const run = await cli(['check'], copy);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(`^ {2}${unit.id}: ${unit.key} cannot be read: tar exited 2: .*does not look like a tar archive`, 'm'),
    );
    expect(run.stdout).not.toMatch(/has sha256/);
  });

  test('a missing archive is reported as missing, and the other units are still checked', async () => {
    const damaged = damagedCopy('missing', 'hard', (file) => fs.rmSync(file));
    const run = await cli(['check', '--json'], damaged.dest);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as CheckReport;
    expect(report.units.filter((u) => u.status !== 'ok').map((u) => [u.unitId, u.status])).toEqual([[damaged.unitId, 'missing']]);
    expect(report.units).toHaveLength(unitCount);
  });

  test('--all checks every snapshot and names the ones holding a damaged archive', async () => {
    const damaged = damagedCopy('flipped-all', 'hard', (file) => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 8] ^= 0x80;
      fs.writeFileSync(file, bytes);
    });
    const run = await cli(['check', '--all'], damaged.dest);
    expect(run.code).toBe(1);
    // `hard` did not change between the snapshots: both reference its one archive, read once.
    expect(run.stdout.split('\n').slice(0, 4)).toEqual([
      `2 snapshots of test-host in file://${damaged.dest}/`,
      expect.stringMatching(/^ {2}snapshot +units +read +result$/),
      expect.stringMatching(new RegExp(`^ {2}${first} +${unitCount} +.+ DAMAGED: ${damaged.unitId} \\(corrupt\\)$`)),
      expect.stringMatching(new RegExp(`^ {2}${second} +\\d+ +.+ DAMAGED: ${damaged.unitId} \\(corrupt\\)$`)),
    ]);
    expect(run.stdout.match(/has sha256/g)).toHaveLength(1);
    expect(run.stderr).toContain(`check failed: 2 of 2 snapshots damaged (${first}, ${second}), units ${damaged.unitId}`);
  });

  test('--all reports a manifest that cannot be read and still checks the other snapshots', async () => {
    const copy = path.join(h.root, 'bad-manifest');
    fs.cpSync(dest, copy, { recursive: true });
    fs.writeFileSync(path.join(copy, 'backups/test-host/snapshots', `${first}.json`), '{"format":"gpu-maint-backup"');
    const run = await cli(['check', '--all'], copy);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^ {2}${first} +0 +0 B +UNREADABLE manifest$`, 'm'));
    expect(run.stdout).toMatch(new RegExp(`^ {2}${second} +\\d+ +.+ ok$`, 'm'));
    expect(run.stdout).toContain(`  ${first}: file://${copy}/backups/test-host/snapshots/${first}.json: not JSON`);
    expect(run.stderr).toContain(`check failed: 1 of 2 snapshots damaged (${first});`);
  });

  test('--all with a snapshot named is a usage error', async () => {
    const run = await cli(['check', 'latest', '--all']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('snapshot "latest" and --all: expected one of them, not both');
  });

  test('without zstd on PATH check says which tool is missing instead of calling archives corrupt', async () => {
    const saved = process.env.PATH;
    process.env.PATH = h.fakeBin('no-tools', {});
    try {
      const run = await cli(['check']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('zstd is not installed (not on PATH); it is needed to read backup archives');
      expect(run.stdout).toBe('');
    } finally {
      process.env.PATH = saved;
    }
  });

  test('--no-read-data passes an intact snapshot without reading an archive', async () => {
    const run = await cli(['check', '--no-read-data']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe(
      `no errors: ${unitCount} archives listed, none read (--no-read-data); every archive exists with the size the manifest says`,
    );
  });

  test.each([
    ['truncated', (file: string) => fs.truncateSync(file, 10), 'CORRUPT', / is 10 bytes; the manifest says \d+$/m],
    ['deleted', (file: string) => fs.rmSync(file), 'MISSING', / is not in the store$/m],
  ])('--no-read-data finds an archive %s from the store listing', async (name, damage, result, problem) => {
    const damaged = damagedCopy(`listing-${name}`, 'hard', damage);
    const run = await cli(['check', '--no-read-data'], damaged.dest);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^ {2}${damaged.unitId} .* 0 B +${result}$`, 'm'));
    expect(run.stdout).toMatch(problem);
  });

  test('a snapshot that does not exist is named with the range that does', async () => {
    const run = await cli(['check', '2020']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no snapshot "2020" for host test-host; its snapshots run from ${first} to ${second}`);
  });
});

describe('gpu-maint ls', () => {
  test('a named pipe is listed as one, and a socket in the source is not in the snapshot', async () => {
    const run = await cli(['ls', 'latest', 'ipc', '--long']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^ {2}prw-r--r-- .* ${tree.root}/ipc/pipe$`, 'm'));
    expect(run.stdout).not.toContain('ipc/sock');
  });

  test('a unit that held a socket restores and verifies', async () => {
    const target = path.join(h.root, 'restore-ipc');
    const run = await h.run('restore', {
      GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
      GPU_MAINT_RESTORE_TARGET: target,
      GPU_MAINT_RESTORE_UNITS: 'ipc',
    });
    expect(run.code, run.stderr).toBe(0);
    expect(fs.lstatSync(path.join(target, 'ipc/pipe')).isFIFO()).toBe(true);
  });

  test('lists every entry of the snapshot with its exact bytes, odd names included', async () => {
    const run = await cli(['ls', first, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const listing = JSON.parse(run.stdout) as { entries: { pathBase64: string }[] };
    const listed = listing.entries.map((e) => Buffer.from(e.pathBase64, 'base64').toString('hex')).sort();
    // The source as it was at the first snapshot, without the excluded entries.
    // Not in the first snapshot: what the second one added, and the socket, which no backup holds.
    const expected = [...withoutExcluded(describeTree(tree.root), tree.excluded).keys()].filter(
      (k) => !['gpt', 'gpt/weights.bin', 'model a/sub dir/added.txt', 'ipc/sock'].map(hexPath).includes(k),
    );
    expect(listed).toEqual([...expected, hexPath('README.md')].sort());
  });

  test('a path lists only what lies at or below it, one path per line', async () => {
    const run = await cli(['ls', 'latest', 'model a/sub dir']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual([
      `${tree.root}/model a/sub dir`,
      `${tree.root}/model a/sub dir/added.txt`,
      `${tree.root}/model a/sub dir/tokenizer.json`,
    ]);
  });

  test('--long shows mode, size and a link target, and a name with a newline stays on one line quoted', async () => {
    const run = await cli(['ls', 'latest', '--long', `${tree.root}/links`]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ {2}mode +owner +size +modified \(UTC\) +path$/m);
    expect(run.stdout).toMatch(
      new RegExp(
        `^ {2}lrwxrwxrwx +\\d+/\\d+ +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ +${tree.root}/links/outside -> /etc/hostname$`,
        'm',
      ),
    );
    const names = await cli(['ls', 'latest', 'new\nline']);
    expect(names.stdout).toContain(JSON.stringify(`${tree.root}/new\nline/file\nname`));
  });

  test('a path the snapshot does not hold exits 1 and says so', async () => {
    const run = await cli(['ls', 'latest', 'no-such-model']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`ls: nothing at no-such-model in snapshot ${second}`);
  });
});

describe('gpu-maint diff', () => {
  test('units added, removed and changed, with the changed files and sizes', async () => {
    const run = await cli(['diff', first, second]);
    expect(run.code, run.stderr).toBe(0);
    const rows = run.stdout.trimEnd().split('\n');
    expect(rows[0]).toBe(`comparing snapshot ${first} → ${second} of test-host`);
    expect(rows).toContainEqual(expect.stringMatching(new RegExp(`^ {2}- +${tree.root}/README.md +unit removed: 1 entry, 9 B$`)));
    expect(rows).toContainEqual(expect.stringMatching(new RegExp(`^ {2}\\+ +${tree.root}/gpt +unit added: 2 entries, 11 B$`)));
    expect(rows).toContainEqual(
      expect.stringMatching(
        new RegExp(`^ {2}M +${tree.root}/model a +unit changed: 5 → 6 entries, 256\\.0 KiB → 256\\.0 KiB \\(\\+10 B\\)$`),
      ),
    );
    expect(rows).toContainEqual(expect.stringMatching(new RegExp(`^ {4}\\+ +${tree.root}/model a/sub dir/added.txt +9 B$`)));
    expect(rows).toContainEqual(
      expect.stringMatching(new RegExp(`^ {4}M +${tree.root}/model a/config.json +20 B → 21 B \\(size, mtime\\)$`)),
    );
    expect(rows.at(-1)).toMatch(/^units: 1 added, 1 removed, 1 changed, \d+ unchanged; entries: 3 added, 1 removed, 1 changed; data /);
  });

  test('--units compares the manifests only', async () => {
    const run = await cli(['diff', first, second, '--units', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const diff = JSON.parse(run.stdout) as SnapshotDiff;
    expect(diff.units.map((u) => u.kind).sort()).toEqual(['added', 'changed', 'removed']);
    expect(diff.units.every((u) => u.entries === undefined)).toBe(true);
  });

  test('a snapshot compared with itself has no differences', async () => {
    const run = await cli(['diff', second, 'latest']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('  no differences');
  });
});
