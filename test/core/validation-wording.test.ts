/**
 * Validation messages in the project's words, never the schema library's: each kind of zod issue
 * becomes "got <value>; expected <what, in words>".
 */
import { describe, expect, test } from 'vitest';
import { ConfigError, validateConfig } from '../../lambda/config/load';

function messageFor(input: unknown): string {
  try {
    validateConfig(input, '--set');
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected the config to be refused');
}

describe('config validation wording', () => {
  test.each([
    [{ gpuCheck: { nvidiaSmiTimeoutSeconds: 0 } }, 'gpuCheck.nvidiaSmiTimeoutSeconds: got 0; expected a number of at least 1'],
    [{ gpuCheck: { nvidiaSmiTimeoutSeconds: 99 } }, 'gpuCheck.nvidiaSmiTimeoutSeconds: got 99; expected a number of at most 40'],
    [{ cleanup: { maxDeleteFraction: 0 } }, 'cleanup.maxDeleteFraction: got 0; expected a number greater than 0'],
    [{ backup: { undoDays: 1.5 } }, 'backup.undoDays: got 1.5; expected a whole number'],
    [{ local: { webhookUrl: 'x' } }, 'local.webhookUrl: got "x"; expected a URL such as https://example.com/hook'],
    [{ fleet: { name: 3 } }, 'fleet.name: got 3; expected a string'],
    [{ cleanup: { dryRun: 'yes' } }, 'cleanup.dryRun: got "yes"; expected true or false'],
    [{ metrics: { detail: 'host' } }, 'metrics.detail: got "host"; expected one of "fleet"|"instance"|"gpu"'],
    [{ gpuCheck: { expectedGpuCount: 'x' } }, 'gpuCheck.expectedGpuCount: got "x"; expected "auto" or a number'],
    [{ gpuCheck: { instanceType: 9 } }, 'gpuCheck.instanceType: got 9; expected "auto" or a string'],
    [{ alerts: { for: { Bad: 2 } } }, 'alerts.for.Bad: got key "Bad"; expected a check name such as gpu.temperature'],
    [{ aws: { tags: { 'aws:x': 'y' } } }, 'aws.tags.aws:x: got key "aws:x"; expected a tag key of 1-128'],
  ])('%j', (input, message) => {
    const text = messageFor(input);
    expect(text).toContain(message);
    expect(text).not.toMatch(/Too (small|big)|Invalid input|received/);
  });
});
