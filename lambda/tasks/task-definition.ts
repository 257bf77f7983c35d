/**
 * What a task is, in one place: its script, its parameters, its schedule, its time limits and how its
 * output is read. The stack, the dispatcher, the local runner and the systemd/cron timers are all
 * generated from these definitions (lambda/tasks/registry.ts lists them).
 */
import type { Config } from '../config/schema';
import type { TaskEvaluator } from '../core/task-evaluation';
import type { TaskName } from '../core/types';
import type { TaskParameter } from './parameters';

/** A schedule block of the config (defaults per key in lambda/config/schema.ts). */
export type ScheduleSettings = Config['gpuCheck']['schedule'];

export interface TaskSchedule {
  /** Which config block holds the task's schedule; its defaults live in the config schema, once. */
  readonly fromConfig: (config: Config) => ScheduleSettings;
  /** Description of the systemd timer / cron line. */
  readonly description: (config: Config) => string;
  /** Heavy disk I/O: local timers run it at idle I/O priority so training jobs keep the disks. */
  readonly background: boolean;
  /**
   * A frequent fleet-wide check: with `fleet.shards` > 1 it gets one staggered schedule per shard
   * (lambda/core/schedule/shards.ts). @default false
   */
  readonly sharded?: boolean;
}

export interface TaskTimeLimits {
  /**
   * How long the script may run before it is stopped: SSM's executionTimeout in AWS, the local
   * runner's kill timer, and (plus a grace period for evaluation) the systemd timer's TimeoutStartSec.
   */
  readonly executionSeconds: number;
  /** How long SSM tries to reach an instance before DeliveryTimedOut (a 5-minute check must not pile up). */
  readonly deliverySeconds: number;
}

/**
 * How the task rolls out over a fleet (lambda/tasks/rate-control.ts has the arithmetic that ties these to
 * the time limits); config's aws.maxConcurrency, aws.maxErrors and aws.rateControl override them.
 */
export interface TaskRateControl {
  /** SendCommand MaxConcurrency, e.g. `25%` or `50`. */
  readonly maxConcurrency: string;
  /** SendCommand MaxErrors, e.g. `10%` or `0`. */
  readonly maxErrors: string;
  /** Expected longest run on one host, in seconds: the input of the rollout arithmetic. */
  readonly expectedRunSeconds: number;
}

export interface TaskDefinition {
  readonly name: TaskName;
  /** scripts/<script>.sh */
  readonly script: string;
  /** One line for help texts. */
  readonly summary: string;
  /** Reads the script's output (lambda/core). */
  readonly evaluate: TaskEvaluator;
  /** Part of `gpu-maint run all` (and so `npm start`); tasks that change system configuration are not. */
  readonly inRunAll: boolean;
  /**
   * A check that runs on every host every few minutes: its coverage (results reported against instances
   * reached) has an alarm, and its healthy results get minimal log lines.
   */
  readonly fleetCheck: boolean;
  /** GPU_MAINT_* variables locally, SSM document parameters (with allowedPattern) in AWS. */
  readonly parameters: readonly TaskParameter[];
  /** Absent: the task runs only on demand (or by association). */
  readonly schedule?: TaskSchedule;
  readonly limits: TaskTimeLimits;
  /**
   * Tasks a run of this one may start on the same host with this config (disk-pressure cleanup after a
   * health-check); a local timer gives the job their limits too.
   */
  readonly mayStart?: (config: Config) => readonly TaskName[];
  readonly rateControl: TaskRateControl;
}
