/**
 * health-check: disk, inodes, memory, load, systemd units, journal errors, endpoints and reboot-required.
 */
import { evaluateHealthCheck } from '../core/health/evaluate';
import { PATH_LIST, SMALL_INT, type TaskParameter, unique } from './parameters';
import type { TaskDefinition } from './task-definition';

const UNIT_LIST = '^([A-Za-z0-9@._:-]+)?(,[A-Za-z0-9@._:-]+)*$';
const ENDPOINT_LIST = '^(auto|([A-Za-z0-9.-]+:[0-9]{1,5})?(,[A-Za-z0-9.-]+:[0-9]{1,5})*)$';

const parameters: TaskParameter[] = [
  {
    name: 'Mounts',
    env: 'GPU_MAINT_MOUNTS',
    description: 'Comma-separated paths whose filesystems are checked for space and inodes.',
    allowedPattern: PATH_LIST,
    fromConfig: (c) =>
      unique([
        ...c.healthCheck.mounts,
        ...c.healthCheck.dataDirs,
        ...c.backup.sources,
        ...c.cleanup.experiments.paths,
        ...c.cleanup.checkpoints.paths,
      ]).join(','),
  },
  {
    name: 'Services',
    env: 'GPU_MAINT_SERVICES',
    description: 'Comma-separated systemd units that must be active.',
    allowedPattern: UNIT_LIST,
    fromConfig: (c) => c.healthCheck.services.join(','),
  },
  {
    name: 'Endpoints',
    env: 'GPU_MAINT_ENDPOINTS',
    description: 'Comma-separated host:port endpoints checked by TCP connect, or auto (regional SSM and S3 on EC2).',
    allowedPattern: ENDPOINT_LIST,
    fromConfig: (c) => (c.healthCheck.endpoints === 'auto' ? 'auto' : c.healthCheck.endpoints.join(',')),
  },
  {
    name: 'EndpointTimeoutSeconds',
    env: 'GPU_MAINT_ENDPOINT_TIMEOUT_S',
    description: 'TCP connect timeout per endpoint in seconds.',
    allowedPattern: SMALL_INT,
    fromConfig: (c) => String(c.healthCheck.endpointTimeoutSeconds),
  },
  {
    name: 'JournalWindowMinutes',
    env: 'GPU_MAINT_JOURNAL_WINDOW_MIN',
    description: 'Window in minutes for counting journal errors.',
    allowedPattern: SMALL_INT,
    fromConfig: (c) => String(c.healthCheck.journalWindowMinutes),
  },
];

export const healthCheckTask: TaskDefinition = {
  name: 'health-check',
  script: 'health-check',
  summary: 'disk, inodes, memory, load, systemd units, journal errors, endpoints, reboot-required',
  evaluate: evaluateHealthCheck,
  inRunAll: true,
  fleetCheck: true,
  parameters,
  schedule: {
    fromConfig: (c) => c.healthCheck.schedule,
    description: () => 'disk, memory, load, services, journal and endpoints',
    background: false,
    sharded: true,
  },
  limits: { executionSeconds: 600, deliverySeconds: 600 },
  // 4 waves of ≤ 2 min (endpoint and journal probes are bounded): last wave after 6 min of a 10-min timeout.
  rateControl: { maxConcurrency: '25%', maxErrors: '100%', expectedRunSeconds: 120 },
  mayStart: (c) => (c.cleanup.onDiskPressure ? ['cleanup'] : []),
};
