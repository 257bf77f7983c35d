/**
 * The forwarder: posts host alert notifications (from the alert topic through a queue, in batches that
 * become one digest when an incident spans many hosts: lambda/core/alerts/digest.ts) and pipeline alarms
 * (from the pipeline topic, directly) to Slack (Block Kit) and/or PagerDuty (Events API v2). The
 * environment holds only secret names; the values are read from Secrets Manager and cached.
 * A failure throws (SNS) or reports the batch failed (SQS), so retries and the dead-letter queue keep it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSBatchResponse } from 'aws-lambda';
import { z } from 'zod';
import { CachedSecret, PagerDutyEvents, SlackWebhook } from '../adapters/aws/alert-destinations';
import { forwardNotificationBatch } from '../core/alerts/digest';
import { type ForwardDestinations, type ForwardedMessage, forwardMessage, parseForwardedMessage } from '../core/alerts/forward';
import type { Notification } from '../core/alerts/model';
import { ALERT_ENV } from '../core/alerts/settings';

const logger = new Logger({ serviceName: 'gpu-maint-alert-forwarder' });
const secrets = new SecretsManagerClient({});
const env = process.env;
const destinations: ForwardDestinations = {
  ...(env[ALERT_ENV.slackWebhookSecret]
    ? { slack: new SlackWebhook(new CachedSecret(secrets, env[ALERT_ENV.slackWebhookSecret] as string)) }
    : {}),
  ...(env[ALERT_ENV.pagerDutyRoutingKeySecret]
    ? {
        pagerDuty: new PagerDutyEvents(
          new CachedSecret(secrets, env[ALERT_ENV.pagerDutyRoutingKeySecret] as string),
          z.enum(['warning', 'critical']).parse(env[ALERT_ENV.pagerDutyMinSeverity] ?? 'critical'),
        ),
      }
    : {}),
};

const snsEvent = z.object({ Records: z.array(z.object({ Sns: z.object({ MessageId: z.string(), Message: z.string() }) })).min(1) });
/** The alert topic's notifications arrive through a queue (raw delivery: the body is the message). */
const sqsEvent = z.object({
  Records: z.array(z.object({ eventSource: z.literal('aws:sqs'), messageId: z.string(), body: z.string() })).min(1),
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describe(message: ForwardedMessage): Record<string, unknown> {
  if (message.kind === 'notification') return { id: message.notification.id, host: message.notification.host };
  if (message.kind === 'alarm') return { alarm: message.alarm.name, state: message.alarm.state };
  return {};
}

/**
 * A queue batch: its notifications go out together (one by one, or as one digest when many), anything
 * else one by one. A batch whose forwarding failed is retried whole (every message reported failed);
 * a message that does not parse is reported alone, so it reaches the dead-letter queue.
 */
async function forwardQueueBatch(records: z.infer<typeof sqsEvent>['Records']): Promise<SQSBatchResponse> {
  const notifications: { messageId: string; notification: Notification }[] = [];
  const failures: string[] = [];
  for (const record of records) {
    let message: ForwardedMessage;
    try {
      message = parseForwardedMessage(record.body);
    } catch (err) {
      logger.error('unreadable message', { messageId: record.messageId, error: (err as Error).message });
      failures.push(record.messageId);
      continue;
    }
    if (message.kind === 'notification') {
      notifications.push({ messageId: record.messageId, notification: message.notification });
      continue;
    }
    try {
      logger.info('forwarded', {
        messageId: record.messageId,
        kind: message.kind,
        ...describe(message),
        ...(await forwardMessage(message, destinations)),
      });
    } catch (err) {
      logger.error('forwarding failed', { messageId: record.messageId, error: (err as Error).message });
      failures.push(record.messageId);
    }
  }
  if (notifications.length > 0) {
    try {
      const outcome = await forwardNotificationBatch(
        notifications.map((n) => n.notification),
        destinations,
        sleep,
      );
      logger.info('forwarded', {
        kind: 'notification',
        hosts: [...new Set(notifications.map((n) => n.notification.host))].slice(0, 50),
        ...outcome,
      });
    } catch (err) {
      logger.error('forwarding failed', { notifications: notifications.length, error: (err as Error).message });
      failures.push(...notifications.map((n) => n.messageId));
    }
  }
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}

export const handler = async (event: unknown): Promise<SQSBatchResponse | undefined> => {
  const queued = sqsEvent.safeParse(event);
  if (queued.success) return forwardQueueBatch(queued.data.Records);
  for (const record of snsEvent.parse(event).Records) {
    const message = parseForwardedMessage(record.Sns.Message);
    const outcome = await forwardMessage(message, destinations);
    logger.info('forwarded', { messageId: record.Sns.MessageId, kind: message.kind, ...describe(message), ...outcome });
  }
  return undefined;
};
