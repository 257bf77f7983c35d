/**
 * gpu-check: nvidia-smi state, GPU count for the instance type and kernel Xid errors, every 5 minutes by default.
 */
import { evaluateGpuCheck } from '../core/gpu/evaluate';
import { SMALL_INT, type TaskParameter } from './parameters';
import type { TaskDefinition } from './task-definition';

const parameters: TaskParameter[] = [
  {
    name: 'InstanceType',
    env: 'GPU_MAINT_INSTANCE_TYPE',
    description: 'EC2 instance type, or auto to read it from IMDSv2.',
    allowedPattern: '^(auto|[a-z0-9-]+\\.[a-z0-9-]+)$',
    fromConfig: (c) => c.gpuCheck.instanceType,
  },
  {
    name: 'NvidiaSmiTimeoutSeconds',
    env: 'GPU_MAINT_NVSMI_TIMEOUT_S',
    description: 'Deadline of each nvidia-smi call in seconds.',
    allowedPattern: SMALL_INT,
    fromConfig: (c) => String(c.gpuCheck.nvidiaSmiTimeoutSeconds),
  },
  {
    name: 'ImdsEndpoint',
    env: 'GPU_MAINT_IMDS_ENDPOINT',
    description: 'IMDS base URL when it is not the standard one (IMDS proxies, tests); empty: the standard endpoint, queried only on EC2.',
    allowedPattern: '^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?)?$',
    // Empty for the standard endpoint: a set endpoint makes scripts query IMDS even off EC2 (common.sh).
    fromConfig: (c) =>
      c.gpuCheck.imdsEndpoint.replace(/\/$/, '') === 'http://169.254.169.254' ? '' : c.gpuCheck.imdsEndpoint.replace(/\/$/, ''),
  },
];

export const gpuCheckTask: TaskDefinition = {
  name: 'gpu-check',
  script: 'gpu-check',
  summary: 'nvidia-smi state, GPU count for the instance type, kernel Xid errors',
  evaluate: evaluateGpuCheck,
  inRunAll: true,
  fleetCheck: true,
  parameters,
  schedule: {
    fromConfig: (c) => c.gpuCheck.schedule,
    description: () => 'GPU state, GPU count and Xid errors',
    background: false,
    sharded: true,
  },
  // Runs every 5 minutes: a run or a delivery that takes longer would overlap the next one.
  limits: { executionSeconds: 240, deliverySeconds: 240 },
  // 4 waves of ≤ 60 s (the script's 50 s deadline): the last starts after 3 min, done before the next run.
  rateControl: { maxConcurrency: '25%', maxErrors: '100%', expectedRunSeconds: 60 },
};
