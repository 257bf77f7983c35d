/**
 * cleanup: old experiment runs and checkpoints (keeping the newest), unused docker images, package caches.
 */

import type { Config } from '../config/schema';
import { evaluateCleanup } from '../core/cleanup/evaluate';
import { BOOLEAN, DECIMAL, decimal, PATH_GLOB_LIST, PATH_LIST, SMALL_INT, type TaskParameter, unique } from './parameters';
import type { TaskDefinition } from './task-definition';

/** Comma-separated globs without characters that could break out of a quoted string. */
const NAME_GLOB_LIST = '^([^,/{}\'"`$\\\\\\n]+)?(,[^,/{}\'"`$\\\\\\n]+)*$';
const CACHE_LIST = '^((pip|conda|apt|huggingface)(,(pip|conda|apt|huggingface))*)?$';

const parameters: TaskParameter[] = [
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
  {
    name: 'KeepOut',
    env: 'GPU_MAINT_CLEANUP_KEEP_OUT',
    description:
      'Comma-separated paths a cleanup root may not equal, lie inside or contain: backup sources and a file:// backup destination (the state dir is added by the script).',
    allowedPattern: PATH_LIST,
    fromConfig: (c) => cleanupKeepOut(c).join(','),
  },
];

/** Backup sources and an explicitly configured file:// destination: never cleanup roots, nor inside or above one. */
export function cleanupKeepOut(c: Config): string[] {
  const dest = c.backup.destination?.startsWith('file://') ? [c.backup.destination.slice('file://'.length)] : [];
  return unique([...c.backup.sources, ...dest]);
}

export const cleanupTask: TaskDefinition = {
  name: 'cleanup',
  script: 'cleanup',
  summary: 'old experiment runs and checkpoints (keeping the newest), unused docker images, package caches; dry run by default',
  evaluate: evaluateCleanup,
  // Dry run by default (cleanup.dryRun), so `npm start` only reports what it would free.
  inRunAll: true,
  fleetCheck: false,
  parameters,
  schedule: {
    fromConfig: (c) => c.cleanup.schedule,
    description: (c) => `cleanup of old experiments, checkpoints, images and caches${c.cleanup.dryRun ? ' (dry run)' : ''}`,
    background: true,
  },
  limits: { executionSeconds: 3600, deliverySeconds: 2 * 3600 },
  // 4-5 waves of up to 20 min (docker prune, large trees).
  rateControl: { maxConcurrency: '25%', maxErrors: '10%', expectedRunSeconds: 20 * 60 },
};
