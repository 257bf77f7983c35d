/**
 * The prune Lambda (lambda/handlers/prune.ts) against mocked S3 and CloudWatch: which keys it deletes,
 * that a dry run deletes none, and the SnapshotAgeHours metric it publishes.
 */
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { handler } from '../../lambda/handlers/prune';
import { manifestJson } from './manifests';

// The handler reads its settings once, at import (as in Lambda): set them before any import runs.
vi.hoisted(() => {
  process.env.GPU_MAINT_PRUNE_SETTINGS = JSON.stringify({
    bucket: 'backup-bucket',
    prefix: '',
    namespace: 'GpuFleetMaintenance',
    fleet: 'prod',
    maxAgeHours: 26,
    retention: { keepLast: 2, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, graceDays: 2 },
  });
});

const s3 = mockClient(S3Client);
const cloudwatch = mockClient(CloudWatchClient);
const lambda = mockClient(LambdaClient);
const HOST = 'AROAEXAMPLE:i-0abc';
const BASE = `backups/${HOST}/`;
const fp = (n: number) => n.toString(16).padStart(64, '0');
const NOW = new Date('2026-11-28T12:00:00Z');
const ids = ['20261125T020000Z', '20261126T020000Z', '20261127T020000Z', '20261128T020000Z'];

beforeAll(() => {
  vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
});

afterAll(() => {
  vi.useRealTimers();
});

beforeEach(() => {
  s3.reset();
  cloudwatch.reset();
  lambda.reset();
  s3.on(ListObjectsV2Command, { Prefix: 'backups/', Delimiter: '/' }).resolves({ CommonPrefixes: [{ Prefix: BASE }] });
  s3.on(ListObjectsV2Command, { Prefix: `${BASE}snapshots/` }).resolves({
    Contents: ids.map((id) => ({ Key: `${BASE}snapshots/${id}.json`, Size: 100 })),
  });
  ids.forEach((id, i) => {
    const body = manifestJson(
      id,
      [
        { id: 'base', fp: fp(0) },
        { id: `u${i}`, fp: fp(i + 1) },
      ],
      'i-0abc',
    );
    s3.on(GetObjectCommand, { Key: `${BASE}snapshots/${id}.json` }).resolves({ Body: { transformToString: async () => body } as never });
  });
  s3.on(ListObjectsV2Command, { Prefix: `${BASE}units/` }).resolves({
    Contents: [
      { Key: `${BASE}units/base/${fp(0)}.tar.zst`, Size: 10, LastModified: new Date('2026-11-01T00:00:00Z') },
      ...ids.map((_, i) => ({
        Key: `${BASE}units/u${i}/${fp(i + 1)}.tar.zst`,
        Size: 1000,
        LastModified: new Date(`2026-11-2${5 + i}T02:00:00Z`),
      })),
    ],
  });
  s3.on(DeleteObjectsCommand).resolves({});
  cloudwatch.on(PutMetricDataCommand).resolves({});
});

describe('prune Lambda', () => {
  test('deletes the manifests outside retention and the old archives only they referenced', async () => {
    const summary = await handler({});
    expect(s3).toHaveReceivedCommandTimes(DeleteObjectCommand, 2);
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, { Bucket: 'backup-bucket', Key: `${BASE}snapshots/20261125T020000Z.json` });
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, { Bucket: 'backup-bucket', Key: `${BASE}snapshots/20261126T020000Z.json` });
    // u0 and u1 are referenced only by the dropped snapshots and older than the 2-day grace; base is shared.
    expect(s3).toHaveReceivedCommandWith(DeleteObjectsCommand, {
      Bucket: 'backup-bucket',
      Delete: { Objects: [{ Key: `${BASE}units/u0/${fp(1)}.tar.zst` }, { Key: `${BASE}units/u1/${fp(2)}.tar.zst` }], Quiet: true },
    });
    expect(summary).toMatchObject({ snapshotsPruned: 2, archivesPruned: 2 });
  });

  test('a dry run deletes nothing', async () => {
    await handler({ dryRun: true });
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
    expect(s3).not.toHaveReceivedCommand(DeleteObjectsCommand);
  });

  test("publishes the host's snapshot age on the fleet series", async () => {
    await handler({});
    const data = cloudwatch.commandCalls(PutMetricDataCommand).flatMap((c) => c.args[0].input.MetricData ?? []);
    const age = data.find((d) => d.MetricName === 'SnapshotAgeHours');
    expect(age).toMatchObject({ Dimensions: [{ Name: 'Fleet', Value: 'prod' }], Values: [10] });
    expect(cloudwatch).toHaveReceivedCommandWith(PutMetricDataCommand, { Namespace: 'GpuFleetMaintenance' });
  });

  test("each host's audit line carries the backup.age finding's text", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await handler({});
    } finally {
      spy.mockRestore();
    }
    const audit = lines.map((l) => JSON.parse(l)).find((l) => l.message === 'backup audit');
    expect(audit).toMatchObject({ hostKey: HOST, severity: 'ok', finding: expect.stringContaining('10.0 h old') });
  });

  test('an event that is not an object with an optional boolean dryRun is rejected', async () => {
    await expect(handler({ dryRun: 'yes' })).rejects.toThrow();
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  test('a host that cannot be listed fails the invocation after the metrics are published', async () => {
    s3.on(ListObjectsV2Command, { Prefix: `${BASE}snapshots/` }).rejects(new Error('AccessDenied'));
    await expect(handler({})).rejects.toThrow(`prune failed for 1 host(s): ${HOST}`);
    const data = cloudwatch.commandCalls(PutMetricDataCommand).flatMap((c) => c.args[0].input.MetricData ?? []);
    expect(data.find((d) => d.MetricName === 'PruneErrors')).toMatchObject({ Values: [1] });
  });

  test('with too little time left for a second host, it prunes one and invokes itself to go on after it', async () => {
    s3.on(ListObjectsV2Command, { Prefix: 'backups/', Delimiter: '/' }).resolves({
      CommonPrefixes: [{ Prefix: BASE }, { Prefix: 'backups/AROAEXAMPLE:i-0def/' }],
    });
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', 'gpu-maint-prune');
    let remaining = 200_000;
    const context = { getRemainingTimeInMillis: () => (remaining -= 60_000) } as unknown as Context;
    try {
      const summary = await handler({}, context);
      expect(summary).toMatchObject({ hosts: 1 });
    } finally {
      vi.unstubAllEnvs();
    }
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ FunctionName: 'gpu-maint-prune', InvocationType: 'Event' });
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual({
      dryRun: false,
      continuation: { after: HOST, part: 2, totals: { hosts: 1, stale: 0, errors: 0 } },
    });
  });

  test('the last part publishes the fleet counts with those of the parts before', async () => {
    await handler({ continuation: { after: 'AROAEXAMPLE:i-0000', part: 2, totals: { hosts: 4, stale: 1, errors: 0 } } });
    const data = cloudwatch.commandCalls(PutMetricDataCommand).flatMap((c) => c.args[0].input.MetricData ?? []);
    expect(data.find((d) => d.MetricName === 'BackupHosts')).toMatchObject({ Values: [5] });
    expect(data.find((d) => d.MetricName === 'BackupHostsStale')).toMatchObject({ Values: [1] });
    expect(lambda).not.toHaveReceivedCommand(InvokeCommand);
  });
});
