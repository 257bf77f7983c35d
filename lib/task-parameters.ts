/**
 * How configuration reaches task scripts: each task declares its parameters once, and the same
 * declaration becomes environment variables in local mode and SSM document parameters (with an
 * anchored allowedPattern, since SSM substitutes `{{ }}` as text) in AWS.
 */
import type { Config } from './config/schema';
import type { TaskName } from '../lambda/core/types';

export interface TaskParameter {
  /** SSM document parameter name, e.g. `Mounts`. */
  readonly name: string;
  /** Environment variable the script reads, e.g. `GPU_MAINT_MOUNTS`. */
  readonly env: string;
  readonly description: string;
  /** Anchored regular expression every value must match (SSM allowedPattern). */
  readonly allowedPattern: string;
  /** Value from config. */
  readonly fromConfig: (config: Config) => string;
}

/** Comma-separated absolute paths without characters that could break out of a quoted string. */
const PATH_LIST = "^(/[^,{}'\"`$\\\\\\n]*)?(,/[^,{}'\"`$\\\\\\n]*)*$";
const UNIT_LIST = '^([A-Za-z0-9@._:-]+)?(,[A-Za-z0-9@._:-]+)*$';
const ENDPOINT_LIST = '^(auto|([A-Za-z0-9.-]+:[0-9]{1,5})?(,[A-Za-z0-9.-]+:[0-9]{1,5})*)$';
const SMALL_INT = '^[0-9]{1,5}$';

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

const gpuCheck: TaskParameter[] = [
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
];

const healthCheck: TaskParameter[] = [
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

/** Parameters per task script. Tasks without an entry take no parameters. */
export const TASK_PARAMETERS: Partial<Record<TaskName, readonly TaskParameter[]>> = {
  'gpu-check': gpuCheck,
  'health-check': healthCheck,
};

/** Environment for running a task script with this config (local mode, tests). */
export function taskEnvironment(task: TaskName, config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of TASK_PARAMETERS[task] ?? []) {
    const value = p.fromConfig(config);
    if (!new RegExp(p.allowedPattern).test(value)) {
      throw new Error(`${task} parameter ${p.name}: value ${JSON.stringify(value)} does not match ${p.allowedPattern}`);
    }
    env[p.env] = value;
  }
  return env;
}
