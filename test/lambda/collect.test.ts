/**
 * The collect Lambda (lambda/handlers/collect.ts) against mocked SSM, S3, CloudWatch, SNS and EC2 and the
 * alert table it is deployed with (FakeAlertTable): batched metrics, alerts through the alert policy, the
 * S3 read of truncated output, InvocationDoesNotExist retries, malformed and undeliverable invocations as
 * findings, and partial batch failures.
 */
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { validateConfig } from '../../lambda/config/load';
import { COLLECT_DELIVERY_RESERVE_MS } from '../../lambda/core/collect';
import { collectHandler } from '../../lambda/handlers/collect';
import { FakeAlertTable } from '../alerts/fake-dynamodb';
import { setCollectEnv } from '../helpers/collect-env';
import { gpuCheckOutput } from '../helpers/gpu-check-output';
import { fakeWaitPort, lambdaContext } from '../helpers/lambda-time';

const ssm = mockClient(SSMClient);
const s3 = mockClient(S3Client);
const cloudwatch = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const ec2 = mockClient(EC2Client);
let table: FakeAlertTable;

const DOC = 'GpuMaint-GpuCheckDocument-abc';
const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:alerts';
const config = validateConfig({ fleet: { name: 'prod' } });

const context = lambdaContext('collect');
const handler = collectHandler(fakeWaitPort());
const logged: string[] = [];

function record(id: string, detail: Record<string, string>, body?: string): SQSRecord {
  const event = {
    version: '0',
    source: 'aws.ssm',
    'detail-type': 'EC2 Command Invocation Status-change Notification',
    time: '2026-11-28T12:01:00Z',
    detail: { 'command-id': `cmd-${id}`, 'document-name': DOC, 'instance-id': `i-0${id}`, status: 'Success', ...detail },
  };
  return { messageId: id, body: body ?? JSON.stringify(event) } as SQSRecord;
}

const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

const noSuchKey = () => Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
/** Where the SSM agent uploads an invocation's stdout (lambda/core/collect/event.ts agentOutputKey). */
const agentKey = (instanceId: string) =>
  `command-output/gpu-check/cmd-${instanceId.slice(3)}/${instanceId}/awsrunShellScript/runTask/stdout`;

/**
 * What SSM holds per instance id: GetCommandInvocation's answer, and for a successful run with output the
 * stdout object the agent uploaded (the collector reads that first).
 */
function invocations(byInstance: Record<string, Record<string, unknown>>) {
  ssm.on(GetCommandInvocationCommand).callsFake((input: { InstanceId: string }) => {
    const answer = byInstance[input.InstanceId];
    if (!answer) throw Object.assign(new Error('not found'), { name: 'InvocationDoesNotExist' });
    return { Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardErrorContent: '', ...answer };
  });
  const objects = new Map(
    Object.entries(byInstance)
      .filter(([, a]) => (a.Status ?? 'Success') === 'Success' && a.StandardOutputContent && !a.StandardOutputUrl)
      .map(([id, a]) => [agentKey(id), String(a.StandardOutputContent)]),
  );
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const body = objects.get(input.Key);
    if (body === undefined) throw noSuchKey();
    return { Body: { transformToString: async () => body } };
  });
}

const success = (host: string, temperatures: Record<number, number> = {}) => ({
  StandardOutputContent: gpuCheckOutput({ host, temperatures }),
});

/**
 * A run whose kernel log has an Xid 79 on GPU 1: critical, and an alert from its first evaluation (a hot
 * GPU waits for a second one, the policy's `for` of gpu.temperature).
 */
const fellOffTheBus = (host: string) => ({
  StandardOutputContent: gpuCheckOutput({
    host,
    xidLines: ['NVRM: Xid (PCI:0000:10:1d): 79, pid=1, name=python, GPU has fallen off the bus.'],
  }),
});

function putMetricData() {
  return cloudwatch.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input);
}

