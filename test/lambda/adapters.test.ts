/**
 * Pieces of the collect path on their own: PutMetricData packing, S3 output URLs, the SNS alert text,
 * and the mapping from SSM invocation statuses to the core's TaskOutput.
 */
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import {
  CloudWatchMetricsSink,
  estimateDatumBytes,
  MAX_DATUMS_PER_PUT,
  MAX_PUT_BYTES,
  MAX_VALUES_PER_DATUM,
  packRequests,
} from '../../lambda/adapters/aws/cloudwatch-metrics';
import { resultLog } from '../../lambda/adapters/aws/collect-deps';
import { jsonEnv } from '../../lambda/adapters/aws/env';
import { alertMessage } from '../../lambda/adapters/aws/sns-alerts';
import { isTruncated, parseS3Url } from '../../lambda/adapters/aws/ssm-invocation-output';
import { validateConfig } from '../../lambda/config/load';
import {
  HEALTHY_LINE_BUDGET_BYTES,
  type InvocationRef,
  LOGGED_DELETED_PATHS,
  metricTimestamp,
  resultLogRecord,
  taskOutputFromInvocation,
} from '../../lambda/core/collect';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { PRUNE_ENV } from '../../lambda/core/lambda-env';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { MetricDatum, TaskResult } from '../../lambda/core/types';
import { taskDefinition } from '../../lambda/tasks/registry';
import { gpuCheckOutput } from '../helpers/gpu-check-output';

const cloudwatch = mockClient(CloudWatchClient);
const AT = new Date('2026-11-28T12:00:30Z');

const metric = (name: string, value: number, dimensions: Record<string, string> = { Fleet: 'prod' }): MetricDatum => ({
  name,
  value,
  unit: 'None',
  dimensions,
});

describe('CloudWatchMetricsSink', () => {
  beforeEach(() => {
    cloudwatch.reset();
    cloudwatch.on(PutMetricDataCommand).resolves({});
  });

  test('repeated values of one series become one datum with counts', async () => {
    const sink = new CloudWatchMetricsSink(new CloudWatchClient({}), 'NS');
    for (const v of [60, 70, 60]) await sink.put([metric('GpuTemperatureMax', v)], AT);
    await sink.flush();
    const [datum] = cloudwatch.commandCalls(PutMetricDataCommand)[0].args[0].input.MetricData ?? [];
    expect(datum).toMatchObject({
      MetricName: 'GpuTemperatureMax',
      Values: [60, 70],
      Counts: [2, 1],
      Timestamp: new Date('2026-11-28T12:00:00Z'),
    });
  });

  test('a series with more than 150 distinct values spans several datums', async () => {
    const sink = new CloudWatchMetricsSink(new CloudWatchClient({}), 'NS');
    for (let v = 0; v < 400; v++) await sink.put([metric('LoadPerCpu', v / 100)], AT);
    expect(sink.pendingDatums().map((d) => d.Values?.length)).toEqual([MAX_VALUES_PER_DATUM, MAX_VALUES_PER_DATUM, 100]);
  });

  test('different minutes of one series stay separate datapoints', async () => {
    const sink = new CloudWatchMetricsSink(new CloudWatchClient({}), 'NS');
    await sink.put([metric('XidEvents', 1)], AT);
    await sink.put([metric('XidEvents', 1)], new Date('2026-11-28T12:01:10Z'));
    expect(sink.pendingDatums()).toHaveLength(2);
  });

  test('flush empties the buffer, so a second flush sends nothing', async () => {
    const sink = new CloudWatchMetricsSink(new CloudWatchClient({}), 'NS');
    await sink.put([metric('XidEvents', 1)], AT);
    await sink.flush();
    await sink.flush();
    expect(cloudwatch).toHaveReceivedCommandTimes(PutMetricDataCommand, 1);
  });

  test('2,500 series go out in calls of at most 1,000 datums', async () => {
    const sink = new CloudWatchMetricsSink(new CloudWatchClient({}), 'NS');
    for (let i = 0; i < 2500; i++) await sink.put([metric('GpuTemperature', 40, { Fleet: 'prod', InstanceId: `i-${i}`, Gpu: '0' })], AT);
    await sink.flush();
    const sizes = cloudwatch.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input.MetricData?.length);
    expect(sizes).toEqual([MAX_DATUMS_PER_PUT, MAX_DATUMS_PER_PUT, 500]);
  });

  test('large datums are packed under 1 MB per call', () => {
    const values = Array.from({ length: 150 }, (_, i) => i + 0.123456789);
    const datums = Array.from({ length: 300 }, (_, i) => ({
      MetricName: 'GpuTemperature',
      Dimensions: [{ Name: 'InstanceId', Value: `i-${String(i).padStart(17, '0')}` }],
      Values: values,
      Counts: values.map(() => 1),
    }));
    const requests = packRequests(datums);
    expect(requests.length).toBeGreaterThan(1);
    for (const r of requests) expect(r.reduce((n, d) => n + estimateDatumBytes(d), 200)).toBeLessThanOrEqual(MAX_PUT_BYTES);
    expect(requests.flat()).toHaveLength(300);
  });
});

