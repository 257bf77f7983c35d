/**
 * prune Lambda (daily): backup retention over the backup bucket, host by host, with one audit log line
 * per host (its newest snapshot's age) and the fleet metrics SnapshotAgeHours (Maximum = the worst
 * host), SnapshotsPruned, ArchivesPruned, PruneBytesFreed, PruneErrors. Event: `{}` or `{ "dryRun": true }`.
 * A fleet too large for one invocation is pruned in parts: when time runs low the function invokes
 * itself with where to go on (`continuation`), after its own lines and metrics went out.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { S3BackupStore } from '../adapters/aws/backup-store-s3';
import { CloudWatchMetricsSink } from '../adapters/aws/cloudwatch-metrics';
import { jsonEnv } from '../adapters/aws/env';
import { LambdaContinuation } from '../adapters/aws/lambda-continuation';
import { sdkTimeouts } from '../adapters/aws/sdk-timeouts';
import { continuationEvent, type HostAuditRecord, parsePruneEvent, runPruneAudit, summarizePrune } from '../core/backup/prune';
import { PRUNE_ENV } from '../core/lambda-env';

const logger = new Logger({ serviceName: 'gpu-maint-prune' });
const settings = jsonEnv(PRUNE_ENV);
const deps = {
  store: new S3BackupStore(new S3Client({ ...sdkTimeouts() }), settings.bucket, settings.prefix),
  metrics: new CloudWatchMetricsSink(new CloudWatchClient({}), settings.namespace),
  // Powertools drops a `message` key (it is the log message): the finding's text goes out as `finding`.
  log: ({ message: finding, ...record }: HostAuditRecord) => logger.info('backup audit', { ...record, finding }),
};

/** Time kept back for the hosts in flight, the metrics and the continuation. */
const RESERVE_MS = 90_000;
const continuation = new LambdaContinuation(new LambdaClient({ retryMode: 'standard', maxAttempts: 8 }));

export const handler = async (event: unknown, context?: Context) => {
  const request = parsePruneEvent(event);
  const outOfTime = context ? () => context.getRemainingTimeInMillis() < RESERVE_MS : undefined;
  const report = await runPruneAudit(deps, settings, new Date(), request.dryRun, {
    ...(request.continuation ? { after: request.continuation.after, carried: request.continuation.totals } : {}),
    ...(outOfTime ? { outOfTime } : {}),
  });
  const summary = summarizePrune(report, request.dryRun);
  const next = continuationEvent(request, report, settings.maxAgeHours);
  if (next) await continuation.continueWith(next);
  logger.info('pruned', {
    ...summary,
    part: request.continuation?.part ?? 1,
    ...(next ? { continuesAfter: report.unfinished?.after } : {}),
  });
  // Hosts that could not be pruned fail the last part (a part that continues must not be retried: its
  // retry would start a second chain), so the schedule's alarms see them; each part logged its own.
  const earlier = request.continuation?.totals.errors ?? 0;
  if (!next && summary.errors.length + earlier > 0) {
    const more = earlier > 0 ? ` (and ${earlier} in earlier parts)` : '';
    throw new Error(`prune failed for ${summary.errors.length} host(s): ${summary.errors.join(', ')}${more}`);
  }
  return summary;
};
