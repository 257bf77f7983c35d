/**
 * backup: incremental per-unit archives of model directories (tar | zstd, sha256) to file:// or s3://, manifest last.
 */
import { evaluateBackup } from '../core/backup/evaluate';
import { BACKUP_STORE_PARAMETERS, PATH_GLOB_LIST, PATH_LIST, type TaskParameter } from './parameters';
import type { TaskDefinition } from './task-definition';

const parameters: TaskParameter[] = [
  {
    name: 'Sources',
    env: 'GPU_MAINT_BACKUP_SOURCES',
    description: 'Comma-separated directories whose entries are backed up as archive units.',
    allowedPattern: PATH_LIST,
    fromConfig: (c) => c.backup.sources.join(','),
  },
  {
    name: 'Exclude',
    env: 'GPU_MAINT_BACKUP_EXCLUDE',
    description: 'Comma-separated globs left out of backups (a name matches at any depth, a path a trailing path).',
    allowedPattern: PATH_GLOB_LIST,
    fromConfig: (c) => c.backup.exclude.join(','),
  },
  {
    name: 'OnUnreadable',
    env: 'GPU_MAINT_BACKUP_ON_UNREADABLE',
    description: 'warn: a file that cannot be read or vanishes is left out with a warning; fail: the backup fails.',
    allowedPattern: '^(warn|fail)$',
    fromConfig: (c) => c.backup.onUnreadable,
  },
  {
    name: 'UnitDepth',
    env: 'GPU_MAINT_BACKUP_UNIT_DEPTH',
    description: 'Directory level that forms one archive unit (1 = each top-level entry of a source).',
    allowedPattern: '^[1-4]$',
    fromConfig: (c) => String(c.backup.unitDepth),
  },
  {
    name: 'CompressionLevel',
    env: 'GPU_MAINT_BACKUP_COMPRESSION_LEVEL',
    description: 'zstd compression level 1-19.',
    allowedPattern: '^([1-9]|1[0-9])$',
    fromConfig: (c) => String(c.backup.compressionLevel),
  },
  {
    name: 'MinCompressionSavingsPercent',
    env: 'GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT',
    description: 'A unit whose sample saves less than this % at CompressionLevel is stored with zstd --fast=1 (0: never).',
    allowedPattern: '^(100|[1-9]?[0-9])$',
    fromConfig: (c) => String(c.backup.minCompressionSavingsPercent),
  },
  ...BACKUP_STORE_PARAMETERS,
];

export const backupTask: TaskDefinition = {
  name: 'backup',
  script: 'backup',
  summary: 'incremental per-unit archives of model directories (tar | zstd, sha256) to file:// or s3://, manifest last',
  evaluate: evaluateBackup,
  // Incremental: an unchanged tree sends nothing, and a host without sources reports "nothing to back up".
  inRunAll: true,
  fleetCheck: false,
  parameters,
  schedule: { fromConfig: (c) => c.backup.schedule, description: () => 'incremental backup of model directories', background: true },
  // A first backup of large model directories takes hours, wherever it runs.
  limits: { executionSeconds: 6 * 3600, deliverySeconds: 6 * 3600 },
  // 4 waves (5 on small fleets, counting a percentage rounded down) of up to 80 min (a 40-minute backup,
  // doubled): the last wave starts after 5 h 20 min at most.
  rateControl: { maxConcurrency: '25%', maxErrors: '10%', expectedRunSeconds: 80 * 60 },
};
