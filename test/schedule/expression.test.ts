/** EventBridge schedule expressions → systemd OnCalendar and crontab fields. */
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { crontab, quoteShellArg, toCronFields } from '../../lambda/core/schedule/cron';
import { parseScheduleExpression, ScheduleExpressionError } from '../../lambda/core/schedule/expression';
import type { ScheduledJob } from '../../lambda/core/schedule/jobs';
import { quoteExecArg, toOnCalendar } from '../../lambda/core/schedule/systemd';

const hasSystemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status === 0;

describe('parseScheduleExpression', () => {
  test.each([
    ['rate(5 minutes)', { kind: 'rate', value: 5, unit: 'minute' }],
    ['rate(1 day)', { kind: 'rate', value: 1, unit: 'day' }],
    ['at(2026-12-24T18:00:00)', { kind: 'at', year: 2026, month: 12, day: 24, hour: 18, minute: 0, second: 0 }],
  ])('%s parses', (expression, expected) => {
    expect(parseScheduleExpression(expression)).toEqual(expected);
  });

  test('cron day-of-week 1-7 (SUN-SAT) becomes 0-6', () => {
    const s = parseScheduleExpression('cron(0 3 ? * SUN,2,SAT *)');
    expect(s.kind === 'cron' && s.daysOfWeek.values).toEqual([0, 1, 6]);
  });

  test('cron a/step runs to the end of the field', () => {
    const s = parseScheduleExpression('cron(10/20 * * * ? *)');
    expect(s.kind === 'cron' && s.minutes.values).toEqual([10, 30, 50]);
  });

  test.each([
    ['rate(1 hours)', 'use the singular unit for 1'],
    ['rate(5 minute)', 'use the singular unit for 1'],
    ['rate(0 minutes)', 'at least 1'],
    ['rate(5 weeks)', 'expected rate(<n> minute(s)|hour(s)|day(s))'],
    ['cron(0 3 * * *)', 'needs 6 fields'],
    ['cron(0 3 * * MON *)', 'exactly one of day-of-month and day-of-week must be ?'],
    ['cron(0 3 ? * ? *)', 'exactly one of day-of-month and day-of-week must be ?'],
    ['cron(0 3 L * ? *)', 'uses L, W or #'],
    ['cron(0 3 ? * 6#3 *)', 'uses L, W or #'],
    ['cron(61 3 * * ? *)', 'minutes value 61 is out of range 0-59'],
    ['cron(0 3 * FOO ? *)', 'month value "FOO" is not a number; expected 1-12 or JAN-DEC'],
    ['cron(0 20-10 * * ? *)', 'runs backwards'],
    ['cron(0 ? * * ? *)', '? is only allowed in day-of-month and day-of-week'],
    ['at(2026-02-30T00:00:00)', 'is not a valid date and time'],
    ['every 5 minutes', 'expected rate(...), cron(...) or at(...)'],
  ])('%s is rejected: %s', (expression, message) => {
    expect(() => parseScheduleExpression(expression)).toThrow(ScheduleExpressionError);
    expect(() => parseScheduleExpression(expression)).toThrow(message);
  });
});

