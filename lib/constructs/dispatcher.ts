/**
 * The dispatch Lambda and its permissions: SendCommand only with this stack's documents and only to
 * instances carrying the fleet tag (IAM condition ssm:resourceTag/<key> on the instance resources), and
 * DescribeInstanceInformation to report dispatches that match no instance.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { DispatchSettings } from '../../lambda/core/dispatch';
import { DISPATCH_ENV } from '../../lambda/core/lambda-env';
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
  /** Run Command MaxConcurrency, e.g. `10%`. */
  readonly maxConcurrency: string;
  /** Run Command MaxErrors, e.g. `10%`. */
  readonly maxErrors: string;
  /** Where instances write full command output. */
  readonly outputBucket: OutputBucket;
  /** Log group Run Command streams output to. */
  readonly commandLogGroup: logs.ILogGroup;
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
    if (!/^([1-9]\d{0,3}|[1-9]\d?%|100%)$/.test(props.maxConcurrency)) {
      throw new Error(
        `Dispatcher ${this.node.path}: maxConcurrency must be a count 1-9999 or a percentage, got: ${JSON.stringify(props.maxConcurrency)}`,
      );
    }
    if (!/^(\d{1,4}|\d{1,2}%|100%)$/.test(props.maxErrors)) {
      throw new Error(`Dispatcher ${this.node.path}: maxErrors must be a count or a percentage, got: ${JSON.stringify(props.maxErrors)}`);
    }
    const settings: DispatchSettings = {
      fleetTag: { key: props.fleetTagKey, value: props.fleetTagValue },
      maxConcurrency: props.maxConcurrency,
      maxErrors: props.maxErrors,
      outputBucket: props.outputBucket.bucket.bucketName,
      outputKeyPrefix: props.outputBucket.outputKeyPrefix,
      commandLogGroup: props.commandLogGroup.logGroupName,
      tasks: Object.fromEntries(
        props.documents.map((d) => [d.task, { documentName: d.documentName, deliveryTimeoutSeconds: d.deliveryTimeoutSeconds }]),
      ),
    };
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
        // DescribeInstanceInformation has no resource-level permissions.
        actions: ['ssm:DescribeInstanceInformation'],
        resources: ['*'],
      }),
    );
    acknowledgeWildcardResources(role, ['*'], 'ssm:DescribeInstanceInformation supports no resource-level permissions.');
  }
}
