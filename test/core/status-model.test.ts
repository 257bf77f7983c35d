/** The status page's model, pure: what is current, what is charted, and the findings timeline. */
import { describe, expect, test } from 'vitest';
import { renderStatusPage } from '../../lambda/core/status/html';
import { alignSeries, buildStatusModel, type MetricPoint, type StatusInput } from '../../lambda/core/status/model';
import type { TaskResult } from '../../lambda/core/types';

const NOW = new Date('2026-11-28T12:00:00Z');
const point = (time: string, name: string, value: number, dimensions: Record<string, string> = { Fleet: 'f' }): MetricPoint => ({
  time,
  name,
  value,
  dimensions,
});
const input = (over: Partial<StatusInput>): StatusInput => ({
  now: NOW,
  days: 7,
  metrics: [],
  latest: [],
  alerts: [],
  snapshots: [],
  problems: [],
  ...over,
});
const result = (over: Partial<TaskResult>): TaskResult => ({
  task: 'gpu-check',
  host: 'h1',
  status: 'ok',
  findings: [],
  metrics: [],
  ...over,
});

describe('alignSeries', () => {
  test('aligns series on the union of their times, null where a series has no value', () => {
    expect(
      alignSeries(
        new Map([
          [
            'a',
            [
              [1, 10],
              [3, 30],
            ] as [number, number][],
          ],
          ['b', [[2, 20]] as [number, number][]],
        ]),
      ),
    ).toEqual({
      x: [1, 2, 3],
      series: [
        { label: 'a', y: [10, null, 30] },
        { label: 'b', y: [null, 20, null] },
      ],
    });
  });
});

describe('buildStatusModel', () => {
  test('current findings are the non-ok findings of the latest runs, critical first', () => {
    const model = buildStatusModel(
      input({
        latest: [
          result({ findings: [{ check: 'gpu.temperature', severity: 'warning', message: 'GPU 1 at 88 °C', gpu: 1 }] }),
          result({
            task: 'health-check',
            findings: [
              { check: 'health.disk', severity: 'ok', message: 'fine' },
              { check: 'health.load', severity: 'critical', message: 'load 4 per CPU' },
            ],
          }),
        ],
      }),
    );
    expect(model.findings.map((f) => [f.severity, f.check])).toEqual([
      ['critical', 'health.load'],
      ['warning', 'gpu.temperature'],
    ]);
    expect(model.worst).toBe('critical');
  });

  test('GPU charts draw one line per GPU when the history has per-GPU series', () => {
    const model = buildStatusModel(
      input({
        metrics: [
          point('2026-11-28T10:00:00Z', 'GpuTemperature', 50, { Fleet: 'f', InstanceId: 'h1', Gpu: '1' }),
          point('2026-11-28T10:00:00Z', 'GpuTemperature', 40, { Fleet: 'f', InstanceId: 'h1', Gpu: '0' }),
          point('2026-11-28T10:00:00Z', 'GpuTemperatureMax', 50),
        ],
      }),
    );
    const chart = model.charts.find((c) => c.id === 'gpu-temperature');
    expect(chart?.series.map((s) => [s.label, s.y])).toEqual([
      ['GPU 0', [40]],
      ['GPU 1', [50]],
    ]);
    expect(chart?.note).toBeUndefined();
  });

  test('without per-GPU series, GPU charts fall back to the host-level reading and say so', () => {
    const model = buildStatusModel(input({ metrics: [point('2026-11-28T10:00:00Z', 'GpuTemperatureMax', 71)] }));
    const chart = model.charts.find((c) => c.id === 'gpu-temperature');
    expect(chart?.series).toEqual([{ label: 'hottest GPU', y: [71] }]);
    expect(chart?.note).toContain('metrics.detail to gpu');
  });

  test('charts keep only points inside the window', () => {
    const model = buildStatusModel(
      input({
        days: 1,
        metrics: [point('2026-11-27T11:59:00Z', 'DiskUsedPctMax', 10), point('2026-11-27T12:01:00Z', 'DiskUsedPctMax', 20)],
      }),
    );
    expect(model.charts.find((c) => c.id === 'disk-used')?.series[0].y).toEqual([20]);
  });

  test('the timeline has an entry when a task’s finding counts change, and one when they clear', () => {
    const run = (time: string, critical: number, warning: number) => [
      point(time, 'FindingsCritical', critical, { Fleet: 'f', Task: 'gpu-check' }),
      point(time, 'FindingsWarning', warning, { Fleet: 'f', Task: 'gpu-check' }),
    ];
    const model = buildStatusModel(
      input({
        metrics: [
          ...run('2026-11-28T09:00:00Z', 0, 0),
          ...run('2026-11-28T10:00:00Z', 0, 1),
          ...run('2026-11-28T10:05:00Z', 0, 1),
          ...run('2026-11-28T11:00:00Z', 0, 0),
        ],
      }),
    );
    expect(model.timeline.map((t) => [t.at, t.severity])).toEqual([
      ['2026-11-28T11:00:00Z', 'ok'],
      ['2026-11-28T10:00:00Z', 'warning'],
    ]);
  });

  test('backups are listed newest first with their age in hours', () => {
    const model = buildStatusModel(
      input({
        snapshots: [
          { hostKey: 'h1', host: 'h1', id: '20261127T000000Z', at: '2026-11-27T00:00:00.000Z', readable: true, bytes: 5 },
          { hostKey: 'h1', host: 'h1', id: '20261128T000000Z', at: '2026-11-28T00:00:00.000Z', readable: true, bytes: 7 },
        ],
      }),
    );
    expect(model.backups.map((b) => [b.id, b.ageHours])).toEqual([
      ['20261128T000000Z', 12],
      ['20261127T000000Z', 36],
    ]);
  });
});

