/**
 * The alert forwarder: a Lambda that posts the alert topic's notifications (gathered in a queue, and
 * digested when an incident spans many hosts) and the pipeline topic's alarms to Slack (Block Kit)
 * and/or PagerDuty (Events API v2). The Slack webhook URL and the PagerDuty routing key stay in
 * Secrets Manager: the function's environment holds only the secret names, and it reads the values at
 * run time. Failed events land in a dead-letter queue; errors and dead letters raise alarms.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ALERT_ENV } from '../../lambda/core/alerts/settings';
import { MaintenanceFunction } from './maintenance-function';

export interface AlertForwarderProps {
  /** The alert topic (notifications published by the collector and the sweep). */
  readonly topic: sns.ITopic;
  /**
   * The pipeline topic (CloudWatch alarms, EventBridge messages); subscribed without a filter, since its
   * messages carry no attributes.
   * @default - pipeline alarms are not forwarded
   */
  readonly pipelineTopic?: sns.ITopic;
  /**
   * Secrets Manager secret name or ARN whose value is the Slack incoming-webhook URL.
   * @default - no Slack
   */
  readonly slackWebhookSecret?: string;
  /**
   * Secrets Manager secret name or ARN whose value is the PagerDuty Events API v2 routing key.
   * @default - no PagerDuty
   */
  readonly pagerDutyRoutingKeySecret?: string;
  /**
   * Alerts below this severity are not sent to PagerDuty (resolves always are).
   * @default 'critical'
   */
  readonly pagerDutyMinSeverity?: 'warning' | 'critical';
  /**
   * Topic the forwarder's own alarms notify.
   * @default - the pipeline topic, else the alert topic
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Days the function's logs are kept (a CloudWatch Logs retention value).
   * @default 30
   */
  readonly logRetentionDays?: number;
  /**
   * Seconds the notification queue gathers a batch before the forwarder runs: notifications of one
   * incident across many hosts arrive together and go out as one digest (lambda/core/alerts/digest.ts).
   * Also the most a single notification waits.
   * @default 20
   */
  readonly batchWindowSeconds?: number;
}

/** A name, or a complete (with the 6-character suffix) or partial ARN. */
function secretFrom(scope: Construct, id: string, nameOrArn: string): secretsmanager.ISecret {
  if (!nameOrArn.startsWith('arn:')) return secretsmanager.Secret.fromSecretNameV2(scope, id, nameOrArn);
  return /-[A-Za-z0-9]{6}$/.test(nameOrArn)
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, nameOrArn)
    : secretsmanager.Secret.fromSecretPartialArn(scope, id, nameOrArn);
}

