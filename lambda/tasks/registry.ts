/**
 * The task registry: every task the stack, the dispatcher, the local runner and the timers know. A task
 * is defined in its own file beside this one (script, parameters, schedule, limits, evaluator); listing
 * it here is all it takes for it to get an SSM document, a schedule, a dispatch entry and a local timer.
 */
import type { Config } from '../config/schema';
import type { TaskName } from '../core/types';
import { backupTask } from './backup';
import { cleanupTask } from './cleanup';
import { gpuCheckTask } from './gpu-check';
import { healthCheckTask } from './health-check';
import { logrotateTask } from './logrotate';
import { restoreTask } from './restore';
import { restoreTestTask } from './restore-test';
import type { TaskDefinition } from './task-definition';

/** Keyed by name, so a name of TASK_NAMES without a definition (or the reverse) fails to compile. */
const REGISTRY = {
  'gpu-check': gpuCheckTask,
  'health-check': healthCheckTask,
  cleanup: cleanupTask,
  backup: backupTask,
  'restore-test': restoreTestTask,
  restore: restoreTask,
  logrotate: logrotateTask,
} satisfies Record<TaskName, TaskDefinition>;

/** Every task, in the order `run all` runs them and the stack creates them. */
export const TASKS: ReadonlyMap<TaskName, TaskDefinition> = new Map(
  Object.entries(REGISTRY).map(([key, def]) => {
    if (def.name !== key) throw new Error(`task registry: entry ${key} defines task ${def.name}`);
    return [def.name, def];
  }),
);

export function isRegisteredTask(name: string): name is TaskName {
  return TASKS.has(name as TaskName);
}

/** @throws Error naming the unknown task and the registered ones. */
export function taskDefinition(name: string): TaskDefinition {
  const def = TASKS.get(name as TaskName);
  if (!def) {
    throw new Error(`unknown task ${JSON.stringify(name)}; expected one of: ${[...TASKS.keys()].join(', ')}`);
  }
  return def;
}

/** The task's environment from config (local mode, tests): its parameters as GPU_MAINT_* variables. */
export function taskEnvironment(task: TaskName, config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of taskDefinition(task).parameters) {
    const value = p.fromConfig(config);
    if (!new RegExp(p.allowedPattern).test(value)) {
      throw new Error(`${task} parameter ${p.name}: value ${JSON.stringify(value)} does not match ${p.allowedPattern}`);
    }
    env[p.env] = value;
  }
  return env;
}

/** The anchored pattern of each of the task's parameters, by parameter name (dispatch payload validation). */
export function parameterPatterns(task: string): Readonly<Record<string, string>> {
  const def = TASKS.get(task as TaskName);
  return Object.fromEntries((def?.parameters ?? []).map((p) => [p.name, p.allowedPattern]));
}
