/**
 * The task registry: which script runs a task on the host and which evaluator reads its output.
 */
import type { TaskEvaluator } from './evaluate';
import { evaluateGpuCheck } from './gpu/evaluate';
import { evaluateHealthCheck } from './health/evaluate';
import type { TaskName } from './types';

export interface TaskDefinition {
  readonly name: TaskName;
  /** scripts/<script>.sh */
  readonly script: string;
  readonly evaluate: TaskEvaluator;
  /** Part of `gpu-maint run all` (and so `npm start`); tasks that change system configuration are not. */
  readonly inRunAll: boolean;
  /** One line for help texts. */
  readonly summary: string;
}

const definitions: TaskDefinition[] = [
  {
    name: 'gpu-check',
    script: 'gpu-check',
    evaluate: evaluateGpuCheck,
    inRunAll: true,
    summary: 'nvidia-smi state, GPU count for the instance type, kernel Xid errors',
  },
  {
    name: 'health-check',
    script: 'health-check',
    evaluate: evaluateHealthCheck,
    inRunAll: true,
    summary: 'disk, inodes, memory, load, systemd units, journal errors, endpoints, reboot-required',
  },
];

export const TASKS: ReadonlyMap<TaskName, TaskDefinition> = new Map(definitions.map((d) => [d.name, d]));

export function taskDefinition(name: string): TaskDefinition {
  const def = TASKS.get(name as TaskName);
  if (!def) {
    throw new Error(`unknown task ${JSON.stringify(name)}; expected one of: ${[...TASKS.keys()].join(', ')}`);
  }
  return def;
}