function datum(name: string, dims: Record<string, string>) {
  return putMetricData()
    .flatMap((p) => p.MetricData ?? [])
    .find(
      (d) =>
        d.MetricName === name &&
        JSON.stringify(Object.fromEntries((d.Dimensions ?? []).map((x) => [x.Name, x.Value]))) === JSON.stringify(dims),
    );
}

const resultLines = () => logged.map((l) => JSON.parse(l)).filter((l) => l.message === 'task result');

beforeAll(() => {
  // What the stack sets (lib/constructs/result-collector.ts); read on the first event.
  setCollectEnv(config, TOPIC, DOC);
  // The alert policy's clock: a minute after the runs the fixtures report.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-11-28T12:01:00Z'));
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  process.env.AWS_REGION = 'eu-west-1';
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
  }
});

afterAll(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

beforeEach(() => {
  for (const m of [ssm, s3, cloudwatch, sns, ec2]) m.reset();
  table = new FakeAlertTable();
  cloudwatch.on(PutMetricDataCommand).resolves({});
  s3.on(GetObjectCommand).rejects(noSuchKey());
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  ec2.on(DescribeTagsCommand).resolves({ Tags: [] });
  logged.length = 0;
});

afterEach(() => table.restore());

describe('a batch of successful runs', () => {
  test('sends the metrics of the whole batch in one PutMetricData call', async () => {
    invocations({ 'i-01': success('i-01', { 0: 60 }), 'i-02': success('i-02', { 0: 70 }), 'i-03': success('i-03', { 0: 50 }) });
    const response = await handler(batch(record('1', {}), record('2', {}), record('3', {})), context);
    expect(response.batchItemFailures).toEqual([]);
    expect(cloudwatch).toHaveReceivedCommandTimes(PutMetricDataCommand, 1);
    expect(putMetricData()[0].Namespace).toBe('GpuFleetMaintenance');
  });

  test('the three hosts are three datapoints of one fleet series', async () => {
    invocations({ 'i-01': success('i-01', { 0: 60 }), 'i-02': success('i-02', { 0: 70 }), 'i-03': success('i-03', { 0: 50 }) });
    await handler(batch(record('1', {}), record('2', {}), record('3', {})), context);
    const temperature = datum('GpuTemperatureMax', { Fleet: 'prod' });
    expect(temperature?.Values?.slice().sort()).toEqual([50, 60, 70]);
    expect(temperature?.Counts).toEqual([1, 1, 1]);
    expect(datum('ResultsReported', { Fleet: 'prod', Task: 'gpu-check' })).toMatchObject({ Values: [1], Counts: [3] });
  });

  test('healthy results publish no alert; an Xid publishes one with message attributes', async () => {
    invocations({ 'i-01': success('i-01'), 'i-02': fellOffTheBus('i-02') });
    await handler(batch(record('1', {}), record('2', {})), context);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: expect.stringMatching(/^\[CRITICAL\] i-02 gpu\.xid: /),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'critical' },
        status: { DataType: 'String', StringValue: 'firing' },
        host: { DataType: 'String', StringValue: 'i-02' },
        task: { DataType: 'String.Array', StringValue: '["gpu-check"]' },
        check: { DataType: 'String.Array', StringValue: '["gpu.xid"]' },
      },
    });
  });

  test('each result is logged as one JSON line with the fields the dashboard queries', async () => {
    invocations({ 'i-02': success('i-02', { 3: 91 }) });
    await handler(batch(record('2', {})), context);
    const [line] = resultLines();
    expect(line.result).toMatchObject({
      task: 'gpu-check',
      host: 'i-02',
      status: 'critical',
      commandId: 'cmd-2',
      critical: 1,
      checks: 'gpu.temperature',
      hottestGpu: 3,
      hottestGpuTemperatureC: 91,
      xidCount: 0,
      readings: expect.objectContaining({ GpuTemperatureMax: 91 }),
    });
  });
});

