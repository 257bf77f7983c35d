/**
 * restore: restores a backup snapshot into a directory, every archive verified by sha256 first (SSM document or `gpu-maint restore`).
 */
import { evaluateRestore } from '../core/backup/evaluate';
import { BACKUP_STORE_PARAMETERS, BOOLEAN, PATH_GLOB_LIST, type TaskParameter } from './parameters';
import type { TaskDefinition } from './task-definition';

const parameters: TaskParameter[] = [
  ...BACKUP_STORE_PARAMETERS,
  {
    name: 'Snapshot',
    env: 'GPU_MAINT_RESTORE_SNAPSHOT',
    description: 'Snapshot id (e.g. 20261128T020000Z-42) or latest (the snapshot written last).',
    allowedPattern: '^(latest|[0-9]{8}T[0-9]{6}Z(-[1-9][0-9]{0,8})?)$',
    fromConfig: () => 'latest',
  },
  {
    name: 'RestoreHost',
    env: 'GPU_MAINT_RESTORE_HOST',
    description: "Host key whose snapshot is restored; empty for this host's own.",
    allowedPattern: '^([A-Za-z0-9._:@-]{1,128})?$',
    fromConfig: () => '',
  },
  {
    name: 'Units',
    env: 'GPU_MAINT_RESTORE_UNITS',
    description: 'Comma-separated unit ids or paths to restore; empty for every unit.',
    allowedPattern: PATH_GLOB_LIST,
    fromConfig: () => '',
  },
  {
    name: 'Target',
    env: 'GPU_MAINT_RESTORE_TARGET',
    description: 'Absolute directory to restore into (with one source it stands for the source).',
    allowedPattern: '^/[^,{}\'"`$\\\\\\n]*$',
    fromConfig: (c) => c.backup.sources[0] ?? '/opt/ml/models',
  },
  {
    name: 'Force',
    env: 'GPU_MAINT_RESTORE_FORCE',
    description: 'true: restore into a non-empty target, replacing entries of the same name as restored units.',
    allowedPattern: BOOLEAN,
    fromConfig: () => 'false',
  },
];

export const restoreTask: TaskDefinition = {
  name: 'restore',
  script: 'restore',
  summary: 'restores a backup snapshot into a directory, every archive verified by sha256 first',
  evaluate: evaluateRestore,
  // On demand only (SSM document or `gpu-maint restore`): it writes into a target directory.
  inRunAll: false,
  fleetCheck: false,
  parameters,
  limits: { executionSeconds: 6 * 3600, deliverySeconds: 1800 },
  // On demand, on the hosts named: all at once, each independent of the others.
  rateControl: { maxConcurrency: '100%', maxErrors: '100%', expectedRunSeconds: 3 * 3600 },
};
