/**
 * Shared vocabulary of the core: tasks, check names, findings, metrics and task results.
 * Check names are a stable interface: alerts, silences and runbook anchors use them.
 */

export const TASK_NAMES = ['gpu-check', 'health-check', 'backup', 'restore-test', 'restore', 'cleanup', 'logrotate'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export function isTaskName(value: string): value is TaskName {
  return (TASK_NAMES as readonly string[]).includes(value);
}

export const CHECK_NAMES = [
  'gpu.driver',
  'gpu.unresponsive',
  'gpu.count',
  'gpu.temperature',
  'gpu.memory',
  'gpu.xid',
  'gpu.ecc',
  'gpu.row-remap',
  'gpu.retired-pages',
  'gpu.throttle',
  'gpu.pcie',
  'gpu.power',
  'health.disk',
  'health.inodes',
  'health.memory',
  'health.load',
  'health.service',
  'health.journal',
  'health.endpoint',
  'health.reboot-required',
  'backup.run',
  'backup.age',
  'backup.restore-test',
  'backup.restore',
  'cleanup.run',
  'cleanup.guard',
  'logrotate.config',
  'host.stale',
  'task.failed',
  'task.output',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export type Severity = 'ok' | 'warning' | 'critical';

const SEVERITY_RANK: Record<Severity, number> = { ok: 0, warning: 1, critical: 2 };

export function worstSeverity(severities: Iterable<Severity>): Severity {
  let worst: Severity = 'ok';
  for (const s of severities) if (SEVERITY_RANK[s] > SEVERITY_RANK[worst]) worst = s;
  return worst;
}

export function severityAtLeast(severity: Severity, floor: Severity): boolean {
  return SEVERITY_RANK[severity] >= SEVERITY_RANK[floor];
}

export interface Finding {
  readonly check: CheckName;
  readonly severity: Severity;
  /** One line a person can act on, e.g. `GPU 3 at 91 °C`. */
  readonly message: string;
  /** GPU index when the finding is about one GPU. */
  readonly gpu?: number;
  /** The value that was compared, in the unit of the threshold; null when the device has none. */
  readonly reading?: number | string | null;
  /** The thresholds the reading was compared with, e.g. `warn ≥ 83, crit ≥ 90 °C`. */
  readonly threshold?: string;
}

/** CloudWatch standard units used by this project. */
export type MetricUnit = 'None' | 'Count' | 'Percent' | 'Seconds' | 'Bytes' | 'Megabytes';

export interface MetricDatum {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
  readonly dimensions: Readonly<Record<string, string>>;
}

/**
 * `ok`/`warning`/`critical`: the task ran, and this is the worst finding.
 * `failed`: the task could not run or its output could not be read (truncated, malformed).
 */
export type TaskStatus = Severity | 'failed';

export interface GpuReading {
  readonly index: number;
  readonly name: string | null;
  readonly busId: string | null;
  readonly uuid: string | null;
  readonly temperatureC: number | null;
  readonly utilizationPct: number | null;
  readonly memoryUsedMiB: number | null;
  readonly memoryTotalMiB: number | null;
  readonly powerDrawW: number | null;
  readonly powerLimitW: number | null;
  readonly eccUncorrectedVolatile: number | null;
  readonly remappedRowsPending: boolean | null;
  readonly remappedRowsFailure: boolean | null;
  readonly retiredPagesPending: boolean | null;
  /** Names of active clock event (throttle) reasons, e.g. `hw_thermal_slowdown`; null when unknown. */
  readonly throttleReasonsActive: readonly string[] | null;
  readonly pcieLinkGenCurrent: number | null;
  readonly pcieLinkWidthCurrent: number | null;
  readonly migMode: string | null;
}

export interface XidEvent {
  readonly code: number;
  /** Bus id in nvidia-smi's form, e.g. `00000000:2B:00.0`. */
  readonly busId: string;
  /** GPU index matched through nvidia-smi's pci.bus_id; null when the GPU is not listed (e.g. fell off the bus). */
  readonly gpu: number | null;
  readonly severity: Severity;
  readonly message: string;
  /** How many kernel log lines this (GPU, code) incident produced in the window. */
  readonly count?: number;
  readonly migInstance?: number;
}

export interface TaskResult {
  readonly task: TaskName;
  readonly host: string;
  readonly status: TaskStatus;
  /** When the script started, from its begin line (ISO-8601). */
  readonly at?: string;
  readonly findings: readonly Finding[];
  readonly metrics: readonly MetricDatum[];
  readonly gpus?: readonly GpuReading[];
  readonly xids?: readonly XidEvent[];
  /**
   * An event, not a run of the task (the kernel-log watcher, lambda/core/gpu/watch.ts): it reports only the
   * alerts it has findings for, clears none, and does not count as the task's latest run.
   */
  readonly partial?: boolean;
  /** Task-specific structured output (e.g. `snapshot` for backup, `cleanup` for cleanup). */
  readonly [extra: string]: unknown;
}
