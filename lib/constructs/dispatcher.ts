/**
 * The dispatch Lambda and its permissions: SendCommand only with this stack's documents and only to
 * instances carrying the fleet tag (IAM condition ssm:resourceTag/<key> on the instance resources), and
 * DescribeInstanceInformation to report dispatches that match no instance.
 */
import { Annotations, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { DispatchSettings } from '../../lambda/core/dispatch';
import { DISPATCH_ENV } from '../../lambda/core/lambda-env';
import type { TaskName } from '../../lambda/core/types';
import { grantSendCommandToFleet } from './fleet-command-grant';
import { MaintenanceFunction } from './maintenance-function';
import { acknowledgeWildcardResources } from './nag-acknowledgements';
import type { OutputBucket } from './output-bucket';
import type { TaskDocument } from './task-document';

export interface DispatcherProps {
  /** This stack's task documents: the only documents the dispatcher may run. */
  readonly documents: readonly TaskDocument[];
  /** Tag key that marks the fleet's instances, e.g. `gpu-maint:fleet`. */
  readonly fleetTagKey: string;
  /** Tag value of the fleet, e.g. `default`. */
  readonly fleetTagValue: string;
  /** Run Command MaxConcurrency of tasks without their own, e.g. `10%`. */
  readonly maxConcurrency: string;
  /** Run Command MaxErrors of tasks without their own, e.g. `10%`. */
  readonly maxErrors: string;
  /**
   * Rate control per task (lambda/tasks/rate-control.ts).
   * @default - maxConcurrency and maxErrors for every task
   */
  readonly rateControl?: Partial<Record<TaskName, { readonly maxConcurrency: string; readonly maxErrors: string }>>;
  /** Where instances write full command output. */
  readonly outputBucket: OutputBucket;
  /** Log group Run Command can stream output to. */
  readonly commandLogGroup: logs.ILogGroup;
  /**
   * Also stream command output to `commandLogGroup`. The SSM agent on every host then calls the CloudWatch
   * Logs control plane per invocation (CreateLogGroup, CreateLogStream, DescribeLogStreams: account-wide
   * quotas of a few to 50 requests per second), which a fleet of a few hundred hosts on a 5-minute schedule
   * exceeds, throttling every other user of those APIs in the account (docs/scale.md). Synth warns when on.
   * @default false (output goes to the S3 output bucket only)
   */
  readonly cloudWatchOutput?: boolean;
  /**
   * Namespace the dispatcher publishes ExpectedResults (per task) to, for the coverage alarm.
   * @default - not published
   */
  readonly metricsNamespace?: string;
  /**
   * Schedule shards (fleet.shards): a `{ task, shard }` payload sends to `<tagKey> = <fleet>-<shard>`.
   * Instances still need the fleet tag (the SendCommand grant's condition).
   * @default - no shards
   */
  readonly shards?: { readonly tagKey: string; readonly count: number };
  /** Days the dispatcher's logs are kept. */
  readonly logRetentionDays: number;
  /**
   * @default 120
   */
  readonly timeoutSeconds?: number;
}

export class Dispatcher extends Construct {
  readonly handler: MaintenanceFunction;

  constructor(scope: Construct, id: string, props: DispatcherProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (props.documents.length === 0) throw new Error(`Dispatcher ${this.node.path}: documents must not be empty`);
    const limits: [string, { readonly maxConcurrency: string; readonly maxErrors: string }][] = [
      ['', props],
      ...Object.entries(props.rateControl ?? {}).map(([task, r]) => [`rateControl.${task}.`, r] as [string, typeof props]),
    ];
    for (const [prefix, r] of limits) {
      if (!/^([1-9]\d{0,3}|[1-9]\d?%|100%)$/.test(r.maxConcurrency)) {
        throw new Error(
          `Dispatcher ${this.node.path}: ${prefix}maxConcurrency must be a count 1-9999 or a percentage, got: ${JSON.stringify(r.maxConcurrency)}`,
        );
      }
      if (!/^(\d{1,4}|\d{1,2}%|100%)$/.test(r.maxErrors)) {
        throw new Error(
          `Dispatcher ${this.node.path}: ${prefix}maxErrors must be a count or a percentage, got: ${JSON.stringify(r.maxErrors)}`,
        );
      }
    }
    const settings: DispatchSettings = {
      fleetTag: { key: props.fleetTagKey, value: props.fleetTagValue },
      maxConcurrency: props.maxConcurrency,
      maxErrors: props.maxErrors,
      outputBucket: props.outputBucket.bucket.bucketName,
      outputKeyPrefix: props.outputBucket.outputKeyPrefix,
      ...(props.cloudWatchOutput ? { commandLogGroup: props.commandLogGroup.logGroupName } : {}),
      ...(props.metricsNamespace ? { metricsNamespace: props.metricsNamespace } : {}),
      ...(props.shards && props.shards.count > 1 ? { shards: { tagKey: props.shards.tagKey, count: props.shards.count } } : {}),
      tasks: Object.fromEntries(
        props.documents.map((d) => [
          d.task,
          { documentName: d.documentName, deliveryTimeoutSeconds: d.deliveryTimeoutSeconds, ...props.rateControl?.[d.task] },
        ]),
      ),
    };
    if (props.cloudWatchOutput) {
      Annotations.of(this).addWarningV2(
        'gpu-maint:cloudwatch-command-output',
        'aws.commandOutputToCloudWatch is on: the SSM agent on every host calls CreateLogGroup, CreateLogStream and DescribeLogStreams per invocation; ' +
          'their account-wide quotas (a few to 50 requests per second) are exceeded from a few hundred hosts on a 5-minute schedule (docs/scale.md).',
      );
    }
    this.handler = new MaintenanceFunction(this, 'Handler', {
      handler: 'dispatch',
      description: 'gpu-maint dispatch: runs a task on the fleet with SSM Run Command',
      environment: { [DISPATCH_ENV.variable]: stack.toJsonString(settings) },
      logRetentionDays: props.logRetentionDays,
      timeoutSeconds: props.timeoutSeconds ?? 120,
    });

    const role = this.handler.role;
    grantSendCommandToFleet(role, {
      documentArns: props.documents.map((d) => d.documentArn),
      fleetTagKey: props.fleetTagKey,
      fleetTagValue: props.fleetTagValue,
      sids: { documents: 'SendThisStacksDocuments', instances: 'SendToFleetInstancesOnly' },
      reason:
        'Fleet instances are not known at deploy time: SendCommand on instance/* and managed-instance/* is limited by the ssm:resourceTag condition to the fleet tag.',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'FindManagedInstances',
        // Neither has resource-level permissions. DescribeInstanceInformation serves by-hand dispatches;
        // ListCommands reads back how many instances a fleet-tag command reached.
        actions: ['ssm:DescribeInstanceInformation', 'ssm:ListCommands'],
        resources: ['*'],
      }),
    );
    if (props.metricsNamespace) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'PutExpectedResults',
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': props.metricsNamespace } },
        }),
      );
    }
    acknowledgeWildcardResources(
      role,
      ['*'],
      'ssm:DescribeInstanceInformation, ssm:ListCommands and cloudwatch:PutMetricData support no resource-level permissions; PutMetricData is limited to the namespace by condition.',
    );
  }
}
