/**
 * Fault cases while a unit is read: a file that grows, shrinks or vanishes between the listing and
 * tar (injected by a `tar` on PATH that changes the source once, or every time, then runs the real
 * tar). Every snapshot the backup calls good must pass restore-test.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { CAN_DROP_PRIVILEGES, type FaultWorld, faultWorlds, finding, restoreTestPasses, SLOW } from './backup-harness';

const world = faultWorlds();

/**
 * A `tar` that runs `action` (bash, with $SRC the source) before a create, the first time only or
 * every time, then the real tar.
 */
function tarThat(w: FaultWorld, name: string, action: string, every = false): string {
  const once = path.join(w.root, `${name}.done`);
  return w.fakeBin(name, {
    tar: [
      'if [[ " $* " == *" --create "* ]]; then',
      every ? `  ${action}` : `  if [[ ! -e '${once}' ]]; then touch '${once}'; ${action}; fi`,
      'fi',
      'exec /usr/bin/tar "$@"',
    ]
      .join('\n')
      .replaceAll('$SRC', w.src),
  });
}

/**
 * A `tar` that counts its creates (one per read of a unit; units are read in path order, then those
 * read again) and runs `action` (bash, with $SRC the source) on the `nth` one, before the real tar or
 * after it; `fail` makes that create exit 2 without reading. `reads()` is the number of creates. The
 * backup reads two small units at once: creates take a lock and run one at a time, so that each one
 * counts once and the action sees no other read under way.
 */
function tarOnRead(
  w: FaultWorld,
  name: string,
  nth: number,
  action: string,
  options: { after?: boolean; fail?: boolean } = {},
): { bin: string; reads: () => number } {
  const count = path.join(w.root, `${name}.count`);
  const act = action.replaceAll('$SRC', w.src);
  const bin = w.fakeBin(name, {
    tar: [
      'if [[ " $* " == *" --create "* ]]; then',
      // Held until this create ends: the real tar inherits the descriptor.
      `  exec 9>>'${count}.lock'; flock 9`,
      `  n=$(( $(cat '${count}' 2>/dev/null || echo 0) + 1 )); echo "$n" > '${count}'`,
      options.after
        ? `  /usr/bin/tar "$@"; rc=$?; if (( n == ${nth} )); then ${act}; fi; exit "$rc"`
        : `  if (( n == ${nth} )); then ${act}; ${options.fail ? 'exit 2; ' : ''}fi`,
      'fi',
      'exec /usr/bin/tar "$@"',
    ].join('\n'),
  });
  return { bin, reads: () => (fs.existsSync(count) ? Number(fs.readFileSync(count, 'utf8')) : 0) };
}

describe.each(['file', 's3'] as const)('files that change while read (%s)', (kind) => {
  test(
    'A file that grows after the listing: the unit is read again, the snapshot is good and restore-test passes',
    async () => {
      const w = await world(kind);
      w.write('model/shard-0.bin', 'a'.repeat(4096));
      w.write('model/config.json', '{}');
      const run = await w.backup({ pathPrefix: [tarThat(w, 'grow', "printf 'more data' >> '$SRC/model/shard-0.bin'")] });
      expect(run.code, run.stderr).toBe(0);
      expect(finding(run.result, 'backup.run')?.message).toContain(
        '/model changed while it was read (listed 3 entries, 4098 bytes before the read, 3 entries, 4107 bytes after) and was read again',
      );
      await restoreTestPasses(w);
      const target = path.join(w.root, 'restored');
      expect((await w.restore('latest', target)).code).toBe(0);
      expect(fs.statSync(path.join(target, 'model/shard-0.bin')).size).toBe(4096 + 9);
    },
    2 * SLOW,
  );
});