describe('where the output is read', () => {
  test('a successful run is read from the S3 object the agent uploaded, with no GetCommandInvocation call', async () => {
    invocations({ 'i-01': success('i-01', { 1: 93 }) });
    await handler(batch(record('1', {})), context);
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: 'output-bucket', Key: agentKey('i-01') });
    expect(ssm).not.toHaveReceivedCommand(GetCommandInvocationCommand);
    expect(resultLines()[0].result).toMatchObject({ status: 'critical', hottestGpuTemperatureC: 93 });
  });

  test('a successful run with no S3 object (nothing printed, or not uploaded) is read with GetCommandInvocation', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, ...success('i-01') });
    await handler(batch(record('1', {})), context);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect(resultLines()[0].result.status).toBe('ok');
  });

  test.each(['DeliveryTimedOut', 'Undeliverable', 'Cancelled', 'Terminated'])(
    'an invocation that never ran (%s) is a finding without any SSM or S3 call',
    async (status) => {
      await handler(batch(record('1', { status })), context);
      expect(ssm).not.toHaveReceivedCommand(GetCommandInvocationCommand);
      expect(s3).not.toHaveReceivedCommand(GetObjectCommand);
      expect(resultLines()[0].result.findings).toEqual([
        expect.objectContaining({ check: 'task.failed', message: expect.stringContaining(status) }),
      ]);
    },
  );

  test('a failed run whose GetCommandInvocation stays throttled is evaluated from its event status', async () => {
    ssm.on(GetCommandInvocationCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const response = await handler(batch(record('1', { status: 'Failed' })), context);
    expect(response.batchItemFailures).toEqual([]);
    expect(resultLines()[0].result.findings).toEqual([
      expect.objectContaining({ check: 'task.failed', message: expect.stringContaining('GetCommandInvocation throttled') }),
    ]);
  });

  test('an invocation that never ran does not count as reported', async () => {
    invocations({ 'i-01': success('i-01') });
    await handler(batch(record('1', {}), record('2', { status: 'DeliveryTimedOut' })), context);
    const reported = putMetricData()
      .flatMap((p) => p.MetricData ?? [])
      .filter((d) => d.MetricName === 'ResultsReported');
    const sum = reported.flatMap((d) => (d.Values ?? []).map((v, i) => v * (d.Counts?.[i] ?? 1))).reduce((a, b) => a + b, 0);
    const samples = reported.flatMap((d) => d.Counts ?? []).reduce((a, b) => a + b, 0);
    expect({ sum, samples }).toEqual({ sum: 1, samples: 2 });
  });
});

describe('output that GetCommandInvocation cut short', () => {
  test('is read in full from the StandardOutputUrl in the output bucket', async () => {
    const full = gpuCheckOutput({ host: 'i-01', temperatures: { 5: 88 } });
    const url = 'https://s3.eu-west-1.amazonaws.com/output-bucket/command-output/gpu-check/cmd-1/i-01/awsrunShellScript/runTask/stdout';
    invocations({ 'i-01': { StandardOutputContent: `${full.slice(0, 300)}\n---Output truncated---`, StandardOutputUrl: url } });
    // The adapter reads the body with transformToString, as the SDK's stream mixin provides it.
    s3.on(GetObjectCommand).resolves({ Body: { transformToString: async () => full } as never });
    await handler(batch(record('1', {})), context);
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: 'output-bucket',
      Key: 'command-output/gpu-check/cmd-1/i-01/awsrunShellScript/runTask/stdout',
    });
    expect(resultLines()[0].result).toMatchObject({ status: 'warning', hottestGpuTemperatureC: 88 });
  });

  test('is evaluated as truncated (a task.output finding) when the object cannot be read', async () => {
    const url = 'https://output-bucket.s3.eu-west-1.amazonaws.com/command-output/gpu-check/cmd-1/i-01/awsrunShellScript/runTask/stdout';
    // A kernel log long enough that the output exceeds what GetCommandInvocation returns (24,000 characters).
    const xidLines = Array.from(
      { length: 400 },
      (_, i) => `NVRM: Xid (PCI:0000:10:1c): 13, pid=${1000 + i}, name=python, Graphics Exception`,
    );
    const long = gpuCheckOutput({ host: 'i-01', xidLines });
    expect(long.length).toBeGreaterThan(24_000);
    invocations({ 'i-01': { StandardOutputContent: long.slice(0, 24_000), StandardOutputUrl: url } });
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    const response = await handler(batch(record('1', {})), context);
    expect(response.batchItemFailures).toEqual([]);
    expect(resultLines()[0].result.findings).toContainEqual(
      expect.objectContaining({ check: 'task.output', message: expect.stringContaining('truncated') }),
    );
  });
});

