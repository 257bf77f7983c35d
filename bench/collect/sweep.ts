/**
 * Pushes a simulated gpu-check sweep of a fleet (default 10,000 instances × 8 GPUs) through the collect
 * path (lambda/core/collect.ts: evaluate, then deliver per SQS batch) with counting fakes for SSM,
 * CloudWatch, SNS and the log, for each metrics.detail level, and prints:
 * - PutMetricData calls and datums per sweep (the real CloudWatchMetricsSink packs them);
 * - distinct metric series (billed custom metrics), also for a 100-instance fleet to show whether the
 *   count depends on fleet size;
 * - CPU time per result;
 * - monthly CloudWatch cost at that size (metrics + PutMetricData requests + the per-result log).
 *
 * Usage: npx tsx bench/collect/sweep.ts [--instances 10000] [--gpus 8] [--batch 100]
 */
import type { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMetricsSink } from '../../lambda/adapters/aws/cloudwatch-metrics';
import { validateConfig } from '../../lambda/config/load';
import { type CollectDeps, type CollectedResult, deliverResults, evaluateInvocation, type InvocationRef } from '../../lambda/core/collect';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateGpuCheck } from '../../lambda/core/gpu/evaluate';
import { seriesKey } from '../../lambda/core/metrics';
import type { TaskResult } from '../../lambda/core/types';
import { gpuCheckOutput } from '../../test/helpers/gpu-check-output';

/** us-east-1 list prices (2026): custom metrics per month by tier, API requests, log ingestion. */
const METRIC_TIERS: readonly [upTo: number, usdPerMetricMonth: number][] = [
  [10_000, 0.3],
  [250_000, 0.1],
  [1_000_000, 0.05],
  [Number.POSITIVE_INFINITY, 0.02],
];
const USD_PER_1000_REQUESTS = 0.01;
const USD_PER_GB_LOGS = 0.5;
/** gpu-check every 5 minutes for 30 days. */
const SWEEPS_PER_MONTH = (30 * 24 * 60) / 5;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function metricCost(series: number): number {
  let left = series;
  let from = 0;
  let usd = 0;
  for (const [upTo, price] of METRIC_TIERS) {
    const inTier = Math.min(left, upTo - from);
    usd += inTier * price;
    left -= inTier;
    from = upTo;
    if (left <= 0) break;
  }
  return usd;
}

/** Deterministic pseudo-random numbers, so every run simulates the same fleet. */
function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

function simulatedFleet(instances: number, gpus: number): Map<string, string> {
  const random = rng(42);
  const outputs = new Map<string, string>();
  for (let i = 0; i < instances; i++) {
    const host = `i-${i.toString(16).padStart(17, '0')}`;
    const temperatures: Record<number, number> = {};
    for (let g = 0; g < gpus; g++) temperatures[g] = 35 + Math.round(random() * 50);
    const xidLines = random() < 0.01 ? ['NVRM: Xid (PCI:0000:10:1d): 79, pid=1, name=python, GPU has fallen off the bus.'] : [];
    outputs.set(host, gpuCheckOutput({ host, gpus, temperatures, xidLines }));
  }
  return outputs;
}

interface SweepStats {
  readonly putCalls: number;
  readonly datums: number;
  readonly series: number;
  readonly alerts: number;
  readonly cpuMsPerResult: number;
  readonly logBytesPerResult: number;
  /** Average line of a healthy host (no finding). */
  readonly healthyLogBytes: number;
}

