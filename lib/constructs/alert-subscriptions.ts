/**
 * Who receives alerts: email addresses (optionally critical only, filtered on the `severity` message
 * attribute) and, optionally, a Slack channel through AWS Chatbot. Chatbot shows only its own custom
 * notification schema, so it gets a topic of its own that the notifier publishes that format to.
 */
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface EmailSubscriber {
  readonly address: string;
  /** `critical`: only notifications whose severity attribute is critical (and pipeline alarms, which have none). */
  readonly minSeverity: 'warning' | 'critical';
}

export interface AlertSubscriptionsProps {
  /** The alert topic. */
  readonly topic: sns.ITopic;
  /**
   * Email subscribers (each confirms by the link AWS mails them).
   * @default []
   */
  readonly emails?: readonly EmailSubscriber[];
  /**
   * AWS Chatbot Slack channel (workspace authorized once in the Chatbot console).
   * @default - no Chatbot channel
   */
  readonly chatbot?: { readonly workspaceId: string; readonly channelId: string };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export class AlertSubscriptions extends Construct {
  /** Topic AWS Chatbot listens on; pass it to AlertStateTable.bindCollector. Undefined without Chatbot. */
  readonly chatbotTopic?: sns.Topic;
  private readonly topic: sns.ITopic;

  constructor(scope: Construct, id: string, props: AlertSubscriptionsProps) {
    super(scope, id);
    this.topic = props.topic;
    const seen = new Set<string>();
    for (const email of props.emails ?? []) {
      if (!EMAIL.test(email.address))
        throw new Error(`${this.node.path}: emails: ${JSON.stringify(email.address)} is not an email address`);
      const key = email.address.toLowerCase();
      if (seen.has(key)) throw new Error(`${this.node.path}: emails: ${JSON.stringify(email.address)} is listed twice`);
      seen.add(key);
      props.topic.addSubscription(
        new subscriptions.EmailSubscription(email.address, {
          // Pipeline alarms carry no severity attribute: critical-only subscribers get them too.
          ...(email.minSeverity === 'critical'
            ? { filterPolicy: { severity: new sns.SubscriptionFilter(['critical', { exists: false }]) } }
            : {}),
        }),
      );
    }
    if (props.chatbot) {
      for (const [name, value] of Object.entries(props.chatbot)) {
        if (!/^[A-Z0-9]{8,12}$/.test(value))
          throw new Error(`${this.node.path}: chatbot.${name} ${JSON.stringify(value)} is not a Slack id such as T012AB3CD`);
      }
      this.chatbotTopic = new sns.Topic(this, 'ChatbotTopic', { displayName: 'gpu-maint alerts (AWS Chatbot)', enforceSSL: true });
      new chatbot.SlackChannelConfiguration(this, 'SlackChannel', {
        slackChannelConfigurationName: `gpu-maint-${props.chatbot.channelId}`,
        slackWorkspaceId: props.chatbot.workspaceId,
        slackChannelId: props.chatbot.channelId,
        notificationTopics: [this.chatbotTopic],
        // Notifications only: nobody can run AWS commands from the channel through this configuration.
        guardrailPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AWSDenyAll')],
      });
    }
  }

  /** Deliveries SNS gave up on (bounced email, unconfirmed or deleted endpoints). */
  metricNotificationsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.topic.metricNumberOfNotificationsFailed(props);
  }
}