describe('invocations SSM has not caught up with', () => {
  test('InvocationDoesNotExist is retried until the invocation appears', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(Object.assign(new Error('InvocationDoesNotExist'), { name: 'InvocationDoesNotExist' }))
      .resolves({ Status: 'Success', ResponseCode: 0, ...success('i-01') });
    const response = await handler(batch(record('1', {})), context);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
    expect(response.batchItemFailures).toEqual([]);
    expect(resultLines()[0].result.status).toBe('ok');
  });
});

describe('runs that did not produce a result', () => {
  test('malformed output becomes a task.output finding and a failed-run metric, not a crash', async () => {
    invocations({ 'i-01': { StandardOutputContent: 'bash: line 1: nvidia-smi: command not found\n' } });
    const response = await handler(batch(record('1', {})), context);
    expect(response.batchItemFailures).toEqual([]);
    expect(resultLines()[0].result.findings).toContainEqual(
      expect.objectContaining({
        check: 'task.output',
        severity: 'warning',
        message: expect.stringContaining('not a gpu-maint task result'),
      }),
    );
    expect(datum('TaskFailed', { Fleet: 'prod', Task: 'gpu-check' })).toMatchObject({ Values: [1] });
  });

  test('an undeliverable invocation becomes a critical task.failed finding, metric and alert', async () => {
    invocations({ 'i-01': { Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1, StandardOutputContent: '' } });
    await handler(batch(record('1', { status: 'Failed' })), context);
    expect(resultLines()[0].result.findings).toEqual([
      expect.objectContaining({ check: 'task.failed', severity: 'critical', message: expect.stringContaining('SSM status Undeliverable') }),
    ]);
    expect(datum('TaskFailed', { Fleet: 'prod', Task: 'gpu-check' })).toMatchObject({ Values: [1] });
    expect(sns).toHaveReceivedCommandWith(PublishCommand, { Subject: expect.stringMatching(/^\[CRITICAL\] i-01 task\.failed: /) });
  });

  test('a delivery timeout with no invocation record is still a finding', async () => {
    ssm.on(GetCommandInvocationCommand).rejects(Object.assign(new Error('gone'), { name: 'InvocationDoesNotExist' }));
    const sleep = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void) => {
      fn();
      return 0;
    }) as never);
    try {
      await handler(batch(record('1', { status: 'DeliveryTimedOut' })), context);
    } finally {
      sleep.mockRestore();
    }
    expect(resultLines()[0].result.findings).toEqual([
      expect.objectContaining({ check: 'task.failed', message: expect.stringContaining('DeliveryTimedOut') }),
    ]);
  });
});

