/**
 * The kernel-log watcher's path into the collect pipeline:
 *
 *   host watcher ─PutEvents─> event bus (this stack's own) ─rule─> SQS queue ─> collect Lambda
 *
 * A dedicated custom bus rather than the account's default bus: the default bus receives AWS services'
 * events, a custom bus the events of your own applications
 * (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_EventBus.html), so the hosts' permission
 * names a bus whose only rule is this one, and no other rule in the account can match, or be triggered by,
 * what fleet hosts put. The hosts may put only the watcher's source and detail-type on it (condition keys
 * `events:source` and `events:detail-type` of PutEvents:
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html).
 *
 * Watcher events get their own queue into the same collect function (same evaluation, Xid catalog and alert
 * state as gpu-check): no batching window (SQS event sources default to none:
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html) and no wait behind a fleet-wide
 * gpu-check sweep on the results queue.
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaEvents from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { WATCH_DETAIL_TYPE, WATCH_EVENT_SOURCE } from '../../lambda/core/gpu/watch';
import type { InstancePolicy } from './instance-policy';

export interface WatcherEventsProps {
  /** The collect function (ResultCollector.handler.function): watcher events are evaluated there. */
  readonly collector: lambda.Function;
  /** The hosts' policy: gets PutEvents on the bus, for the watcher's source and detail-type only. */
  readonly instancePolicy: InstancePolicy;
  /** Where events go that the rule cannot deliver, or the collector fails on repeatedly (the collector's, alarmed). */
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Watcher events per collect invocation.
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * Deliveries of one event before it moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;
}

export class WatcherEvents extends Construct {
  readonly eventBus: events.EventBus;
  readonly rule: events.Rule;
  readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string, props: WatcherEventsProps) {
    super(scope, id);
    const where = `WatcherEvents ${this.node.path}`;
    const batchSize = props.batchSize ?? 10;
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    // Without a batching window an SQS event source takes at most 10 records per batch.
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10)
      throw new Error(`${where}: batchSize must be 1-10 (no batching window), got: ${batchSize}`);
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000)
      throw new Error(`${where}: maxReceiveCount must be 1-1000, got: ${maxReceiveCount}`);
    const timeoutSeconds = props.collector.timeout?.toSeconds() ?? 3;

    this.eventBus = new events.EventBus(this, 'Bus', {
      description: 'gpu-maint: NVIDIA Xid events from the kernel-log watcher on fleet hosts',
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      // AWS's guidance for Lambda event sources: six times the function timeout.
      visibilityTimeout: Duration.seconds(6 * timeoutSeconds),
      // An event older than a day has long been reported by the scheduled gpu-check.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: props.deadLetterQueue, maxReceiveCount },
    });
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: this.eventBus,
      description: 'gpu-maint: watcher Xid events to the collect queue',
      eventPattern: { source: [WATCH_EVENT_SOURCE], detailType: [WATCH_DETAIL_TYPE] },
      targets: [
        new eventTargets.SqsQueue(this.queue, {
          deadLetterQueue: props.deadLetterQueue,
          retryAttempts: 20,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });
    props.collector.addEventSource(
      new lambdaEvents.SqsEventSource(this.queue, { batchSize, reportBatchItemFailures: true, maxConcurrency: 2 }),
    );

    props.instancePolicy.addStatements(
      new iam.PolicyStatement({
        sid: 'PutWatcherEvents',
        actions: ['events:PutEvents'],
        resources: [this.eventBus.eventBusArn],
        conditions: { StringEquals: { 'events:source': WATCH_EVENT_SOURCE, 'events:detail-type': WATCH_DETAIL_TYPE } },
      }),
    );
  }
}
