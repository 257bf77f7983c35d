/** Path helpers for configuration values, kept apart from the loader so Lambda bundles stay small. */
import * as os from 'node:os';
import * as path from 'node:path';

import type { Config } from '../../config/schema';

/** Expands a leading `~` (local.stateDir) against the user's home directory. */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** Local mode's state directory (local.stateDir, `~` expanded): the one place it is computed. */
export function localStateDir(config: Config): string {
  return expandHome(config.local.stateDir);
}
