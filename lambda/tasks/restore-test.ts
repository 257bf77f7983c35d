/**
 * restore-test: restores the newest snapshot (or a sample) into a scratch directory and verifies every sha256.
 */
import { evaluateRestoreTest } from '../core/backup/evaluate';
import { BACKUP_STORE_PARAMETERS, type TaskParameter } from './parameters';
import type { TaskDefinition } from './task-definition';

const parameters: TaskParameter[] = [
  {
    name: 'MaxBytes',
    env: 'GPU_MAINT_RESTORE_TEST_MAX_BYTES',
    description: 'Upper bound of archive plus restored bytes per restore test (a random sample of units when exceeded).',
    allowedPattern: '^[0-9]{1,15}$',
    fromConfig: (c) => String(c.backup.restoreTest.maxBytes),
  },
  ...BACKUP_STORE_PARAMETERS,
];

export const restoreTestTask: TaskDefinition = {
  name: 'restore-test',
  script: 'restore-test',
  summary: 'restores the newest snapshot (or a sample within restoreTest.maxBytes) into a scratch dir and verifies it',
  evaluate: evaluateRestoreTest,
  // Downloads and extracts up to backup.restoreTest.maxBytes (10 GiB by default): weekly, or when named.
  inRunAll: false,
  fleetCheck: false,
  parameters,
  schedule: {
    fromConfig: (c) => c.backup.restoreTestSchedule,
    description: () => 'restore test of the newest backup snapshot',
    background: true,
  },
  limits: { executionSeconds: 4 * 3600, deliverySeconds: 6 * 3600 },
  // Like backup: 4-5 waves of up to 80 min (10 GiB restored and verified).
  rateControl: { maxConcurrency: '25%', maxErrors: '10%', expectedRunSeconds: 80 * 60 },
};