describe('SSM output locations', () => {
  test.each([
    [
      'https://s3.eu-west-1.amazonaws.com/my-bucket/command-output/gpu-check/c1/i-1/awsrunShellScript/runTask/stdout',
      'my-bucket',
      'command-output/gpu-check/c1/i-1/awsrunShellScript/runTask/stdout',
    ],
    ['https://s3.amazonaws.com/my-bucket/a/b', 'my-bucket', 'a/b'],
    ['https://my-bucket.s3.eu-west-1.amazonaws.com/a/b', 'my-bucket', 'a/b'],
    ['https://my.dotted.bucket.s3.amazonaws.com/a%20b', 'my.dotted.bucket', 'a b'],
  ])('%s is s3://%s/%s', (url, bucket, key) => {
    expect(parseS3Url(url)).toEqual({ bucket, key });
  });

  test.each(['', 'not a url', 'https://example.com/a/b'])('%j is not an S3 object URL', (url) => {
    expect(parseS3Url(url)).toBeNull();
  });

  test.each([
    ['short output', 'ok\n', false],
    ['the agent marked it', `${'x'.repeat(100)}\n---Output truncated---`, true],
    ['it is exactly the 24,000-character limit', 'x'.repeat(24_000), true],
  ])('%s: truncated is %s', (_, stdout, expected) => {
    expect(isTruncated(stdout)).toBe(expected);
  });
});

describe('invocation status to TaskOutput', () => {
  const ref: InvocationRef = { commandId: 'c', instanceId: 'i-1', documentName: 'd', status: 'Success' };
  test.each([
    ['Success', undefined, 0, undefined, 0],
    ['Failed', 'Failed', 2, undefined, 2],
    ['Failed', 'Undeliverable', -1, 'Undeliverable', null],
    ['TimedOut', 'DeliveryTimedOut', -1, 'DeliveryTimedOut', null],
    ['TimedOut', 'ExecutionTimedOut', -1, 'ExecutionTimedOut', null],
    ['Cancelled', 'Cancelled', -1, 'Cancelled', null],
    ['Failed', 'Failed', -1, 'Failed', null],
  ])(
    'status %s (%s), response code %i → invocationStatus %s, exit %s',
    (status, statusDetails, responseCode, invocationStatus, exitCode) => {
      const out = taskOutputFromInvocation(
        ref,
        { stdout: '', stderr: '', status, responseCode, ...(statusDetails ? { statusDetails } : {}) },
        'gpu-check',
      );
      expect(out.invocationStatus).toBe(invocationStatus);
      expect(out.exitCode).toBe(exitCode);
      expect(out.host).toBe('i-1');
    },
  );

  test('the event status stands in when SSM still says InProgress', () => {
    const out = taskOutputFromInvocation(
      { ...ref, status: 'TimedOut' },
      { stdout: '', stderr: '', status: 'InProgress', responseCode: -1 },
      'gpu-check',
    );
    expect(out.invocationStatus).toBe('TimedOut');
  });

  test.each([
    ['2026-11-28T11:58:00Z', '2026-11-28T11:58:00.000Z'],
    [undefined, AT.toISOString()],
    ['garbage', AT.toISOString()],
    ['2026-10-01T00:00:00Z', AT.toISOString()],
  ])('a result started at %s is stamped %s', (at, expected) => {
    const result = { task: 'gpu-check', host: 'h', status: 'ok', findings: [], metrics: [], ...(at ? { at } : {}) } as TaskResult;
    expect(metricTimestamp(result, AT).toISOString()).toBe(expected);
  });
});

