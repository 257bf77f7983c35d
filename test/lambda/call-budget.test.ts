/**
 * The call budget (lambda/core/call-budget.ts) measured on the real code: the collect and dispatch
 * handlers run over a synthetic sweep with every AWS client mocked and counting, and the calls per result
 * and per sweep are extrapolated to a sweep of 10,000 hosts. The test fails when a change adds a call
 * that breaks a quota at that size (or calls an API the budget does not list).
 */
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient, PutItemCommand, QueryCommand, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { validateConfig } from '../../lambda/config/load';
import {
  AGENT_CLOUDWATCH_CALLS_PER_INVOCATION,
  budgetTable,
  type CallProfile,
  REQUIRED_HEADROOM,
  sweepBudget,
} from '../../lambda/core/call-budget';
import type { DispatchSettings } from '../../lambda/core/dispatch';
import { setCollectEnv } from '../helpers/collect-env';
import { gpuCheckOutput } from '../helpers/gpu-check-output';
import { fakeWaitPort, lambdaContext } from '../helpers/lambda-time';

const mocks: [service: string, stub: ReturnType<typeof mockClient>][] = [
  ['ssm', mockClient(SSMClient) as never],
  ['s3', mockClient(S3Client) as never],
  ['cloudwatch', mockClient(CloudWatchClient) as never],
  ['sns', mockClient(SNSClient) as never],
  ['dynamodb', mockClient(DynamoDBClient) as never],
  ['ec2', mockClient(EC2Client) as never],
];
const [ssm, s3, cloudwatch, sns, dynamodb, ec2] = mocks.map(([, m]) => m);

const DOC = 'GpuMaint-GpuCheckDocument-abc';
const config = validateConfig({ fleet: { name: 'prod' } });
const context = lambdaContext('collect');
/** The synthetic sweep: mostly healthy hosts, some with a finding, some whose run failed. */
const RESULTS = 200;
const BATCH = 25;
const COMMAND_ID = '0b5f3c2e-1d4a-4c8e-9f61-2a7b8c9d0e1f';
const host = (i: number) => `i-${i.toString(16).padStart(17, '0')}`;
const failed = (i: number) => i % 50 === 7;
const hot = (i: number) => i % 40 === 3;

/** Calls each mocked client received, keyed `service:Operation`. */
function counts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [service, stub] of mocks) {
    for (const call of stub.calls()) {
      const name = (call.args[0] as object).constructor.name.replace(/Command$/, '');
      out[`${service}:${name}`] = (out[`${service}:${name}`] ?? 0) + 1;
    }
  }
  return out;
}

function record(i: number): SQSRecord {
  const event = {
    source: 'aws.ssm',
    'detail-type': 'EC2 Command Invocation Status-change Notification',
    detail: { 'command-id': COMMAND_ID, 'document-name': DOC, 'instance-id': host(i), status: failed(i) ? 'Failed' : 'Success' },
  };
  return { messageId: `m-${i}`, body: JSON.stringify(event) } as SQSRecord;
}

