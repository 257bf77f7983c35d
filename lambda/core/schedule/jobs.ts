/**
 * The schedules a configuration defines, as jobs a single host can run with the gpu-maint CLI. The same
 * expressions drive EventBridge Scheduler in AWS; here they become systemd timers or crontab lines. The
 * tasks come in as a parameter (the registry, lambda/tasks/registry.ts), which keeps this module pure.
 */
import type { Config } from '../../config/schema';
import type { TaskName } from '../types';

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
  /** A run that takes longer than this is stopped (systemd TimeoutStartSec). */
  readonly timeoutSeconds: number;
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

/** Paths a task writes outside its state directory (logrotate writes /etc/logrotate.d). */
function taskWritePaths(task: TaskName, config: Config): string[] {
  if (task === 'backup') return localDestination(config);
  if (task === 'cleanup') return cleanupPaths(config);
  if (task === 'logrotate') return ['/etc/logrotate.d'];
  return [];
}

interface ScheduleSettings {
  readonly expression: string;
  readonly flexibleWindowMinutes: number;
  readonly enabled: boolean;
}

/** What this module reads of a task definition (lambda/tasks/task-definition.ts). */
export interface SchedulableTask {
  readonly name: TaskName;
  readonly schedule?: {
    readonly fromConfig: (config: Config) => ScheduleSettings;
    readonly description: (config: Config) => string;
    readonly background: boolean;
  };
  readonly limits: { readonly executionSeconds: number };
  readonly mayStart?: (config: Config) => readonly TaskName[];
}

/**
 * Time the CLI gets after the script's own limit (the runner kills the script at that limit): it still
 * evaluates the output, writes metrics and sends alerts, and the timer must not kill it while it reports.
 */
export const JOB_GRACE_SECONDS = 300;

/** The prune job is a CLI command over the backup store, not a host task. */
const PRUNE_TIMEOUT_SECONDS = 3600;

/** Enabled schedules of the config, tasks in registry order, then the backup prune. */
export function scheduledJobs(config: Config, tasks: Iterable<SchedulableTask>): ScheduledJob[] {
  const byName = new Map([...tasks].map((t) => [t.name, t]));
  const jobs: ScheduledJob[] = [];
  for (const task of byName.values()) {
    if (!task.schedule) continue;
    const schedule = task.schedule.fromConfig(config);
    if (!schedule.enabled) continue;
    // A run may start other tasks here (disk-pressure cleanup), which run within the same job.
    const started = (task.mayStart?.(config) ?? []).map((name) => byName.get(name)?.limits.executionSeconds ?? 0);
    jobs.push({
      id: task.name,
      description: task.schedule.description(config),
      expression: schedule.expression,
      flexibleWindowMinutes: schedule.flexibleWindowMinutes,
      args: ['run', task.name],
      timeoutSeconds: task.limits.executionSeconds + started.reduce((a, b) => a + b, 0) + JOB_GRACE_SECONDS,
      background: task.schedule.background,
      writePaths: [...new Set([task.name, ...(task.mayStart?.(config) ?? [])].flatMap((name) => taskWritePaths(name, config)))],
    });
  }
  const prune = config.backup.pruneSchedule;
  if (prune.enabled) {
    jobs.push({
      id: 'backup-prune',
      description: 'backup retention (prune old snapshots)',
      expression: prune.expression,
      flexibleWindowMinutes: prune.flexibleWindowMinutes,
      args: ['prune'],
      timeoutSeconds: PRUNE_TIMEOUT_SECONDS,
      background: true,
      writePaths: localDestination(config),
    });
  }
  return jobs;
}
