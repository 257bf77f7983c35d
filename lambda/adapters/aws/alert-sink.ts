/**
 * The collect Lambda's (and the sweep's) alerting, built from the environment the alert constructs set:
 * DynamoDB state and silences, instance-tag silences, SNS notifications.
 * Wiring in a handler: `const alerts = awsAlertSink(process.env, logger)` once per container, then
 * `await alerts.publish(result)`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { type AlertDeliveryDeps, type AlertLog, PolicyAlertSink } from '../../core/alerts/engine';
import { combinedSilences, storedSilences } from '../../core/alerts/ports';
import { ALERT_ENV, parseAlertSettings } from '../../core/alerts/settings';
import { type AlertSink, systemClock } from '../../core/ports';
import { DynamoDbAlertStateStore } from './alert-state-dynamodb';
import { Ec2InstanceSilences } from './instance-silences-ec2';
import { SnsNotifier } from './sns-notifier';

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set: the alert constructs set it on the function (AlertStateTable.bindCollector)`);
  return value;
}

export function awsAlertDeps(env: Env, log?: AlertLog): AlertDeliveryDeps {
  const settings = parseAlertSettings(env[ALERT_ENV.settings], ALERT_ENV.settings);
  const store = new DynamoDbAlertStateStore(new DynamoDBClient({}), required(env, ALERT_ENV.table), {
    ttlDays: settings.forgetHostAfterDays + 1,
  });
  const chatbotTopicArn = env[ALERT_ENV.chatbotTopicArn] || undefined;
  return {
    store,
    silences: combinedSilences(storedSilences(store), new Ec2InstanceSilences(new EC2Client({}), { log })),
    settings,
    notifier: new SnsNotifier(new SNSClient({}), required(env, ALERT_ENV.topicArn), { chatbotTopicArn }),
    ...(log ? { log } : {}),
  };
}

export function awsAlertSink(env: Env, log?: AlertLog): AlertSink {
  return new PolicyAlertSink({ ...awsAlertDeps(env, log), clock: systemClock });
}