describe.each(['file', 's3'] as const)('units that change after they were read (%s)', (kind) => {
  test(
    'A unit that changes while a later unit is read: it is read again once every unit is read, and the snapshot holds the change',
    async () => {
      const w = await world(kind);
      w.write('a/data', 'a'.repeat(4096));
      w.write('b/data', 'b'.repeat(100));
      const tar = tarOnRead(w, 'later', 2, "printf 'more data' >> '$SRC/a/data'");
      const run = await w.backup({ pathPrefix: [tar.bin] });
      expect(run.code, run.stderr).toBe(0);
      expect(finding(run.result, 'backup.run')?.message).toContain(
        '/a changed while it was read (listed 2 entries, 4096 bytes before the read, 2 entries, 4105 bytes after) and was read again',
      );
      await restoreTestPasses(w);
      const target = path.join(w.root, 'restored');
      expect((await w.restore('latest', target)).code).toBe(0);
      expect(fs.statSync(path.join(target, 'a/data')).size).toBe(4096 + 9);
    },
    2 * SLOW,
  );
});

describe('units that change after they were read (s3)', () => {
  test(
    'A unit whose staged batch was sent before the check and that changed meanwhile is read again and sent again',
    async () => {
      const w = await world('s3');
      w.write('a/data', 'a'.repeat(4096));
      w.write('b/data', 'b'.repeat(100));
      // A batch bound just above one small archive's: a/ is sent once b/ is to be staged.
      const env = { GPU_MAINT_BACKUP_S3_BATCH_BYTES: String(1024 * 1024 + 16 * 1024) };
      const tar = tarOnRead(w, 'sent-early', 2, "printf 'more data' >> '$SRC/a/data'");
      const run = await w.backup({ env, pathPrefix: [tar.bin] });
      expect(run.code, run.stderr).toBe(0);
      expect(tar.reads()).toBe(3);
      expect(finding(run.result, 'backup.run')?.message).toContain('/a changed while it was read');
      await restoreTestPasses(w);
      const target = path.join(w.root, 'restored');
      expect((await w.restore('latest', target)).code).toBe(0);
      expect(fs.statSync(path.join(target, 'a/data')).size).toBe(4096 + 9);
    },
    SLOW,
  );
});

