/**
 * Compares readings with warning/critical levels. Levels come from config (lib/config/schema.ts);
 * a null level is disabled, and a null reading (the device has no value) is never a breach.
 */
import type { Severity } from './types';

export interface Levels {
  readonly warning: number | null;
  readonly critical: number | null;
}

export type Direction = 'above' | 'below';

export function classify(reading: number | null | undefined, levels: Levels, direction: Direction = 'above'): Severity {
  if (reading === null || reading === undefined || !Number.isFinite(reading)) return 'ok';
  const breaches = (level: number | null) => level !== null && (direction === 'above' ? reading >= level : reading <= level);
  if (breaches(levels.critical)) return 'critical';
  if (breaches(levels.warning)) return 'warning';
  return 'ok';
}

/** Describes levels for reports, e.g. `warn ≥ 83, crit ≥ 90 °C`. */
export function describeLevels(levels: Levels, direction: Direction = 'above', unit = ''): string {
  const op = direction === 'above' ? '≥' : '≤';
  const parts: string[] = [];
  if (levels.warning !== null) parts.push(`warn ${op} ${levels.warning}`);
  if (levels.critical !== null) parts.push(`crit ${op} ${levels.critical}`);
  if (parts.length === 0) return 'disabled';
  return `${parts.join(', ')}${unit ? ` ${unit}` : ''}`;
}