async function sweep(outputs: Map<string, string>, detail: 'fleet' | 'instance' | 'gpu', batchSize: number): Promise<SweepStats> {
  const settings = evaluationSettings(validateConfig({ metrics: { detail } }));
  let putCalls = 0;
  let datums = 0;
  const counting = {
    send: async (command: PutMetricDataCommand) => {
      putCalls++;
      datums += command.input.MetricData?.length ?? 0;
      return {};
    },
  } as unknown as CloudWatchClient;
  const metrics = new CloudWatchMetricsSink(counting, 'GpuFleetMaintenance');
  const series = new Set<string>();
  let alerts = 0;
  let logBytes = 0;
  let healthyBytes = 0;
  let healthy = 0;
  const deps: CollectDeps = {
    settings,
    documents: { 'GpuMaint-GpuCheckDocument': 'gpu-check' },
    evaluatorFor: () => evaluateGpuCheck,
    isFleetCheck: () => true,
    outputs: {
      fetch: async (ref) => ({ stdout: outputs.get(ref.instanceId) ?? '', stderr: '', responseCode: 0, status: 'Success' }),
    },
    metrics: {
      put: async (m, at) => {
        for (const d of m) series.add(seriesKey(d));
        await metrics.put(m, at);
      },
      flush: () => metrics.flush(),
    },
    alerts: {
      publish: async (result: TaskResult) => {
        if (result.findings.some((f) => f.severity !== 'ok')) alerts++;
      },
    },
    log: {
      // The collector's result logger writes this envelope (lambda/adapters/aws/collect-deps.ts resultLog).
      write: (record) => {
        const bytes =
          Buffer.byteLength(
            JSON.stringify({
              level: 'INFO',
              message: 'task result',
              timestamp: '2026-11-28T12:01:00.000Z',
              service: 'gpu-maint-collect',
              sampling_rate: 0,
              result: record,
            }),
          ) + 1;
        logBytes += bytes;
        if (record.status === 'ok') {
          healthyBytes += bytes;
          healthy++;
        }
      },
    },
    clock: { now: () => new Date('2026-11-28T12:01:00Z') },
  };

  const hosts = [...outputs.keys()];
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < hosts.length; i += batchSize) {
    const items: { id: string; collected: CollectedResult }[] = [];
    for (const host of hosts.slice(i, i + batchSize)) {
      const ref: InvocationRef = { commandId: 'cmd-1', instanceId: host, documentName: 'GpuMaint-GpuCheckDocument', status: 'Success' };
      items.push({ id: host, collected: await evaluateInvocation(ref, deps) });
    }
    await deliverResults(items, deps);
  }
  const cpu = process.cpuUsage(cpuBefore);
  return {
    putCalls,
    datums,
    series: series.size,
    alerts,
    cpuMsPerResult: (cpu.user + cpu.system) / 1000 / hosts.length,
    logBytesPerResult: logBytes / hosts.length,
    healthyLogBytes: healthy ? healthyBytes / healthy : 0,
  };
}

async function main(): Promise<void> {
  const instances = arg('instances', 10000);
  const gpus = arg('gpus', 8);
  const batchSize = arg('batch', 100);
  const fleet = simulatedFleet(instances, gpus);
  const small = simulatedFleet(Math.max(1, Math.round(instances / 10)), gpus);
  // Warm-up: the first results pay for JIT compilation.
  await sweep(simulatedFleet(50, gpus), 'fleet', batchSize);

  console.log(`gpu-check sweep: ${instances} instances × ${gpus} GPUs, SQS batches of ${batchSize}, node ${process.version}`);
  console.log(
    `monthly figures: ${SWEEPS_PER_MONTH} sweeps (every 5 min, 30 days); $${METRIC_TIERS[0][1]}/metric-month first 10k, $${USD_PER_1000_REQUESTS}/1000 PutMetricData, $${USD_PER_GB_LOGS}/GB logs`,
  );
  console.log('');
  const header = [
    'detail',
    'PutMetricData/sweep',
    'datums/sweep',
    `series@${small.size}`,
    `series@${instances}`,
    'CPU ms/result',
    'log B/result',
    'metrics $/mo',
    'requests $/mo',
    'logs $/mo',
    'total $/mo',
  ];
  const rows: string[][] = [];
  for (const detail of ['fleet', 'instance', 'gpu'] as const) {
    const smallStats = await sweep(small, detail, batchSize);
    const s = await sweep(fleet, detail, batchSize);
    const metricsUsd = metricCost(s.series);
    const requestsUsd = (s.putCalls * SWEEPS_PER_MONTH * USD_PER_1000_REQUESTS) / 1000;
    const logsUsd = (s.logBytesPerResult * instances * SWEEPS_PER_MONTH * USD_PER_GB_LOGS) / 1024 ** 3;
    rows.push([
      detail,
      String(s.putCalls),
      String(s.datums),
      String(smallStats.series),
      String(s.series),
      s.cpuMsPerResult.toFixed(2),
      s.logBytesPerResult.toFixed(0),
      metricsUsd.toFixed(2),
      requestsUsd.toFixed(2),
      logsUsd.toFixed(2),
      (metricsUsd + requestsUsd + logsUsd).toFixed(2),
    ]);
    if (detail === 'fleet') {
      console.log(`alerts published per sweep (hosts with a non-ok finding): ${s.alerts}`);
      console.log(
        `log line: ${s.healthyLogBytes.toFixed(0)} B for a healthy host, ${s.logBytesPerResult.toFixed(0)} B on average over the fleet`,
      );
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  console.log('');
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
