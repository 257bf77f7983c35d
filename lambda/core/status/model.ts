/**
 * The local status page's content, pure: from the local state (metrics history, the latest result of
 * each task, alert state, backup snapshots) to what the page shows, current problems first. Rendering
 * is lambda/core/status/html.ts; reading the state dir is lambda/adapters/local/status-state.ts.
 */
import type { HostAlertState } from '../alerts/model';
import { METRICS } from '../metric-names';
import type { Severity, TaskResult } from '../types';

/** One line of metrics.jsonl (lambda/adapters/local/metrics-files.ts). */
export interface MetricPoint {
  readonly time: string;
  readonly name: string;
  readonly value: number;
  readonly unit?: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

export interface SnapshotInfo {
  readonly hostKey: string;
  readonly host: string | null;
  readonly id: string;
  readonly at: string;
  readonly readable: boolean;
  readonly error?: string;
  readonly units?: number;
  readonly files?: number;
  /** Stored (compressed) bytes the snapshot references. */
  readonly bytes?: number;
  readonly sourceBytes?: number;
}

export interface StatusInput {
  readonly now: Date;
  /** Days of history the charts show. */
  readonly days: number;
  readonly metrics: readonly MetricPoint[];
  /** The latest result of each task. */
  readonly latest: readonly TaskResult[];
  readonly alerts: readonly HostAlertState[];
  readonly snapshots: readonly SnapshotInfo[];
  /** Inputs that could not be read, said on the page. */
  readonly problems: readonly string[];
}

export interface CurrentFinding {
  readonly severity: Severity;
  readonly check: string;
  readonly host: string;
  readonly task: string;
  readonly message: string;
  readonly at?: string;
  readonly gpu?: number;
}

export interface ActiveAlert {
  readonly host: string;
  readonly check: string;
  readonly gpu?: number;
  readonly severity: Severity;
  readonly status: string;
  readonly message: string;
  readonly since: string;
  readonly lastNotifiedAt?: string;
  readonly silenced: boolean;
  /** Notified as flapping: firing and clearing repeatedly, resolved once stable (docs/alerts.md#flapping). */
  readonly flapping: boolean;
}

export interface LastRun {
  readonly task: string;
  readonly host: string;
  readonly at?: string;
  readonly status: string;
  readonly critical: number;
  readonly warning: number;
  readonly ok: number;
}

/** A time-series chart: x in epoch seconds, one y array per series aligned on x (null = no value). */
export interface Chart {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly x: readonly number[];
  readonly series: readonly { readonly label: string; readonly y: readonly (number | null)[] }[];
  /** Drawn as bars (one value per run) rather than lines. */
  readonly bars?: boolean;
  readonly note?: string;
}

export interface DiskRow {
  readonly mount: string;
  readonly filesystem: string;
  readonly usedPct: number | null;
  readonly inodesUsedPct: number | null;
  readonly sizeBytes: number | null;
  readonly availBytes: number | null;
}

export interface BackupRow extends SnapshotInfo {
  readonly ageHours: number;
}

export interface TimelineEntry {
  readonly at: string;
  readonly task: string;
  readonly severity: Severity;
  readonly text: string;
}

export interface StatusModel {
  readonly generatedAt: string;
  readonly windowStart: string;
  readonly days: number;
  readonly worst: Severity;
  readonly hosts: readonly string[];
  readonly findings: readonly CurrentFinding[];
  readonly alerts: readonly ActiveAlert[];
  readonly lastRuns: readonly LastRun[];
  readonly charts: readonly Chart[];
  readonly disks: readonly DiskRow[];
  readonly disksAt?: string;
  readonly backups: readonly BackupRow[];
  readonly cleanup?: { readonly at?: string; readonly dryRun: boolean; readonly bytesFreed: number; readonly bytesReclaimable: number };
  readonly timeline: readonly TimelineEntry[];
  readonly problems: readonly string[];
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, ok: 2 };

function epochSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}

/** Aligns labelled point lists on the union of their times (uPlot's data shape). */
export function alignSeries(points: ReadonlyMap<string, readonly [number, number][]>): Pick<Chart, 'x' | 'series'> {
  const x = [...new Set([...points.values()].flatMap((p) => p.map(([t]) => t)))].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const series = [...points.entries()].map(([label, pts]) => {
    const y: (number | null)[] = new Array(x.length).fill(null);
    for (const [t, v] of pts) y[index.get(t) as number] = v;
    return { label, y };
  });
  return { x, series };
}

function inWindow(metrics: readonly MetricPoint[], start: number, end: number): MetricPoint[] {
  return metrics.filter((m) => {
    const t = Date.parse(m.time);
    return Number.isFinite(t) && t >= start && t <= end && Number.isFinite(m.value);
  });
}