describe('units that change after they were read (file)', () => {
  test(
    'Only the units that changed are read again',
    async () => {
      const w = await world('file');
      for (const unit of ['a', 'b', 'c']) w.write(`${unit}/data`, unit.repeat(100));
      const tar = tarOnRead(w, 'only-changed', 3, "printf 'more' >> '$SRC/a/data'");
      const run = await w.backup({ pathPrefix: [tar.bin] });
      expect(run.code, run.stderr).toBe(0);
      expect(tar.reads()).toBe(4);
      expect(finding(run.result, 'backup.run')?.message).toContain('/a changed while it was read');
    },
    SLOW,
  );

  test(
    'A unit that changes right after its read, before the check of every unit read: it is read again',
    async () => {
      const w = await world('file');
      w.write('a/data', 'a'.repeat(100));
      w.write('b/data', 'b'.repeat(100));
      const tar = tarOnRead(w, 'right-after', 2, "printf 'more data' >> '$SRC/b/data'", { after: true });
      const run = await w.backup({ pathPrefix: [tar.bin] });
      expect(run.code, run.stderr).toBe(0);
      expect(tar.reads()).toBe(3);
      expect(finding(run.result, 'backup.run')?.message).toContain(
        '/b changed while it was read (listed 2 entries, 100 bytes before the read, 2 entries, 109 bytes after) and was read again',
      );
      await restoreTestPasses(w);
      const target = path.join(w.root, 'restored');
      expect((await w.restore('latest', target)).code).toBe(0);
      expect(fs.statSync(path.join(target, 'b/data')).size).toBe(109);
    },
    SLOW,
  );

  test(
    'A large file stored on its own, the one unit a rerun reads, that grows after its read: it is read again',
    async () => {
      const w = await world('file');
      const env = { GPU_MAINT_BACKUP_LARGE_FILE_BYTES: '2048' };
      w.write('m/config.json', '{}');
      w.write('m/shard.bin', 'x'.repeat(4096));
      expect((await w.backup({ env })).code).toBe(0);
      w.write('m/shard.bin', 'y'.repeat(4096));
      const tar = tarOnRead(w, 'large', 1, "printf 'more data' >> '$SRC/m/shard.bin'", { after: true });
      const run = await w.backup({ env, pathPrefix: [tar.bin] });
      expect(run.code, run.stderr).toBe(0);
      expect(tar.reads()).toBe(2);
      expect(finding(run.result, 'backup.run')?.message).toMatch(
        /1 uploaded, 1 reused.*\/m\/shard\.bin changed while it was read \(listed 1 entries, 4096 bytes before the read, 1 entry, 4105 bytes after\) and was read again/,
      );
      await restoreTestPasses(w);
    },
    SLOW,
  );

  test(
    'Two large files on their own, the units a rerun reads, the second growing after its read: only it is read again',
    async () => {
      const w = await world('file');
      const env = { GPU_MAINT_BACKUP_LARGE_FILE_BYTES: '2048' };
      w.write('m/shard-a.bin', 'x'.repeat(4096));
      w.write('m/shard-b.bin', 'x'.repeat(4096));
      expect((await w.backup({ env })).code).toBe(0);
      w.write('m/shard-a.bin', 'y'.repeat(4096));
      w.write('m/shard-b.bin', 'y'.repeat(4096));
      const tar = tarOnRead(w, 'second-large', 2, "printf 'more data' >> '$SRC/m/shard-b.bin'", { after: true });
      const run = await w.backup({ env, pathPrefix: [tar.bin] });
      expect(run.code, run.stderr).toBe(0);
      expect(tar.reads()).toBe(3);
      const message = finding(run.result, 'backup.run')?.message ?? '';
      expect(message).toMatch(
        /\/m\/shard-b\.bin changed while it was read \(listed 1 entries, 4096 bytes before the read, 1 entry, 4105 bytes after\) and was read again/,
      );
      expect(message).not.toContain('shard-a.bin');
      await restoreTestPasses(w);
    },
    SLOW,
  );

  test(
    'A rerun that reads a directory unit and a large file of it, neither changing, reads each once without a warning',
    async () => {
      const w = await world('file');
      const env = { GPU_MAINT_BACKUP_LARGE_FILE_BYTES: '2048' };
      w.write('m/config.json', '{}');
      w.write('m/shard.bin', 'x'.repeat(4096));
      w.write('n/config.json', '{}');
      expect((await w.backup({ env })).code).toBe(0);
      w.write('m/config.json', '{"v":2}');
      w.write('m/shard.bin', 'y'.repeat(4096));
      const tar = tarOnRead(w, 'nested', 0, 'true');
      const run = await w.backup({ env, pathPrefix: [tar.bin] });
      expect(run.code, run.stderr).toBe(0);
      expect(tar.reads()).toBe(2);
      expect(finding(run.result, 'backup.run')?.message).toMatch(/2 uploaded, 1 reused\)[^;]*$/);
    },
    SLOW,
  );

  test(
    'A run that fails at a later unit leaves the units read before it, unchanged, for the next run to reuse',
    async () => {
      const w = await world('file');
      for (const unit of ['a', 'b', 'c']) w.write(`${unit}/data`, unit.repeat(100));
      const tar = tarOnRead(w, 'fail-third', 3, 'true', { fail: true });
      const failed = await w.backup({ pathPrefix: [tar.bin] });
      expect(failed.code).toBe(1);
      expect(w.snapshots()).toEqual([]);
      const next = await w.backup();
      expect(next.code, next.stderr).toBe(0);
      expect(finding(next.result, 'backup.run')?.message).toContain('1 uploaded, 2 reused');
    },
    SLOW,
  );
});

