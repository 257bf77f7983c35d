/** Xid severity by NVIDIA's recommended action (lambda/core/gpu/xid-catalog.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { recoveryActionSeverity, XID_CATALOG, xidAdvice, xidSeverity } from '../../lambda/core/gpu/xid-catalog';
import { fixture } from '../helpers/fixtures';

describe('the catalog is NVIDIA/NVSentinel xiderrorsmapping.csv', () => {
  const rows = readFileSync(fixture('xid', 'nvsentinel-xiderrorsmapping.csv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(','));

  test('has every code of the source file and nothing else', () => {
    expect([...XID_CATALOG.keys()].sort((a, b) => a - b)).toEqual(rows.map((r) => Number(r[0])));
  });

  test.each(rows.map((r) => [Number(r[0]), r[1].trim(), r[2].trim(), r[3].trim()] as const))(
    'Xid %i: %s, %s, %s',
    (code, mnemonic, action, fatal) => {
      const entry = XID_CATALOG.get(code);
      expect(entry).toEqual({
        code,
        mnemonic,
        action: action.startsWith('Follow guidance') ? 'FOLLOW_OTHER_XID' : action,
        fatal: fatal === 'FATAL',
      });
    },
  );
});

describe('severity per code', () => {
  test.each([
    // Application faults (design notes: usually the job, not the GPU).
    [13, 'warning'],
    [31, 'warning'],
    [43, 'warning'],
    [45, 'warning'],
    [68, 'warning'],
    [94, 'warning'],
    // Reset at the next drain.
    [63, 'warning'],
    [92, 'warning'],
    // Reset, reboot or replace.
    [48, 'critical'],
    [64, 'critical'],
    [74, 'critical'],
    [79, 'critical'],
    [95, 'critical'],
    [109, 'critical'],
    [119, 'critical'],
    [120, 'critical'],
    [62, 'critical'],
    // NVIDIA says ignore.
    [14, 'ok'],
    // Not in the table: someone should look it up.
    [999, 'warning'],
  ])('Xid %i is %s', (code, severity) => {
    expect(xidSeverity(code)).toBe(severity);
  });

  test.each([
    [149, 'NETIR_LINK_EVT  Fatal   XC0 i0 Link 01 (0x021425c6 0x00000000)', 'critical'],
    [145, 'RLW_RXPIPE Nonfatal XC0 i0 Link 13 (0x0409a0c2 0x00000008)', 'warning'],
    [144, 'SAW_MVB Non-fatal XC0', 'warning'],
    [150, 'text without a verdict', 'critical'],
  ])('NVLink5 Xid %i "%s" is %s', (code, text, severity) => {
    expect(xidSeverity(code, text)).toBe(severity);
  });

  test.each([
    ['GPU recovery action changed from 0x0 (None) to 0x4 (Drain and Reset)', 'critical'],
    ['GPU recovery action changed from 0x4 (Drain and Reset) to 0x1 (GPU Reset Required)', 'critical'],
    ['GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)', 'critical'],
    ['GPU recovery action changed from 0x0 (None) to 0x3 (Drain P2P)', 'warning'],
    ['GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)', 'ok'],
    ['something else', 'warning'],
  ])('Xid 154 "%s" is %s', (text, severity) => {
    expect(xidSeverity(154, text)).toBe(severity);
  });

  test.each([
    ['Ch 00000001 caused by previous Xid 149', 'critical'],
    ['Ch 00000001 caused by previous Xid 13', 'warning'],
    ['Ch 00000001 caused by previous Xid 79', 'critical'],
    ['Ch 00000001', 'warning'],
  ])('Xid 45 "%s" is %s', (text, severity) => {
    expect(xidSeverity(45, text)).toBe(severity);
  });

  test('Xid 45 follows the severity already seen for its cause on that GPU', () => {
    expect(xidSeverity(45, 'caused by previous Xid 145', () => 'warning')).toBe('warning');
  });

  test.each([
    ['None', 'ok'],
    ['Reset', 'critical'],
    ['Reboot', 'critical'],
    ['Drain P2P', 'warning'],
    ['Drain and Reset', 'critical'],
    ['Something new', null],
  ])('nvidia-smi recovery action %j is %s', (action, severity) => {
    expect(recoveryActionSeverity(action)).toBe(severity);
  });

  test('advice names what to do', () => {
    expect(xidAdvice(79)).toMatch(/reboot/);
    expect(xidAdvice(13)).toMatch(/restart the application/);
    expect(xidAdvice(1234)).toMatch(/not in NVIDIA's Xid catalog/);
  });
});
