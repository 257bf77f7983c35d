/**
 * Tags of the stack and of every taggable resource in it: the project's own, then `aws.tags` from the
 * config. CDK's tag aspect puts them on each resource whose CloudFormation type has a Tags property and
 * on the stack, which CloudFormation propagates to what it creates
 * (https://docs.aws.amazon.com/cdk/v2/guide/tagging.html).
 */
import { type Stack, Tags } from 'aws-cdk-lib';
import type { Config } from '../lambda/config/schema';

/** The project's tags: which tool manages a resource, for which fleet (cost allocation, clean-up). */
export function projectTags(config: Config): Readonly<Record<string, string>> {
  return { 'gpu-maint:app': 'gpu-maint', 'gpu-maint:fleet': config.fleet.name };
}

/** Every tag the stack's resources carry. */
export function stackTags(config: Config): Readonly<Record<string, string>> {
  return { ...projectTags(config), ...config.aws.tags };
}

export function tagStack(stack: Stack, config: Config): void {
  for (const [key, value] of Object.entries(stackTags(config))) Tags.of(stack).add(key, value);
}