describe('toOnCalendar', () => {
  test.each([
    ['cron(0 3 ? * SUN *)', 'Europe/Berlin', 'Sun *-*-* 03:00:00 Europe/Berlin'],
    ['cron(0 2 * * ? *)', 'UTC', '*-*-* 02:00:00 UTC'],
    ['cron(0/15 * * * ? *)', 'UTC', '*-*-* *:00/15:00 UTC'],
    ['cron(30 9 ? * MON-FRI *)', 'UTC', 'Mon..Fri *-*-* 09:30:00 UTC'],
    ['cron(0 4 1,15 * ? *)', 'UTC', '*-*-01,15 04:00:00 UTC'],
    ['cron(0 0 ? * 1,7 *)', 'UTC', 'Sun,Sat *-*-* 00:00:00 UTC'],
    ['cron(5 8-17 ? JAN-MAR 2 2027)', 'UTC', 'Mon 2027-01..03-* 08..17:05:00 UTC'],
    ['rate(5 minutes)', 'Europe/Berlin', '*-*-* *:00/5:00'],
    ['rate(1 hour)', 'UTC', '*-*-* *:00:00'],
    ['rate(6 hours)', 'UTC', '*-*-* 00/6:00:00'],
    ['rate(1 day)', 'UTC', '*-*-* 00:00:00'],
    ['rate(7 minutes)', 'UTC', null],
    ['rate(2 days)', 'UTC', null],
    ['at(2026-12-24T18:00:00)', 'Europe/Berlin', '2026-12-24 18:00:00 Europe/Berlin'],
  ])('%s in %s → %s', (expression, tz, expected) => {
    expect(toOnCalendar(expression, tz)).toBe(expected);
  });

  // systemd itself computes the next elapse times: the conversion means what EventBridge means.
  test.skipIf(!hasSystemdAnalyze).each([
    ['cron(0 3 ? * SUN *)', 'Europe/Berlin', ['Sun 2026-01-04 02:00:00 UTC', 'Sun 2026-01-11 02:00:00 UTC']],
    ['cron(30 9 ? * MON-FRI *)', 'America/New_York', ['Thu 2026-01-01 14:30:00 UTC', 'Fri 2026-01-02 14:30:00 UTC']],
    ['cron(0 4 ? * 7 *)', 'UTC', ['Sat 2026-01-03 04:00:00 UTC', 'Sat 2026-01-10 04:00:00 UTC']],
    ['cron(0 0 1 */3 ? *)', 'UTC', ['Wed 2026-04-01 00:00:00 UTC', 'Wed 2026-07-01 00:00:00 UTC']],
    ['cron(0/20 1 * * ? *)', 'UTC', ['Thu 2026-01-01 01:00:00 UTC', 'Thu 2026-01-01 01:20:00 UTC']],
  ])('systemd fires %s (%s) at %j', (expression, tz, expected) => {
    const calendar = toOnCalendar(expression, tz)!;
    const result = spawnSync('systemd-analyze', ['calendar', '--iterations=2', '--base-time=2026-01-01 00:00:30 UTC', calendar], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
    });
    expect(result.status, result.stderr).toBe(0);
    const times = [...result.stdout.matchAll(/(?:Next elapse|Iter\. #2): (.+)$/gm)].map((m) => m[1].trim());
    expect(times).toEqual(expected);
  });
});

describe('toCronFields', () => {
  test.each([
    ['cron(0 3 ? * SUN *)', '0 3 * * 0'],
    ['cron(0 2 * * ? *)', '0 2 * * *'],
    ['cron(0/15 * * * ? *)', '*/15 * * * *'],
    ['cron(5/15 * * * ? *)', '5-59/15 * * * *'],
    ['cron(30 9 ? * MON-FRI *)', '30 9 * * 1-5'],
    ['cron(0 4 1,15 * ? *)', '0 4 1,15 * *'],
    ['cron(0 6 ? * 1,7 *)', '0 6 * * 0,6'],
    ['rate(5 minutes)', '*/5 * * * *'],
    ['rate(1 minute)', '* * * * *'],
    ['rate(1 hour)', '0 * * * *'],
    ['rate(8 hours)', '0 */8 * * *'],
    ['rate(1 day)', '0 0 * * *'],
  ])('%s → %s', (expression, fields) => {
    expect(toCronFields(expression)).toBe(fields);
  });

  test.each([
    ['rate(7 minutes)', 'cron can only repeat at intervals that divide an hour or a day'],
    ['rate(2 days)', 'cron can only repeat at intervals that divide an hour or a day'],
    ['at(2026-12-24T18:00:00)', 'a one-time at() schedule has no crontab form'],
    ['cron(0 3 * * ? 2027)', 'crontab has no year field'],
  ])('%s has no crontab form: %s', (expression, message) => {
    expect(() => toCronFields(expression)).toThrow(message);
  });
});

describe('quoting', () => {
  test.each([
    ['/usr/bin/node', '/usr/bin/node'],
    ['cleanup.dryRun=false', 'cleanup.dryRun=false'],
    ['/etc/gpu maint.yaml', '"/etc/gpu maint.yaml"'],
    ['50%', '50%%'],
    ['$HOME', '$$HOME'],
    ['say "hi"', '"say \\"hi\\""'],
    ['', '""'],
  ])('ExecStart argument %j → %s', (arg, quoted) => {
    expect(quoteExecArg(arg)).toBe(quoted);
  });

  test.each([
    ['/usr/bin/node', '/usr/bin/node'],
    ['/etc/gpu maint.yaml', "'/etc/gpu maint.yaml'"],
    ["it's", "'it'\\''s'"],
    ['50%', "'50\\%'"],
  ])('crontab argument %j → %s', (arg, quoted) => {
    expect(quoteShellArg(arg)).toBe(quoted);
  });

  test('a newline in an argument is refused', () => {
    expect(() => quoteExecArg('a\nb')).toThrow('cannot contain a newline');
    expect(() => quoteShellArg('a\nb')).toThrow('cannot contain a newline');
  });
});

describe('crontab', () => {
  const job: ScheduledJob = {
    id: 'backup',
    description: 'backup',
    expression: 'cron(0 2 * * ? *)',
    flexibleWindowMinutes: 30,
    args: ['run', 'backup'],
    timeoutSeconds: 3600,
    background: true,
  };

  test('sets CRON_TZ, spreads flexible windows with a random sleep and appends output to a log per job', () => {
    const text = crontab([job], {
      command: ['/usr/bin/node', '/opt/gpu maint/bin/gpu-maint.cjs'],
      timeZone: 'Europe/Berlin',
      logDir: '/var/log/gpu-maint',
    });
    expect(text).toContain('CRON_TZ=Europe/Berlin\n');
    expect(text).toContain(
      `0 2 * * * sleep "$(shuf -i 0-1800 -n 1)" && /usr/bin/node '/opt/gpu maint/bin/gpu-maint.cjs' run backup >>/var/log/gpu-maint/backup.log 2>&1\n`,
    );
  });
});