/** Measures the collector's calls per result and the dispatcher's per sweep, as the stack deploys them. */
async function measure(options: { cloudWatchOutput: boolean }): Promise<CallProfile> {
  for (const [, m] of mocks) m.reset();
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const instanceId = input.Key.split('/')[3];
    const i = Number.parseInt(instanceId.slice(2), 16);
    return { Body: { transformToString: async () => gpuCheckOutput({ host: instanceId, temperatures: hot(i) ? { 2: 93 } : {} }) } };
  });
  ssm
    .on(GetCommandInvocationCommand)
    .resolves({ Status: 'Failed', ResponseCode: 1, StandardOutputContent: '', StandardErrorContent: 'boom' });
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
  ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: COMMAND_ID, TargetCount: RESULTS, Status: 'InProgress' }] });
  cloudwatch.on(PutMetricDataCommand).resolves({});
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  dynamodb.on(QueryCommand).resolves({ Items: [] });
  dynamodb.on(PutItemCommand).resolves({});
  dynamodb.on(TransactWriteItemsCommand).resolves({});
  ec2.on(DescribeTagsCommand).resolves({ Tags: [] });

  const settings: DispatchSettings = {
    fleetTag: { key: 'gpu-maint:fleet', value: 'prod' },
    maxConcurrency: '10%',
    maxErrors: '10%',
    outputBucket: 'output-bucket',
    outputKeyPrefix: 'command-output/',
    metricsNamespace: 'GpuFleetMaintenance',
    ...(options.cloudWatchOutput ? { commandLogGroup: '/gpu-maint/commands' } : {}),
    tasks: { 'gpu-check': { documentName: DOC, deliveryTimeoutSeconds: 240 } },
  };
  process.env.GPU_MAINT_DISPATCH = JSON.stringify(settings);
  // Fresh handler modules: each builds its clients and caches (silences) on its first event, as a new container does.
  vi.resetModules();
  const { handler: dispatch } = await import('../../lambda/handlers/dispatch.js');
  const collect = (await import('../../lambda/handlers/collect.js')).collectHandler(fakeWaitPort());
  await dispatch({ task: 'gpu-check' }, context);
  const perSweep = counts();
  const streamsToLogs = ssm.commandCalls(SendCommandCommand)[0].args[0].input.CloudWatchOutputConfig?.CloudWatchOutputEnabled === true;

  for (const [, m] of mocks) m.resetHistory();
  for (let from = 0; from < RESULTS; from += BATCH) {
    const event: SQSEvent = { Records: Array.from({ length: Math.min(BATCH, RESULTS - from) }, (_, k) => record(from + k)) };
    const response = await collect(event, context);
    expect(response.batchItemFailures).toEqual([]);
  }
  const perResult = Object.fromEntries(Object.entries(counts()).map(([api, n]) => [api, n / RESULTS]));
  // The agent's calls are not the collector's: they follow from what SendCommand asked for.
  if (streamsToLogs) Object.assign(perResult, AGENT_CLOUDWATCH_CALLS_PER_INVOCATION);
  return { perResult, perSweep };
}

const TEN_THOUSAND = { hosts: 10_000, batchSize: 100, arrivalSeconds: 60 } as const;

// The unit project shares one process between test files (isolate: false): the environment and the handler
// modules this file sets up are put back afterwards.
const savedEnv = { ...process.env };
afterAll(() => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  for (const [, m] of mocks) m.reset();
  vi.resetModules();
});

beforeAll(() => {
  process.env.AWS_REGION = 'eu-west-1';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  setCollectEnv(config, 'arn:aws:sns:eu-west-1:111122223333:alerts', DOC, 'GpuMaint-AlertState');
});

describe('the call budget of a 10,000-host sweep, measured on the real handlers', () => {
  test('every API stays within its quota with headroom', async () => {
    const rows = sweepBudget(await measure({ cloudWatchOutput: false }), TEN_THOUSAND);
    if (process.env.PRINT_BUDGET)
      for (const n of [1_000, 10_000, 50_000])
        console.log(`\n${n} hosts\n${budgetTable(sweepBudget(await measure({ cloudWatchOutput: false }), { ...TEN_THOUSAND, hosts: n }))}`);
    const tight = rows
      .filter((r) => r.headroom < REQUIRED_HEADROOM)
      .map((r) => `${r.api}: ${r.peakPerSecond.toFixed(1)}/s against ${r.quota.perSecond}/s`);
    expect(tight).toEqual([]);
  });

  test('a successful result costs no SSM control-plane call and silences cost no per-result EC2 call', async () => {
    const { perResult } = await measure({ cloudWatchOutput: false });
    // Only the failed runs (2 %) are read with GetCommandInvocation.
    expect(perResult['ssm:GetCommandInvocation']).toBeCloseTo(RESULTS / 50 / RESULTS, 5);
    expect(perResult['ec2:DescribeTags'] * RESULTS).toBe(1);
  });

  test('the dispatcher makes a constant number of calls per sweep and lists nothing', async () => {
    const { perSweep } = await measure({ cloudWatchOutput: false });
    expect(perSweep).toEqual({ 'ssm:SendCommand': 1, 'ssm:ListCommands': 1, 'cloudwatch:PutMetricData': 1 });
  });

  test('with command output streamed to CloudWatch Logs the agents break the Logs control-plane quotas', async () => {
    const rows = sweepBudget(await measure({ cloudWatchOutput: true }), TEN_THOUSAND);
    expect(rows.filter((r) => r.headroom < 1).map((r) => r.api)).toEqual([
      'logs:CreateLogGroup',
      'logs:CreateLogStream',
      'logs:DescribeLogStreams',
    ]);
  });
});
