/**
 * Loads and validates configuration once: a JSON or YAML file, then `--set key.path=value` overrides.
 * Errors name the key, the bad value and what was expected.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { describeIssue } from '../core/validation';
import { type Config, configSchema } from './schema';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Parses `key.path=value`; the value is JSON when it parses as JSON, else a string. */
export function parseSetOption(option: string): { keyPath: string[]; value: Json } {
  const eq = option.indexOf('=');
  if (eq <= 0) {
    throw new ConfigError(`--set ${JSON.stringify(option)}: expected key.path=value, e.g. --set thresholds.gpuTemperatureC.warning=80`);
  }
  const key = option.slice(0, eq);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key)) {
    throw new ConfigError(`--set ${JSON.stringify(option)}: key ${JSON.stringify(key)} must be dot-separated names`);
  }
  const raw = option.slice(eq + 1);
  let value: Json;
  try {
    value = JSON.parse(raw) as Json;
  } catch {
    value = raw;
  }
  return { keyPath: key.split('.'), value };
}

function applySet(target: Record<string, Json>, keyPath: string[], value: Json): void {
  let node: Record<string, Json> = target;
  for (const key of keyPath.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, Json>;
  }
  node[keyPath[keyPath.length - 1]] = value;
}

export function readConfigFile(file: string): Record<string, Json> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--config ${file}: cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let data: unknown;
  try {
    data = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`--config ${file}: not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(
      `--config ${file}: expected a mapping of settings at the top level, got ${Array.isArray(data) ? 'a list' : typeof data}`,
    );
  }
  return data as Record<string, Json>;
}

const CONFIG_WORDING = { root: '(top level)', unknownKey: 'unknown setting (check the spelling; see docs/configuration.md)' };

/** Validates raw settings (unknown keys are errors, so typos never fall back to defaults silently). */
export function validateConfig(input: unknown, origin = 'config'): Config {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  - ${describeIssue(issue, input, CONFIG_WORDING)}`);
  throw new ConfigError(`invalid ${origin}:\n${lines.join('\n')}`);
}

export interface LoadOptions {
  /** Path of a JSON or YAML file. */
  readonly file?: string;
  /** `key.path=value` overrides, applied in order after the file. */
  readonly set?: readonly string[];
}

/** Reads, overrides and validates; the one entry point for local mode and the CDK app. */
export function loadConfig(options: LoadOptions = {}): Config {
  const raw: Record<string, Json> = options.file ? readConfigFile(options.file) : {};
  for (const option of options.set ?? []) {
    const { keyPath, value } = parseSetOption(option);
    applySet(raw, keyPath, value);
  }
  const origin = options.file
    ? `config (${options.file}${options.set?.length ? ' with --set' : ''})`
    : options.set?.length
      ? 'config (--set)'
      : 'config';
  return validateConfig(raw, origin);
}
