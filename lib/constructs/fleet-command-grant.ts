/**
 * The one way this app lets a role run commands on hosts: ssm:SendCommand on named documents, and on
 * instances only while they carry the fleet tag (instances are not known at deploy time).
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledgeWildcardResources } from './nag-acknowledgements';

export interface FleetCommandGrantOptions {
  /** ARNs of the SSM documents the role may send. */
  readonly documentArns: readonly string[];
  readonly fleetTagKey: string;
  readonly fleetTagValue: string;
  /** Statement ids, so that each grant reads for what it is in the policy. */
  readonly sids: { readonly documents: string; readonly instances: string };
  /** Why the instance wildcard is needed here (cdk-nag acknowledgement). */
  readonly reason: string;
}

export function grantSendCommandToFleet(role: iam.IRole, options: FleetCommandGrantOptions): void {
  const stack = Stack.of(role);
  const instanceArns = [
    stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' }),
    stack.formatArn({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }),
  ];
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: options.sids.documents, actions: ['ssm:SendCommand'], resources: [...options.documentArns] }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: options.sids.instances,
      actions: ['ssm:SendCommand'],
      resources: instanceArns,
      conditions: { StringEquals: { [`ssm:resourceTag/${options.fleetTagKey}`]: options.fleetTagValue } },
    }),
  );
  acknowledgeWildcardResources(role, instanceArns, options.reason);
}
