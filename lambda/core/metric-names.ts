/**
 * Every metric name this project publishes to its CloudWatch namespace, grouped by the code that
 * emits it. The dashboard, alarms and the local status page read names from here, and a test checks
 * that every metric the synthesized dashboard references is one of these (test/cdk/dashboard-body.test.ts).
 */

/** Task-level counters of every result (lambda/core/metrics.ts#taskMetrics); dimensions {Fleet, Task}. */
export const TASK_METRICS = {
  resultsReported: 'ResultsReported',
  taskFailed: 'TaskFailed',
  findingsCritical: 'FindingsCritical',
  findingsWarning: 'FindingsWarning',
} as const;

/** Host-level gpu-check readings (lambda/core/gpu/evaluate.ts); dimension {Fleet}. */
export const GPU_CHECK_METRICS = {
  gpusReported: 'GpusReported',
  gpusMissing: 'GpusMissing',
  gpusUnhealthy: 'GpusUnhealthy',
  gpuUnresponsive: 'GpuUnresponsive',
  gpuTemperatureMax: 'GpuTemperatureMax',
  gpuMemoryUsedPctMax: 'GpuMemoryUsedPctMax',
  gpuUtilizationAvg: 'GpuUtilizationAvg',
  gpuPowerDrawW: 'GpuPowerDrawW',
  eccUncorrectedVolatileSum: 'EccUncorrectedVolatileSum',
  xidEvents: 'XidEvents',
  xidCritical: 'XidCritical',
} as const;

/** Per-GPU readings (metrics.detail `gpu`); dimensions {Fleet, InstanceId, Gpu}. */
export const PER_GPU_METRICS = {
  temperature: 'GpuTemperature',
  utilization: 'GpuUtilization',
  memoryUsedPct: 'GpuMemoryUsedPct',
  powerDraw: 'GpuPowerDraw',
} as const;

/** Host-level health-check readings (lambda/core/health/evaluate.ts). */
export const HEALTH_METRICS = {
  diskUsedPctMax: 'DiskUsedPctMax',
  inodesUsedPctMax: 'InodesUsedPctMax',
  memoryAvailablePct: 'MemoryAvailablePct',
  loadPerCpu: 'LoadPerCpu',
  failedServices: 'FailedServices',
  journalErrors: 'JournalErrors',
  endpointsUnreachable: 'EndpointsUnreachable',
  rebootRequired: 'RebootRequired',
} as const;

/** Cleanup and logrotate readings (lambda/core/cleanup/evaluate.ts, logrotate.ts). */
export const CLEANUP_METRICS = {
  bytesFreed: 'BytesFreed',
  bytesFreedExperiments: 'BytesFreedExperiments',
  bytesFreedCheckpoints: 'BytesFreedCheckpoints',
  bytesFreedDocker: 'BytesFreedDocker',
  bytesFreedCaches: 'BytesFreedCaches',
  deletedFiles: 'CleanupDeletedFiles',
  bytesReclaimable: 'BytesReclaimable',
  diskUsedPctAfter: 'DiskUsedPctAfter',
  logrotateConfigValid: 'LogrotateConfigValid',
} as const;

/** Backup and restore-test readings (lambda/core/backup/evaluate.ts). */
export const BACKUP_METRICS = {
  backupSuccess: 'BackupSuccess',
  backupBytesUploaded: 'BackupBytesUploaded',
  backupDurationSeconds: 'BackupDurationSeconds',
  restoreTestSuccess: 'RestoreTestSuccess',
} as const;

/** The prune Lambda's daily audit (lambda/core/backup/prune.ts). */
export const PRUNE_METRICS = {
  snapshotAgeHours: 'SnapshotAgeHours',
  backupHosts: 'BackupHosts',
  backupHostsStale: 'BackupHostsStale',
  pruneErrors: 'PruneErrors',
  snapshotsPruned: 'SnapshotsPruned',
  archivesPruned: 'ArchivesPruned',
  pruneBytesFreed: 'PruneBytesFreed',
} as const;

/**
 * Published by the dispatcher per dispatch: the managed instances carrying the fleet tag that the
 * command targeted, so "instances reporting" has an expected count to be read against.
 */
export const DISPATCH_METRICS = {
  expectedInstances: 'ExpectedInstances',
} as const;

type ValuesOf<T> = T[keyof T];

export type MetricName =
  | ValuesOf<typeof TASK_METRICS>
  | ValuesOf<typeof GPU_CHECK_METRICS>
  | ValuesOf<typeof PER_GPU_METRICS>
  | ValuesOf<typeof HEALTH_METRICS>
  | ValuesOf<typeof CLEANUP_METRICS>
  | ValuesOf<typeof BACKUP_METRICS>
  | ValuesOf<typeof PRUNE_METRICS>
  | ValuesOf<typeof DISPATCH_METRICS>;

/** Every name above. */
export const METRIC_NAMES: ReadonlySet<MetricName> = new Set<MetricName>(
  [
    TASK_METRICS,
    GPU_CHECK_METRICS,
    PER_GPU_METRICS,
    HEALTH_METRICS,
    CLEANUP_METRICS,
    BACKUP_METRICS,
    PRUNE_METRICS,
    DISPATCH_METRICS,
  ].flatMap((group) => Object.values(group) as MetricName[]),
);

export function isMetricName(name: string): name is MetricName {
  return (METRIC_NAMES as ReadonlySet<string>).has(name);
}
