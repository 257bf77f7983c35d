/** remediation.* in the config: off by default, strict, errors that name the key and what was expected. */
import { describe, expect, test } from 'vitest';
import { validateConfig } from '../../lambda/config/load';
import { remediationSettings } from '../../lambda/core/remediation/model';

describe('remediation config', () => {
  test('an empty config leaves remediation off and in dry-run mode', () => {
    const r = validateConfig({}).remediation;
    expect([r.enabled, r.dryRun, r.maxAction]).toEqual([false, true, 'reboot']);
  });

  test.each([
    [{ maxAction: 'terminate' }, 'remediation.maxAction'],
    [{ stormShare: 0 }, 'remediation.stormShare'],
    [{ maxHostsAtOnce: 0 }, 'remediation.maxHostsAtOnce'],
    [{ maintenanceWindow: { start: '25:00', end: '04:00' } }, 'remediation.maintenanceWindow.start'],
    [{ maintenanceWindow: { start: '02:00', end: '02:00' } }, 'remediation.maintenanceWindow.end'],
    [{ approvers: ['oncall'] }, 'remediation.approvers.0'],
    [{ quarantineTagKey: 'aws:quarantine' }, 'remediation.quarantineTagKey'],
    [{ maxHostAtOnce: 3 }, 'maxHostAtOnce'],
  ])('%j is refused, naming %s', (remediation, key) => {
    expect(() => validateConfig({ remediation } as never)).toThrow(key);
  });

  test('a 5-minute gpu-check confirms a gauge cause within two periods and a minute', () => {
    expect(remediationSettings(validateConfig({})).confirmWithinMinutes).toBe(11);
  });
});
