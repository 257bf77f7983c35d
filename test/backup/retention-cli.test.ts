/**
 * `gpu-maint prune --keep-*` and `snapshots list` in-process against a file:// store of hand-written
 * manifests, on a fixed clock: retention flags override the config, bad values are refused in the
 * project's words, and ages are relative to the injected time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/temp';
import { manifestJson } from './manifests';

const NOW = new Date('2026-11-28T12:00:00Z');
/** One snapshot a day for five days (sequences 1-5), the newest this morning. */
const IDS = ['20261124T020000Z-1', '20261125T020000Z-2', '20261126T020000Z-3', '20261127T020000Z-4', '20261128T020000Z-5'];

let root: string;
let set: string[];

beforeEach(() => {
  root = tempDir('gpu-maint-retention-cli-');
  const dir = path.join(root, 'backups', 'h1', 'snapshots');
  fs.mkdirSync(dir, { recursive: true });
  for (const id of IDS) fs.writeFileSync(path.join(dir, `${id}.json`), manifestJson(id, [{ id: 'llama' }], 'h1'));
  set = [
    '--set',
    `backup.destination=file://${root}`,
    '--set',
    'backup.retention={"keepLast":7,"keepDaily":0,"keepWeekly":0,"keepMonthly":0,"graceDays":2}',
  ];
});

const snapshotsLeft = () => fs.readdirSync(path.join(root, 'backups', 'h1', 'snapshots')).sort();

describe('prune --keep-*', () => {
  test('--keep-last overrides backup.retention.keepLast and deletes the older snapshots', async () => {
    const run = await runCli([...set, 'prune', '--keep-last', '2'], { now: NOW });
    expect(run.code, run.stderr).toBe(0);
    expect(snapshotsLeft()).toEqual([`${IDS[3]}.json`, `${IDS[4]}.json`]);
  });

  test('flags not given keep their configured values, and the report states the policy applied', async () => {
    const run = await runCli([...set, 'prune', '--dry-run', '--keep-daily', '3'], { now: NOW });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')[1]).toBe(
      'policy: keep-last 7, keep-daily 3, keep-weekly 0, keep-monthly 0; unreferenced archives deleted after 2 day(s)',
    );
    expect(snapshotsLeft()).toHaveLength(5);
  });

  test('keep-last 1 with daily 2 keeps the newest two days and lists why each is kept', async () => {
    const run = await runCli([...set, 'prune', '--dry-run', '--keep-last', '1', '--keep-daily', '2'], { now: NOW });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      [
        '  action      snapshot            why kept',
        `  keep        ${IDS[4]}  newest, last, daily`,
        `  keep        ${IDS[3]}  daily`,
        `  would drop  ${IDS[2]}`,
      ].join('\n'),
    );
  });

  test.each([
    [['--keep-last', '0'], '--keep-last "0": expected a whole number of at least 1'],
    [['--keep-daily', '-1'], '--keep-daily "-1": expected a whole number of at least 0'],
    [['--keep-weekly', 'two'], '--keep-weekly "two": expected a whole number of at least 0'],
    [['--keep-monthly', '1.5'], '--keep-monthly "1.5": expected a whole number of at least 0'],
  ])('prune %j is a usage error in the project words: %s', async (flags, message) => {
    const run = await runCli([...set, 'prune', ...flags], { now: NOW });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).not.toMatch(/Too small|Invalid input/);
    expect(snapshotsLeft()).toHaveLength(5);
  });

  test('a retention setting out of range is named with what was expected, not the schema library words', async () => {
    const run = await runCli(['--set', `backup.destination=file://${root}`, '--set', 'backup.retention.keepLast=0', 'prune'], { now: NOW });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('backup.retention.keepLast: got 0; expected a number of at least 1');
    expect(run.stderr).not.toContain('Too small');
  });
});

describe('snapshots list on a fixed clock', () => {
  test('a header row, then one row per snapshot with its age relative to the injected time', async () => {
    const run = await runCli([...set, 'snapshots', 'list'], { now: NOW });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n').slice(1, 4)).toEqual([
      '  snapshot                 age       units  entries   data  stored',
      `  ${IDS[0]}   4 d ago  1 (1 sent)        3  200 B   100 B`,
      `  ${IDS[1]}   3 d ago  1 (1 sent)        3  200 B   100 B`,
    ]);
    expect(run.stdout.split('\n')[6]).toBe(`  ${IDS[4]}  10 h ago  1 (1 sent)        3  200 B   100 B`);
  });

  test('snapshots alone lists them, as snapshots list does', async () => {
    const alone = await runCli([...set, 'snapshots'], { now: NOW });
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stdout).toBe((await runCli([...set, 'snapshots', 'list'], { now: NOW })).stdout);
  });

  test('a snapshot dated after the clock reads as ahead, not as a negative age', async () => {
    const run = await runCli([...set, 'snapshots', 'list'], { now: new Date('2026-11-28T01:00:00Z') });
    expect(run.stdout).toMatch(new RegExp(`^ {2}${IDS[4]} +60 min ahead `, 'm'));
  });
});
