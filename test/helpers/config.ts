/** Builds a validated config for tests from a partial input (defaults for the rest). */
import { validateConfig } from '../../lambda/config/load';
import type { Config, ConfigInput } from '../../lambda/config/schema';

export function parseConfigForTest(input: ConfigInput = {}): Config {
  return validateConfig(input, 'test config');
}
