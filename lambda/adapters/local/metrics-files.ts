/**
 * Local metrics sinks: JSON lines appended to <stateDir>/metrics.jsonl (history, for jq), and a
 * Prometheus textfile per task under <stateDir>/textfile/ for node_exporter's textfile collector
 * (world-readable; counters kept in <stateDir>/prometheus-counters.json).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MetricsSink } from '../../core/ports';
import type { GpuReading, MetricDatum, TaskResult, XidEvent } from '../../core/types';

/** metrics.jsonl is rotated to metrics.jsonl.1 (replacing it) when it reaches this size. */
export const METRICS_FILE_MAX_BYTES = 16 * 1024 * 1024;

export class JsonLinesMetricsSink implements MetricsSink {
  constructor(
    readonly file: string,
    private readonly namespace: string,
    /** Size at which the file is rotated: history is capped at about twice this. */
    private readonly maxBytes = METRICS_FILE_MAX_BYTES,
  ) {}

  async put(metrics: readonly MetricDatum[], at: Date): Promise<void> {
    if (metrics.length === 0) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const time = at.toISOString();
    const lines = metrics.map((m) => JSON.stringify({ time, namespace: this.namespace, ...m }));
    const size = existsSync(this.file) ? statSync(this.file).size : 0;
    if (size > 0 && size >= this.maxBytes) renameSync(this.file, `${this.file}.1`);
    appendFileSync(this.file, `${lines.join('\n')}\n`, { mode: 0o644 });
  }
}

