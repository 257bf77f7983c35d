/**
 * cleanup.onDiskPressure in the collect Lambda: the collector's dependencies as the handler builds them
 * from its environment (awsCollectDeps), against mocked SSM, CloudWatch, SNS and EC2 and the alert table
 * (FakeAlertTable), which also holds the cleanup cooldown items. A health-check result with health.disk
 * critical sends the cleanup document to that instance once per cooldown, and the alert says what was done.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ConditionalCheckFailedException, DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { awsCollectDeps } from '../../lambda/adapters/aws/collect-deps';
import { ALERT_ENV, alertSettings } from '../../lambda/core/alerts/settings';
import { DISK_PRESSURE_ENV, type DiskPressureWiring, deliverResults, evaluateInvocation } from '../../lambda/core/collect';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { FakeAlertTable } from '../alerts/fake-dynamodb';
import { parseConfigForTest } from '../helpers/config';
import { fakeWaitPort } from '../helpers/lambda-time';

const ssm = mockClient(SSMClient);
const cloudwatch = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const s3 = mockClient(S3Client);
const ec2 = mockClient(EC2Client);
/** The alert state table; the cooldown items live in it too (CleanupOnDiskPressureOptions.cooldownTable). */
let table: FakeAlertTable;

const HEALTH_DOC = 'gpu-maint.GpuMaint.health-check';
const CLEANUP_DOC = 'gpu-maint.GpuMaint.cleanup';
const TABLE = 'GpuMaint-AlertStateTable';
const HOST = 'i-0abc1234def567890';

const CONFIG = parseConfigForTest({ fleet: { name: 'prod' } });
const BASE_ENV = {
  GPU_MAINT_SETTINGS: JSON.stringify(evaluationSettings(CONFIG)),
  GPU_MAINT_COLLECT: JSON.stringify({
    documents: [
      { name: HEALTH_DOC, task: 'health-check' },
      { name: CLEANUP_DOC, task: 'cleanup' },
    ],
    outputBucket: 'output-bucket',
    outputKeyPrefix: 'command-output/',
    namespace: 'GpuFleetMaintenance',
    maxConcurrency: 10,
  }),
  [ALERT_ENV.settings]: JSON.stringify(alertSettings(CONFIG)),
  [ALERT_ENV.table]: TABLE,
  [ALERT_ENV.topicArn]: 'arn:aws:sns:eu-west-1:111122223333:alerts',
};
const WIRING: DiskPressureWiring = {
  cooldownHours: 6,
  dryRun: false,
  documentName: CLEANUP_DOC,
  deliveryTimeoutSeconds: 1800,
  commandLogGroup: 'GpuMaint-CommandLogs',
  tableName: TABLE,
};
const ENABLED_ENV = { ...BASE_ENV, [DISK_PRESSURE_ENV]: JSON.stringify(WIRING) };

const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });

/** A health-check output whose one mount is `usedPct` % full (critical from 95 %). */
function healthOutput(usedPct: number): string {
  const sections: Record<string, string> = {
    'mount-paths': 'count=1\npath.0=/\nexists.0=1',
    'df.0': `Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/root 1000000 ${usedPct * 10000} ${(100 - usedPct) * 10000} ${usedPct}% /`,
    'df-inodes.0': 'Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/root 1000 100 900 10% /',
    meminfo: 'MemTotal: 1000000 kB\nMemFree: 100000 kB\nMemAvailable: 500000 kB',
    loadavg: '1.00 1.00 1.00 1/100 42',
    cpus: '4',
    services: 'required=',
    'journal-count': 'lines=0\nwindow_min=60\nsample_lines=20',
    journal: '',
    endpoints: 'mode=list\ntargets=',
    'reboot-check': 'method=file\nfile=/var/run/reboot-required\npresent=0',
  };
  const lines = [`@@gpu-maint v1 begin task=health-check host=${HOST} at=2026-11-29T12:00:00Z`];
  for (const [name, body] of Object.entries(sections)) {
    lines.push(`@@gpu-maint section ${name}`);
    if (body) lines.push(body);
    lines.push(`@@gpu-maint status ${name} exit=0 seconds=0.1`);
  }
  lines.push('@@gpu-maint v1 end task=health-check', '');
  return lines.join('\n');
}

/** The stdout object the SSM agent uploaded (the collector reads it first), and SSM's own record. */
function invocationReports(usedPct: number): void {
  s3.on(GetObjectCommand, {
    Bucket: 'output-bucket',
    Key: `command-output/health-check/health-cmd-1/${HOST}/awsrunShellScript/runTask/stdout`,
  }).resolves({ Body: { transformToString: async () => healthOutput(usedPct) } as never });
  ssm.on(GetCommandInvocationCommand).resolves({
    Status: 'Success',
    StatusDetails: 'Success',
    ResponseCode: 0,
    StandardOutputContent: healthOutput(usedPct),
    StandardErrorContent: '',
  });
}

/** One collected invocation, as the handler does it: evaluate, then deliver. */
async function collect(env: Record<string, string>) {
  const time = fakeWaitPort();
  const deps = awsCollectDeps(env, logger, { time, deadlineMs: () => time.nowMs() + 100_000 });
  const collected = await evaluateInvocation(
    { commandId: 'health-cmd-1', instanceId: HOST, documentName: HEALTH_DOC, status: 'Success' },
    deps,
  );
  return deliverResults([{ id: 'message-1', collected }], deps);
}

