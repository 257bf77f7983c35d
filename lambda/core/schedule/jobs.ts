/**
 * The schedules a configuration defines, as jobs a single host can run with the gpu-maint CLI. The same
 * expressions drive EventBridge Scheduler in AWS; here they become systemd timers or crontab lines.
 */
import type { Config } from '../../config/schema';

export interface ScheduledJob {
  /** Unit and log name, e.g. `gpu-check` → gpu-maint-gpu-check.timer. */
  readonly id: string;
  readonly description: string;
  /** EventBridge Scheduler expression from config, e.g. `cron(0 3 ? * SUN *)`. */
  readonly expression: string;
  /** Random delay after the scheduled time (spreads load; EventBridge's flexible window). */
  readonly flexibleWindowMinutes: number;
  /** CLI arguments after the global options, e.g. `['run', 'cleanup']`. */
  readonly args: readonly string[];
  /** A run that takes longer than this is stopped. */
  readonly timeoutMinutes: number;
  /** Heavy disk I/O (backups, cleanup): run at idle I/O priority so training jobs keep the disks. */
  readonly background: boolean;
  /**
   * Paths the job writes besides its state directory; a sandboxed unit (ProtectSystem=strict,
   * ProtectHome=read-only) may write only there.
   */
  readonly writePaths?: readonly string[];
}

/** The local directory of a file:// backup destination; none for S3 (or the default, in the state dir). */
function localDestination(config: Config): string[] {
  const d = config.backup.destination;
  return d?.startsWith('file:///') ? [d.slice('file://'.length)] : [];
}

/** Where cleanup deletes: its roots, and the homes and caches where pip, conda and apt keep caches. */
function cleanupPaths(config: Config): string[] {
  const c = config.cleanup;
  const caches = Object.values(c.caches).some((v) => v === true) ? ['/root', '/home', '/var/cache', '/opt/conda'] : [];
  return [...c.experiments.paths, ...c.checkpoints.paths, ...caches];
}

/** Enabled schedules of the config, in a stable order. */
export function scheduledJobs(config: Config): ScheduledJob[] {
  const all: Array<ScheduledJob & { enabled: boolean }> = [
    {
      id: 'gpu-check',
      description: 'GPU state, GPU count and Xid errors',
      ...pick(config.gpuCheck.schedule),
      args: ['run', 'gpu-check'],
      timeoutMinutes: 5,
      background: false,
    },
    {
      id: 'health-check',
      description: 'disk, memory, load, services, journal and endpoints',
      ...pick(config.healthCheck.schedule),
      args: ['run', 'health-check'],
      timeoutMinutes: 10,
      background: false,
    },
    {
      id: 'backup',
      description: 'incremental backup of model directories',
      ...pick(config.backup.schedule),
      args: ['run', 'backup'],
      timeoutMinutes: 12 * 60,
      background: true,
      writePaths: localDestination(config),
    },
    {
      id: 'restore-test',
      description: 'restore test of the newest backup snapshot',
      ...pick(config.backup.restoreTestSchedule),
      args: ['run', 'restore-test'],
      timeoutMinutes: 6 * 60,
      background: true,
    },
    {
      id: 'backup-prune',
      description: 'backup retention (prune old snapshots)',
      ...pick(config.backup.pruneSchedule),
      args: ['prune'],
      timeoutMinutes: 60,
      background: true,
      writePaths: localDestination(config),
    },
    {
      id: 'cleanup',
      description: `cleanup of old experiments, checkpoints, images and caches${config.cleanup.dryRun ? ' (dry run)' : ''}`,
      ...pick(config.cleanup.schedule),
      args: ['run', 'cleanup'],
      timeoutMinutes: 2 * 60,
      background: true,
      writePaths: cleanupPaths(config),
    },
  ];
  return all.filter((j) => j.enabled).map(({ enabled: _enabled, ...job }) => job);
}

function pick(s: { expression: string; flexibleWindowMinutes: number; enabled: boolean }) {
  return { expression: s.expression, flexibleWindowMinutes: s.flexibleWindowMinutes, enabled: s.enabled };
}
