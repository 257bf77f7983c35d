/**
 * logrotate: writes /etc/logrotate.d/gpu-maint from logrotate.groups and validates it (State Manager applies it daily in AWS).
 */
import { evaluateLogrotate, logrotateConfigBase64 } from '../core/logrotate/evaluate';
import type { TaskParameter } from './parameters';
import type { TaskDefinition } from './task-definition';

const parameters: TaskParameter[] = [
  {
    name: 'ConfigBase64',
    env: 'GPU_MAINT_LOGROTATE_CONFIG_B64',
    description: 'The /etc/logrotate.d/gpu-maint file rendered from logrotate.groups, base64-encoded.',
    allowedPattern: '^[A-Za-z0-9+/=]*$',
    fromConfig: (c) => logrotateConfigBase64(c.logrotate.groups),
  },
];

export const logrotateTask: TaskDefinition = {
  name: 'logrotate',
  script: 'logrotate-apply',
  summary: 'writes /etc/logrotate.d/gpu-maint from logrotate.groups and validates it with logrotate -d',
  evaluate: evaluateLogrotate,
  // Changes system configuration (/etc/logrotate.d): runs only when named.
  inRunAll: false,
  fleetCheck: false,
  parameters,
  limits: { executionSeconds: 600, deliverySeconds: 600 },
  // A State Manager association, which uses the concurrency and error limits.
  rateControl: { maxConcurrency: '25%', maxErrors: '10%', expectedRunSeconds: 30 },
};
