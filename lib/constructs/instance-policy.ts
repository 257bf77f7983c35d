/**
 * The managed policy hosts need on top of AmazonSSMManagedInstanceCore: write their command output to
 * the output bucket's prefix and to the command log group. Attach it to the fleet's instance role
 * (hybrid nodes: their service role). Other features add their host permissions with addStatements.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources } from './nag-acknowledgements';
import type { OutputBucket } from './output-bucket';

export interface InstancePolicyProps {
  readonly outputBucket: OutputBucket;
  /** Log group Run Command streams output to. */
  readonly commandLogGroup: logs.ILogGroup;
}

export class InstancePolicy extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: InstancePolicyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const allLogGroups = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `gpu-maint (${stack.stackName}): lets instances write Run Command output to this stack's bucket prefix and log group.`,
      statements: [
        new iam.PolicyStatement({
          sid: 'WriteCommandOutput',
          // The SSM agent uploads with the bucket-owner-full-control ACL.
          actions: ['s3:PutObject', 's3:PutObjectAcl'],
          resources: [props.outputBucket.outputObjectsArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadBucketEncryption',
          actions: ['s3:GetEncryptionConfiguration'],
          resources: [props.outputBucket.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'WriteCommandLogs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          resources: [props.commandLogGroup.logGroupArn],
        }),
        new iam.PolicyStatement({
          sid: 'FindCommandLogGroup',
          actions: ['logs:DescribeLogGroups'],
          resources: [allLogGroups],
        }),
      ],
    });
    acknowledgeWildcardResources(
      this.policy,
      [props.outputBucket.outputObjectsArn],
      'Hosts write output under keys that embed command and instance ids, unknown in advance; only under the output prefix.',
    );
    acknowledgeWildcardResources(
      this.policy,
      [allLogGroups],
      'The SSM agent lists log groups (logs:DescribeLogGroups has no narrower resource) before streaming to the command log group.',
    );
  }

  addStatements(...statements: iam.PolicyStatement[]): void {
    this.policy.addStatements(...statements);
  }
}
