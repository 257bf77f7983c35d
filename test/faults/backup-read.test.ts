/**
 * Fault cases while a unit is read: a file that grows, shrinks or vanishes between the listing and
 * tar (injected by a `tar` on PATH that changes the source once, or every time, then runs the real
 * tar). Every snapshot the backup calls good must pass restore-test.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { CAN_DROP_PRIVILEGES, FaultWorld, finding, SLOW } from './backup-harness';

let worlds: FaultWorld[] = [];
const world = async (...args: ConstructorParameters<typeof FaultWorld>) => {
  const w = await new FaultWorld(...args).start();
  worlds.push(w);
  return w;
};
afterEach(async () => {
  for (const w of worlds) await w.dispose();
  worlds = [];
});

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

async function restoreTestPasses(w: FaultWorld): Promise<void> {
  const test = await w.restoreTest();
  expect(test.code, test.stderr).toBe(0);
  expect(finding(test.result, 'backup.restore-test')?.severity, JSON.stringify(test.result?.findings)).toBe('ok');
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
