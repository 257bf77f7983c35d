/**
 * The stale-host sweep: a Lambda on an EventBridge Scheduler rate that raises host.stale for hosts that
 * stopped reporting gpu-check (a host that reports nothing triggers no collector run, so something must
 * look for silence) and sends notifications a silence withheld once it ends.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { AlertSettings } from '../../lambda/core/alerts/settings';
import type { AlertStateTable } from './alert-state-table';
import { MaintenanceFunction } from './maintenance-function';

export interface AlertStaleSweepProps {
  readonly table: AlertStateTable;
  /** The alert topic. */
  readonly topic: sns.ITopic;
  /** The alert policy (its sweepIntervalMinutes sets the schedule). */
  readonly settings: AlertSettings;
  /**
   * Topic AWS Chatbot listens on.
   * @default - no Chatbot messages
   */
  readonly chatbotTopic?: sns.ITopic;
  /**
   * Topic the sweep's alarm notifies.
   * @default - the alert topic
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Days the function's logs are kept (a CloudWatch Logs retention value).
   * @default 30
   */
  readonly logRetentionDays?: number;
  /**
   * Where schedule invocations that fail go (EventBridge Scheduler dead-letter queue).
   * @default - none (a failed invoke is dropped; the next sweep runs minutes later)
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

export class AlertStaleSweep extends Construct {
  readonly handler: MaintenanceFunction;
  readonly schedule: scheduler.Schedule;
  /** Its alarm (sweep failing), for dashboards. */
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: AlertStaleSweepProps) {
    super(scope, id);
    const minutes = props.settings.sweepIntervalMinutes;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
      throw new Error(`${this.node.path}: settings.sweepIntervalMinutes must be an integer 1-60, got ${JSON.stringify(minutes)}`);
    }
    this.handler = new MaintenanceFunction(this, 'Handler', {
      handler: 'alert-sweep',
      description: 'gpu-maint alert sweep: host.stale for hosts that stopped reporting, notifications held by ended silences',
      environment: {},
      logRetentionDays: props.logRetentionDays ?? 30,
      // Hosts are swept in parallel chunks until 20 s before the timeout (lambda/handlers/alert-sweep.ts);
      // the rest wait for the next sweep. The timeout stays under the interval so sweeps never overlap.
      timeoutSeconds: Math.min(900, Math.max(60, minutes * 60 - 30)),
    });
    // No reserved concurrency: reserving even 1 fails the deploy on accounts whose concurrency quota is
    // at its new-account minimum (Lambda keeps 100 unreserved). Overlapping sweeps are safe: the state
    // store writes are conditional on the item version (lambda/adapters/aws/alert-state-dynamodb.ts).
    props.table.bindCollector(this.handler.function, { topic: props.topic, settings: props.settings, chatbotTopic: props.chatbotTopic });
    // Our own role and target: LambdaInvoke would also grant every version (`<arn>:*`), which the sweep does not need.
    const role = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    });
    const fn = this.handler.function;
    role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    // Scheduler sends dead letters with the schedule's role.
    props.deadLetterQueue?.grantSendMessages(role);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'gpu-maint: raise host.stale for hosts that stopped reporting gpu-check',
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(minutes)),
      // A missed sweep is made up by the next one minutes later: no retries.
      target: {
        bind: () => ({
          arn: fn.functionArn,
          role,
          retryPolicy: { maximumRetryAttempts: 0 },
          ...(props.deadLetterQueue ? { deadLetterConfig: { arn: props.deadLetterQueue.queueArn } } : {}),
        }),
      },
    });
    const alarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: 'gpu-maint stale-host sweep failing: hosts that stop reporting are not detected',
      metric: this.metricErrors(),
      threshold: 2,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarms = [alarm];
    const action = new cwActions.SnsAction(props.alarmTopic ?? props.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }

  metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handler.metricErrors({ period: Duration.minutes(15), ...props });
  }
}
