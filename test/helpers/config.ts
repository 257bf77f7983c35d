/** Builds a validated config for tests from a partial input (defaults for the rest). */
import { validateConfig } from '../../lib/config/load';
import type { Config, ConfigInput } from '../../lib/config/schema';

export function parseConfigForTest(input: ConfigInput = {}): Config {
  return validateConfig(input, 'test config');
}
