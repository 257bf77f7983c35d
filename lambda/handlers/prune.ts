/**
 * prune Lambda (daily): backup retention over the backup bucket, host by host, with one audit log line
 * per host (its newest snapshot's age) and the fleet metrics SnapshotAgeHours (Maximum = the worst
 * host), SnapshotsPruned, ArchivesPruned, PruneBytesFreed, PruneErrors. Event: `{}` or `{ "dryRun": true }`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { S3BackupStore } from '../adapters/aws/backup-store-s3';
import { CloudWatchMetricsSink } from '../adapters/aws/cloudwatch-metrics';
import { jsonEnv } from '../adapters/aws/env';
import { sdkTimeouts } from '../adapters/aws/sdk-timeouts';
import { type HostAuditRecord, parsePruneEvent, runPruneAudit, summarizePrune } from '../core/backup/prune';
import { PRUNE_ENV } from '../core/lambda-env';

const logger = new Logger({ serviceName: 'gpu-maint-prune' });
const settings = jsonEnv(PRUNE_ENV);
const deps = {
  store: new S3BackupStore(new S3Client({ ...sdkTimeouts() }), settings.bucket, settings.prefix),
  metrics: new CloudWatchMetricsSink(new CloudWatchClient({}), settings.namespace),
  // Powertools drops a `message` key (it is the log message): the finding's text goes out as `finding`.
  log: ({ message: finding, ...record }: HostAuditRecord) => logger.info('backup audit', { ...record, finding }),
};

export const handler = async (event: unknown) => {
  const { dryRun } = parsePruneEvent(event);
  const summary = summarizePrune(await runPruneAudit(deps, settings, new Date(), dryRun), dryRun);
  logger.info('pruned', { ...summary });
  // A host that could not be pruned fails the invocation, so the schedule's retries and alarms see it.
  if (summary.errors.length > 0) throw new Error(`prune failed for ${summary.errors.length} host(s): ${summary.errors.join(', ')}`);
  return summary;
};
