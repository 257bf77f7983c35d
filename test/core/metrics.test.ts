import { describe, expect, test } from 'vitest';
import { buildMetrics, type GpuMetricReading, type Reading, seriesKey, taskMetrics } from '../../lambda/core/metrics';
import { classify, describeLevels } from '../../lambda/core/thresholds';

const readings: Reading[] = [{ name: 'GpuTemperatureMax', value: 71, unit: 'None' }];
const gpuReadings: GpuMetricReading[] = [
  { gpu: 0, name: 'GpuTemperature', value: 70, unit: 'None' },
  { gpu: 1, name: 'GpuTemperature', value: 71, unit: 'None' },
];

function distinctSeries(hosts: number, detail: 'fleet' | 'instance' | 'gpu'): number {
  const keys = new Set<string>();
  for (let h = 0; h < hosts; h++) {
    const scope = { fleet: 'prod', host: `i-${h}`, task: 'gpu-check', detail };
    for (const m of [...taskMetrics(scope, { failed: false, critical: 0, warning: 0 }), ...buildMetrics(scope, readings, gpuReadings)]) {
      keys.add(seriesKey(m));
    }
  }
  return keys.size;
}

describe('buildMetrics', () => {
  test('fleet detail gives every metric the single dimension Fleet', () => {
    const metrics = buildMetrics({ fleet: 'prod', host: 'i-1', task: 'gpu-check', detail: 'fleet' }, readings, gpuReadings);
    expect(metrics).toEqual([{ name: 'GpuTemperatureMax', value: 71, unit: 'None', dimensions: { Fleet: 'prod' } }]);
  });

  test('fleet detail series count does not depend on fleet size', () => {
    expect(distinctSeries(1000, 'fleet')).toBe(distinctSeries(3, 'fleet'));
  });

  test.each(['instance', 'gpu'] as const)('%s detail adds series for every host', (detail) => {
    expect(distinctSeries(20, detail) - distinctSeries(10, detail)).toBeGreaterThanOrEqual(10);
  });

  test('gpu detail adds one series per GPU with dimensions Fleet, InstanceId, Gpu', () => {
    const metrics = buildMetrics({ fleet: 'prod', host: 'i-1', task: 'gpu-check', detail: 'gpu' }, [], gpuReadings);
    expect(metrics.map((m) => m.dimensions)).toEqual([
      { Fleet: 'prod', InstanceId: 'i-1', Gpu: '0' },
      { Fleet: 'prod', InstanceId: 'i-1', Gpu: '1' },
    ]);
  });

  test('non-finite readings are dropped rather than sent as 0', () => {
    const metrics = buildMetrics({ fleet: 'f', host: 'h', task: 't', detail: 'fleet' }, [
      { name: 'GpuTemperatureMax', value: Number.NaN, unit: 'None' },
    ]);
    expect(metrics).toEqual([]);
  });
});

describe('classify', () => {
  test.each([
    [82, 'ok'],
    [83, 'warning'],
    [90, 'critical'],
    [null, 'ok'],
    [Number.NaN, 'ok'],
  ] as const)('temperature %s against 83/90 is %s', (reading, severity) => {
    expect(classify(reading, { warning: 83, critical: 90 })).toBe(severity);
  });

  test.each([
    [50, 'ok'],
    [10, 'warning'],
    [4, 'critical'],
  ] as const)('available memory %s%% against 10/5 (below) is %s', (reading, severity) => {
    expect(classify(reading, { warning: 10, critical: 5 }, 'below')).toBe(severity);
  });

  test('a disabled level never fires', () => {
    expect(classify(100, { warning: null, critical: null })).toBe('ok');
  });

  test('levels are described for reports', () => {
    expect(describeLevels({ warning: 83, critical: 90 }, 'above', '°C')).toBe('warn ≥ 83, crit ≥ 90 °C');
    expect(describeLevels({ warning: null, critical: null })).toBe('disabled');
  });
});
