/**
 * cleanup.onDiskPressure in the collect Lambda: the collector's dependencies as the handler builds them
 * from its environment (awsCollectDeps), against mocked SSM, DynamoDB, CloudWatch and SNS. A health-check
 * result with health.disk critical sends the cleanup document to that instance once per cooldown, and
 * the alert says what was done.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ConditionalCheckFailedException, DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, test } from 'vitest';
import { awsCollectDeps } from '../../lambda/adapters/aws/collect-deps';
import { DISK_PRESSURE_ENV, type DiskPressureWiring, deliverResults, evaluateInvocation } from '../../lambda/core/collect';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { parseConfigForTest } from '../helpers/config';
import { fakeWaitPort } from '../helpers/lambda-time';

const ssm = mockClient(SSMClient);
const dynamodb = mockClient(DynamoDBClient);
const cloudwatch = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const s3 = mockClient(S3Client);

const HEALTH_DOC = 'gpu-maint.GpuMaint.health-check';
const CLEANUP_DOC = 'gpu-maint.GpuMaint.cleanup';
const TABLE = 'GpuMaint-AlertStateTable';
const HOST = 'i-0abc1234def567890';

const BASE_ENV = {
  GPU_MAINT_SETTINGS: JSON.stringify(evaluationSettings(parseConfigForTest({ fleet: { name: 'prod' } }))),
  GPU_MAINT_COLLECT: JSON.stringify({
    documents: [
      { name: HEALTH_DOC, task: 'health-check' },
      { name: CLEANUP_DOC, task: 'cleanup' },
    ],
    outputBucket: 'output-bucket',
    outputKeyPrefix: 'command-output/',
    namespace: 'GpuFleetMaintenance',
    topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
    maxConcurrency: 10,
  }),
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

const alertText = () =>
  sns
    .commandCalls(PublishCommand)
    .map((c) => String(c.args[0].input.Message))
    .join('\n');

beforeEach(() => {
  for (const m of [ssm, dynamodb, cloudwatch, sns, s3]) m.reset();
  cloudwatch.on(PutMetricDataCommand).resolves({});
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cleanup-cmd-1' } });
  dynamodb.on(PutItemCommand).resolves({});
  dynamodb.on(DeleteItemCommand).resolves({});
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
    const [put] = dynamodb.commandCalls(PutItemCommand).map((c) => c.args[0].input);
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
      /CRITICAL health\.disk: .*97%.*; disk critical: cleanup dispatched to i-0abc1234def567890 \(command cleanup-cmd-1\)/,
    );
  });

  test('within the cooldown (conditional put fails) nothing is sent and the alert says why', async () => {
    invocationReports(97);
    dynamodb.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
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
    const claimedAt = String(dynamodb.commandCalls(PutItemCommand)[0].args[0].input.Item?.lastDispatchedAtMs?.N);
    expect(claimedAt).toMatch(/^\d{13}$/);
    expect(dynamodb).toHaveReceivedCommandWith(DeleteItemCommand, {
      TableName: TABLE,
      Key: { host: { S: HOST }, sk: { S: 'cleanup-cooldown' } },
      ConditionExpression: '#at = :at',
      ExpressionAttributeValues: { ':at': { N: claimedAt } },
    });
  });

  test('a disk below the critical level dispatches nothing', async () => {
    invocationReports(90);
    await collect(ENABLED_ENV);
    expect(dynamodb).not.toHaveReceivedAnyCommand();
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });
});

describe('cleanup.onDiskPressure off (no GPU_MAINT_DISK_PRESSURE)', () => {
  test('a critical disk is alerted without any cleanup dispatch or mention', async () => {
    invocationReports(97);
    await collect(BASE_ENV);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(dynamodb).not.toHaveReceivedAnyCommand();
    expect(alertText()).toContain('CRITICAL health.disk');
    expect(alertText()).not.toContain('cleanup');
  });
});
