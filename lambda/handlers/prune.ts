/**
 * prune Lambda (daily): backup retention over the backup bucket, host by host, with one audit log line
 * per host (its newest snapshot's age) and the fleet metrics SnapshotAgeHours (Maximum = the worst
 * host), SnapshotsPruned, ArchivesPruned, PruneBytesFreed, PruneErrors. Event: `{}` or `{ "dryRun": true }`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { S3BackupStore } from '../adapters/aws/backup-store-s3';
import { CloudWatchMetricsSink } from '../adapters/aws/cloudwatch-metrics';
import { jsonEnv } from '../adapters/aws/env';
import { runPruneAudit } from '../core/backup/prune';

/** Set by lib/constructs/backup-pruner.ts. */
export const PRUNE_SETTINGS_ENV = 'GPU_MAINT_PRUNE_SETTINGS';
export const pruneSettingsSchema = z.object({
  bucket: z.string().min(3),
  prefix: z.string(),
  namespace: z.string().min(1),
  fleet: z.string().min(1),
  maxAgeHours: z.number().positive(),
  retention: z.object({
    keepLast: z.number().int().min(1),
    keepDaily: z.number().int().min(0),
    keepWeekly: z.number().int().min(0),
    keepMonthly: z.number().int().min(0),
    graceDays: z.number().min(0),
  }),
});

const logger = new Logger({ serviceName: 'gpu-maint-prune' });
const settings = jsonEnv(PRUNE_SETTINGS_ENV, pruneSettingsSchema);
const deps = {
  store: new S3BackupStore(new S3Client({}), settings.bucket, settings.prefix),
  metrics: new CloudWatchMetricsSink(new CloudWatchClient({}), settings.namespace),
  log: (record: object) => logger.info('backup audit', { ...record }),
};
const pruneEvent = z.object({ dryRun: z.boolean().default(false) }).loose();

export const handler = async (event: unknown) => {
  const { dryRun } = pruneEvent.parse(event ?? {});
  const report = await runPruneAudit(deps, settings, new Date(), dryRun);
  const errors = report.hosts.filter((h) => h.error).map((h) => h.hostKey);
  const summary = {
    dryRun,
    hosts: report.hosts.length,
    snapshotsPruned: report.hosts.reduce((n, h) => n + h.removedSnapshots.length, 0),
    archivesPruned: report.hosts.reduce((n, h) => n + h.removedArchives.length, 0),
    errors,
  };
  logger.info('pruned', summary);
  // A host that could not be pruned fails the invocation, so the schedule's retries and alarms see it.
  if (errors.length > 0) throw new Error(`prune failed for ${errors.length} host(s): ${errors.join(', ')}`);
  return summary;
};
