/**
 * The result path: an EventBridge rule on "EC2 Command Invocation Status-change Notification" for this
 * stack's documents and terminal statuses → SQS queue (with a dead-letter queue; visibility timeout
 * sized to the Lambda) → the collect Lambda, which reports partial batch failures.
 * `enableCleanupOnDiskPressure` (cleanup.onDiskPressure) lets it send the cleanup document to a fleet
 * host whose disk is critical, at most once per cooldown. The alert policy's table and topics are bound
 * by AlertStateTable.bindCollector, without which the function refuses to start.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaEvents from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import { type DiskPressureWiring, INVOCATION_STATUS_CHANGE, TERMINAL_INVOCATION_STATUSES } from '../../lambda/core/collect';
import type { EvaluationSettings } from '../../lambda/core/evaluation-settings';
import { COLLECT_SETTINGS_ENV, COLLECT_WIRING_ENV, DISK_PRESSURE_WIRING_ENV } from '../../lambda/core/lambda-env';
import { grantSendCommandToFleet } from './fleet-command-grant';
import { MaintenanceFunction } from './maintenance-function';
import { acknowledgeWildcardResources } from './nag-acknowledgements';
import type { OutputBucket } from './output-bucket';
import type { TaskDocument } from './task-document';

export interface ResultCollectorProps {
  /** This stack's task documents: only their invocations are collected. */
  readonly documents: readonly TaskDocument[];
  /**
   * The name prefix all of this stack's documents share (TaskDocument namePrefix): the rule matches it,
   * so invocations of a document replaced by a deployment are still collected.
   * @default - the rule matches the current documents' names only
   */
  readonly documentNamePrefix?: string;
  readonly outputBucket: OutputBucket;
  /** Thresholds and metric settings (lambda/core/evaluation-settings.ts), passed as GPU_MAINT_SETTINGS. */
  readonly settings: EvaluationSettings;
  /** CloudWatch namespace of the fleet metrics. */
  readonly namespace: string;
  /** Days the collector's logs (one JSON line per result) are kept. */
  readonly logRetentionDays: number;
  /**
   * @default 120
   */
  readonly timeoutSeconds?: number;
  /**
   * @default 512
   */
  readonly memorySizeMiB?: number;
  /**
   * Results per Lambda invocation; larger batches share PutMetricData calls (one per batch). Sized from
   * the call budget (docs/scale.md): 100 results take 1-2 s to read from S3 and evaluate.
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * How long SQS gathers a batch.
   * @default 10
   */
  readonly maxBatchingWindowSeconds?: number;
  /**
   * Concurrent collect invocations. With results read from S3 (GetCommandInvocation only for failed
   * runs), 10 × 100-result batches keep up with a 10,000-host sweep in about a minute (docs/scale.md).
   * @default 10
   */
  readonly maxConcurrency?: number;
  /**
   * Deliveries of one message before it moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;
}

/** cleanup.onDiskPressure: what the collector needs to dispatch cleanup to a host with a critical disk. */
export interface CleanupOnDiskPressureOptions {
  /** This stack's cleanup document (task `cleanup`). */
  readonly cleanupDocument: TaskDocument;
  /** Table for the per-host cooldown items (the alert state table: key `host`, sort key `sk`, TTL `expiresAt`). */
  readonly cooldownTable: dynamodb.ITable;
  /** cleanup.cooldownHours: at most one disk-pressure cleanup per host within this many hours. */
  readonly cooldownHours: number;
  /** cleanup.dryRun, quoted in the alert (the document's own default decides what the run does). */
  readonly dryRun: boolean;
  /** Tag key that marks the fleet's instances: the collector may send only to instances carrying it. */
  readonly fleetTagKey: string;
  /** Tag value of the fleet. */
  readonly fleetTagValue: string;
  /**
   * Log group Run Command also streams the cleanup's output to (aws.commandOutputToCloudWatch).
   * @default - S3 output only
   */
  readonly commandLogGroup?: logs.ILogGroup;
}

