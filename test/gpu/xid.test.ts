/** Xid kernel-log lines: parsing, bus id normalisation, deduplication (lambda/core/gpu/xid.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { dedupXids, normaliseBusId, parseXidLine, parseXidLines } from '../../lambda/core/gpu/xid';
import { fixture } from '../helpers/fixtures';

/** Real kernel lines with "NVRM: Xid" in them (comment lines of the fixture excluded). */
function realXidLines(file: string): string[] {
  return readFileSync(fixture('xid', file), 'utf8')
    .split('\n')
    .filter((l) => l.includes('NVRM: Xid') && !l.startsWith('#'));
}

/** Code and bus id read off a line the simplest way, to check the parser against. */
function expectedFromText(line: string): { code: number; bus: string } {
  const inside = line.slice(line.indexOf('Xid (') + 5, line.indexOf(')', line.indexOf('Xid (')));
  const address = inside.split(' ')[0].replace('PCI:', '');
  const [domain, bus, device] = address.split(':');
  const code = Number(line.slice(line.indexOf('): ', line.indexOf('Xid (')) + 3).split(',')[0]);
  return { code, bus: `${domain.padStart(8, '0')}:${bus}:${device}.0`.toUpperCase() };
}

describe('every real Xid line parses', () => {
  const files = ['xid-lines.txt', 'gpud-dmesg-with-xid-119.log', 'gpud-dmesg.decode.iso.log'];
  const cases = files.flatMap((file) => realXidLines(file).map((line) => [file, line] as const));

  test('the fixtures hold the lines this suite expects', () => {
    expect(realXidLines('xid-lines.txt').length).toBeGreaterThanOrEqual(35);
    expect(realXidLines('gpud-dmesg-with-xid-119.log')).toHaveLength(5);
    expect(realXidLines('gpud-dmesg.decode.iso.log')).toHaveLength(17);
  });

  test.each(cases)('%s: %s', (_file, line) => {
    const parsed = parseXidLine(line);
    const expected = expectedFromText(line);
    expect(parsed).not.toBeNull();
    expect(parsed?.code).toBe(expected.code);
    expect(parsed?.busId).toBe(expected.bus);
  });
});

describe('line forms', () => {
  test.each([
    [
      'bare',
      'NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.',
      { code: 79, busId: '00000000:2B:00.0', message: 'GPU has fallen off the bus.' },
    ],
    [
      'syslog',
      'May 18 19:02:39 kernel: NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.',
      { code: 79, busId: '00000000:2B:00.0' },
    ],
    [
      'dmesg timestamp',
      '[2397166.983093] NVRM: Xid (PCI:0000:0f:00): 94, pid=2503421, name=python3, Ch 00000008',
      { code: 94, busId: '00000000:0F:00.0', message: 'pid=2503421, name=python3, Ch 00000008' },
    ],
    [
      'journal short-iso',
      '2025-01-21T04:41:44+0000 ip-10-0-0-1 kernel: NVRM: Xid (PCI:0000:38:00): 13, pid=1, name=x, Graphics Exception',
      { code: 13, busId: '00000000:38:00.0' },
    ],
    [
      'dmesg --decode',
      "kern  :warn  : 2025-01-21T04:41:44,283302+00:00 NVRM: Xid (PCI:0000:38:00): 13, pid='<unknown>', name=<unknown>, Graphics Exception",
      { code: 13, busId: '00000000:38:00.0' },
    ],
    [
      'MIG GPU instance',
      'NVRM: Xid (PCI:0000:01:00 GPU-I:05): 94, pid=7194, Contained: CE User Channel (0x9). RST: No, D-RST: No',
      { code: 94, busId: '00000000:01:00.0', migInstance: 5 },
    ],
    [
      'MIG compute instance',
      'NVRM: Xid (PCI:0000:01:00 GPU-I:05 GPU-CI:01): 94, pid=7194, Contained',
      { code: 94, migInstance: 5, computeInstance: 1 },
    ],
    [
      'very old driver without PCI:',
      'Nov 22 18:29:55 hostname kernel: [ 966.503025] NVRM: Xid (0000:01:00): 31, Ch 0000000b, engmask 00000120, intr 10000000',
      { code: 31, busId: '00000000:01:00.0' },
    ],
    [
      'non-zero domain (Grace, Azure)',
      '[171167.620236] NVRM: Xid (PCI:0009:01:00): 149, NETIR_LINK_EVT  Fatal   XC0 i0 Link 01',
      { code: 149, busId: '00000009:01:00.0' },
    ],
    [
      'device number above 9 (p4d)',
      'NVRM: Xid (PCI:0000:10:1c): 63, pid=1896, Row Remapper: New row marked for remapping, reset gpu to activate.',
      { code: 63, busId: '00000000:10:1C.0' },
    ],
  ])('%s', (_form, line, expected) => {
    expect(parseXidLine(line)).toMatchObject(expected);
  });

  test.each([
    ['an NVSwitch SXid', '[186965.348898] nvidia-nvswitch2: SXid (PCI:0000:85:00.0): 12028, Non-fatal, Link 61 egress'],
    ['another NVRM line', 'May 18 19:02:39 kernel: NVRM: GPU 0000:2b:00.0: GPU has fallen off the bus.'],
    ['an unrelated line', '[Fri Aug 30 11:11:22 2024] nvidia-peermem nv_get_p2p_free_callback:127 ERROR detected invalid context'],
  ])('%s is not an Xid', (_case, line) => {
    expect(parseXidLine(line)).toBeNull();
  });
});