describe('alert messages', () => {
  const result: TaskResult = {
    task: 'health-check',
    host: 'i-0abc',
    status: 'warning',
    at: '2026-11-28T12:00:00Z',
    findings: [
      { check: 'health.disk', severity: 'warning', message: '/data 91% used', reading: 91, threshold: 'warn ≥ 85, crit ≥ 95 %' },
      { check: 'health.memory', severity: 'ok', message: 'fine' },
      { check: 'health.load', severity: 'warning', message: 'load 2.0 per CPU' },
    ],
    metrics: [],
  };

  test('an all-ok result has nothing to send', () => {
    expect(alertMessage({ ...result, findings: [result.findings[1]] }, 'prod')).toBeNull();
  });

  test('one message groups every non-ok finding of the result', () => {
    const message = alertMessage(result, 'prod');
    expect(message?.subject).toBe('[WARNING] health-check on i-0abc: health.disk, health.load');
    expect(message?.body.split('\n')).toEqual([
      'health-check on i-0abc (fleet prod) at 2026-11-28T12:00:00Z: warning',
      '',
      'WARNING health.disk: /data 91% used (reading 91; threshold warn ≥ 85, crit ≥ 95 %)',
      'WARNING health.load: load 2.0 per CPU',
    ]);
    expect(message?.attributes.check).toEqual({ DataType: 'String.Array', StringValue: '["health.disk","health.load"]' });
  });

  test('subjects stay ASCII and under 100 characters', () => {
    const long = { ...result, host: `host-${'é'.repeat(200)}` };
    const subject = alertMessage(long, 'prod')?.subject ?? '';
    expect(subject.length).toBeLessThan(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
  });
});

describe('the per-result log line', () => {
  const settings = evaluationSettings(validateConfig({ fleet: { name: 'prod' } }));
  const HOST = 'i-0123456789abcdef0';
  const ref: InvocationRef = { commandId: '0b5f3c2e-1d4a-4c8e-9f61-2a7b8c9d0e1f', instanceId: HOST, documentName: 'd', status: 'Success' };
  const gpuCheck = (options: Parameters<typeof gpuCheckOutput>[0]) =>
    evaluateTaskOutput(
      { task: 'gpu-check', host: HOST, stdout: gpuCheckOutput(options), stderr: '', exitCode: 0 },
      taskDefinition('gpu-check').evaluate,
      settings,
      new Date('2026-11-28T12:00:30Z'),
    );
  /** The line exactly as the collector writes it (its own logger, JSON envelope included). */
  function writtenLine(result: TaskResult): string {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const level = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
    try {
      resultLog().write(resultLogRecord(result, ref, taskDefinition(result.task).fleetCheck));
    } finally {
      spy.mockRestore();
      process.env.POWERTOOLS_LOG_LEVEL = level;
    }
    return lines.join('').trimEnd();
  }

  test('a healthy 8-GPU gpu-check line, envelope included, fits the 512-byte budget', () => {
    const line = writtenLine(gpuCheck({ host: HOST }));
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(HEALTHY_LINE_BUDGET_BYTES);
    // What the dashboard's hottest-GPU query reads.
    expect(JSON.parse(line).result).toMatchObject({
      task: 'gpu-check',
      host: HOST,
      status: 'ok',
      hottestGpu: 0,
      hottestGpuTemperatureC: 40,
    });
  });

  test('a result with a finding logs its findings, counts and per-GPU details', () => {
    const record = resultLogRecord(gpuCheck({ host: HOST, temperatures: { 3: 91 } }), ref, taskDefinition('gpu-check').fleetCheck);
    expect(record).toMatchObject({ status: 'critical', critical: 1, checks: 'gpu.temperature', xidCount: 0, hottestGpu: 3 });
    expect(record.findings).toEqual([expect.objectContaining({ check: 'gpu.temperature' })]);
    expect(record.details?.gpus).toHaveLength(8);
  });

  test('a result with Xid lines logs what the latest-Xid query reads', () => {
    const record = resultLogRecord(
      gpuCheck({ host: HOST, xidLines: ['NVRM: Xid (PCI:0000:10:1c): 79, pid=1, name=python, GPU has fallen off the bus.'] }),
      ref,
      true,
    );
    expect(record.xidCount).toBe(1);
    expect(record.xidSummary).toMatch(/Xid 79/);
  });

  test('a cleanup that deleted thousands of paths logs only the first ones and how many were left out', () => {
    const deleted = Array.from({ length: 5000 }, (_, i) => ({
      path: `/opt/ml/checkpoints/run/step-${i}.pt`,
      bytes: 1,
      category: 'checkpoints',
    }));
    const record = resultLogRecord(
      { task: 'cleanup', host: 'i-1', status: 'ok', findings: [], metrics: [], cleanup: { dryRun: false, deleted, bytesFreed: 5000 } },
      { commandId: 'c', instanceId: 'i-1', documentName: 'd', status: 'Success' },
      taskDefinition('cleanup').fleetCheck,
    );
    const cleanup = record.details?.cleanup as { deleted: unknown[]; deletedNotLogged: number; bytesFreed: number };
    expect(cleanup.deleted).toHaveLength(LOGGED_DELETED_PATHS);
    expect(cleanup.deletedNotLogged).toBe(5000 - LOGGED_DELETED_PATHS);
    expect(cleanup.bytesFreed).toBe(5000);
    expect(JSON.stringify(record).length).toBeLessThan(256 * 1024);
  });
});

describe('Lambda settings from the environment', () => {
  test('a setting out of range is named with its value and what was expected, not the schema library words', () => {
    const settings = {
      bucket: 'b-1',
      prefix: '',
      namespace: 'N',
      fleet: 'f',
      maxAgeHours: 26,
      retention: { keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, graceDays: 2 },
    };
    const read = () => jsonEnv(PRUNE_ENV, { [PRUNE_ENV.variable]: JSON.stringify(settings) });
    expect(read).toThrow(
      `environment variable ${PRUNE_ENV.variable} is invalid: retention.keepLast: got 0; expected a number of at least 1`,
    );
    expect(read).not.toThrow(/Too small/);
  });
});
