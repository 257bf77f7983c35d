/**
 * Small units written in the background, two at once (so that both cores compress): a failing writer,
 * a file that changes while its unit is written in the background, a stop while two are written, and
 * staged s3:// batches that are only sent once every archive of them is written. Fakes on PATH hold
 * unit a's `zstd` until unit b's has started, so that two writers are in flight for certain.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { type FaultWorld, faultWorlds, finding, restoreTestPasses, SLOW, until } from './backup-harness';

const world = faultWorlds();

/**
 * A `zstd` that knows the unit it compresses by the archive file it writes to: the one of unit `unit`
 * runs `action` (bash) before the real zstd, and the one of unit `a` waits (up to 20 s) until that one
 * has started: two writers in flight at once.
 */
function zstdThat(w: FaultWorld, name: string, unit: string, action: string): string {
  const started = path.join(w.root, `${name}.started`);
  return w.fakeBin(name, {
    zstd: [
      'd=0; for a in "$@"; do [[ "${a}" == -d ]] && d=1; done',
      '(( d == 0 )) || exec /usr/bin/zstd "$@"',
      'out="$(readlink "/proc/$$/fd/1")"',
      `if [[ "$out" == */units/${unit}-* ]]; then : > '${started}'; ${action}; fi`,
      `if [[ "$out" == */units/a-* ]]; then for ((i = 0; i < 200; i++)); do [[ -e '${started}' ]] && break; sleep 0.1; done; fi`,
      'exec /usr/bin/zstd "$@"',
    ].join('\n'),
  });
}

const partials = (w: FaultWorld) => w.stored().filter((k) => path.basename(k).startsWith('.partial-'));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('two units written at once (file)', () => {
  test(
    'The second of two writers in flight failing fails the run naming its unit, with no archive of it and no partial file',
    async () => {
      const w = await world('file');
      for (const unit of ['a', 'b', 'c']) w.write(`${unit}/data`, unit.repeat(5000));
      const run = await w.backup({ pathPrefix: [zstdThat(w, 'fail-second', 'b', 'cat >/dev/null; exit 1')] });
      expect(run.code).toBe(1);
      expect(finding(run.result, 'backup.run')?.message).toContain(`upload of unit ${w.src}/b failed`);
      expect(run.stderr).toMatch(/archiving unit b of .* failed \(tar \d+, zstd 1\)/);
      expect(w.snapshots()).toEqual([]);
      expect(w.archives().filter((k) => k.startsWith('units/b-'))).toEqual([]);
      expect(partials(w)).toEqual([]);
    },
    SLOW,
  );

  test(
    'A unit whose file tar saw change while it was written in the background is read again, and the snapshot holds the change',
    async () => {
      const w = await world('file');
      const mtime = new Date('2026-01-01T00:00:00Z');
      const data = w.write('a/data', 'A'.repeat(4000), mtime);
      w.write('b/data', 'b'.repeat(4000));
      // The first read of a: rewritten after tar read it, same size and mtime (the listing cannot tell),
      // and tar says so (status 1), as GNU tar does for a file that changed while it read it.
      // Only a's first read (its members file names ./a/data): b's tar may start first.
      const once = path.join(w.root, 'changed.done');
      const tar = w.fakeBin('change-a', {
        tar: [
          'm=""; for arg in "$@"; do [[ "${arg}" == --files-from=* ]] && m="${arg#--files-from=}"; done',
          `if [[ -n "$m" ]] && tr '\\0' '\\n' < "$m" | grep -qx './a/data' && mkdir '${once}' 2>/dev/null; then`,
          '  /usr/bin/tar "$@" || exit $?',
          `  printf 'B%.0s' {1..4000} > '${data}'; touch -d @${mtime.getTime() / 1000} '${data}'`,
          "  echo 'tar: ./a/data: file changed as we read it' >&2; exit 1",
          'fi',
          'exec /usr/bin/tar "$@"',
        ].join('\n'),
      });
      const run = await w.backup({ pathPrefix: [tar, zstdThat(w, 'pair', 'b', 'true')] });
      expect(run.code, run.stderr).toBe(0);
      expect(finding(run.result, 'backup.run')?.message).toMatch(
        /\/a changed while it was read \(tar: .*\.\/a\/data: file changed as we read it\) and was read again/,
      );
      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(fs.readFileSync(path.join(target, 'a', 'data'), 'utf8')).toBe('B'.repeat(4000));
      await restoreTestPasses(w);
    },
    SLOW,
  );

  test(
    'A Ctrl-C while two units are written in the background stops both writers and leaves no partial file, archive or snapshot',
    async () => {
      const w = await world('file');
      for (const unit of ['a', 'b', 'c']) w.write(`${unit}/data`, unit.repeat(5000));
      const held = path.join(w.root, 'held');
      fs.mkdirSync(held);
      // Every compressing zstd records its pid and waits: the run cannot get past two writers.
      const zstd = w.fakeBin('hold-all', {
        zstd: [
          'd=0; for a in "$@"; do [[ "${a}" == -d ]] && d=1; done',
          `(( d == 1 )) || { : > '${held}'/$$; for ((i = 0; i < 600; i++)); do sleep 0.1; done; }`,
          'exec /usr/bin/zstd "$@"',
        ].join('\n'),
      });
      const first = w.spawn(['run', 'backup'], { pathPrefix: [zstd] });
      const pids = () => fs.readdirSync(held).map(Number);
      await until(() => pids().length === 2, 'two writers in flight', 30_000);
      expect(partials(w)).toHaveLength(2);
      first.child.kill('SIGINT');
      const done = await first.done;
      expect(done.code).not.toBe(0);
      await until(() => pids().filter(alive).length === 0, 'the writers to stop', 10_000);
      expect(partials(w)).toEqual([]);
      expect(w.archives()).toEqual([]);
      expect(w.snapshots()).toEqual([]);
    },
    SLOW,
  );
});

describe('two units written at once (s3, staged)', () => {
  test(
    'Batches of one archive each are sent only once their archive is written, and every archive is stored and restores',
    async () => {
      const w = await world('s3');
      for (const unit of ['a', 'b', 'c']) w.write(`${unit}/data`, unit.repeat(5000));
      // Each unit's bound is just over 1 MiB (data, headers, 1 MiB margin): one archive a batch.
      const env = { GPU_MAINT_BACKUP_S3_BATCH_BYTES: '1100000' };
      // Each writer takes a while: the next unit finds the batch full while its archive is written.
      const slow = w.fakeBin('slow', { zstd: 'sleep 0.5; exec /usr/bin/zstd "$@"' });
      const run = await w.backup({ env, pathPrefix: [slow] });
      expect(run.code, run.stderr).toBe(0);
      expect(w.archives()).toHaveLength(3);
      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code, restore.stderr).toBe(0);
      for (const unit of ['a', 'b', 'c']) expect(fs.readFileSync(path.join(target, unit, 'data'), 'utf8')).toBe(unit.repeat(5000));
    },
    SLOW,
  );
});
