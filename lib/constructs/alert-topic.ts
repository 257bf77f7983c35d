/**
 * The two SNS topics people are told through, TLS enforced, with the email subscriptions:
 * - `topic`: host alerts the collector and the sweep publish, each with message attributes (severity,
 *   status, host, task, check). A subscription with minSeverity `critical` filters on `severity`.
 * - `pipelineTopic`: CloudWatch alarms on the pipeline itself and EventBridge rule messages. These carry
 *   no message attributes, and a filter policy never matches a message without attributes (even
 *   `{"exists": false}`: "only matches if at least one attribute is present",
 *   https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html), so every subscription to this
 *   topic is unfiltered: each email subscriber hears every pipeline alarm.
 *
 * A topic policy replaces SNS's default policy, and the one enforceSSL creates allows no service to
 * publish; CloudWatch alarms need an explicit grant for cloudwatch.amazonaws.com, limited to this account's
 * alarms with aws:SourceAccount and aws:SourceArn (confused deputy,
 * https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html and
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html).
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlertEmail {
  readonly address: string;
  readonly minSeverity: 'warning' | 'critical';
}

export interface AlertTopicProps {
  /**
   * Email addresses to subscribe (to both topics); each recipient must confirm each subscription email.
   * @default - no subscriptions
   */
  readonly emails?: readonly AlertEmail[];
  /**
   * Display name (the sender name of alert emails); the pipeline topic's is this plus " pipeline".
   * @default 'gpu-maint'
   */
  readonly displayName?: string;
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Filter of a critical-only subscriber on the alert topic: every notification there carries `severity`. */
export const CRITICAL_ONLY_FILTER = { severity: sns.SubscriptionFilter.stringFilter({ allowlist: ['critical'] }) };

export class AlertTopic extends Construct {
  /** Host alerts (collector, sweep), with message attributes. */
  readonly topic: sns.Topic;
  /** Pipeline alarms (CloudWatch) and EventBridge rule messages, without message attributes. */
  readonly pipelineTopic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertTopicProps = {}) {
    super(scope, id);
    const displayName = props.displayName ?? 'gpu-maint';
    this.topic = new sns.Topic(this, 'Topic', { enforceSSL: true, displayName });
    this.pipelineTopic = new sns.Topic(this, 'PipelineTopic', { enforceSSL: true, displayName: `${displayName} pipeline` });
    const stack = Stack.of(this);
    this.pipelineTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.pipelineTopic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    const seen = new Set<string>();
    for (const email of props.emails ?? []) {
      if (!EMAIL.test(email.address)) {
        throw new Error(`AlertTopic ${this.node.path}: not an email address: ${JSON.stringify(email.address)}`);
      }
      const key = email.address.toLowerCase();
      if (seen.has(key)) throw new Error(`AlertTopic ${this.node.path}: ${JSON.stringify(email.address)} is listed twice`);
      seen.add(key);
      this.topic.addSubscription(
        new subscriptions.EmailSubscription(email.address, {
          filterPolicy: email.minSeverity === 'critical' ? CRITICAL_ONLY_FILTER : undefined,
        }),
      );
      this.pipelineTopic.addSubscription(new subscriptions.EmailSubscription(email.address));
    }
  }
}
