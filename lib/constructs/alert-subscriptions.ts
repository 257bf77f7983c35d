/**
 * AWS Chatbot routing: a Slack channel that gets host alerts (Chatbot shows only its own custom
 * notification schema, so they go to a topic of its own that the notifier publishes that format to) and
 * the pipeline alarms (CloudWatch alarm notifications, which Chatbot renders natively). Email
 * subscriptions are AlertTopic's.
 */
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface AlertSubscriptionsProps {
  /** The alert topic. */
  readonly topic: sns.ITopic;
  /**
   * The pipeline alarm topic (AlertTopic.pipelineTopic); the Slack channel gets its alarms too.
   * @default - the channel gets host alerts only
   */
  readonly pipelineTopic?: sns.ITopic;
  /**
   * AWS Chatbot Slack channel (workspace authorized once in the Chatbot console).
   * @default - no Chatbot channel
   */
  readonly chatbot?: { readonly workspaceId: string; readonly channelId: string };
}

export class AlertSubscriptions extends Construct {
  /** Topic AWS Chatbot listens on; pass it to AlertStateTable.bindCollector. Undefined without Chatbot. */
  readonly chatbotTopic?: sns.Topic;
  private readonly topic: sns.ITopic;

  constructor(scope: Construct, id: string, props: AlertSubscriptionsProps) {
    super(scope, id);
    this.topic = props.topic;
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
        notificationTopics: [this.chatbotTopic, ...(props.pipelineTopic ? [props.pipelineTopic] : [])],
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