/**
 * Per-GPU lines when the history has per-GPU series (metrics.detail `gpu`), else the host-level
 * reading (hottest GPU, fullest memory, average utilisation), said in the chart's note.
 */
function gpuChart(
  metrics: readonly MetricPoint[],
  o: { id: string; title: string; unit: string; perGpu: string; hostLevel: string; hostLabel: string },
): Chart {
  const perGpu = metrics.filter((m) => m.name === o.perGpu && m.dimensions.Gpu !== undefined);
  const multiHost = new Set(perGpu.map((m) => m.dimensions.InstanceId)).size > 1;
  const byLabel = new Map<string, [number, number][]>();
  const source = perGpu.length ? perGpu : metrics.filter((m) => m.name === o.hostLevel && Object.keys(m.dimensions).length === 1);
  for (const m of source) {
    const label = perGpu.length ? `${multiHost ? `${m.dimensions.InstanceId} ` : ''}GPU ${m.dimensions.Gpu}` : o.hostLabel;
    const list = byLabel.get(label) ?? [];
    list.push([epochSeconds(m.time), m.value]);
    byLabel.set(label, list);
  }
  const sorted = new Map([...byLabel.entries()].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })));
  return {
    id: o.id,
    title: o.title,
    unit: o.unit,
    ...alignSeries(sorted),
    ...(perGpu.length ? {} : { note: `${o.hostLabel} per run; set metrics.detail to gpu for one line per GPU` }),
  };
}

function fleetChart(
  metrics: readonly MetricPoint[],
  id: string,
  title: string,
  unit: string,
  names: Record<string, string>,
  bars = false,
): Chart {
  const byLabel = new Map<string, [number, number][]>();
  for (const [label, name] of Object.entries(names)) {
    const pts = metrics
      .filter((m) => m.name === name && m.dimensions.InstanceId === undefined && m.dimensions.Gpu === undefined)
      .map((m) => [epochSeconds(m.time), m.value] as [number, number]);
    if (pts.length) byLabel.set(label, pts);
  }
  return { id, title, unit, bars, ...alignSeries(byLabel) };
}

/** Findings per task over time: a run whose counts differ from the previous run of its task is an entry. */
function findingsTimeline(metrics: readonly MetricPoint[]): TimelineEntry[] {
  const runs = new Map<string, { at: string; task: string; critical: number; warning: number }>();
  for (const m of metrics) {
    if (m.name !== METRICS.FindingsCritical && m.name !== METRICS.FindingsWarning) continue;
    const task = m.dimensions.Task ?? 'unknown';
    const key = `${task}\u0000${m.time}`;
    const run = runs.get(key) ?? { at: m.time, task, critical: 0, warning: 0 };
    if (m.name === METRICS.FindingsCritical) run.critical = m.value;
    else run.warning = m.value;
    runs.set(key, run);
  }
  const entries: TimelineEntry[] = [];
  const previous = new Map<string, { critical: number; warning: number }>();
  for (const run of [...runs.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at))) {
    const before = previous.get(run.task) ?? { critical: 0, warning: 0 };
    if (before.critical !== run.critical || before.warning !== run.warning) {
      const severity: Severity = run.critical > 0 ? 'critical' : run.warning > 0 ? 'warning' : 'ok';
      const text =
        severity === 'ok'
          ? 'all checks ok again'
          : `${run.critical} critical, ${run.warning} warning (was ${before.critical} critical, ${before.warning} warning)`;
      entries.push({ at: run.at, task: run.task, severity, text });
    }
    previous.set(run.task, run);
  }
  return entries;
}