export class AlertForwarder extends Construct {
  readonly handler: MaintenanceFunction;
  readonly deadLetterQueue: sqs.Queue;
  /** The alert topic's notifications wait here to be forwarded in batches. */
  readonly queue: sqs.Queue;
  /** Its alarms (errors, dead letters), for dashboards. */
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: AlertForwarderProps) {
    super(scope, id);
    if (!props.slackWebhookSecret && !props.pagerDutyRoutingKeySecret) {
      throw new Error(
        `${this.node.path}: give slackWebhookSecret and/or pagerDutyRoutingKeySecret (got neither): a forwarder with no destination would drop every alert`,
      );
    }
    for (const [name, value] of [
      ['slackWebhookSecret', props.slackWebhookSecret],
      ['pagerDutyRoutingKeySecret', props.pagerDutyRoutingKeySecret],
    ] as const) {
      if (
        value !== undefined &&
        (/^https?:\/\//i.test(value) || !/^(arn:[\w-]+:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+|[\w/+=.@-]{1,512})$/.test(value))
      ) {
        // A pasted webhook URL is a credential: quote only its origin.
        const shown = /^https?:\/\//i.test(value) ? `${value.split('/').slice(0, 3).join('/')}/…` : value.slice(0, 40);
        throw new Error(
          `${this.node.path}: ${name} must be a Secrets Manager secret name or ARN (never the URL or key itself), got ${JSON.stringify(shown)}`,
        );
      }
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'this queue is itself the dead-letter target of the SNS subscription and of the function’s asynchronous invocations',
    });
    const environment: Record<string, string> = {};
    if (props.slackWebhookSecret) environment[ALERT_ENV.slackWebhookSecret] = props.slackWebhookSecret;
    if (props.pagerDutyRoutingKeySecret) {
      environment[ALERT_ENV.pagerDutyRoutingKeySecret] = props.pagerDutyRoutingKeySecret;
      environment[ALERT_ENV.pagerDutyMinSeverity] = props.pagerDutyMinSeverity ?? 'critical';
    }
    this.handler = new MaintenanceFunction(this, 'Handler', {
      handler: 'alert-forwarder',
      description: 'gpu-maint alert forwarder: posts alert notifications to Slack and/or PagerDuty',
      environment,
      logRetentionDays: props.logRetentionDays ?? 30,
      // A batch of up to 5 single Slack posts 1.1 s apart, or one digest, with HTTP timeouts of 10 s.
      timeoutSeconds: 60,
    });
    // SNS invokes asynchronously: two retries, then the event is kept in the dead-letter queue.
    this.handler.function.configureAsyncInvoke({
      retryAttempts: 2,
      onFailure: new lambdaDestinations.SqsDestination(this.deadLetterQueue),
    });
    if (props.slackWebhookSecret) secretFrom(this, 'SlackWebhookSecret', props.slackWebhookSecret).grantRead(this.handler.role);
    if (props.pagerDutyRoutingKeySecret)
      secretFrom(this, 'PagerDutyRoutingKeySecret', props.pagerDutyRoutingKeySecret).grantRead(this.handler.role);

    // Notifications go through a queue, so that an incident across many hosts reaches the forwarder as a
    // batch (one digest) instead of one invocation and one Slack post per host. Every notification on the
    // alert topic carries `status`; the filter keeps out anything else published there.
    const windowSeconds = props.batchWindowSeconds ?? 20;
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 300) {
      throw new Error(`${this.node.path}: batchWindowSeconds must be an integer 1-300 (Lambda's batching window), got: ${windowSeconds}`);
    }
    this.queue = new sqs.Queue(this, 'Notifications', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      // Lambda's advice for an SQS event source: at least six times the function's timeout.
      visibilityTimeout: Duration.seconds(6 * 60 + windowSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 3 },
    });
    props.topic.addSubscription(
      new subscriptions.SqsSubscription(this.queue, {
        rawMessageDelivery: true,
        deadLetterQueue: this.deadLetterQueue,
        filterPolicy: { status: sns.SubscriptionFilter.stringFilter({ allowlist: ['firing', 'resolved'] }) },
      }),
    );
    this.handler.function.addEventSource(
      new lambdaEventSources.SqsEventSource(this.queue, {
        // Notifications are about 2-20 KB: 1,000 stay within Lambda's 6 MB payload.
        batchSize: 1000,
        maxBatchingWindow: Duration.seconds(windowSeconds),
        // Two forwarders at most (the least SQS allows): Slack takes about one message per second per channel.
        maxConcurrency: 2,
        reportBatchItemFailures: true,
      }),
    );
    props.pipelineTopic?.addSubscription(
      new subscriptions.LambdaSubscription(this.handler.function, { deadLetterQueue: this.deadLetterQueue }),
    );

    const action = new cwActions.SnsAction(props.alarmTopic ?? props.pipelineTopic ?? props.topic);
    const errors = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription:
        'gpu-maint alert forwarder failed to post to Slack/PagerDuty (see its logs; events retry, then go to the dead-letter queue)',
      metric: this.metricErrors(),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const deadLetters = new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: 'gpu-maint alert notifications were not forwarded (dead-letter queue not empty)',
      metric: this.metricDeadLetters(),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarms = [errors, deadLetters];
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }

  metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handler.metricErrors({ period: Duration.minutes(5), ...props });
  }

  metricDeadLetters(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum', ...props });
  }
}
