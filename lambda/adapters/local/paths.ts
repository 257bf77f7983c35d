/** Path helpers for configuration values, kept apart from the loader so Lambda bundles stay small. */
import * as os from 'node:os';
import * as path from 'node:path';

import type { Config } from '../../config/schema';

/** Expands a leading `~` (local.stateDir) against the user's home directory. */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** local.stateDir's default in the config schema (lambda/config/schema.ts). */
export const DEFAULT_STATE_DIR = '~/.local/state/gpu-maint';

/** Where a timer's run keeps its state: systemd's StateDirectory=gpu-maint (the FHS place). */
export const SYSTEM_STATE_DIR = '/var/lib/gpu-maint';

/**
 * The state directory to use for local.stateDir. A configured value is used as given (with `~`
 * expanded). The default means $STATE_DIRECTORY when systemd set it (a unit with
 * StateDirectory=gpu-maint, as `gpu-maint schedule --systemd` writes: /var/lib/gpu-maint for a system
 * unit), else ~/.local/state/gpu-maint. An interactive root shell keeps its own home's state, so a
 * manual run never mixes with the timers' unless local.stateDir says so.
 */
export function resolveStateDir(configured: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (configured !== DEFAULT_STATE_DIR) return expandHome(configured);
  const fromSystemd = env.STATE_DIRECTORY?.split(':')[0];
  return fromSystemd || expandHome(configured);
}

/** Local mode's state directory (local.stateDir, `~` expanded): the one place it is computed. */
export function localStateDir(config: Config): string {
  return resolveStateDir(config.local.stateDir);
}
