/**
 * The watcher's AWS path: the real scripts/gpu-watch.sh puts its event on the event bus (a stand-in `aws`
 * CLI records the entry), the entry becomes the EventBridge event the watcher rule's queue delivers, and
 * the real collect Lambda (lambda/handlers/collect.ts) evaluates it into the alert state, with DynamoDB,
 * SNS, EC2, SSM, S3 and CloudWatch stubbed at the SDK boundary. The scheduled gpu-check that later reports
 * the same kernel line through the same Lambda sends nothing more. No timed assertions.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { validateConfig } from '../../lambda/config/load';
import { isWatchBusEvent, parseWatchBusEvent, WATCH_DETAIL_TYPE, WATCH_EVENT_SOURCE } from '../../lambda/core/gpu/watch';
import { handler } from '../../lambda/handlers/collect';
import { FakeAlertTable } from '../alerts/fake-dynamodb';
import { gpuCheckOutput } from '../helpers/gpu-check-output';
import { lambdaContext } from '../helpers/lambda-time';
import { tempDir } from '../helpers/temp';
import { busRecord, pollUntil, setCollectEnv, startWatcherOnBus } from '../helpers/watch-bus';

const DOC = 'gpu-maint.GpuMaint.gpu-check.abc';
const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:alerts';
const HOST = 'i-0watchbus';
const WAIT_MS = 30_000;
const config = validateConfig({ fleet: { name: 'prod' }, gpuCheck: { bootGraceMinutes: 0 } });
const context = lambdaContext('collect');

const ssm = mockClient(SSMClient);
const s3 = mockClient(S3Client);
const cloudwatch = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const ec2 = mockClient(EC2Client);
let table: FakeAlertTable;

/** gpu-check's GPUs-seen state for the 8 GPUs of test/helpers/gpu-check-output.ts (bus 10:1D is GPU 1). */
const GPUS_SEEN = `boot_id=b0\n${['10:1C', '10:1D', '20:1C', '20:1D', '90:1C', '90:1D', 'A0:1C', 'A0:1D'].map((b, i) => `00000000:${b}.0 ${i}`).join('\n')}\n`;
const KERNEL = "NVRM: Xid (PCI:0000:10:1d): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.";
const journalLine = (n: number) => `2026-11-28T12:00:00.${String(n).padStart(6, '0')}+0000 ip-10-0-0-1 kernel: ${KERNEL}`;

const xidPublishes = () => sns.commandCalls(PublishCommand).filter((c) => JSON.stringify(c.args[0].input).includes('gpu.xid'));

/** The scheduled gpu-check's invocation event for this host, its stdout holding the same kernel line. */
function gpuCheckRecord(id: string): SQSRecord {
  const stdout = gpuCheckOutput({ host: HOST, xidLines: [journalLine(1)] });
  ssm.on(GetCommandInvocationCommand).resolves({
    Status: 'Success',
    StatusDetails: 'Success',
    ResponseCode: 0,
    StandardOutputContent: stdout,
    StandardErrorContent: '',
  });
  s3.on(GetObjectCommand).resolves({ Body: { transformToString: async () => stdout } } as never);
  const event = {
    version: '0',
    source: 'aws.ssm',
    'detail-type': 'EC2 Command Invocation Status-change Notification',
    time: '2026-11-28T12:05:00Z',
    detail: { 'command-id': `cmd-${id}`, 'document-name': DOC, 'instance-id': HOST, status: 'Success' },
  };
  return { messageId: id, body: JSON.stringify(event) } as SQSRecord;
}

beforeAll(() => {
  setCollectEnv(config, TOPIC, DOC);
  process.env.AWS_REGION = 'eu-west-1';
  // The handler's logger writes JSON lines to stdout/stderr; kept out of the test output.
  for (const stream of [process.stdout, process.stderr]) vi.spyOn(stream, 'write').mockImplementation(() => true);
});

afterAll(() => {
  vi.restoreAllMocks();
  for (const v of ['GPU_MAINT_ALERT_SETTINGS', 'GPU_MAINT_ALERT_TABLE', 'GPU_MAINT_ALERT_TOPIC_ARN']) delete process.env[v];
});

