/**
 * The Prometheus textfile follows Prometheus conventions, checked by parsing it with a real
 * text-format parser (parse-prometheus-text-format): gpu_maint_ prefix, base units, _ratio, counters
 * named _total, a gpu label per GPU, HELP and TYPE lines; metrics.jsonl is capped.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, describe, expect, test } from 'vitest';
import { JsonLinesMetricsSink, PrometheusTextfileSink, prometheusName } from '../../lambda/adapters/local/metrics-files';
import type { GpuReading, MetricDatum, XidEvent } from '../../lambda/core/types';

const at = new Date('2026-11-28T12:00:00Z');
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-prom-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fleet = { Fleet: 'prod' };
const METRICS: MetricDatum[] = [
  { name: 'GpuTemperatureMax', value: 71, unit: 'None', dimensions: fleet },
  { name: 'GpuPowerDrawW', value: 1400.5, unit: 'None', dimensions: fleet },
  { name: 'GpuMemoryUsedPctMax', value: 50, unit: 'Percent', dimensions: fleet },
  { name: 'GpusReported', value: 2, unit: 'Count', dimensions: fleet },
  { name: 'GpuTemperatureMax', value: 71, unit: 'None', dimensions: { ...fleet, InstanceId: 'i-1' } },
  { name: 'ResultsReported', value: 1, unit: 'Count', dimensions: { ...fleet, Task: 'gpu-check' } },
];
const gpu = (index: number, temperatureC: number): GpuReading =>
  ({
    index,
    uuid: `GPU-${index}`,
    temperatureC,
    utilizationPct: 40,
    memoryUsedMiB: 1024,
    memoryTotalMiB: 81559,
    powerDrawW: 700.25,
    powerLimitW: 700,
    eccUncorrectedVolatile: 0,
  }) as GpuReading;
const XIDS: XidEvent[] = [{ code: 79, busId: '00000000:2B:00.0', gpu: 1, severity: 'critical', message: 'fell off', count: 3 }];

function writeTwice(): { text: string; families: ReturnType<typeof parsePrometheusTextFormat> } {
  const dir = path.join(tmp(), 'textfile');
  const sink = new PrometheusTextfileSink(dir);
  const result = { status: 'critical' as const, gpus: [gpu(0, 60), gpu(1, 85)], xids: XIDS };
  sink.write('gpu-check', METRICS, at, result);
  sink.write('gpu-check', METRICS, at, result);
  const text = readFileSync(sink.fileFor('gpu-check'), 'utf8');
  return { text, families: parsePrometheusTextFormat(text) };
}

describe('Prometheus textfile conventions', () => {
  const { text, families } = writeTwice();
  const family = (name: string) => families.find((f) => f.name === name);

  test('the whole file parses, and every metric has the gpu_maint_ prefix, HELP and TYPE', () => {
    expect(families.length).toBeGreaterThan(5);
    for (const f of families) {
      expect(f.name).toMatch(/^gpu_maint_[a-z0-9_]+$/);
      expect(f.help).not.toBe('');
      expect(text).toContain(`# TYPE ${f.name} ${f.type.toLowerCase()}\n`);
    }
  });

  test('counters, and only counters, end in _total', () => {
    for (const f of families) expect(f.name.endsWith('_total'), f.name).toBe(f.type === 'COUNTER');
  });

  test('units are base units with their suffix; percentages are ratios', () => {
    expect(family('gpu_maint_gpu_temperature_max_celsius')?.metrics[0].value).toBe('71');
    expect(family('gpu_maint_gpu_power_draw_watts')?.metrics).toContainEqual({ value: '700.25', labels: { gpu: '0', uuid: 'GPU-0' } });
    expect(family('gpu_maint_gpu_memory_used_max_ratio')?.metrics[0].value).toBe('0.5');
    expect(family('gpu_maint_gpu_memory_used_bytes')?.metrics[0].value).toBe(String(1024 * 1024 * 1024));
    expect(family('gpu_maint_gpu_utilization_ratio')?.metrics[0].value).toBe('0.4');
  });

  test('each GPU has its own series with a gpu label', () => {
    expect(family('gpu_maint_gpu_temperature_celsius')?.metrics).toEqual([
      { value: '60', labels: { gpu: '0', uuid: 'GPU-0' } },
      { value: '85', labels: { gpu: '1', uuid: 'GPU-1' } },
    ]);
  });

  test('counters carry over between runs: runs per task, Xid lines per GPU and code', () => {
    expect(family('gpu_maint_task_runs_total')?.metrics).toEqual([{ value: '2', labels: { task: 'gpu-check' } }]);
    expect(family('gpu_maint_xid_errors_total')?.metrics).toEqual([{ value: '6', labels: { gpu: '1', code: '79' } }]);
  });

  test('per-instance copies of host series are left out (node_exporter labels the host)', () => {
    expect(family('gpu_maint_gpu_temperature_max_celsius')?.metrics).toHaveLength(1);
  });

  test.each([
    [{ name: 'BackupBytesUploaded', unit: 'Bytes' }, 'gpu_maint_backup_uploaded_bytes', 1],
    [{ name: 'BackupDurationSeconds', unit: 'Seconds' }, 'gpu_maint_backup_duration_seconds', 1],
    [{ name: 'SnapshotAgeHours', unit: 'None' }, 'gpu_maint_snapshot_age_seconds', 3600],
    [{ name: 'MemoryAvailablePct', unit: 'Percent' }, 'gpu_maint_memory_available_ratio', 0.01],
    [{ name: 'BytesFreed', unit: 'Bytes' }, 'gpu_maint_freed_bytes', 1],
  ] as const)('%j is named %s (scale %d)', (metric, name, scale) => {
    expect(prometheusName(metric)).toEqual({ name, scale });
  });

  test('the textfile is world-readable, for node_exporter running as another user', () => {
    const dir = path.join(tmp(), 'textfile');
    const sink = new PrometheusTextfileSink(dir);
    const old = process.umask(0o022);
    try {
      sink.write('health-check', METRICS, at, { status: 'ok' });
    } finally {
      process.umask(old);
    }
    expect(statSync(sink.fileFor('health-check')).mode & 0o044).toBe(0o044);
  });
});

describe('metrics.jsonl', () => {
  test('is rotated to metrics.jsonl.1 when it reaches its cap, so history stays bounded', async () => {
    const file = path.join(tmp(), 'metrics.jsonl');
    const sink = new JsonLinesMetricsSink(file, 'GpuFleetMaintenance', 1000);
    writeFileSync(file, `${'x'.repeat(999)}\n`);
    await sink.put(METRICS.slice(0, 1), at);
    expect(readFileSync(`${file}.1`, 'utf8')).toHaveLength(1000);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ name: 'GpuTemperatureMax', value: 71 });
  });
});
