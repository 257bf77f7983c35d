/**
 * The SNS topic alerts and pipeline alarms go to, TLS enforced, with optional email subscriptions.
 * A subscription with minSeverity `critical` gets critical findings and every pipeline alarm (alarm
 * notifications carry no severity attribute), but no warnings.
 */
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlertEmail {
  readonly address: string;
  readonly minSeverity: 'warning' | 'critical';
}

export interface AlertTopicProps {
  /**
   * Email addresses to subscribe; each recipient must confirm the subscription email.
   * @default - no subscriptions
   */
  readonly emails?: readonly AlertEmail[];
  /**
   * Display name (the sender name of alert emails).
   * @default 'gpu-maint'
   */
  readonly displayName?: string;
}

export class AlertTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertTopicProps = {}) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { enforceSSL: true, displayName: props.displayName ?? 'gpu-maint' });
    for (const email of props.emails ?? []) {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.address)) {
        throw new Error(`AlertTopic ${this.node.path}: not an email address: ${JSON.stringify(email.address)}`);
      }
      this.topic.addSubscription(
        new subscriptions.EmailSubscription(email.address, {
          filterPolicy:
            email.minSeverity === 'critical' ? { severity: new sns.SubscriptionFilter(['critical', { exists: false }]) } : undefined,
        }),
      );
    }
  }
}
