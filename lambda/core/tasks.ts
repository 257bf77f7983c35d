/**
 * The task registry: which script runs a task on the host and which evaluator reads its output.
 */

import { evaluateBackup, evaluateRestore, evaluateRestoreTest } from './backup/evaluate';
import { evaluateCleanup } from './cleanup/evaluate';
import { evaluateLogrotate } from './cleanup/logrotate';
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
  {
    name: 'cleanup',
    script: 'cleanup',
    evaluate: evaluateCleanup,
    // Dry run by default (cleanup.dryRun), so `npm start` only reports what it would free.
    inRunAll: true,
    summary: 'old experiment runs and checkpoints (keeping the newest), unused docker images, package caches; dry run by default',
  },
  {
    name: 'backup',
    script: 'backup',
    evaluate: evaluateBackup,
    // Incremental: an unchanged tree sends nothing, and a host without sources reports "nothing to back up".
    inRunAll: true,
    summary: 'incremental per-unit archives of model directories (tar | zstd, sha256) to file:// or s3://, manifest last',
  },
  {
    name: 'restore-test',
    script: 'restore-test',
    evaluate: evaluateRestoreTest,
    // Downloads and extracts up to backup.restoreTest.maxBytes (10 GiB by default): weekly, or when named.
    inRunAll: false,
    summary: 'restores the newest snapshot (or a sample within restoreTest.maxBytes) into a scratch dir and verifies it',
  },
  {
    name: 'restore',
    script: 'restore',
    evaluate: evaluateRestore,
    // On demand only (SSM document or `gpu-maint restore`): it writes into a target directory.
    inRunAll: false,
    summary: 'restores a backup snapshot into a directory, every archive verified by sha256 first',
  },
  {
    name: 'logrotate',
    script: 'logrotate-apply',
    evaluate: evaluateLogrotate,
    // Changes system configuration (/etc/logrotate.d): runs only when named.
    inRunAll: false,
    summary: 'writes /etc/logrotate.d/gpu-maint from logrotate.groups and validates it with logrotate -d',
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
