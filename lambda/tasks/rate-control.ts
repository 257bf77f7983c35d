/**
 * How each task rolls out over a fleet: SSM Run Command rate control (MaxConcurrency, MaxErrors), how long
 * a command may wait to be delivered (SendCommand TimeoutSeconds) and how long it may run on a host
 * (the document's executionTimeout), read from each task's definition (lambda/tasks/<task>.ts), so that a
 * 2-second gpu-check and a 40-minute backup each get limits that fit.
 *
 * The arithmetic (docs/deploy.md#rate-control): with MaxConcurrency c, SSM runs the targets in waves and a
 * target of the last wave waits for the earlier ones before its command is delivered; a command not
 * delivered within the delivery timeout ends as Delivery Timed Out. So
 *
 *   waves = ceil(100 / c%)  (or ceil(fleet size / c) for a count),
 *   (waves - 1) × longest per-host run  ≤  deliveryTimeoutSeconds.
 *
 * A percentage keeps the number of waves independent of fleet size, which is why every default is one.
 * Checks never stop the rollout on errors (MaxErrors 100%: a broken host must not hide the others); tasks
 * that write or delete stop after 10% failed hosts, a sign that the cause is not the host.
 */
import { TASK_NAMES, type TaskName } from '../core/types';
import { taskDefinition } from './registry';

export interface RateControl {
  /** Run Command MaxConcurrency: a count 1-9999 or a percentage. */
  readonly maxConcurrency: string;
  /** Run Command MaxErrors: a count or a percentage. */
  readonly maxErrors: string;
  /** SendCommand TimeoutSeconds: how long a command may wait to be delivered (30-2592000). */
  readonly deliveryTimeoutSeconds: number;
  /** The document's executionTimeout: how long the script may run on a host. */
  readonly executionTimeoutSeconds: number;
  /** Expected longest run on one host, in seconds: the input of the arithmetic above (documentation and tests). */
  readonly expectedRunSeconds: number;
}

/** Per task, from its definition in the registry: rate control and the time limits it is reckoned against. */
export const RATE_CONTROL: Readonly<Record<TaskName, RateControl>> = Object.fromEntries(
  TASK_NAMES.map((task) => {
    const { rateControl, limits } = taskDefinition(task);
    return [
      task,
      {
        maxConcurrency: rateControl.maxConcurrency,
        maxErrors: rateControl.maxErrors,
        deliveryTimeoutSeconds: limits.deliverySeconds,
        executionTimeoutSeconds: limits.executionSeconds,
        expectedRunSeconds: rateControl.expectedRunSeconds,
      },
    ];
  }),
) as Record<TaskName, RateControl>;

/** Number of rollout waves a MaxConcurrency gives on a fleet of `fleetSize` targets. */
export function rolloutWaves(maxConcurrency: string, fleetSize: number): number {
  const pct = /^(\d+)%$/.exec(maxConcurrency);
  const perWave = pct ? Math.max(1, Math.floor((fleetSize * Number(pct[1])) / 100)) : Number(maxConcurrency);
  if (!Number.isFinite(perWave) || perWave < 1)
    throw new Error(`maxConcurrency must be a count or a percentage, got: ${JSON.stringify(maxConcurrency)}`);
  return Math.ceil(fleetSize / perWave);
}

/** Overrides from config: `aws.maxConcurrency`/`aws.maxErrors` for every task, `aws.rateControl.<task>` for one. */
export interface RateControlOverrides {
  readonly maxConcurrency?: string;
  readonly maxErrors?: string;
  readonly rateControl?: Partial<Record<TaskName, Partial<Pick<RateControl, 'maxConcurrency' | 'maxErrors' | 'deliveryTimeoutSeconds'>>>>;
}

/** A task's rate control: the table, then the fleet-wide overrides, then the task's own. */
export function rateControlFor(task: TaskName, overrides: RateControlOverrides = {}): RateControl {
  return {
    ...RATE_CONTROL[task],
    ...(overrides.maxConcurrency !== undefined ? { maxConcurrency: overrides.maxConcurrency } : {}),
    ...(overrides.maxErrors !== undefined ? { maxErrors: overrides.maxErrors } : {}),
    ...overrides.rateControl?.[task],
  };
}