describe('files that change while read (file)', () => {
  test(
    'A file that is truncated after the listing: the snapshot is good and restore-test passes',
    async () => {
      const w = await world('file');
      w.write('model/shard-0.bin', 'b'.repeat(8192));
      const run = await w.backup({ pathPrefix: [tarThat(w, 'shrink', "truncate -s 100 '$SRC/model/shard-0.bin'")] });
      expect(run.code, run.stderr).toBe(0);
      await restoreTestPasses(w);
    },
    SLOW,
  );

  test(
    'A file that grows on every read: the last read is kept, listed from its archive, with a warning, and restore-test passes',
    async () => {
      const w = await world('file');
      w.write('logs/train.log', 'step 0\n');
      w.write('logs/other', 'stable');
      const run = await w.backup({ pathPrefix: [tarThat(w, 'always', "printf 'step n\\n' >> '$SRC/logs/train.log'", true)] });
      expect(run.code, run.stderr).toBe(0);
      expect(finding(run.result, 'backup.run')?.message).toContain('kept changing while it was read');
      await restoreTestPasses(w);
      // The next run reads the unit again (it may have settled): it is never reused as it was.
      const next = await w.backup();
      expect(finding(next.result, 'backup.run')?.message).toContain('1 uploaded, 0 reused');
    },
    SLOW,
  );

  test(
    'A file deleted during the backup: a warning, the snapshot is still written and restores without it',
    async () => {
      const w = await world('file');
      w.write('model/keep.bin', 'keep');
      w.write('model/gone.bin', 'gone soon');
      const run = await w.backup({ pathPrefix: [tarThat(w, 'delete', "rm -f '$SRC/model/gone.bin'")] });
      expect(run.code, run.stderr).toBe(0);
      expect(w.snapshots()).toHaveLength(1);
      await restoreTestPasses(w);
      const target = path.join(w.root, 'restored');
      expect((await w.restore('latest', target)).code).toBe(0);
      expect(fs.readdirSync(path.join(target, 'model'))).toEqual(['keep.bin']);
    },
    SLOW,
  );

  test(
    'A file deleted during the backup with backup.onUnreadable=fail: the backup fails and writes no snapshot',
    async () => {
      const w = await world('file', { onUnreadable: 'fail' });
      w.write('model/keep.bin', 'keep');
      w.write('model/gone.bin', 'gone soon');
      const run = await w.backup({ pathPrefix: [tarThat(w, 'delete-strict', "rm -f '$SRC/model/gone.bin'")] });
      expect(run.code).toBe(1);
      expect(finding(run.result, 'backup.run')?.severity).toBe('critical');
      expect(finding(run.result, 'backup.run')?.message).toContain('backup failed: upload of unit');
      expect(w.snapshots()).toEqual([]);
      expect(w.stored().filter((k) => k.includes('.partial-'))).toEqual([]);
    },
    SLOW,
  );
});

/** Runs as an unprivileged user: root reads every file whatever its mode. */
const NOBODY = 65534;

describe.skipIf(!CAN_DROP_PRIVILEGES)('files that cannot be read (file, unprivileged)', () => {
  test(
    'An unreadable file: a warning naming it, the snapshot is still written, and the rest restores',
    async () => {
      const w = await world('file');
      w.write('model/ok.bin', 'ok');
      fs.chmodSync(w.write('model/secret.bin', 'no access'), 0o000);
      const run = await w.backup({ asUid: NOBODY });
      expect(run.code, run.stderr).toBe(0);
      const message = finding(run.result, 'backup.run')?.message;
      expect(message).toMatch(/1 entry of .*\/model could not be read and are not in the snapshot: \.\/model\/secret\.bin/);
      expect(w.snapshots()).toHaveLength(1);
      const test = await w.restoreTest({ asUid: NOBODY });
      expect(finding(test.result, 'backup.restore-test')?.severity, test.stderr).toBe('ok');
      const target = path.join(w.root, 'restored');
      expect((await w.restore('latest', target, [], { asUid: NOBODY })).code).toBe(0);
      expect(fs.readdirSync(path.join(target, 'model'))).toEqual(['ok.bin']);
    },
    SLOW,
  );

  test(
    'An unreadable directory with backup.onUnreadable=fail: the backup fails naming it and writes no snapshot',
    async () => {
      const w = await world('file', { onUnreadable: 'fail' });
      w.write('model/ok.bin', 'ok');
      w.write('model/locked/x', 'x');
      fs.chmodSync(path.join(w.src, 'model/locked'), 0o000);
      const run = await w.backup({ asUid: NOBODY });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/\.\/model\/locked .*cannot be read \(backup\.onUnreadable=fail\)/);
      expect(w.snapshots()).toEqual([]);
    },
    SLOW,
  );
});
