/**
 * Latency of the kernel-log watcher, kernel line → notification published, through the real code:
 *
 * - local: the bundled scripts/gpu-watch.sh following a fake journal (test/fakes/bin/journalctl -f), its
 *   events evaluated by `gpu-maint watch`'s adapter (lambda/adapters/local/watch.ts) into the local alert
 *   policy, whose notifier stamps the time;
 * - aws: the same script with GPU_MAINT_WATCH_EVENT_BUS set puts each event with a stand-in `aws` CLI
 *   (test/helpers/watch-bus.ts); the entry, wrapped as EventBridge delivers it on the rule's queue, goes
 *   through the real collect Lambda handler with DynamoDB, SNS, EC2, SSM, S3 and CloudWatch stubbed at the
 *   SDK boundary (aws-sdk-client-mock); the SNS Publish stub stamps the time.
 *
 * Each incident is on a new GPU, so the debounce emits it at once and the alert policy notifies it. Every wait is bounded
 * (per incident and for the whole run); child processes are stopped on every exit path.
 *
 * Usage: npx tsx bench/watch/latency.ts [--incidents 20] [--limit-s 240]
 */
import './quiet-env';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { localPolicyAlertSink } from '../../lambda/adapters/local/policy-alert-sink';
import { startLocalWatch } from '../../lambda/adapters/local/watch';
import { validateConfig } from '../../lambda/config/load';
import { handler } from '../../lambda/handlers/collect';
import { FakeAlertTable } from '../../test/alerts/fake-dynamodb';
import { busRecord, FAKES_BIN, setCollectEnv, startWatcherOnBus } from '../../test/helpers/watch-bus';

const { values: args } = parseArgs({
  options: { incidents: { type: 'string', default: '20' }, 'limit-s': { type: 'string', default: '240' } },
});
const INCIDENTS = Number(args.incidents);
const LIMIT_S = Number(args['limit-s']);
if (!Number.isInteger(INCIDENTS) || INCIDENTS < 1 || INCIDENTS > 200) throw new Error(`--incidents must be 1-200, got: ${args.incidents}`);
if (!Number.isInteger(LIMIT_S) || LIMIT_S < 10 || LIMIT_S > 3600) throw new Error(`--limit-s must be 10-3600, got: ${args['limit-s']}`);
/** Longest wait for one step of one incident. */
const STEP_TIMEOUT_MS = 15_000;

const cleanups: (() => Promise<void> | void)[] = [];
async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}
const watchdog = setTimeout(() => {
  process.stderr.write(`bench/watch: gave up after ${LIMIT_S} s (--limit-s)\n`);
  void cleanup().finally(() => process.exit(2));
}, LIMIT_S * 1000);

/**
 * Incident i: Xid 79 on GPU i (its own bus id, and its own alert: an incident on a GPU whose gpu.xid alert
 * already fires is deduplicated by design), with a journal timestamp that grows.
 */
const busId = (i: number) => `${(i + 16).toString(16).padStart(2, '0')}:00`;
const GPUS_SEEN = `boot_id=b0\n${Array.from({ length: INCIDENTS }, (_, i) => `00000000:${busId(i).toUpperCase()}.0 ${i}`).join('\n')}\n`;
function incidentLine(i: number): string {
  const micros = String(i + 1).padStart(6, '0');
  return `2026-11-28T12:00:00.${micros}+0000 ip-10-0-0-1 kernel: NVRM: Xid (PCI:0000:${busId(i)}): 79, pid='<unknown>', name=<unknown>, bench incident ${i}`;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
async function until<T>(probe: () => T | undefined, what: string): Promise<T> {
  const deadline = performance.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`waited ${STEP_TIMEOUT_MS} ms for ${what}`);
    await sleep(5);
  }
}

function stats(label: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return `| ${label.padEnd(40)} | ${String(s.length).padStart(3)} | ${at(0.5).toFixed(0).padStart(6)} | ${at(0.9).toFixed(0).padStart(6)} | ${s[s.length - 1].toFixed(0).padStart(6)} |`;
}