beforeEach(() => {
  for (const m of [ssm, s3, cloudwatch, sns, ec2]) m.reset();
  table = new FakeAlertTable();
  cloudwatch.on(PutMetricDataCommand).resolves({});
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  ec2.on(DescribeTagsCommand).resolves({ Tags: [] });
});

describe('a kernel Xid line through the event bus and the collect Lambda', () => {
  test('is one notification, keyed by gpu-check’s GPU index; the scheduled gpu-check reading the same line later sends nothing more', async () => {
    const dir = tempDir('gpu-maint-watch-bus-');
    const watcher = startWatcherOnBus(dir);
    try {
      writeFileSync(path.join(watcher.stateDir, 'gpu-check.gpus-seen'), GPUS_SEEN);
      await watcher.following();
      appendFileSync(watcher.journal, `${journalLine(1)}\n`);
      await pollUntil(() => watcher.calls().length === 1, WAIT_MS, 'the put-events call');
    } finally {
      await watcher.stop();
    }
    const [call] = watcher.calls();
    expect(call.region).toBe('eu-west-1');
    expect(call.entries).toEqual([
      expect.objectContaining({
        Source: WATCH_EVENT_SOURCE,
        DetailType: WATCH_DETAIL_TYPE,
        EventBusName: expect.stringContaining(':event-bus/'),
      }),
    ]);

    const response = await handler({ Records: [busRecord(call.entries[0], 'w1', new Date())] }, context);
    expect(response.batchItemFailures).toEqual([]);
    expect(xidPublishes()).toHaveLength(1);
    expect(JSON.stringify(xidPublishes()[0].args[0].input)).toMatch(/GPU 1 .*Xid 79/);

    await handler({ Records: [gpuCheckRecord('g1')] }, context);
    expect(xidPublishes()).toHaveLength(1);
    expect(table.items.size).toBeGreaterThan(0);
  }, 60_000);
});

describe('watcher events in the collect Lambda', () => {
  const entry = (detail: Record<string, unknown>) => ({
    Source: WATCH_EVENT_SOURCE,
    DetailType: WATCH_DETAIL_TYPE,
    EventBusName: 'b',
    Detail: JSON.stringify({ source: WATCH_EVENT_SOURCE, host: HOST, at: '2026-11-28T12:00:01Z', key: 'k', count: 1, ...detail }),
  });

  test('a line the Xid parser does not accept publishes nothing and fails no record', async () => {
    const response = await handler({ Records: [busRecord(entry({ line: 'NVRM: Xid gibberish' }), 'x1', new Date())] }, context);
    expect(response.batchItemFailures).toEqual([]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  test('a malformed watcher event fails its record alone, naming the field', async () => {
    const bad = busRecord(entry({ count: 0, line: KERNEL }), 'bad', new Date());
    const good = busRecord(entry({ line: KERNEL, gpusSeen: GPUS_SEEN }), 'good', new Date());
    const response = await handler({ Records: [bad, good] }, context);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'bad' }]);
    expect(xidPublishes()).toHaveLength(1);
    expect(() => parseWatchBusEvent(bad.body)).toThrow(/field count must be a whole number/);
  });

  test.each([
    ['an SSM invocation event', JSON.stringify({ source: 'aws.ssm', detail: {} }), false],
    ['a watcher event', JSON.stringify({ source: WATCH_EVENT_SOURCE }), true],
    ['not JSON', 'nope', false],
  ])('%s is told apart by its source', (_name, body, expected) => {
    expect(isWatchBusEvent(body)).toBe(expected);
  });

  test('an envelope of another detail-type is rejected, naming both fields', () => {
    const body = JSON.stringify({ source: WATCH_EVENT_SOURCE, 'detail-type': 'Other', detail: {} });
    expect(() => parseWatchBusEvent(body)).toThrow(/source "gpu-maint.watcher" and detail-type "GPU kernel Xid", got: .*"Other"/);
  });
});

vi.setConfig({ testTimeout: 60_000 });
