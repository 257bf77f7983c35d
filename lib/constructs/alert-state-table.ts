/**
 * The alert state table: one item per (host, check[, gpu]) plus a host item carrying the version that
 * serializes evaluations of a host (see lambda/adapters/aws/alert-state-dynamodb.ts). On-demand, TTL,
 * point-in-time recovery, a sparse index of hosts for the stale sweep, and the stack output
 * `AlertStateTableName` that `gpu-maint silence --stack` reads.
 */
import { CfnOutput, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ALERT_TABLE_KEYS } from '../../lambda/core/alerts/ports';
import { ALERT_ENV, type AlertSettings, alertSettingsSchema } from '../../lambda/core/alerts/settings';

export interface AlertStateTableProps {
  /**
   * What happens to the table when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Point-in-time recovery of the table.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
  /**
   * Adds the stack output `AlertStateTableName` (used by `gpu-maint silence --stack`).
   * @default true
   */
  readonly output?: boolean;
}

/** What a function that evaluates or sweeps alerts needs. */
export interface AlertBinding {
  /** The alert topic notifications are published to. */
  readonly topic: sns.ITopic;
  /** The alert policy, e.g. `alertSettings(config)`. */
  readonly settings: AlertSettings;
  /**
   * Topic AWS Chatbot listens on (AlertSubscriptions.chatbotTopic).
   * @default - no Chatbot messages
   */
  readonly chatbotTopic?: sns.ITopic;
}

export class AlertStateTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: AlertStateTableProps = {}) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: ALERT_TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: ALERT_TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: ALERT_TABLE_KEYS.ttl,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    // Sparse: only host items carry `kind`, so the sweep reads one small item per host.
    this.table.addGlobalSecondaryIndex({
      indexName: ALERT_TABLE_KEYS.hostsIndex,
      partitionKey: { name: ALERT_TABLE_KEYS.hostsIndexKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: ALERT_TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: ['lastGpuCheckAt', 'withheld'],
    });
    if (props.output ?? true) {
      const output = new CfnOutput(this, 'TableNameOutput', {
        value: this.table.tableName,
        description: 'Alert state table (gpu-maint silence --stack reads it)',
      });
      output.overrideLogicalId('AlertStateTableName');
    }
  }

  /**
   * Lets a function run the alert policy: settings and names in its environment (never secrets), read/write
   * on the table, publish on the topics, and ec2:DescribeTags for the `gpu-maint:silence-until` tag.
   */
  bindCollector(fn: lambda.Function, binding: AlertBinding): void {
    const parsed = alertSettingsSchema.safeParse(binding.settings);
    if (!parsed.success) {
      throw new Error(
        `${this.node.path}: invalid alert settings ${JSON.stringify(binding.settings)}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    fn.addEnvironment(ALERT_ENV.settings, JSON.stringify(parsed.data));
    fn.addEnvironment(ALERT_ENV.table, this.table.tableName);
    fn.addEnvironment(ALERT_ENV.topicArn, binding.topic.topicArn);
    if (binding.chatbotTopic) {
      fn.addEnvironment(ALERT_ENV.chatbotTopicArn, binding.chatbotTopic.topicArn);
      binding.chatbotTopic.grantPublish(fn);
    }
    // Exactly what the store does: transactions need the item actions, the sweep reads the hosts index.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
        resources: [this.table.tableArn, `${this.table.tableArn}/index/${ALERT_TABLE_KEYS.hostsIndex}`],
      }),
    );
    binding.topic.grantPublish(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeTags'], resources: ['*'] }));
    // The finding sits on the role's policy, which is not under the function when the role is shared.
    Validations.of(fn.role ?? fn).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeTags (the gpu-maint:silence-until instance tag) supports no resource-level permissions',
    });
  }

  /** Lost races between collectors (each one a duplicate notification avoided); a steady high rate means hot hosts. */
  metricConditionalCheckFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.table.metricConditionalCheckFailedRequests({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  metricThrottledRequests(props?: cloudwatch.MetricOptions): cloudwatch.IMetric {
    return this.table.metricThrottledRequestsForOperations({ period: Duration.minutes(5), ...props });
  }
}
