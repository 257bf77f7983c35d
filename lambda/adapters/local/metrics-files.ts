/**
 * Local metrics sinks: JSON lines appended to <stateDir>/metrics.jsonl (history, for jq), and a
 * Prometheus textfile per task under <stateDir>/textfile/ for node_exporter's textfile collector.
 */
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MetricsSink } from '../../core/ports';
import type { MetricDatum } from '../../core/types';

export class JsonLinesMetricsSink implements MetricsSink {
  constructor(
    readonly file: string,
    private readonly namespace: string,
  ) {}

  async put(metrics: readonly MetricDatum[], at: Date): Promise<void> {
    if (metrics.length === 0) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const time = at.toISOString();
    const lines = metrics.map((m) => JSON.stringify({ time, namespace: this.namespace, ...m }));
    appendFileSync(this.file, `${lines.join('\n')}\n`);
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

const UNIT_SUFFIX: Partial<Record<MetricDatum['unit'], string>> = {
  Seconds: '_seconds',
  Bytes: '_bytes',
  Percent: '_percent',
};

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Renders metrics in the Prometheus text exposition format (all gauges: each run is a snapshot). */
export function renderPrometheus(metrics: readonly MetricDatum[], at: Date, task: string): string {
  const byName = new Map<string, MetricDatum[]>();
  for (const m of metrics) {
    const base = `gpu_maint_${snakeCase(m.name)}`;
    const suffix = UNIT_SUFFIX[m.unit] ?? '';
    const name = base.endsWith(suffix) ? base : `${base}${suffix}`;
    byName.set(name, [...(byName.get(name) ?? []), m]);
  }
  const out: string[] = [];
  for (const [name, series] of byName) {
    out.push(`# HELP ${name} gpu-maint ${series[0].name} (${series[0].unit}).`, `# TYPE ${name} gauge`);
    for (const m of series) {
      const labels = Object.entries(m.dimensions)
        .map(([k, v]) => `${snakeCase(k)}="${escapeLabel(v)}"`)
        .join(',');
      out.push(`${name}{${labels}} ${m.value}`);
    }
  }
  out.push(
    '# HELP gpu_maint_last_run_timestamp_seconds When the task last produced a result.',
    '# TYPE gpu_maint_last_run_timestamp_seconds gauge',
    `gpu_maint_last_run_timestamp_seconds{task="${escapeLabel(task)}"} ${Math.floor(at.getTime() / 1000)}`,
  );
  return `${out.join('\n')}\n`;
}

export class PrometheusTextfileSink {
  constructor(readonly dir: string) {}

  fileFor(task: string): string {
    return path.join(this.dir, `gpu_maint_${snakeCase(task)}.prom`);
  }

  /** Replaces the task's textfile atomically, so the collector never reads a half-written file. */
  write(task: string, metrics: readonly MetricDatum[], at: Date): void {
    mkdirSync(this.dir, { recursive: true });
    const file = this.fileFor(task);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, renderPrometheus(metrics, at, task));
    renameSync(tmp, file);
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
  ) {}

  async put(metrics: readonly MetricDatum[], at: Date): Promise<void> {
    this.pending.push({ metrics, at });
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    for (const { metrics, at } of batch) {
      await this.jsonLines.put(metrics, at);
      this.textfile.write(this.task, metrics, at);
    }
  }
}
