import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { alertStateFilePath, FileAlertStateStore } from '../../lambda/adapters/local/alert-state-file';
import { runCli } from '../helpers/cli';
import { FakeAlertTable } from './fake-dynamodb';
import { at } from './helpers';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-cli-alerts-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const local = () => ['--set', `local.stateDir=${dir}`];
const NOW = ['--now', at(0)];

describe('gpu-maint silence (local state)', () => {
  test('silences a host for a duration, with a reason, in the local state file', async () => {
    const run = await runCli([...local(), 'silence', 'i-0abc', '--for', '2h', '--reason', 'driver upgrade OPS-1', ...NOW]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`silenced i-0abc (all checks) until ${at(120)}: driver upgrade OPS-1`);
    const [silence] = await new FileAlertStateStore(alertStateFilePath(dir)).listSilences('i-0abc');
    expect(silence).toMatchObject({ host: 'i-0abc', until: at(120), reason: 'driver upgrade OPS-1', source: 'cli' });
  });

  test('--check silences one check; --list shows it; --clear ends it', async () => {
    await runCli([...local(), 'silence', 'i-0abc', '--check', 'gpu.xid', '--until', at(90), '--reason', 'known bad GPU', ...NOW]);
    const list = await runCli([...local(), 'silence', '--list', ...NOW]);
    expect(list.stdout.trim()).toMatch(new RegExp(`^i-0abc gpu\\.xid until ${at(90).replace(/\./g, '\\.')}: known bad GPU`));
    const clear = await runCli([...local(), 'silence', 'i-0abc', '--check', 'gpu.xid', '--clear', ...NOW]);
    expect(clear.code).toBe(0);
    expect((await runCli([...local(), 'silence', '--list', '--json', ...NOW])).stdout.trim()).toBe('[]');
  });

  test.each([
    ['years before the real clock', '2001-01-01T00:00:00.000Z', '2001-01-01T02:00:00.000Z'],
    ['years after the real clock', '2099-01-01T00:00:00.000Z', '2099-01-01T02:00:00.000Z'],
  ])('--now %s decides what has expired, not the real clock', async (_case, now, until) => {
    await runCli([...local(), 'silence', 'i-0abc', '--for', '2h', '--reason', 'maintenance', '--now', now]);
    await runCli([...local(), 'silence', 'i-0def', '--for', '1h', '--reason', 'maintenance', '--now', now]);
    const list = await runCli([...local(), 'silence', '--list', '--json', '--now', now]);
    expect(JSON.parse(list.stdout).map((s: { host: string; until: string }) => [s.host, s.until])).toEqual([
      ['i-0abc', until],
      ['i-0def', until.replace('T02', 'T01')],
    ]);
  });

  test('--clear of a silence that does not exist exits 1', async () => {
    const run = await runCli([...local(), 'silence', 'i-0abc', '--clear']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no silence of i-0abc (all checks)');
  });

  test.each([
    ['no host', ['silence', '--for', '2h', '--reason', 'x'], 'missing <host>'],
    ['no reason', ['silence', 'i-0abc', '--for', '2h'], '--reason is required'],
    ['neither --for nor --until', ['silence', 'i-0abc', '--reason', 'x'], 'exactly one of --for'],
    [
      'a bad duration',
      ['silence', 'i-0abc', '--for', '2 hours', '--reason', 'x'],
      '--for duration "2 hours": expected a number and a unit',
    ],
    [
      'an unknown check',
      ['silence', 'i-0abc', '--check', 'gpu.nope', '--for', '2h', '--reason', 'x'],
      'check "gpu.nope": unknown; expected one of: gpu.driver',
    ],
    ['more than 30 days', ['silence', 'i-0abc', '--for', '31d', '--reason', 'x'], 'more than 30 days ahead'],
    ['an --until in the past', ['silence', 'i-0abc', '--until', '2020-01-01T00:00:00Z', '--reason', 'x'], 'is not in the future'],
  ])('%s is a usage error (exit 2) that says what is wrong', async (_name, args, message) => {
    const run = await runCli([...local(), ...args, ...NOW]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe('gpu-maint silence --stack', () => {
  const cfn = mockClient(CloudFormationClient);
  let table: FakeAlertTable;
  beforeEach(() => {
    table = new FakeAlertTable();
    process.env.AWS_REGION = 'eu-west-1';
  });
  afterEach(() => {
    table.restore();
    cfn.reset();
  });

  test('writes the silence to the alert table named by the stack output', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'gpu-maint' }).resolves({
      Stacks: [
        {
          StackName: 'gpu-maint',
          CreationTime: new Date('2026-11-01T00:00:00Z'),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [{ OutputKey: 'AlertStateTableName', OutputValue: 'gpu-maint-alerts' }],
        },
      ],
    });
    const run = await runCli(['silence', 'i-0abc', '--for', '90m', '--reason', 'RMA', '--stack', 'gpu-maint', ...NOW]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('(stack gpu-maint (table gpu-maint-alerts))');
    expect(JSON.parse(table.items.get('i-0abc|silence#*')?.data.S ?? '{}')).toMatchObject({ until: at(90), reason: 'RMA' });
  });

  test('a stack without the output exits 1 and says so', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'other', CreationTime: new Date('2026-11-01T00:00:00Z'), StackStatus: 'CREATE_COMPLETE', Outputs: [] }],
    });
    const run = await runCli(['silence', 'i-0abc', '--for', '90m', '--reason', 'RMA', '--stack', 'other', ...NOW]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--stack other: no AlertStateTableName output');
  });
});

