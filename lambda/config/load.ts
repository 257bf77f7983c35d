/**
 * Loads and validates configuration once: a JSON or YAML file, then `--set key.path=value` overrides.
 * Errors name the key, the bad value and what was expected.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { expandHome } from '../adapters/local/paths';
import { describeIssue } from '../core/validation';
import { TASKS } from '../tasks/registry';
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

/** Unwraps defaults, optionals, pipes and refinements down to the schema that holds keys or elements. */
function innerSchema(schema: z.core.$ZodType): z.core.$ZodType {
  let node = schema;
  for (let i = 0; i < 20; i++) {
    const def = node._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType) node = def.innerType;
    else if (def.type === 'pipe' && def.in) node = def.in;
    else break;
  }
  return node;
}

/** The setting names allowed at a key path of the config schema (empty where there is no object). */
export function knownConfigKeys(keyPath: readonly PropertyKey[]): string[] {
  let node: z.core.$ZodType = configSchema();
  for (const key of keyPath) {
    const def = innerSchema(node)._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    if (def.type === 'object' && def.shape && typeof key === 'string' && key in def.shape) node = def.shape[key];
    else if (def.type === 'array' && def.element && typeof key === 'number') node = def.element;
    else return [];
  }
  const def = innerSchema(node)._zod.def as { type: string; shape?: Record<string, unknown> };
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

const CONFIG_WORDING = {
  root: '(top level)',
  unknownKey: 'unknown setting (check the spelling; see docs/configuration.md)',
  unknownKeyWithSuggestion: 'unknown setting (see docs/configuration.md)',
  knownKeysAt: knownConfigKeys,
};

/** `a` is `b`, inside it, or contains it (normalized absolute paths). */
function overlaps(a: string, b: string): 'is' | 'inside' | 'contains' | null {
  const x = path.posix.normalize(a).replace(/(.)\/$/, '$1');
  const y = path.posix.normalize(b).replace(/(.)\/$/, '$1');
  if (x === y) return 'is';
  if (y === '/' || x.startsWith(`${y}/`)) return 'inside';
  if (x === '/' || y.startsWith(`${x}/`)) return 'contains';
  return null;
}

/**
 * Cleanup roots that overlap what cleanup must never delete: backup sources, a file:// backup store (the
 * default one lives in the state dir) and the local state dir. The script refuses them too.
 */
export function cleanupRootProblems(config: Config): string[] {
  const stateDir = expandHome(config.local.stateDir);
  const keep: Array<{ path: string; what: string }> = [
    ...config.backup.sources.map((p, i) => ({ path: p, what: `backup source backup.sources.${i}` })),
    ...(config.backup.destination?.startsWith('file://')
      ? [{ path: config.backup.destination.slice('file://'.length), what: 'the backup store backup.destination' }]
      : []),
    ...(stateDir.startsWith('/') ? [{ path: stateDir, what: 'the state dir local.stateDir (metrics, alerts, default backup store)' }] : []),
  ];
  const problems: string[] = [];
  for (const [key, roots] of [
    ['cleanup.experiments.paths', config.cleanup.experiments.paths],
    ['cleanup.checkpoints.paths', config.cleanup.checkpoints.paths],
  ] as const) {
    roots.forEach((root, i) => {
      for (const k of keep) {
        const relation = overlaps(root, k.path);
        if (relation) {
          const where = relation === 'is' ? 'is' : relation === 'inside' ? 'is inside' : 'contains';
          problems.push(
            `${key}.${i}: got ${JSON.stringify(root)}; expected a cleanup root apart from ${k.what} (${k.path}), which it ${where}`,
          );
        }
      }
    });
  }
  return problems;
}

/** Longest string setting: PATH_MAX on Linux, and far beyond any name, glob or ARN the schema takes. */
export const MAX_SETTING_CHARS = 4096;
/** Most items in one list setting. */
export const MAX_LIST_ITEMS = 256;
/**
 * Longest value of one script parameter (a GPU_MAINT_* variable). Linux refuses any single environment
 * string over 32 pages (MAX_ARG_STRLEN, 128 KiB) with E2BIG (execve(2)); half that leaves room for the rest.
 */
export const MAX_PARAMETER_CHARS = 64 * 1024;

/** Settings too large to travel to a script, as problem lines (sizes of strings and lists, then whole parameters). */
export function settingSizeProblems(input: unknown): string[] {
  const problems: string[] = [];
  const walk = (node: unknown, key: string): void => {
    if (typeof node === 'string' && node.length > MAX_SETTING_CHARS) {
      problems.push(`${key || '(top level)'}: got a value of ${node.length} characters; expected at most ${MAX_SETTING_CHARS}`);
    } else if (Array.isArray(node)) {
      if (node.length > MAX_LIST_ITEMS) problems.push(`${key}: got a list of ${node.length} items; expected at most ${MAX_LIST_ITEMS}`);
      else
        node.forEach((item, i) => {
          walk(item, `${key}.${i}`);
        });
    } else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) walk(v, key ? `${key}.${k}` : k);
    }
  };
  walk(input, '');
  return problems;
}

