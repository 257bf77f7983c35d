/**
 * cdk-nag reports each wildcard resource of a policy as its own finding (AwsSolutions-IAM5[Resource::...]),
 * named by the resource as it appears in the template. This computes those names from the resources
 * themselves, so an acknowledgement covers exactly the wildcards it names, wherever the stack is deployed.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/** Acknowledges IAM5 for these wildcard resources on `scope` (a role or policy), with the reason. */
export function acknowledgeWildcardResources(scope: IConstruct, resources: readonly string[], reason: string): void {
  const stack = Stack.of(scope);
  Validations.of(scope).acknowledge(
    ...resources.map((resource) => ({
      id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(stack.resolve(resource))}]`,
      reason,
    })),
  );
}