/** The text email subscribers get (MessageStructure json: its `default`). */
const alertText = () =>
  sns
    .commandCalls(PublishCommand)
    .map((c) => String(JSON.parse(String(c.args[0].input.Message)).default))
    .join('\n');

const COOLDOWN_KEY = { host: { S: HOST }, sk: { S: 'cleanup-cooldown' } };
/** Writes to the host's cooldown item (the alert state's own items are the policy's business). */
const cooldownPuts = () =>
  table.mock
    .commandCalls(PutItemCommand)
    .map((c) => c.args[0].input)
    .filter((i) => i.Item?.sk?.S === 'cleanup-cooldown');
const cooldownDeletes = () =>
  table.mock
    .commandCalls(DeleteItemCommand)
    .map((c) => c.args[0].input)
    .filter((i) => i.Key?.sk?.S === 'cleanup-cooldown');

beforeEach(() => {
  // The collector's clock (cooldown, alert policy): a minute after the run the fixture reports.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-11-29T12:01:00Z'));
  for (const m of [ssm, cloudwatch, sns, s3, ec2]) m.reset();
  table = new FakeAlertTable();
  // The cooldown's conditions are the cooldown store's (test/cleanup covers them); here a claim succeeds.
  table.mock.on(PutItemCommand, { TableName: TABLE, Item: COOLDOWN_KEY }).resolves({});
  table.mock.on(DeleteItemCommand, { TableName: TABLE, Key: COOLDOWN_KEY }).resolves({});
  cloudwatch.on(PutMetricDataCommand).resolves({});
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  ec2.on(DescribeTagsCommand).resolves({ Tags: [] });
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cleanup-cmd-1' } });
});

afterEach(() => {
  table.restore();
  vi.useRealTimers();
});

describe('cleanup.onDiskPressure on', () => {
  test('a critical disk sends the cleanup document to that one instance', async () => {
    invocationReports(97);
    await collect(ENABLED_ENV);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: CLEANUP_DOC,
      InstanceIds: [HOST],
      OutputS3BucketName: 'output-bucket',
      OutputS3KeyPrefix: 'command-output/cleanup',
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: 'GpuMaint-CommandLogs' },
    });
  });

  test('the dispatch is claimed in the cooldown table with a conditional put on the host item', async () => {
    invocationReports(97);
    await collect(ENABLED_ENV);
    const [put, ...more] = cooldownPuts();
    expect(more).toEqual([]);
    expect(put).toMatchObject({
      TableName: TABLE,
      Item: { host: { S: HOST }, sk: { S: 'cleanup-cooldown' } },
      ConditionExpression: 'attribute_not_exists(#pk) OR #at <= :notBefore',
    });
    const dispatchedAt = Number(put?.Item?.lastDispatchedAtMs?.N);
    expect(dispatchedAt - Number(put?.ExpressionAttributeValues?.[':notBefore']?.N)).toBe(6 * 3_600_000);
  });

  test('the alert says the cleanup was dispatched, with the command id', async () => {
    invocationReports(97);
    await collect(ENABLED_ENV);
    expect(alertText()).toMatch(
      /FIRING CRITICAL health\.disk\n {2}\/ is 97% full.*; disk critical: cleanup dispatched to i-0abc1234def567890 \(command cleanup-cmd-1\)/,
    );
  });

  test('within the cooldown (conditional put fails) nothing is sent and the alert says why', async () => {
    invocationReports(97);
    table.mock
      .on(PutItemCommand, { TableName: TABLE, Item: COOLDOWN_KEY })
      .rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    const delivery = await collect(ENABLED_ENV);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(alertText()).toContain(
      'cleanup not dispatched again: one was dispatched to i-0abc1234def567890 within the last 6 h (cleanup.cooldownHours)',
    );
    expect(delivery.failedIds).toEqual([]);
  });

  test('a failed SendCommand fails neither the record nor the alert, says so, and gives the claim back', async () => {
    invocationReports(97);
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform: ssm:SendCommand'), { name: 'AccessDeniedException' }));
    const delivery = await collect(ENABLED_ENV);
    expect(delivery.failedIds).toEqual([]);
    expect(alertText()).toContain('dispatching cleanup to i-0abc1234def567890 failed: User is not authorized');
    const claimedAt = String(cooldownPuts()[0]?.Item?.lastDispatchedAtMs?.N);
    expect(claimedAt).toMatch(/^\d{13}$/);
    expect(cooldownDeletes()).toEqual([
      expect.objectContaining({
        TableName: TABLE,
        Key: COOLDOWN_KEY,
        ConditionExpression: '#at = :at',
        ExpressionAttributeValues: { ':at': { N: claimedAt } },
      }),
    ]);
  });

  test('a disk below the critical level dispatches nothing', async () => {
    invocationReports(90);
    await collect(ENABLED_ENV);
    expect([...cooldownPuts(), ...cooldownDeletes()]).toEqual([]);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });
});

describe('cleanup.onDiskPressure off (no GPU_MAINT_DISK_PRESSURE)', () => {
  test('a critical disk is alerted without any cleanup dispatch or mention', async () => {
    invocationReports(97);
    await collect(BASE_ENV);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect([...cooldownPuts(), ...cooldownDeletes()]).toEqual([]);
    expect(alertText()).toContain('CRITICAL health.disk');
    expect(alertText()).not.toContain('cleanup');
  });
});
