/**
 * Fault cases: a host clock that runs ahead or behind (a fake `date` on the script's PATH; the CLI's
 * own clock stays true, as the audit's would). Snapshots are ordered by the sequence in their ids, a
 * future date is a finding, and retention never deletes the snapshot written last.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { faultWorlds, finding, SLOW } from './backup-harness';

const TEN_YEARS = 10 * 365 * 86_400;
const world = faultWorlds();

describe.each(['file', 's3'] as const)('clock skew (%s)', (kind) => {
  test(
    'Clock ahead: a snapshot written 10 years in the future is a backup.age warning, and the snapshot written after it is latest and kept by keepLast 1',
    async () => {
      const w = await world(kind, { retention: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, graceDays: 0 } });
      w.write('model/weights.bin', 'old weights');
      const skewed = await w.backup({ pathPrefix: [w.clockShift(TEN_YEARS)] });
      expect(skewed.code, skewed.stderr).toBe(0);
      const age = finding(skewed.result, 'backup.age');
      expect(age?.severity).toBe('warning');
      expect(age?.message).toMatch(/is dated 3\d{3}\.\d d in the future: the host's clock was wrong/);

      w.write('model/weights.bin', 'new weights');
      const fixed = await w.backup();
      expect(fixed.code, fixed.stderr).toBe(0);
      expect(finding(fixed.result, 'backup.run')?.message).toContain('1 uploaded');
      const [skewedId, fixedId] = [skewed, fixed].map((r) => /snapshot (\S+):/.exec(finding(r.result, 'backup.run')?.message ?? '')?.[1]);
      expect(skewedId).toMatch(/-1$/);
      expect(fixedId).toMatch(/-2$/);

      const list = await w.cli(['snapshots', 'list', '--json']);
      const ids = (JSON.parse(list.stdout) as { hosts: { snapshots: { id: string; clockSkew?: string }[] }[] }).hosts[0].snapshots;
      expect(ids.map((s) => s.id)).toEqual([skewedId, fixedId]);
      expect(ids[0].clockSkew).toContain('in the future');

      const prune = await w.cli(['prune', '--json']);
      expect(prune.code, prune.stderr).toBe(0);
      const host = (JSON.parse(prune.stdout) as { hosts: { kept: { id: string }[]; removedSnapshots: string[]; newestAgeHours: number }[] })
        .hosts[0];
      expect(host.kept.map((k) => k.id)).toEqual([fixedId]);
      expect(host.removedSnapshots).toEqual([skewedId]);
      expect(host.newestAgeHours).toBeGreaterThanOrEqual(0);

      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.result.snapshot).toBe(fixedId);
      expect(fs.readFileSync(path.join(target, 'model/weights.bin'), 'utf8')).toBe('new weights');
    },
    2 * SLOW,
  );
});

describe('clock skew (file)', () => {
  test(
    'Clock stepped back during the run (NTP setting a fast clock right): the result is evaluated and no duration is negative',
    async () => {
      const w = await world('file');
      w.write('m/a', 'x'.repeat(4096));
      const calls = path.join(w.root, 'date-calls');
      // Every call of `date` reads an hour earlier than the one before.
      const stepping = w.fakeBin('date-stepping', {
        date: [
          'for a in "$@"; do case "${a}" in -d | --date | -d* | --date=*) exec /usr/bin/date "$@" ;; esac; done',
          `n=$(($(cat '${calls}' 2>/dev/null || echo 0) + 1)); echo "\${n}" > '${calls}'`,
          'exec /usr/bin/date -d "@$(($(/usr/bin/date +%s) - n * 3600))" "$@"',
        ].join('\n'),
      });
      const run = await w.backup({ pathPrefix: [stepping] });
      expect(run.code, run.stderr).toBe(0);
      expect(finding(run.result, 'task.output')).toBeUndefined();
      expect(finding(run.result, 'backup.run')?.message).toMatch(/sent in \d+\.\d s/);
      expect(Number(fs.readFileSync(calls, 'utf8'))).toBeGreaterThan(1);
    },
    SLOW,
  );

  test(
    'Clock behind: a snapshot dated 10 years in the past but written last is still latest',
    async () => {
      const w = await world('file');
      w.write('m/a', 'first');
      expect((await w.backup()).code).toBe(0);
      w.write('m/a', 'second');
      const behind = await w.backup({ pathPrefix: [w.clockShift(-TEN_YEARS)] });
      expect(behind.code, behind.stderr).toBe(0);
      expect(finding(behind.result, 'backup.run')?.message).toContain('a clock was wrong (check NTP)');
      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.result.snapshot).toMatch(/^20\d{6}T\d{6}Z-2$/);
      expect(fs.readFileSync(path.join(target, 'm/a'), 'utf8')).toBe('second');
    },
    SLOW,
  );

  test(
    'Clock ahead, then prune with only the skewed snapshot: it is kept as newest, and its age comes from the store write time',
    async () => {
      const w = await world('file', { retention: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 } });
      w.write('m/a', 'x');
      expect((await w.backup({ pathPrefix: [w.clockShift(TEN_YEARS)] })).code).toBe(0);
      // The file store's write time is the kernel's stamp; under `npm run test:future` the test's clock runs a
      // year ahead of the kernel's, so stamp the snapshot records from the test's clock, as a real clock would.
      const snapshots = path.join(w.hostPrefix(), 'snapshots');
      const now = new Date();
      for (const name of fs.readdirSync(snapshots)) fs.utimesSync(path.join(snapshots, name), now, now);
      const prune = await w.cli(['prune']);
      expect(prune.code, prune.stderr).toBe(0);
      expect(prune.stdout).toMatch(
        /newest snapshot of fault-host is \S+-1, 0\.\d h old; snapshot \S+ is dated .* in the future:.*\[WARNING\]/,
      );
      expect(w.snapshots()).toHaveLength(1);
    },
    SLOW,
  );

  test(
    'Legacy ids: snapshots without a sequence stay readable and the next backup, sequence 1, is latest',
    async () => {
      const w = await world('file');
      w.write('m/a', 'legacy');
      const first = await w.backup();
      expect(first.code).toBe(0);
      // Rewrite the snapshot as one from before sequences, dated a year ahead (the worst case for ordering).
      const [id] = w.snapshots();
      const legacyId = `${Number(id.slice(0, 4)) + 1}${id.slice(4, 16)}`;
      const file = path.join(w.hostPrefix(), 'snapshots', `${id}.json`);
      const text = fs.readFileSync(file, 'utf8').replace(`"id":"${id}","sequence":1,`, `"id":"${legacyId}",`);
      fs.writeFileSync(path.join(w.hostPrefix(), 'snapshots', `${legacyId}.json`), text);
      fs.unlinkSync(file);

      w.write('m/a', 'current');
      const next = await w.backup();
      expect(next.code, next.stderr).toBe(0);
      expect(w.snapshots()).toHaveLength(2);
      expect(w.snapshots()).toContain(legacyId);
      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(fs.readFileSync(path.join(target, 'm/a'), 'utf8')).toBe('current');
      const old = await w.restore(legacyId, path.join(w.root, 'old'));
      expect(old.code, old.stderr).toBe(0);
      expect(fs.readFileSync(path.join(w.root, 'old/m/a'), 'utf8')).toBe('legacy');
    },
    SLOW,
  );
});
