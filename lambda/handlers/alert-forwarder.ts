/**
 * SNS-triggered forwarder: posts each host alert notification and each pipeline alarm to Slack (Block
 * Kit) and/or PagerDuty (Events API v2). The environment holds only secret names; the values are read from Secrets Manager and cached.
 * A failure throws, so Lambda's asynchronous retries and the function's dead-letter queue keep the event.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { CachedSecret, PagerDutyEvents, SlackWebhook } from '../adapters/aws/alert-destinations';
import { type ForwardDestinations, forwardMessage, parseForwardedMessage } from '../core/alerts/forward';
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

export const handler = async (event: unknown): Promise<void> => {
  for (const record of snsEvent.parse(event).Records) {
    const message = parseForwardedMessage(record.Sns.Message);
    const outcome = await forwardMessage(message, destinations);
    const about =
      message.kind === 'notification'
        ? { id: message.notification.id, host: message.notification.host }
        : message.kind === 'alarm'
          ? { alarm: message.alarm.name, state: message.alarm.state }
          : {};
    logger.info('forwarded', { messageId: record.Sns.MessageId, kind: message.kind, ...about, ...outcome });
  }
};
