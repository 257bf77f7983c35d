/**
 * How configuration reaches task scripts: each task declares its parameters once, and the same
 * declaration becomes environment variables in local mode and SSM document parameters (with an
 * anchored allowedPattern, since SSM substitutes `{{ }}` as text) in AWS.
 */
import * as path from 'node:path';
import { resolveStateDir } from '../adapters/local/paths';
import type { Config } from '../config/schema';
import { logrotateConfigBase64 } from '../core/cleanup/logrotate';
import type { TaskName } from '../core/types';

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
const PATH_LIST = '^(/[^,{}\'"`$\\\\\\n]*)?(,/[^,{}\'"`$\\\\\\n]*)*$';
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

const BOOLEAN = '^(true|false)$';
const DECIMAL = '^[0-9]{1,6}(\\.[0-9]{1,6})?$';
/** Comma-separated globs without characters that could break out of a quoted string. */
const NAME_GLOB_LIST = '^([^,/{}\'"`$\\\\\\n]+)?(,[^,/{}\'"`$\\\\\\n]+)*$';
const PATH_GLOB_LIST = '^([^,{}\'"`$\\\\\\n]+)?(,[^,{}\'"`$\\\\\\n]+)*$';
const CACHE_LIST = '^((pip|conda|apt|huggingface)(,(pip|conda|apt|huggingface))*)?$';

/** A non-negative number as plain decimal text with at most 6 decimals (never exponent notation). */
function decimal(value: number): string {
  return value.toFixed(6).replace(/\.?0+$/, '');
}

const cleanup: TaskParameter[] = [
  {
    name: 'DryRun',
    env: 'GPU_MAINT_CLEANUP_DRY_RUN',
    description: 'true: report what would be deleted and delete nothing.',
    allowedPattern: BOOLEAN,
    fromConfig: (c) => String(c.cleanup.dryRun),
  },
  {
    name: 'Force',
    env: 'GPU_MAINT_CLEANUP_FORCE',
    description: 'true: lift the maxDeleteFraction guard for this run (root safety checks still apply).',
    allowedPattern: BOOLEAN,
    fromConfig: (c) => String(c.cleanup.force),
  },
  {
    name: 'MaxDeleteFraction',
    env: 'GPU_MAINT_CLEANUP_MAX_DELETE_FRACTION',
    description: 'A run deletes nothing in a root when its selection exceeds this fraction of the root bytes.',
    allowedPattern: '^(0(\\.[0-9]{1,6})?|1(\\.0{1,6})?)$',
    fromConfig: (c) => decimal(c.cleanup.maxDeleteFraction),
  },
  {
    name: 'ExperimentPaths',
    env: 'GPU_MAINT_CLEANUP_EXPERIMENT_PATHS',
    description: 'Comma-separated roots whose top-level run directories are cleaned.',
    allowedPattern: PATH_LIST,
    fromConfig: (c) => c.cleanup.experiments.paths.join(','),
  },
  {
    name: 'ExperimentMaxAgeDays',
    env: 'GPU_MAINT_CLEANUP_EXPERIMENT_MAX_AGE_DAYS',
    description: 'A run directory is deleted only when its newest entry is older than this many days.',
    allowedPattern: DECIMAL,
    fromConfig: (c) => decimal(c.cleanup.experiments.maxAgeDays),
  },
  {
    name: 'CheckpointPaths',
    env: 'GPU_MAINT_CLEANUP_CHECKPOINT_PATHS',
    description: 'Comma-separated roots searched for checkpoint files.',
    allowedPattern: PATH_LIST,
    fromConfig: (c) => c.cleanup.checkpoints.paths.join(','),
  },
  {
    name: 'CheckpointPatterns',
    env: 'GPU_MAINT_CLEANUP_CHECKPOINT_PATTERNS',
    description: 'Comma-separated file-name globs of checkpoint files; other files are never touched.',
    allowedPattern: NAME_GLOB_LIST,
    fromConfig: (c) => c.cleanup.checkpoints.patterns.join(','),
  },
  {
    name: 'CheckpointMaxAgeDays',
    env: 'GPU_MAINT_CLEANUP_CHECKPOINT_MAX_AGE_DAYS',
    description: 'Checkpoint files older than this many days are deleted (except the newest per directory).',
    allowedPattern: DECIMAL,
    fromConfig: (c) => decimal(c.cleanup.checkpoints.maxAgeDays),
  },
  {
    name: 'CheckpointKeepNewest',
    env: 'GPU_MAINT_CLEANUP_CHECKPOINT_KEEP_NEWEST',
    description: 'Newest checkpoint files kept per directory whatever their age.',
    allowedPattern: SMALL_INT,
    fromConfig: (c) => String(c.cleanup.checkpoints.keepNewest),
  },
  {
    name: 'DockerEnabled',
    env: 'GPU_MAINT_CLEANUP_DOCKER',
    description: 'true: remove docker images no container uses.',
    allowedPattern: BOOLEAN,
    fromConfig: (c) => String(c.cleanup.docker.enabled),
  },
  {
    name: 'DockerUnusedForHours',
    env: 'GPU_MAINT_CLEANUP_DOCKER_UNUSED_HOURS',
    description: 'Only images created more than this many hours ago are removed.',
    allowedPattern: '^[0-9]{1,6}$',
    fromConfig: (c) => String(c.cleanup.docker.unusedForHours),
  },
  {
    name: 'Caches',
    env: 'GPU_MAINT_CLEANUP_CACHES',
    description: 'Comma-separated caches to clean: pip, conda, apt, huggingface.',
    allowedPattern: CACHE_LIST,
    fromConfig: (c) => (['pip', 'conda', 'apt', 'huggingface'] as const).filter((k) => c.cleanup.caches[k]).join(','),
  },
  {
    name: 'HuggingfaceMaxGiB',
    env: 'GPU_MAINT_CLEANUP_HF_MAX_GIB',
    description: 'The Hugging Face hub cache is trimmed, least recently used first, down to this size.',
    allowedPattern: DECIMAL,
    fromConfig: (c) => decimal(c.cleanup.caches.huggingfaceMaxGiB),
  },
  {
    name: 'ProtectMarker',
    env: 'GPU_MAINT_CLEANUP_PROTECT_MARKER',
    description: 'A file with this name protects its directory and everything under it.',
    allowedPattern: '^[^,/{}\'"`$\\\\\\n]+$',
    fromConfig: (c) => c.cleanup.protectMarker,
  },
  {
    name: 'Protect',
    env: 'GPU_MAINT_CLEANUP_PROTECT',
    description: 'Comma-separated path globs protecting matching paths and everything under them.',
    allowedPattern: PATH_GLOB_LIST,
    fromConfig: (c) => c.cleanup.protect.join(','),
  },
];