describe('bus id normalisation to nvidia-smi form', () => {
  test.each([
    ['0000:2b:00', '00000000:2B:00.0'],
    ['PCI:0000:2b:00', '00000000:2B:00.0'],
    ['00000000:2B:00.0', '00000000:2B:00.0'],
    ['00000000:2b:00.0', '00000000:2B:00.0'],
    ['0009:01:00', '00000009:01:00.0'],
    ['0000:10:1c.1', '00000000:10:1C.1'],
    ['2b:00.0', '00000000:2B:00.0'],
    ['not a bus id', null],
  ])('%j → %j', (text, expected) => {
    expect(normaliseBusId(text)).toBe(expected);
  });
});

describe('deduplication per (GPU, code)', () => {
  const byBus = new Map([['00000000:CB:00.0', 3]]);

  test('one incident of many lines is one event with a count and the first message', () => {
    const lines = parseXidLines(
      readFileSync(fixture('xid', 'xid-lines.txt'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('PCI:0000:cb:00'))
        .join('\n'),
    );
    const events = dedupXids(lines, byBus);
    expect(events).toEqual([
      {
        code: 13,
        busId: '00000000:CB:00.0',
        gpu: 3,
        severity: 'warning',
        count: 3,
        message: expect.stringContaining('Illegal Instruction Parameter'),
      },
      {
        code: 109,
        busId: '00000000:CB:00.0',
        gpu: 3,
        severity: 'critical',
        count: 1,
        message: expect.stringContaining('CTX SWITCH TIMEOUT'),
      },
    ]);
  });

  test('a bus id nvidia-smi does not list maps to no GPU index', () => {
    const [event] = dedupXids(parseXidLines('NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.'), byBus);
    expect(event).toMatchObject({ code: 79, gpu: null, severity: 'critical' });
  });

  test('the GPU index is matched case-insensitively through the normalised bus id', () => {
    const [event] = dedupXids(
      parseXidLines('NVRM: Xid (PCI:0000:cb:00): 79, GPU has fallen off the bus.'),
      new Map([['00000000:CB:00.0', 6]]),
    );
    expect(event.gpu).toBe(6);
  });

  test('the same code on two GPUs stays two events', () => {
    const text = 'NVRM: Xid (PCI:0000:10:1c): 48, DBE\nNVRM: Xid (PCI:0000:10:1d): 48, DBE\nNVRM: Xid (PCI:0000:10:1c): 48, DBE';
    expect(dedupXids(parseXidLines(text), new Map()).map((e) => [e.busId, e.count])).toEqual([
      ['00000000:10:1C.0', 2],
      ['00000000:10:1D.0', 1],
    ]);
  });

  test("Xid 45 caused by an earlier Xid on the same GPU takes that Xid's severity", () => {
    const text = [
      'NVRM: Xid (PCI:0018:01:00): 145, RLW_RXPIPE Nonfatal XC0 i0 Link 13',
      'NVRM: Xid (PCI:0018:01:00): 45, pid=1, name=python3, Ch 00000002 caused by previous Xid 145',
    ].join('\n');
    expect(dedupXids(parseXidLines(text), new Map()).map((e) => [e.code, e.severity])).toEqual([
      [145, 'warning'],
      [45, 'warning'],
    ]);
  });

  test('Xid 154 keeps the latest recovery action, not the worst', () => {
    const text = [
      'NVRM: Xid (PCI:0009:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)',
      'NVRM: Xid (PCI:0009:01:00): 154, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)',
    ].join('\n');
    expect(dedupXids(parseXidLines(text), new Map())[0]).toMatchObject({ count: 2, severity: 'ok' });
  });

  test('a MIG instance is kept on the event', () => {
    const [event] = dedupXids(
      parseXidLines('NVRM: Xid (PCI:0000:01:00 GPU-I:05): 94, pid=7194, Contained'),
      new Map([['00000000:01:00.0', 0]]),
    );
    expect(event).toMatchObject({ gpu: 0, migInstance: 5, severity: 'warning' });
  });
});