export class ResultCollector extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly rule: events.Rule;
  readonly handler: MaintenanceFunction;
  private diskPressureEnabled = false;

  constructor(scope: Construct, id: string, props: ResultCollectorProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const where = `ResultCollector ${this.node.path}`;
    const timeoutSeconds = props.timeoutSeconds ?? 120;
    const batchSize = props.batchSize ?? 100;
    const windowSeconds = props.maxBatchingWindowSeconds ?? 10;
    const maxConcurrency = props.maxConcurrency ?? 10;
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (props.documents.length === 0) throw new Error(`${where}: documents must not be empty`);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
      throw new Error(`${where}: batchSize must be 1-10000, got: ${batchSize}`);
    if (batchSize > 10 && windowSeconds < 1)
      throw new Error(`${where}: batchSize above 10 needs maxBatchingWindowSeconds ≥ 1, got: ${windowSeconds}`);
    if (!Number.isInteger(windowSeconds) || windowSeconds < 0 || windowSeconds > 300)
      throw new Error(`${where}: maxBatchingWindowSeconds must be 0-300, got: ${windowSeconds}`);
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000)
      throw new Error(`${where}: maxConcurrency must be 2-1000, got: ${maxConcurrency}`);
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000)
      throw new Error(`${where}: maxReceiveCount must be 1-1000, got: ${maxReceiveCount}`);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      // AWS's guidance for Lambda event sources: six times the function timeout, plus the batching window.
      visibilityTimeout: Duration.seconds(6 * timeoutSeconds + windowSeconds),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    this.rule = new events.Rule(this, 'InvocationStatusRule', {
      description: `gpu-maint (${stack.stackName}): finished invocations of this stack's task documents`,
      eventPattern: {
        source: ['aws.ssm'],
        detailType: [INVOCATION_STATUS_CHANGE],
        detail: {
          'document-name': props.documentNamePrefix ? [{ prefix: props.documentNamePrefix }] : props.documents.map((d) => d.documentName),
          status: [...TERMINAL_INVOCATION_STATUSES],
        },
      },
      targets: [
        new eventTargets.SqsQueue(this.queue, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 20,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });

    const wiring: z.input<typeof COLLECT_WIRING_ENV.schema> = {
      documents: props.documents.map((d) => ({ name: d.documentName, task: d.task })),
      outputBucket: props.outputBucket.bucket.bucketName,
      outputKeyPrefix: props.outputBucket.outputKeyPrefix,
      namespace: props.namespace,
      maxConcurrency,
    };
    this.handler = new MaintenanceFunction(this, 'Handler', {
      handler: 'collect',
      description: 'gpu-maint collect: evaluates task results into metrics, alerts and a log line',
      environment: {
        [COLLECT_SETTINGS_ENV.variable]: stack.toJsonString(props.settings),
        [COLLECT_WIRING_ENV.variable]: stack.toJsonString(wiring),
      },
      logRetentionDays: props.logRetentionDays,
      timeoutSeconds,
      memorySizeMiB: props.memorySizeMiB ?? 512,
    });
    this.handler.function.addEventSource(
      new lambdaEvents.SqsEventSource(this.queue, {
        batchSize,
        maxBatchingWindow: windowSeconds > 0 ? Duration.seconds(windowSeconds) : undefined,
        maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );

    const role = this.handler.role;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadInvocations',
        // GetCommandInvocation has no resource-level permissions.
        actions: ['ssm:GetCommandInvocation'],
        resources: ['*'],
      }),
    );
    props.outputBucket.grantReadOutput(role);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PutFleetMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.namespace } },
      }),
    );
    acknowledgeWildcardResources(
      role,
      ['*'],
      'ssm:GetCommandInvocation and cloudwatch:PutMetricData support no resource-level permissions; PutMetricData is limited to the namespace by condition.',
    );
    acknowledgeWildcardResources(
      role,
      [props.outputBucket.outputObjectsArn],
      'Output object keys embed command and instance ids, unknown in advance; reads are limited to the output prefix.',
    );
  }

  /**
   * cleanup.onDiskPressure: the collector sends the cleanup document to one host whose health-check
   * reports health.disk critical, at most once per cooldown, and says so in the alert. Grants
   * SendCommand on that document and on instances carrying the fleet tag only (the dispatcher's
   * condition), and put/delete on the cooldown table.
   */
  enableCleanupOnDiskPressure(options: CleanupOnDiskPressureOptions): void {
    const where = `ResultCollector ${this.node.path}`;
    if (this.diskPressureEnabled) throw new Error(`${where}: enableCleanupOnDiskPressure was already called`);
    if (options.cleanupDocument.task !== 'cleanup') {
      throw new Error(
        `${where}: cleanupDocument must be the cleanup task's document, got the ${JSON.stringify(options.cleanupDocument.task)} document`,
      );
    }
    if (!Number.isFinite(options.cooldownHours) || options.cooldownHours < 0) {
      throw new Error(`${where}: cooldownHours must be a number ≥ 0, got: ${options.cooldownHours}`);
    }
    if (!options.fleetTagKey || !options.fleetTagValue) {
      throw new Error(
        `${where}: fleetTagKey and fleetTagValue must not be empty, got: ${JSON.stringify(`${options.fleetTagKey}=${options.fleetTagValue}`)}`,
      );
    }
    this.diskPressureEnabled = true;
    const stack = Stack.of(this);
    const wiring: DiskPressureWiring = {
      cooldownHours: options.cooldownHours,
      dryRun: options.dryRun,
      documentName: options.cleanupDocument.documentName,
      deliveryTimeoutSeconds: options.cleanupDocument.deliveryTimeoutSeconds,
      ...(options.commandLogGroup ? { commandLogGroup: options.commandLogGroup.logGroupName } : {}),
      tableName: options.cooldownTable.tableName,
    };
    this.handler.function.addEnvironment(DISK_PRESSURE_WIRING_ENV.variable, stack.toJsonString(wiring));
    const role = this.handler.role;
    grantSendCommandToFleet(role, {
      documentArns: [options.cleanupDocument.documentArn],
      fleetTagKey: options.fleetTagKey,
      fleetTagValue: options.fleetTagValue,
      sids: { documents: 'SendCleanupDocument', instances: 'SendCleanupToFleetInstancesOnly' },
      reason:
        'The host with a critical disk is known only at run time: SendCommand on instance/* and managed-instance/* is limited by the ssm:resourceTag condition to the fleet tag.',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CleanupCooldownItems',
        // Conditional put (claim) and conditional delete (release) of the host's cooldown item.
        actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [options.cooldownTable.tableArn],
      }),
    );
  }

  /** Age of the oldest result waiting to be collected. */
  metricQueueAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', ...props });
  }

  /** Results that failed collection repeatedly (or could not be delivered to the queue). */
  metricDeadLetterMessages(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', ...props });
  }
}