describe('gpu-maint alerts simulate', () => {
  const write = (lines: object[]) => {
    const file = path.join(dir, 'in.jsonl');
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    return file;
  };
  const xidLine = (minutes: number, findings: object[]) => ({ at: at(minutes), host: 'i-0abc', task: 'gpu-check', findings });
  const xid = { check: 'gpu.xid', severity: 'critical', gpu: 5, message: 'Xid 79 GPU 5 fell off the bus' };

  test('prints each notification with its subject and changes, the incidents and a summary', async () => {
    const file = write(Array.from({ length: 14 }, (_, i) => xidLine(i * 5, i === 0 ? [xid] : [])));
    const run = await runCli(['alerts', 'simulate', '--input', file]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `${at(0)}  [CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus\n    firing    critical gpu.xid GPU 5`,
    );
    // gpu.xid keeps firing for 60 minutes after its last report (alerts.keepFiringForMinutes)
    expect(run.stdout).toContain(`${at(60)}  [RESOLVED] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus`);
    expect(run.stdout).toContain(`i-0abc gpu.xid GPU 5 critical ${at(0)} → ${at(60)}: 2 notification(s) (firing, resolved)`);
    expect(run.stdout).toContain('summary: 14 evaluations on 1 host(s); 1 incident(s); 2 notification(s)');
  });

  test('--remediation prints what the remediation policy would have done', async () => {
    const file = write(Array.from({ length: 14 }, (_, i) => xidLine(i * 5, i === 0 ? [{ ...xid, reading: '79' }] : [])));
    const run = await runCli(['alerts', 'simulate', '--input', file, '--remediation']);
    expect(run.stdout).toContain(`${at(5)}  i-0abc               act       remediation: rebooted i-0abc after Xid 79 on GPU 5`);
  });

  test('--json prints notifications as [{at, host, status, severity, checks}] with the summary', async () => {
    const file = write([xidLine(0, [xid])]);
    const out = JSON.parse((await runCli(['alerts', 'simulate', '--input', file, '--json'])).stdout);
    expect(out.notifications).toEqual([
      {
        at: at(0),
        host: 'i-0abc',
        status: 'firing',
        severity: 'critical',
        subject: '[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus',
        checks: [{ check: 'gpu.xid', gpu: 5, change: 'firing', severity: 'critical', message: 'Xid 79 GPU 5 fell off the bus' }],
      },
    ]);
    expect(out.summary).toMatchObject({
      incidents: 1,
      notifications: 1,
      openAtEnd: 1,
      notificationsPerIncident: { min: 1, max: 1, mean: 1 },
    });
  });

  test('a policy change through --set shows in the result', async () => {
    const file = write(Array.from({ length: 37 }, (_, i) => xidLine(i * 5, [xid])));
    const base = JSON.parse((await runCli(['alerts', 'simulate', '--input', file, '--json'])).stdout);
    const tuned = JSON.parse(
      (await runCli(['--set', 'alerts.repeatIntervalHours.critical=1', 'alerts', 'simulate', '--input', file, '--json'])).stdout,
    );
    expect([base.summary.notifications, tuned.summary.notifications]).toEqual([1, 4]);
  });

  test('the 24-hour scenario: the flapping GPU gets FLAPPING and one RESOLVED instead of four fire/resolve pairs', async () => {
    const scenario = path.resolve(__dirname, '..', 'fixtures', 'alerts', 'scenario-24h.jsonl');
    const flapHost = (out: { notifications: { host: string; checks: { change: string }[] }[] }) =>
      out.notifications.filter((n) => n.host === 'i-0flap00000000002').flatMap((n) => n.checks.map((c) => c.change));
    const before = JSON.parse(
      (await runCli(['--set', 'alerts.flapping.enabled=false', 'alerts', 'simulate', '--input', scenario, '--json'])).stdout,
    );
    const after = JSON.parse((await runCli(['alerts', 'simulate', '--input', scenario, '--json'])).stdout);
    expect(flapHost(before)).toEqual(Array(4).fill(['firing', 'resolved']).flat());
    expect(flapHost(after)).toEqual(['firing', 'resolved', 'flapping', 'resolved']);
    expect([before.summary.flappingIncidents, after.summary.flappingIncidents]).toEqual([0, 1]);
  });

  test('silence lines in the input silence the replay', async () => {
    const file = write([
      { at: at(0), silence: { host: 'i-0abc', for: '30m', reason: 'maintenance' } },
      xidLine(1, [xid]),
      xidLine(20, [xid]),
      xidLine(31, [xid]),
    ]);
    const out = JSON.parse((await runCli(['alerts', 'simulate', '--input', file, '--json'])).stdout);
    expect(out.notifications.map((n: { at: string }) => n.at)).toEqual([at(30)]);
  });

  test.each([
    ['a line that is not JSON', 'not json', /in\.jsonl:1: not JSON/],
    [
      'an unknown check',
      JSON.stringify({ at: at(0), host: 'h', task: 'gpu-check', findings: [{ check: 'gpu.nope', severity: 'critical', message: 'x' }] }),
      /in\.jsonl:1: findings\.0\.check/,
    ],
    [
      'a bad time',
      JSON.stringify({ at: 'yesterday', host: 'h', task: 'gpu-check', findings: [] }),
      /in\.jsonl:1: at: got "yesterday"; expected an ISO-8601 time/,
    ],
    [
      "a GPU index below 0, in the project's words",
      JSON.stringify({
        at: at(0),
        host: 'h',
        task: 'gpu-check',
        findings: [{ check: 'gpu.xid', severity: 'critical', gpu: -1, message: 'x' }],
      }),
      /in\.jsonl:1: findings\.0\.gpu: got -1; expected a number of at least 0 \(a line is/,
    ],
  ])('%s is a usage error naming the line', async (_name, text, message) => {
    const file = path.join(dir, 'in.jsonl');
    writeFileSync(file, `${text}\n`);
    const run = await runCli(['alerts', 'simulate', '--input', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  test('an unknown check in alerts.for is a usage error', async () => {
    const file = write([xidLine(0, [xid])]);
    const run = await runCli(['--set', 'alerts.for={"gpu.nope": 2}', 'alerts', 'simulate', '--input', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('alerts.for: unknown check "gpu.nope"');
  });
});
