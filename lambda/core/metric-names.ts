/**
 * Every metric name the project emits, named once: evaluators and the pruner write them, the dashboard,
 * the alarms and the local Prometheus textfile read them. A reading's name is typed by this list, so a
 * metric the dashboard reads cannot be renamed on one side only.
 */
export const METRICS = {
  // Every result (lambda/core/metrics.ts), dimensions {Fleet, Task}.
  ResultsReported: 'ResultsReported',
  TaskFailed: 'TaskFailed',
  FindingsCritical: 'FindingsCritical',
  FindingsWarning: 'FindingsWarning',
  // gpu-check, host level.
  GpusReported: 'GpusReported',
  GpusMissing: 'GpusMissing',
  GpusUnhealthy: 'GpusUnhealthy',
  GpuUnresponsive: 'GpuUnresponsive',
  GpuTemperatureMax: 'GpuTemperatureMax',
  GpuMemoryUsedPctMax: 'GpuMemoryUsedPctMax',
  GpuUtilizationAvg: 'GpuUtilizationAvg',
  GpuPowerDrawW: 'GpuPowerDrawW',
  EccUncorrectedVolatileSum: 'EccUncorrectedVolatileSum',
  XidEvents: 'XidEvents',
  XidCritical: 'XidCritical',
  // gpu-check, per GPU (metrics.detail `gpu`).
  GpuTemperature: 'GpuTemperature',
  GpuUtilization: 'GpuUtilization',
  GpuMemoryUsedPct: 'GpuMemoryUsedPct',
  GpuPowerDraw: 'GpuPowerDraw',
  // health-check.
  DiskUsedPctMax: 'DiskUsedPctMax',
  InodesUsedPctMax: 'InodesUsedPctMax',
  MemoryAvailablePct: 'MemoryAvailablePct',
  LoadPerCpu: 'LoadPerCpu',
  FailedServices: 'FailedServices',
  JournalErrors: 'JournalErrors',
  EndpointsUnreachable: 'EndpointsUnreachable',
  RebootRequired: 'RebootRequired',
  // cleanup.
  BytesFreed: 'BytesFreed',
  BytesFreedExperiments: 'BytesFreedExperiments',
  BytesFreedCheckpoints: 'BytesFreedCheckpoints',
  BytesFreedDocker: 'BytesFreedDocker',
  BytesFreedCaches: 'BytesFreedCaches',
  CleanupDeletedFiles: 'CleanupDeletedFiles',
  BytesReclaimable: 'BytesReclaimable',
  DiskUsedPctAfter: 'DiskUsedPctAfter',
  // logrotate.
  LogrotateConfigValid: 'LogrotateConfigValid',
  // backup and restore-test.
  BackupSuccess: 'BackupSuccess',
  BackupBytesUploaded: 'BackupBytesUploaded',
  BackupDurationSeconds: 'BackupDurationSeconds',
  RestoreTestSuccess: 'RestoreTestSuccess',
  // prune (lambda/core/backup/prune.ts), dimensions {Fleet}.
  SnapshotAgeHours: 'SnapshotAgeHours',
  BackupHosts: 'BackupHosts',
  BackupHostsStale: 'BackupHostsStale',
  PruneErrors: 'PruneErrors',
  SnapshotsPruned: 'SnapshotsPruned',
  ArchivesPruned: 'ArchivesPruned',
  PruneBytesFreed: 'PruneBytesFreed',
  // remediation (lambda/core/remediation/run.ts), dimensions {Fleet, Action} / {Fleet, Outcome} / {Fleet}.
  RemediationActions: 'RemediationActions',
  RemediationOutcomes: 'RemediationOutcomes',
  RemediationHeld: 'RemediationHeld',
  RemediationStorms: 'RemediationStorms',
  // dispatch (lambda/core/coverage.ts): results one scheduled dispatch expects, dimensions {Fleet, Task}.
  ExpectedResults: 'ExpectedResults',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/** Cleanup's bytes freed per category, in dashboard order. */
export const BYTES_FREED_BY_CATEGORY = [
  METRICS.BytesFreedExperiments,
  METRICS.BytesFreedCheckpoints,
  METRICS.BytesFreedDocker,
  METRICS.BytesFreedCaches,
] as const;

/** Every metric name, for checks that a name read somewhere is one the code emits. */
export const METRIC_NAMES: ReadonlySet<MetricName> = new Set(Object.values(METRICS));

export function isMetricName(name: string): name is MetricName {
  return (METRIC_NAMES as ReadonlySet<string>).has(name);
}