describe('renderStatusPage', () => {
  const assets = { chartJs: 'window.uPlot = function () {};', chartCss: '.u-legend{}' };

  test('text from results is escaped, and data cannot close its script element', () => {
    const html = renderStatusPage(
      buildStatusModel(
        input({
          latest: [result({ host: '<b>h</b>', findings: [{ check: 'gpu.xid', severity: 'critical', message: '</script><img src=x>' }] })],
          metrics: [point('2026-11-28T10:00:00Z', 'GpuTemperatureMax', 71)],
        }),
      ),
      assets,
    );
    expect(html).toContain('&lt;/script&gt;&lt;img src=x&gt;');
    expect(html).toContain('&lt;b&gt;h&lt;/b&gt;');
    expect(html).not.toContain('<img src=x>');
  });

  test('an active alert that is flapping says so', () => {
    const flapping = {
      check: 'gpu.temperature' as const,
      gpu: 1,
      task: 'gpu-check' as const,
      status: 'firing' as const,
      severity: 'warning' as const,
      message: 'GPU 1 at 84 °C',
      consecutive: 2,
      since: '2026-11-28T10:20:00Z',
      lastEvaluatedAt: '2026-11-28T11:55:00Z',
      lastBreachAt: '2026-11-28T11:50:00Z',
      notifiedSeverity: 'warning' as const,
      flapping: true,
    };
    const model = buildStatusModel(
      input({ alerts: [{ host: 'h1', version: 3, lastSeen: {}, alerts: { 'gpu.temperature#gpu1': flapping }, undelivered: [] }] }),
    );
    expect(model.alerts[0]).toMatchObject({ check: 'gpu.temperature', flapping: true });
    expect(renderStatusPage(model, assets)).toContain('firing, flapping');
  });

  test('a page with no state yet says how to get some', () => {
    const html = renderStatusPage(buildStatusModel(input({})), assets);
    expect(html).toContain('No task has run yet: gpu-maint run all');
    expect(html).toContain('no data in this window');
  });
});