export function buildStatusModel(input: StatusInput): StatusModel {
  const end = input.now.getTime();
  const start = end - input.days * 86_400_000;
  const metrics = inWindow(input.metrics, start, end);

  const findings: CurrentFinding[] = input.latest
    .flatMap((r) =>
      r.findings
        .filter((f) => f.severity !== 'ok')
        .map((f) => ({
          severity: f.severity,
          check: f.check,
          host: r.host,
          task: r.task,
          message: f.message,
          ...(r.at ? { at: r.at } : {}),
          ...(f.gpu !== undefined ? { gpu: f.gpu } : {}),
        })),
    )
    .sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.check.localeCompare(b.check));

  const alerts: ActiveAlert[] = input.alerts
    .flatMap((h) =>
      Object.values(h.alerts).map((a) => ({
        host: h.host,
        check: a.check,
        ...(a.gpu !== undefined ? { gpu: a.gpu } : {}),
        severity: a.severity,
        status: a.status,
        message: a.message,
        since: a.since,
        ...(a.lastNotifiedAt ? { lastNotifiedAt: a.lastNotifiedAt } : {}),
        silenced: Boolean(a.silenced),
        flapping: Boolean(a.flapping),
      })),
    )
    .sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.since.localeCompare(b.since));

  const lastRuns: LastRun[] = [...input.latest]
    .sort((a, b) => a.task.localeCompare(b.task))
    .map((r) => ({
      task: r.task,
      host: r.host,
      ...(r.at ? { at: r.at } : {}),
      status: r.status,
      critical: r.findings.filter((f) => f.severity === 'critical').length,
      warning: r.findings.filter((f) => f.severity === 'warning').length,
      ok: r.findings.filter((f) => f.severity === 'ok').length,
    }));

  const health = input.latest.find((r) => r.task === 'health-check');
  const disks = ((health?.mounts as DiskRow[] | undefined) ?? []).map((d) => ({
    mount: d.mount,
    filesystem: d.filesystem,
    usedPct: d.usedPct,
    inodesUsedPct: d.inodesUsedPct,
    sizeBytes: d.sizeBytes,
    availBytes: d.availBytes,
  }));

  const backups: BackupRow[] = input.snapshots
    .map((s) => ({ ...s, ageHours: Math.round(((end - Date.parse(s.at)) / 3_600_000) * 10) / 10 }))
    .sort((a, b) => b.at.localeCompare(a.at));
  const backupPoints = new Map<string, [number, number][]>();
  for (const s of backups) {
    if (!s.readable || s.bytes === undefined || Date.parse(s.at) < start) continue;
    const label = s.host ?? s.hostKey;
    backupPoints.set(label, [...(backupPoints.get(label) ?? []), [epochSeconds(s.at), s.bytes]]);
  }
  for (const pts of backupPoints.values()) pts.sort((a, b) => a[0] - b[0]);

  const cleanupResult = input.latest.find((r) => r.task === 'cleanup');
  const cleanupReading = (name: string) =>
    cleanupResult?.metrics.find((m) => m.name === name && Object.keys(m.dimensions).length === 1)?.value ?? 0;
  const cleanupDetails = cleanupResult?.cleanup as { dryRun?: boolean } | undefined;

  const charts: Chart[] = [
    gpuChart(metrics, {
      id: 'gpu-temperature',
      title: 'GPU temperature',
      unit: '°C',
      perGpu: METRICS.GpuTemperature,
      hostLevel: METRICS.GpuTemperatureMax,
      hostLabel: 'hottest GPU',
    }),
    gpuChart(metrics, {
      id: 'gpu-memory',
      title: 'GPU memory used',
      unit: '%',
      perGpu: METRICS.GpuMemoryUsedPct,
      hostLevel: METRICS.GpuMemoryUsedPctMax,
      hostLabel: 'fullest GPU',
    }),
    gpuChart(metrics, {
      id: 'gpu-utilization',
      title: 'GPU utilisation',
      unit: '%',
      perGpu: METRICS.GpuUtilization,
      hostLevel: METRICS.GpuUtilizationAvg,
      hostLabel: 'average over GPUs',
    }),
    fleetChart(metrics, 'disk-used', 'Disk and inodes used (fullest filesystem)', '%', {
      'disk used': METRICS.DiskUsedPctMax,
      'inodes used': METRICS.InodesUsedPctMax,
    }),
    { id: 'backup-bytes', title: 'Backup snapshot size (stored bytes)', unit: 'bytes', bars: true, ...alignSeries(backupPoints) },
    fleetChart(
      metrics,
      'cleanup-bytes',
      'Cleanup: bytes freed (dry runs: would free)',
      'bytes',
      { freed: METRICS.BytesFreed, 'would free (dry run)': METRICS.BytesReclaimable },
      true,
    ),
    fleetChart(
      metrics,
      'findings',
      'Findings per run',
      'findings',
      { critical: METRICS.FindingsCritical, warning: METRICS.FindingsWarning },
      true,
    ),
  ];

  const worst = [...findings.map((f) => f.severity), ...alerts.map((a) => a.severity)].reduce<Severity>(
    (w, s) => (SEVERITY_RANK[s] < SEVERITY_RANK[w] ? s : w),
    'ok',
  );
  return {
    generatedAt: input.now.toISOString(),
    windowStart: new Date(start).toISOString(),
    days: input.days,
    worst,
    hosts: [...new Set(input.latest.map((r) => r.host))].sort(),
    findings,
    alerts,
    lastRuns,
    charts,
    disks,
    ...(health?.at ? { disksAt: health.at } : {}),
    backups,
    ...(cleanupResult
      ? {
          cleanup: {
            ...(cleanupResult.at ? { at: cleanupResult.at } : {}),
            dryRun: Boolean(cleanupDetails?.dryRun),
            bytesFreed: cleanupReading(METRICS.BytesFreed),
            bytesReclaimable: cleanupReading(METRICS.BytesReclaimable),
          },
        }
      : {}),
    timeline: findingsTimeline(metrics).reverse(),
    problems: input.problems,
  };
}