describe("GetCommandInvocation within the container's share of its quota", () => {
  const failedRun = { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 1, StandardOutputContent: '' };

  test('failed runs of one batch wait their turn for GetCommandInvocation', async () => {
    invocations({ 'i-01': failedRun, 'i-02': failedRun });
    const time = fakeWaitPort();
    const fresh = collectHandler(time);
    const response = await fresh(batch(record('1', { status: 'Failed' }), record('2', { status: 'Failed' })), context);
    expect(response.batchItemFailures).toEqual([]);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
    // 10/s assumed, half of it for the collector, shared by 10 containers: one call every 2 s.
    expect(time.sleptMs).toEqual([2000]);
  });

  test('a failed run that gets no call slot before the deadline is a batch item failure, not dropped', async () => {
    invocations({ 'i-01': failedRun, 'i-02': failedRun });
    const fresh = collectHandler(fakeWaitPort());
    // One second of waiting left after the delivery reserve: the second call's slot is 2 s away.
    const short = lambdaContext('collect', COLLECT_DELIVERY_RESERVE_MS + 1000);
    const response = await fresh(batch(record('1', { status: 'Failed' }), record('2', { status: 'Failed' })), short);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '2' }]);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect(resultLines().map((l) => l.result.host)).toEqual(['i-01']);
  });
});

describe('documents replaced by a deployment', () => {
  test('an invocation of an older version of a document is collected under the task its output names', async () => {
    invocations({ 'i-01': success('i-01', { 2: 92 }) });
    const response = await handler(batch(record('1', { 'document-name': 'gpu-maint.GpuMaint.gpu-check.0123456789ab' })), context);
    expect(response.batchItemFailures).toEqual([]);
    expect(resultLines()[0].result).toMatchObject({ task: 'gpu-check', hottestGpuTemperatureC: 92 });
  });

  test('an unknown document whose output names no task fails its record, and the log says why', async () => {
    invocations({ 'i-01': { StandardOutputContent: 'hello\n' } });
    const response = await handler(batch(record('1', { 'document-name': 'someone-elses-document' })), context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '1' }]);
    const failure = logged.map((l) => JSON.parse(l)).find((l) => l.message === 'record failed');
    expect(failure).toMatchObject({ level: 'ERROR', messageId: '1', error: expect.stringContaining('"someone-elses-document"') });
  });
});

describe('partial batch failures', () => {
  test('one unreadable record is the only one reported as failed', async () => {
    invocations({ 'i-01': success('i-01'), 'i-03': success('i-03') });
    const response = await handler(batch(record('1', {}), record('2', {}, 'not json'), record('3', {})), context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '2' }]);
    expect(datum('ResultsReported', { Fleet: 'prod', Task: 'gpu-check' })).toMatchObject({ Counts: [2] });
  });

  test('when PutMetricData fails every evaluated record fails and no alert goes out', async () => {
    invocations({ 'i-01': fellOffTheBus('i-01'), 'i-02': success('i-02') });
    cloudwatch.on(PutMetricDataCommand).rejects(Object.assign(new Error('throttled'), { name: 'Throttling' }));
    const response = await handler(batch(record('1', {}), record('2', {})), context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '1' }, { itemIdentifier: '2' }]);
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
    // Nothing committed to the alert state either: the redelivery alerts as if for the first time.
    expect(table.items.size).toBe(0);
  });

  test('a failed alert fails only its own record', async () => {
    invocations({ 'i-01': fellOffTheBus('i-01'), 'i-02': success('i-02') });
    sns.on(PublishCommand).rejects(Object.assign(new Error('denied'), { name: 'AuthorizationError' }));
    const response = await handler(batch(record('1', {}), record('2', {})), context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '1' }]);
  });

  test('a refused alert is parked in its host state and sent when the failed record is redelivered', async () => {
    invocations({ 'i-01': fellOffTheBus('i-01') });
    sns.on(PublishCommand).rejects(Object.assign(new Error('denied'), { name: 'AuthorizationError' }));
    await handler(batch(record('1', {})), context);
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-2' });
    const response = await handler(batch(record('1', {})), context);
    expect(response.batchItemFailures).toEqual([]);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, { Subject: expect.stringMatching(/^\[CRITICAL\] i-01 gpu\.xid: /) });
  });
});
