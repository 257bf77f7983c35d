/**
 * Apps, stacks and templates for CDK tests. Every App gets an outdir from cdkOutdir() (removed after the
 * test file) and, unless a test asks for bundling, skips esbuild bundling of the Lambda functions.
 */
import { App, type Environment, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { validateConfig } from '../../lambda/config/load';
import type { ConfigInput } from '../../lambda/config/schema';
import { GpuMaintStack } from '../../lib/gpu-maint-stack';
import { cdkOutdir } from './temp';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
/** A concrete account and region, for stacks whose template must not hold AWS::AccountId/AWS::Region tokens. */
export const TEST_ENV: Environment = { account: ACCOUNT, region: REGION };

/** The context that skips Lambda bundling: template assertions do not need the bundled code. */
export const TEMPLATE_ONLY_CONTEXT: Record<string, unknown> = { 'aws:cdk:bundling-stacks': [] };

/** The raw template of a synthesized stack, for tests that walk resources as plain JSON. */
export type CfnTemplate = { Resources: Record<string, { Type: string; Properties?: Record<string, any>; DependsOn?: string | string[] }> };

/** An App writing to a temp outdir; the context defaults to template-only (bundling skipped). */
export function testApp(context: Record<string, unknown> = TEMPLATE_ONLY_CONTEXT): App {
  return new App({ outdir: cdkOutdir(), context });
}

/** An empty Stack in a new test App (or in `app`), for tests of single constructs. */
export function testStack(id = 'Test', options: { readonly app?: App; readonly env?: Environment } = {}): Stack {
  return new Stack(options.app ?? testApp(), id, { env: options.env });
}

export interface GpuMaintStackOptions {
  /** @default a new template-only test App */
  readonly app?: App;
  /** @default 'GpuMaint' */
  readonly id?: string;
  /** @default environment-agnostic */
  readonly env?: Environment;
}

/** A GpuMaintStack for the config input (defaults for the rest). */
export function gpuMaintStack(input: ConfigInput = {}, options: GpuMaintStackOptions = {}): GpuMaintStack {
  return new GpuMaintStack(options.app ?? testApp(), options.id ?? 'GpuMaint', { config: validateConfig(input), env: options.env });
}

/** A GpuMaintStack for the config input and its template. */
export function synthGpuMaintStack(
  input: ConfigInput = {},
  options: GpuMaintStackOptions = {},
): { stack: GpuMaintStack; template: Template } {
  const stack = gpuMaintStack(input, options);
  return { stack, template: Template.fromStack(stack) };
}

/**
 * GpuMaintStacks, one per config input, in one template-only App synthesized with the cdk-nag
 * AwsSolutions checks. A finding that is not acknowledged fails synthesis: it comes back as `synthError`
 * (templates then empty) so that one test can report it and the others still run.
 */
export function synthWithNag<K extends string>(
  inputs: Record<K, ConfigInput>,
): { stacks: Record<K, GpuMaintStack>; templates: Partial<Record<K, Template>>; synthError: unknown } {
  const app = testApp();
  const ids = Object.keys(inputs) as K[];
  const stacks = Object.fromEntries(ids.map((id) => [id, gpuMaintStack(inputs[id], { app, id })])) as Record<K, GpuMaintStack>;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const templates: Partial<Record<K, Template>> = {};
  try {
    const assembly = app.synth();
    for (const id of ids) templates[id] = Template.fromJSON(assembly.getStackArtifact(stacks[id].artifactId).template);
    return { stacks, templates, synthError: undefined };
  } catch (err) {
    return { stacks, templates, synthError: err };
  }
}
