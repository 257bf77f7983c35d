/**
 * The EventBridge Scheduler group all task schedules live in, with the dead-letter queue their failed
 * invocations go to. One group gives one set of AWS/Scheduler metrics for the pipeline alarms.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface TaskScheduleGroupProps {
  /**
   * Days a failed schedule invocation stays in the dead-letter queue.
   * @default 14
   */
  readonly deadLetterRetentionDays?: number;
}

export class TaskScheduleGroup extends Construct {
  readonly group: scheduler.ScheduleGroup;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: TaskScheduleGroupProps = {}) {
    super(scope, id);
    const retentionDays = props.deadLetterRetentionDays ?? 14;
    if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 14) {
      throw new Error(`TaskScheduleGroup ${this.node.path}: deadLetterRetentionDays must be 1-14 (SQS's limit), got: ${retentionDays}`);
    }
    this.group = new scheduler.ScheduleGroup(this, 'Group');
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(retentionDays),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the task schedules (EventBridge Scheduler DLQ), watched by an alarm.',
    });
  }

  /**
   * Routes a scheduled function's own failures to the dead-letter queue. EventBridge Scheduler invokes
   * Lambda asynchronously (https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html):
   * the schedule's retries and DLQ cover only the invoke call. A function that then throws is retried by
   * Lambda itself, by default twice, and an event can wait up to 6 hours
   * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): a nightly backup
   * dispatched hours late. Here: at most `retryAttempts` retries, events older than an hour dropped, and
   * what fails goes to this queue, whose alarm fires.
   */
  routeAsyncFailures(fn: lambda.IFunction, options: { readonly retryAttempts?: 0 | 1 } = {}): void {
    fn.configureAsyncInvoke({
      retryAttempts: options.retryAttempts ?? 1,
      maxEventAge: Duration.hours(1),
      onFailure: new lambdaDestinations.SqsDestination(this.deadLetterQueue),
    });
  }

  /** Schedule invocations that failed at the target (the dispatch Lambda). */
  metricTargetErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.group.metricTargetErrors({ statistic: 'Sum', ...props });
  }

  /** Schedule invocations dropped after all retries (also sent to the dead-letter queue). */
  metricDropped(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.group.metricDropped({ statistic: 'Sum', ...props });
  }

  /** Messages waiting in the dead-letter queue. */
  metricDeadLetterMessages(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', ...props });
  }
}