/** Script parameters (joined lists) over MAX_PARAMETER_CHARS, which would not fit in a process environment. */
function parameterSizeProblems(config: Config): string[] {
  const problems: string[] = [];
  for (const [task, definition] of TASKS) {
    for (const p of definition.parameters) {
      const length = p.fromConfig(config).length;
      if (length > MAX_PARAMETER_CHARS) {
        problems.push(
          `${task} parameter ${p.name} (${p.env}): got ${length} characters from the settings it is built from; expected at most ${MAX_PARAMETER_CHARS} (shorten or merge the lists)`,
        );
      }
    }
  }
  return problems;
}

/**
 * Remembers what raw settings validated to, so that a process given the same input as an earlier one
 * skips zod (bin/cli/config-memo.ts keeps it for the CLI). `input` is the raw settings' JSON text.
 */
export interface ValidationMemo {
  /** The settings this exact input validated to, when remembered. */
  recall(input: string): Config | undefined;
  remember(input: string, config: Config): void;
}

/**
 * Validates raw settings (unknown keys are errors, so typos never fall back to defaults silently). With a
 * memo, the schema's verdict on an input seen before is recalled; the checks that read this machine
 * (cleanup roots against the state dir, which may sit under $HOME) run every time.
 */
export function validateConfig(input: unknown, origin = 'config', memo?: ValidationMemo): Config {
  const tooLarge = settingSizeProblems(input);
  if (tooLarge.length > 0) throw new ConfigError(`invalid ${origin}:\n${tooLarge.map((p) => `  - ${p}`).join('\n')}`);
  const key = memo ? JSON.stringify(input) : '';
  let config = memo?.recall(key);
  if (!config) {
    // Parsed once per process: zod's compiled fast path would cost more to build (about 20 ms of CLI
    // start) than it saves.
    const result = configSchema().safeParse(input, { jitless: true });
    if (!result.success) {
      const lines = result.error.issues.map((issue) => `  - ${describeIssue(issue, input, CONFIG_WORDING)}`);
      throw new ConfigError(`invalid ${origin}:\n${lines.join('\n')}`);
    }
    config = result.data;
    memo?.remember(key, config);
  }
  const problems = [...cleanupRootProblems(config), ...parameterSizeProblems(config)];
  if (problems.length === 0) return config;
  throw new ConfigError(`invalid ${origin}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

export interface LoadOptions {
  /** Path of a JSON or YAML file. */
  readonly file?: string;
  /** `key.path=value` overrides, applied in order after the file. */
  readonly set?: readonly string[];
  /** Recalls the schema's verdict on settings validated before (see validateConfig). */
  readonly memo?: ValidationMemo;
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
  return validateConfig(raw, origin, options.memo);
}