/** `GpuTemperatureMax` → `gpu_temperature_max`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .toLowerCase();
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** One Prometheus series: name (with gpu_maint_ prefix and unit suffix), labels, value. */
interface PromSample {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A CloudWatch-style metric under Prometheus conventions (https://prometheus.io/docs/practices/naming/):
 * base units with their suffix (`_celsius`, `_watts`, `_bytes`, `_seconds`), percentages as `_ratio`
 * in 0..1, hours as seconds, the `gpu_maint_` prefix. Every metric of a result is a gauge (a snapshot
 * of this run); counters (`_total`) are kept separately.
 */
export function prometheusName(metric: Pick<MetricDatum, 'name' | 'unit'>): { name: string; scale: number } {
  let base = snakeCase(metric.name);
  let scale = 1;
  let suffix = '';
  if (metric.unit === 'Percent') {
    base = base.replace(/_pct(?=_|$)/, '');
    suffix = '_ratio';
    scale = 0.01;
  } else if (metric.unit === 'Bytes') {
    base = base.replace(/(^|_)bytes(?=_|$)/, '');
    suffix = '_bytes';
  } else if (metric.unit === 'Seconds') {
    base = base.replace(/(^|_)seconds(?=_|$)/, '');
    suffix = '_seconds';
  } else if (/(^|_)hours$/.test(base)) {
    base = base.replace(/_hours$/, '');
    suffix = '_seconds';
    scale = 3600;
  } else if (/(^|_)temperature(_|$)/.test(base)) {
    suffix = '_celsius';
  } else if (/(^|_)power_draw(_w)?$/.test(base)) {
    base = base.replace(/_w$/, '');
    suffix = '_watts';
  }
  return { name: `gpu_maint_${base.replace(/^_+/, '')}${suffix}`, scale };
}

/** Host-level series only: per-instance and per-GPU copies (metrics.detail) would repeat them here. */
function hostLevel(m: MetricDatum): boolean {
  return !('InstanceId' in m.dimensions) && !('Gpu' in m.dimensions);
}

function labelsOf(dimensions: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(dimensions).map(([k, v]) => [snakeCase(k), v]));
}

/** Per-GPU gauges with a `gpu` label (index) and the GPU's uuid, from the readings of a gpu-check. */
function gpuSamples(gpus: readonly GpuReading[]): PromSample[] {
  const out: PromSample[] = [];
  const MiB = 1024 * 1024;
  const add = (gpu: GpuReading, name: string, help: string, value: number | null, scale = 1) => {
    if (value === null || !Number.isFinite(value)) return;
    out.push({
      name,
      help,
      type: 'gauge',
      labels: { gpu: String(gpu.index), ...(gpu.uuid ? { uuid: gpu.uuid } : {}) },
      value: value * scale,
    });
  };
  for (const g of gpus) {
    add(g, 'gpu_maint_gpu_temperature_celsius', 'GPU core temperature.', g.temperatureC);
    add(g, 'gpu_maint_gpu_utilization_ratio', 'GPU utilization (0..1).', g.utilizationPct, 0.01);
    add(g, 'gpu_maint_gpu_memory_used_bytes', 'GPU memory in use.', g.memoryUsedMiB, MiB);
    add(g, 'gpu_maint_gpu_memory_total_bytes', 'GPU memory size.', g.memoryTotalMiB, MiB);
    add(g, 'gpu_maint_gpu_power_draw_watts', 'GPU power draw.', g.powerDrawW);
    add(g, 'gpu_maint_gpu_power_limit_watts', 'GPU power limit.', g.powerLimitW);
    add(g, 'gpu_maint_gpu_ecc_uncorrected_volatile_errors', 'Uncorrectable ECC errors since the driver loaded.', g.eccUncorrectedVolatile);
  }
  return out;
}

/** Counters carried across runs: runs and failures per task, Xid lines per GPU and code. */
export type PromCounters = Record<string, number>;

function counterKey(name: string, labels: Readonly<Record<string, string>>): string {
  return `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;
}

/** Adds this result to the counters (mutates `counters`) and returns the counter samples of its task. */
export function countResult(counters: PromCounters, task: string, failed: boolean, xids: readonly XidEvent[]): PromSample[] {
  const bump = (name: string, labels: Record<string, string>, by: number) => {
    const key = counterKey(name, labels);
    counters[key] = (counters[key] ?? 0) + by;
  };
  bump('gpu_maint_task_runs_total', { task }, 1);
  bump('gpu_maint_task_failures_total', { task }, failed ? 1 : 0);
  for (const x of xids)
    bump('gpu_maint_xid_errors_total', { gpu: x.gpu === null ? x.busId : String(x.gpu), code: String(x.code) }, x.count ?? 1);
  const help: Record<string, string> = {
    gpu_maint_task_runs_total: 'Runs of the task on this host.',
    gpu_maint_task_failures_total: 'Runs of the task that could not run.',
    gpu_maint_xid_errors_total: 'NVIDIA Xid kernel log lines seen, per GPU and code.',
  };
  const samples: PromSample[] = [];
  for (const [key, value] of Object.entries(counters)) {
    const m = /^(\w+)\{(.*)\}$/.exec(key);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))]),
    );
    const belongs = m[1] === 'gpu_maint_xid_errors_total' ? task === 'gpu-check' : labels.task === task;
    if (belongs) samples.push({ name: m[1], help: help[m[1]] ?? m[1], type: 'counter', labels, value });
  }
  return samples;
}

/** Renders samples in the Prometheus text exposition format: one HELP and TYPE line per metric name. */
function renderSamples(samples: readonly PromSample[]): string {
  const byName = new Map<string, PromSample[]>();
  for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const out: string[] = [];
  for (const [name, series] of byName) {
    out.push(`# HELP ${name} ${series[0].help}`, `# TYPE ${name} ${series[0].type}`);
    for (const s of series) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      out.push(`${name}${labels ? `{${labels}}` : ''} ${s.value}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** Renders a task's metrics (host-level gauges), its GPUs' gauges and counters as a textfile. */
export function renderPrometheus(
  metrics: readonly MetricDatum[],
  at: Date,
  task: string,
  extra: { readonly gpus?: readonly GpuReading[]; readonly counters?: readonly PromSample[] } = {},
): string {
  const samples: PromSample[] = [];
  for (const m of metrics.filter(hostLevel)) {
    const { name, scale } = prometheusName(m);
    samples.push({
      name,
      help: `${m.name} (CloudWatch unit ${m.unit}).`,
      type: 'gauge',
      labels: labelsOf(m.dimensions),
      value: m.value * scale,
    });
  }
  samples.push(...gpuSamples(extra.gpus ?? []), ...(extra.counters ?? []));
  samples.push({
    name: 'gpu_maint_last_run_timestamp_seconds',
    help: 'When the task last produced a result.',
    type: 'gauge',
    labels: { task },
    value: Math.floor(at.getTime() / 1000),
  });
  return renderSamples(samples);
}

export class PrometheusTextfileSink {
  /** Counters across runs, beside (not in) the textfile directory, which node_exporter reads whole. */
  private readonly countersFile: string;

  constructor(readonly dir: string) {
    this.countersFile = path.join(path.dirname(dir), 'prometheus-counters.json');
  }

  fileFor(task: string): string {
    return path.join(this.dir, `gpu_maint_${snakeCase(task)}.prom`);
  }

  private readCounters(): PromCounters {
    try {
      const parsed = JSON.parse(readFileSync(this.countersFile, 'utf8')) as unknown;
      return parsed && typeof parsed === 'object' ? (parsed as PromCounters) : {};
    } catch {
      // Missing or unreadable: counters start again, as after a node_exporter restart (rate() copes).
      return {};
    }
  }

  /** Replaces the task's textfile atomically, so the collector never reads a half-written file. */
  write(task: string, metrics: readonly MetricDatum[], at: Date, result?: Pick<TaskResult, 'status' | 'gpus' | 'xids'>): void {
    mkdirSync(this.dir, { recursive: true });
    const counters = this.readCounters();
    const counterSamples = result ? countResult(counters, task, result.status === 'failed', result.xids ?? []) : [];
    if (result) atomicWrite(this.countersFile, `${JSON.stringify(counters)}\n`);
    atomicWrite(this.fileFor(task), renderPrometheus(metrics, at, task, { gpus: result?.gpus, counters: counterSamples }));
  }
}

/**
 * Local mode's metrics batch (the collect pipeline's MetricsBatch port): a flush appends the JSON lines
 * and replaces the task's Prometheus textfile with that task's latest metrics.
 */
export class LocalMetricsBatch {
  private pending: { metrics: readonly MetricDatum[]; at: Date }[] = [];

  constructor(
    private readonly task: string,
    private readonly jsonLines: JsonLinesMetricsSink,
    private readonly textfile: PrometheusTextfileSink,
    /** The result whose metrics these are: its status, GPUs and Xids feed the textfile's labels and counters. */
    private readonly result?: Pick<TaskResult, 'status' | 'gpus' | 'xids'>,
  ) {}

  async put(metrics: readonly MetricDatum[], at: Date): Promise<void> {
    this.pending.push({ metrics, at });
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    for (const { metrics, at } of batch) {
      await this.jsonLines.put(metrics, at);
      this.textfile.write(this.task, metrics, at, this.result);
    }
  }
}

function atomicWrite(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
}
