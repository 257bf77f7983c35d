/**
 * An EventBridge rule target that publishes to an SNS topic, allowed by the topic's policy for that one
 * rule only. CDK's `targets.SnsTopic` grants `events.amazonaws.com` publishing with no condition, so any
 * rule of any account could publish there; AWS's documented policy for EventBridge → SNS names the rule
 * in `aws:SourceArn` (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions),
 * and `aws:SourceAccount` keeps out another account's rule of the same name
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
 */
import { Names, Stack } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';

export interface RuleTopicTargetProps {
  /**
   * The message published for each matching event.
   * @default - the whole event as JSON
   */
  readonly message?: events.RuleTargetInput;
}

export class RuleTopicTarget implements events.IRuleTarget {
  constructor(
    private readonly topic: sns.ITopic,
    private readonly props: RuleTopicTargetProps = {},
  ) {}

  bind(rule: events.IRule, _id?: string): events.RuleTargetConfig {
    const stack = Stack.of(rule);
    const { statementAdded } = this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `EventBridgeRule${Names.nodeUniqueId(rule.node)}`.slice(0, 100),
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnEquals: { 'aws:SourceArn': rule.ruleArn },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    if (!statementAdded) {
      throw new Error(
        `RuleTopicTarget ${rule.node.path}: topic ${this.topic.node.path} takes no policy (an imported topic); grant the rule there`,
      );
    }
    return { arn: this.topic.topicArn, ...(this.props.message ? { input: this.props.message } : {}), targetResource: this.topic };
  }
}
