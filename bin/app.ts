/**
 * The CDK app: loads the validated config, builds the stack and runs cdk-nag (AwsSolutions) on it.
 *
 * Configuration, one way: `-c config=FILE` (JSON or YAML, the same file local mode reads), then the
 * `gpuMaint` context object (cdk.json, or `-c gpuMaint='{"fleet":{"name":"prod"}}'`) merged over it.
 * Other context: `-c stackName=NAME` (default GpuMaint). Region: config `aws.region`, else the CLI's.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, readConfigFile, validateConfig } from '../lambda/config/load';
import type { Config } from '../lambda/config/schema';
import { GpuMaintStack } from '../lib/gpu-maint-stack';

export const DEFAULT_STACK_NAME = 'GpuMaint';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Objects merge key by key; anything else in `over` replaces what is in `base`. */
function deepMerge(base: Record<string, Json>, over: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

/** Reads the config from the app's context (see the header). @throws ConfigError */
export function appConfig(app: App): Config {
  const file = app.node.tryGetContext('config') as unknown;
  let inline = app.node.tryGetContext('gpuMaint') as unknown;
  if (file !== undefined && typeof file !== 'string') {
    throw new ConfigError(`-c config: expected a file path, got ${JSON.stringify(file)}`);
  }
  if (typeof inline === 'string') {
    try {
      inline = JSON.parse(inline);
    } catch (err) {
      throw new ConfigError(`-c gpuMaint: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (inline !== undefined && !isObject(inline)) {
    throw new ConfigError(`context gpuMaint: expected an object of settings, got ${JSON.stringify(inline)}`);
  }
  const raw = deepMerge(file ? readConfigFile(file) : {}, (inline as Record<string, Json> | undefined) ?? {});
  const origin = [file ? `-c config=${file}` : '', inline ? 'context gpuMaint' : ''].filter(Boolean).join(' + ') || 'defaults';
  return validateConfig(raw, `config (${origin})`);
}

export interface BuildAppOptions {
  /** Context as `-c key=value` would give it (tests). */
  readonly context?: Record<string, unknown>;
  readonly outdir?: string;
  /**
   * Register cdk-nag AwsSolutions checks (synthesis fails on unacknowledged findings).
   * @default true
   */
  readonly nag?: boolean;
}

export function buildApp(options: BuildAppOptions = {}): { app: App; stack: GpuMaintStack; config: Config } {
  const app = new App({ context: options.context, outdir: options.outdir });
  const config = appConfig(app);
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? DEFAULT_STACK_NAME;
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    throw new ConfigError(
      `-c stackName: expected a CloudFormation stack name (a letter, then letters, digits, -), got ${JSON.stringify(stackName)}`,
    );
  }
  const stack = new GpuMaintStack(app, stackName, {
    config,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: config.aws.region ?? process.env.CDK_DEFAULT_REGION },
  });
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, config };
}

/** The line aws-cdk-lib's asset staging writes to stderr before bundling each asset, whatever the CLI's -q. */
const BUNDLING_NOTICE = /^Bundling asset [^\n]*\.\.\.\n$/;

/**
 * Stderr for the app without CDK's per-asset bundling notices, so that `cdk synth -q` prints nothing
 * (its -q silences only the CLI; the app's stderr is passed through). Everything else is written as is.
 */
export function quietBundlingNotices(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'string' || !BUNDLING_NOTICE.test(chunk)) return write(chunk, ...rest);
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof stream.write;
}

if (require.main === module) {
  quietBundlingNotices(process.stderr);
  try {
    // The CDK CLI synthesizes the app when this process exits.
    buildApp();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`gpu-maint: ${err.message}\n`);
    process.exitCode = 2;
  }
}
