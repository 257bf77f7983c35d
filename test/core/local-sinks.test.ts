import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { JsonLinesMetricsSink, PrometheusTextfileSink, renderPrometheus, snakeCase } from '../../lambda/adapters/local/metrics-files';
import { formatReport, summarize } from '../../lambda/adapters/local/report';
import type { MetricDatum, TaskResult } from '../../lambda/core/types';
import { tempDir } from '../helpers/temp';

const at = new Date('2026-11-28T12:00:00Z');
const metrics: MetricDatum[] = [
  { name: 'GpuTemperatureMax', value: 71, unit: 'None', dimensions: { Fleet: 'prod' } },
  { name: 'GpuTemperature', value: 70, unit: 'None', dimensions: { Fleet: 'prod', InstanceId: 'i-1', Gpu: '0' } },
  { name: 'DiskUsedPctMax', value: 42.5, unit: 'Percent', dimensions: { Fleet: 'prod' } },
];

describe('Prometheus textfile', () => {
  test.each([
    ['GpuTemperatureMax', 'gpu_temperature_max'],
    ['XidEvents', 'xid_events'],
    ['BackupBytesUploaded', 'backup_bytes_uploaded'],
    ['InstanceId', 'instance_id'],
  ])('%s becomes %s', (name, snake) => {
    expect(snakeCase(name)).toBe(snake);
  });

  test('renders host-level gauges with labels from dimensions and base-unit suffixes', () => {
    const text = renderPrometheus(metrics, at, 'gpu-check');
    expect(text).toContain('# TYPE gpu_maint_gpu_temperature_max_celsius gauge\ngpu_maint_gpu_temperature_max_celsius{fleet="prod"} 71\n');
    expect(text).not.toContain('instance_id="i-1"');
    expect(text).toContain('gpu_maint_disk_used_max_ratio{fleet="prod"} 0.425');
    expect(text).toContain('gpu_maint_last_run_timestamp_seconds{task="gpu-check"} 1795867200');
  });

  test('label values are escaped', () => {
    const text = renderPrometheus([{ name: 'X', value: 1, unit: 'None', dimensions: { Fleet: 'a"b\\c' } }], at, 't');
    expect(text).toContain('gpu_maint_x{fleet="a\\"b\\\\c"} 1');
  });

  test('each task has its own file, replaced atomically with no temp file left behind', () => {
    const dir = tempDir('gpu-maint-prom-');
    const sink = new PrometheusTextfileSink(dir);
    sink.write('gpu-check', metrics, at);
    sink.write('gpu-check', metrics.slice(0, 1), at);
    expect(readdirSync(dir)).toEqual(['gpu_maint_gpu_check.prom']);
    expect(readFileSync(sink.fileFor('gpu-check'), 'utf8')).not.toContain('disk_used');
  });
});

test('JSON lines metrics are appended with time and namespace', async () => {
  const file = path.join(tempDir('gpu-maint-jsonl-'), 'sub', 'metrics.jsonl');
  const sink = new JsonLinesMetricsSink(file, 'GpuFleetMaintenance');
  await sink.put(metrics.slice(0, 1), at);
  await sink.put(metrics.slice(2), at);
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines).toEqual([
    { time: '2026-11-28T12:00:00.000Z', namespace: 'GpuFleetMaintenance', ...metrics[0] },
    { time: '2026-11-28T12:00:00.000Z', namespace: 'GpuFleetMaintenance', ...metrics[2] },
  ]);
});

describe('terminal report', () => {
  const result: TaskResult = {
    task: 'gpu-check',
    host: 'gpu-1',
    status: 'critical',
    findings: [
      { check: 'gpu.temperature', severity: 'ok', message: 'max 59 °C', threshold: 'warn ≥ 83, crit ≥ 90 °C' },
      { check: 'gpu.throttle', severity: 'warning', message: 'hw_slowdown active', gpu: 2 },
      { check: 'gpu.xid', severity: 'critical', message: 'Xid 79: GPU has fallen off the bus', gpu: 5 },
    ],
    metrics: [],
  };

  test('prints one line per check with ✓ ! ✗, host checks first, then each GPU under its heading', () => {
    expect(formatReport(result).split('\n')).toEqual([
      'gpu-check on gpu-1: CRITICAL',
      '  ✓ gpu.temperature   max 59 °C',
      '  GPU 2',
      '    ! gpu.throttle    hw_slowdown active',
      '  GPU 5',
      '    ✗ gpu.xid         Xid 79: GPU has fallen off the bus',
    ]);
  });

  test('the summary counts findings by severity and names tasks that could not run', () => {
    expect(summarize([result, { ...result, task: 'backup', status: 'failed', findings: [] }])).toBe(
      '2 task(s): 1 critical, 1 warning, 1 ok; could not run: backup',
    );
  });
});