const logrotate: TaskParameter[] = [
  {
    name: 'ConfigBase64',
    env: 'GPU_MAINT_LOGROTATE_CONFIG_B64',
    description: 'The /etc/logrotate.d/gpu-maint file rendered from logrotate.groups, base64-encoded.',
    allowedPattern: '^[A-Za-z0-9+/=]*$',
    fromConfig: (c) => logrotateConfigBase64(c.logrotate.groups),
  },
];

/** `file://<local.stateDir>/backups` unless backup.destination is set (the stack sets the bucket for its documents). */
export function backupDestination(c: Config): string {
  return c.backup.destination ?? `file://${path.join(path.resolve(resolveStateDir(c.local.stateDir)), 'backups')}`;
}

const BACKUP_DESTINATION = '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^,{}\'"`$\\\\\\n]*)?|file:///[^,{}\'"`$\\\\\\n]*)$';
const URL_OR_EMPTY = '^(https?://[A-Za-z0-9.:/_-]+)?$';
const HOST_KEY_MODE = '^(host|aws-userid)$';

/** Where backups live; shared by backup, restore-test and restore. */
const backupStore: TaskParameter[] = [
  {
    name: 'Destination',
    env: 'GPU_MAINT_BACKUP_DESTINATION',
    description: 'Backup destination: s3://bucket[/prefix] or file:///absolute/path.',
    allowedPattern: BACKUP_DESTINATION,
    fromConfig: backupDestination,
  },
  {
    name: 'S3EndpointUrl',
    env: 'GPU_MAINT_S3_ENDPOINT_URL',
    description: 'Endpoint of an S3-compatible store; empty for AWS S3.',
    allowedPattern: URL_OR_EMPTY,
    fromConfig: (c) => c.backup.s3EndpointUrl ?? '',
  },
  {
    name: 'HostKey',
    env: 'GPU_MAINT_BACKUP_HOST_KEY',
    description: "Name of this host's folder under backups/: host (instance id or host name) or aws-userid (<role id>:<instance id>).",
    allowedPattern: HOST_KEY_MODE,
    fromConfig: (c) => c.backup.hostKey,
  },
];

const backup: TaskParameter[] = [
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
  ...backupStore,
];

const restoreTest: TaskParameter[] = [
  {
    name: 'MaxBytes',
    env: 'GPU_MAINT_RESTORE_TEST_MAX_BYTES',
    description: 'Upper bound of archive plus restored bytes per restore test (a random sample of units when exceeded).',
    allowedPattern: '^[0-9]{1,15}$',
    fromConfig: (c) => String(c.backup.restoreTest.maxBytes),
  },
  ...backupStore,
];

/**
 * Parameters of scripts/restore.sh (on-demand restore; the CLI's `gpu-maint restore` sets the same
 * variables). Not in TASK_PARAMETERS while `restore` is not a task of the registry.
 */
export const RESTORE_PARAMETERS: readonly TaskParameter[] = [
  ...backupStore,
  {
    name: 'Snapshot',
    env: 'GPU_MAINT_RESTORE_SNAPSHOT',
    description: 'Snapshot id (e.g. 20261128T020000Z) or latest.',
    allowedPattern: '^(latest|[0-9]{8}T[0-9]{6}Z)$',
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

/** Parameters per task script. Tasks without an entry take no parameters. */
export const TASK_PARAMETERS: Partial<Record<TaskName, readonly TaskParameter[]>> = {
  'gpu-check': gpuCheck,
  'health-check': healthCheck,
  cleanup,
  logrotate,
  backup,
  'restore-test': restoreTest,
  restore: RESTORE_PARAMETERS,
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
