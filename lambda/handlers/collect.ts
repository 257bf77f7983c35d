/**
 * collect Lambda: SQS batch of SSM invocation status-change events → evaluated results, metrics,
 * alerts and one log line per result. Reports only the records that failed (partial batch response).
 * Kernel-log watcher events (scripts/gpu-watch.sh through the stack's event bus, lib/constructs/watcher-events.ts)
 * arrive on their own queue and are evaluated by gpu-check's Xid code into the same alert state.
 */
import { BatchProcessor, EventType } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { awsCollectDeps, systemWaitPort } from '../adapters/aws/collect-deps';
import type { WaitPort } from '../core/call-rate';
import {
  COLLECT_DELIVERY_RESERVE_MS,
  type CollectDeps,
  type DeliverableResult,
  deliverResults,
  evaluateInvocation,
  parseInvocationEvent,
} from '../core/collect';
import { isWatchBusEvent, parseWatchBusEvent, watchBusEventResult } from '../core/gpu/watch';

const logger = new Logger({ serviceName: 'gpu-maint-collect' });
const processor = new BatchProcessor(EventType.SQS);
/** The handler on the given time port (tests pass a fake clock; the Lambda runs on wall-clock time). */
export function collectHandler(time: WaitPort = systemWaitPort) {
  let built: CollectDeps | undefined; // once per container, on the first event
  let deadlineMs = 0;
  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    logger.addContext(context);
    deadlineMs = time.nowMs() + context.getRemainingTimeInMillis() - COLLECT_DELIVERY_RESERVE_MS;
    const deps = (built ??= awsCollectDeps(process.env, logger, { time, deadlineMs: () => deadlineMs }));
    return collectBatch(event, deps);
  };
}

export const handler = collectHandler();

async function collectBatch(event: SQSEvent, deps: CollectDeps): Promise<SQSBatchResponse> {
  const collected = new Map<string, DeliverableResult>();
  const evaluate = async (record: SQSRecord) => {
    if (isWatchBusEvent(record.body)) {
      const event = parseWatchBusEvent(record.body);
      const result = watchBusEventResult(event);
      logger.info('watcher event', { host: event.host, key: event.key, count: event.count, findings: result?.findings ?? [] });
      if (result && result.findings.length > 0) collected.set(record.messageId, { result });
      return;
    }
    collected.set(record.messageId, await evaluateInvocation(parseInvocationEvent(record.body), deps));
  };
  processor.register(event.Records, evaluate, { throwOnFullBatchFailure: false });
  await processor.process();
  for (const [i, record] of processor.failureMessages.entries()) {
    logger.error('record failed', { messageId: (record as SQSRecord).messageId, error: processor.errors[i]?.message });
  }
  const delivery = await deliverResults(
    [...collected].map(([id, c]) => ({ id, collected: c })),
    deps,
  );
  for (const error of delivery.errors) logger.error('delivery failed', { error });
  for (const { host, outcome } of delivery.cleanups)
    logger[outcome.action === 'failed' ? 'error' : 'info']('disk pressure cleanup', { host, ...outcome });
  const failed = [...processor.response().batchItemFailures.map((f) => f.itemIdentifier), ...delivery.failedIds];
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
}