async function localPath(dir: string): Promise<string[]> {
  const config = validateConfig({ local: { stateDir: path.join(dir, 'state') } });
  const journal = path.join(dir, 'journal');
  writeFileSync(journal, '');
  const hostState = path.join(dir, 'state', 'host');
  const notified = new Map<number, number>();
  const evaluated = new Map<number, number>();
  const alerts = localPolicyAlertSink(config, (line) => {
    const m = /bench incident (\d+)/.exec(line);
    if (m && !notified.has(Number(m[1]))) notified.set(Number(m[1]), performance.now());
  });
  const watch = startLocalWatch({
    stateDir: config.local.stateDir,
    alerts,
    env: {
      PATH: `${FAKES_BIN}:${process.env.PATH}`,
      FAKE_JOURNAL_FILE: journal,
      GPU_MAINT_IMDS: 'off',
      GPU_MAINT_HOST_ID: 'i-0bench',
      GPU_MAINT_WATCH_SOURCE: 'journal',
    },
    onEvent: (e) => {
      const m = /bench incident (\d+)/.exec(e.line);
      if (m) evaluated.set(Number(m[1]), performance.now());
    },
  });
  cleanups.push(() => watch.stop());
  mkdirSync(hostState, { recursive: true });
  writeFileSync(path.join(hostState, 'gpu-check.gpus-seen'), GPUS_SEEN);
  await until(() => (existsSync(path.join(hostState, 'gpu-watch.journal-cursor')) ? true : undefined), 'the follower to start');
  const toPublished: number[] = [];
  for (let i = 0; i < INCIDENTS; i++) {
    const t0 = performance.now();
    appendFileSync(journal, `${incidentLine(i)}\n`);
    const t1 = await until(() => notified.get(i), `local incident ${i} to be notified`);
    toPublished.push(t1 - t0);
  }
  await watch.stop();
  return [stats('local: line → notification', toPublished)];
}

async function awsPath(dir: string): Promise<string[]> {
  const config = validateConfig({ fleet: { name: 'bench' } });
  const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:alerts';
  setCollectEnv(config, TOPIC, 'gpu-maint.Bench.gpu-check.x');
  new FakeAlertTable();
  const published = new Map<number, number>();
  mockClient(SNSClient)
    .on(PublishCommand)
    .callsFake((input: { Message?: string }) => {
      const m = /bench incident (\d+)/.exec(input.Message ?? '');
      if (m && !published.has(Number(m[1]))) published.set(Number(m[1]), performance.now());
      return { MessageId: 'm' };
    });
  mockClient(EC2Client).on(DescribeTagsCommand).resolves({ Tags: [] });
  mockClient(CloudWatchClient).on(PutMetricDataCommand).resolves({});
  const context = { functionName: 'collect', awsRequestId: 'bench', getRemainingTimeInMillis: () => 120_000 } as unknown as Context;

  const watcher = startWatcherOnBus(dir, { env: { GPU_MAINT_HOST_ID: 'i-0bench' } });
  cleanups.push(() => watcher.stop());
  writeFileSync(path.join(watcher.stateDir, 'gpu-check.gpus-seen'), GPUS_SEEN);
  await watcher.following();
  const toEvent: number[] = [];
  const toEvaluated: number[] = [];
  const toPublished: number[] = [];
  for (let i = 0; i < INCIDENTS; i++) {
    const t0 = performance.now();
    appendFileSync(watcher.journal, `${incidentLine(i)}\n`);
    const call = await until(() => watcher.calls()[i], `incident ${i} to be put on the bus`);
    const t1 = performance.now();
    const response = await handler({ Records: [busRecord(call.entries[0], `w${i}`, new Date())] }, context);
    const t2 = performance.now();
    if (response.batchItemFailures.length > 0) throw new Error(`incident ${i}: the collect handler failed the record`);
    const t3 = await until(() => published.get(i), `incident ${i} to be published`);
    toEvent.push(t1 - t0);
    toEvaluated.push(t2 - t0);
    toPublished.push(t3 - t0);
  }
  await watcher.stop();
  return [
    stats('aws: line → put-events (watcher)', toEvent),
    stats('aws: line → evaluated (collect handler)', toEvaluated),
    stats('aws: line → SNS Publish', toPublished),
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-bench-watch-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const lines = [
    `watcher latency: ${INCIDENTS} incidents per path, node ${process.version}, ${os.cpus().length} CPUs`,
    '',
    `| ${'path and step'.padEnd(40)} |   n | p50 ms | p90 ms | max ms |`,
    `|${'-'.repeat(42)}|-----|--------|--------|--------|`,
  ];
  const local = path.join(dir, 'local');
  const aws = path.join(dir, 'aws');
  mkdirSync(local);
  mkdirSync(aws);
  lines.push(...(await localPath(local)));
  lines.push(...(await awsPath(aws)));
  process.stdout.write(`${lines.join('\n')}\n`);
}

main()
  .then(cleanup, async (err) => {
    process.stderr.write(`bench/watch: ${(err as Error).stack ?? err}\n`);
    await cleanup();
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(watchdog));
