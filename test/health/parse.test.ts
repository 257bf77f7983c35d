/** Parsers of raw health-check sections (lambda/core/health/parse.ts). */
import { describe, expect, test } from 'vitest';
import {
  connectError,
  countJournalErrors,
  isJournalNotice,
  isNoSystemdError,
  parseCpuCount,
  parseDf,
  parseLoadavg,
  parseMeminfo,
  parseSystemctlShow,
  usedPct,
} from '../../lambda/core/health/parse';

describe('parseDf', () => {
  test.each([
    [
      'GNU df -P',
      'Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda         264212084 23449032  82941880      23% /\n',
      { filesystem: '/dev/vda', mount: '/', total: 264212084 * 1024, used: 23449032 * 1024, available: 82941880 * 1024 },
    ],
    [
      'POSIXLY_CORRECT 512-byte blocks',
      'Filesystem 512-blocks Used Available Capacity Mounted on\n/dev/sda1 2000 1000 1000 50% /boot\n',
      { filesystem: '/dev/sda1', mount: '/boot', total: 1024000, used: 512000, available: 512000 },
    ],
    [
      'a mount point with spaces',
      'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb1 100 50 50 50% /mnt/my data set\n',
      { filesystem: '/dev/sdb1', mount: '/mnt/my data set', total: 102400, used: 51200, available: 51200 },
    ],
    [
      'an SMB share whose name has slashes',
      'Filesystem 1024-blocks Used Available Capacity Mounted on\n//nas/models 100 10 90 10% /mnt/models\n',
      { filesystem: '//nas/models', mount: '/mnt/models', total: 102400, used: 10240, available: 92160 },
    ],
    [
      'a Lustre filesystem (FSx)',
      'Filesystem 1024-blocks Used Available Capacity Mounted on\n172.31.0.10@tcp:/abcdefgh 1200000 600000 600000 50% /fsx\n',
      { filesystem: '172.31.0.10@tcp:/abcdefgh', mount: '/fsx', total: 1228800000, used: 614400000, available: 614400000 },
    ],
  ])('%s', (_name, text, row) => {
    expect(parseDf(text, 'space')).toEqual([row]);
  });

  test.each([
    ['ext4', '/dev/root 1000 250 750 25% /', { total: 1000, used: 250, available: 750 }, 25],
    ['btrfs (no inode figures)', '/dev/sdc 0 0 0 - /data', { total: 0, used: 0, available: 0 }, null],
    ['a FUSE filesystem printing dashes', 's3fs - - - - /mnt/s3', { total: null, used: null, available: null }, null],
  ])('inodes of %s', (_name, line, counts, pct) => {
    const [row] = parseDf(`Filesystem Inodes IUsed IFree IUse% Mounted on\n${line}\n`, 'inodes');
    expect(row).toMatchObject(counts);
    expect(usedPct(row)).toBe(pct);
  });

  test('output without any filesystem line parses to no rows', () => {
    expect(parseDf('df: /nope: No such file or directory\n', 'space')).toEqual([]);
    expect(parseDf('', 'inodes')).toEqual([]);
  });
});

test.each([
  [{ used: 95, available: 0 }, 100],
  [{ used: 50, available: 50 }, 50],
  [{ used: 0, available: 0 }, null],
  [{ used: null, available: 10 }, null],
])('usedPct(%j) counts reserved blocks as unavailable: %j', (row, pct) => {
  expect(usedPct(row)).toBe(pct);
});

test.each([
  ['MemTotal: 2048 kB\nMemAvailable: 1024 kB\n', { totalBytes: 2097152, availableBytes: 1048576, estimated: false }],
  ['MemTotal: 2048 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 90 kB\n', { totalBytes: 2097152, availableBytes: 204800, estimated: true }],
  ['garbage\n', { totalBytes: null, availableBytes: null, estimated: false }],
])('parseMeminfo(%j)', (text, info) => {
  expect(parseMeminfo(text)).toEqual(info);
});

test.each([
  ['0.16 0.12 0.07 1/91 7754\n', { load1: 0.16, load5: 0.12, load15: 0.07 }],
  ['12 30.5 7\n', { load1: 12, load5: 30.5, load15: 7 }],
  ['', null],
  ['cat: /proc/loadavg: No such file\n', null],
])('parseLoadavg(%j)', (text, load) => {
  expect(parseLoadavg(text)).toEqual(load);
});

test.each([
  ['8\n', 8],
  ['0\n', null],
  ['undefined\n', null],
])('parseCpuCount(%j) is %j', (text, count) => {
  expect(parseCpuCount(text)).toBe(count);
});

test('parseSystemctlShow reads the properties and treats empty values as unknown', () => {
  expect(parseSystemctlShow('Id=docker.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=\n')).toEqual({
    id: 'docker.service',
    loadState: 'loaded',
    activeState: 'active',
    subState: 'running',
    result: null,
  });
});

test.each([
  ["System has not been booted with systemd as init system (PID 1). Can't operate.", true],
  ['Failed to connect to bus: No such file or directory', true],
  ['Failed to get properties: Access denied', false],
])('isNoSystemdError(%j) is %j', (stderr, expected) => {
  expect(isNoSystemdError(stderr)).toBe(expected);
});

describe('countJournalErrors', () => {
  test.each([
    ['-- No entries --\n', '', null, 0, false],
    ['No journal files were found.\n-- No entries --\n', '', 2, 0, true],
    ['', 'No journal files were found.\n', 0, 0, true],
    ['a\nb\nc\n', '', 3, 3, false],
    ['x\ny\n', '', 4000, 4000, false],
    ['-- Boot 0123456789abcdef --\nkernel: oops\n', '', 2, 1, false],
  ])('stdout %j, stderr %j, %j lines counted → %i errors', (stdout, stderr, totalLines, errors, noJournal) => {
    expect(countJournalErrors(stdout, stderr, totalLines)).toMatchObject({ errors, noJournal });
  });

  test('a message that merely mentions "No entries" is an error entry', () => {
    expect(isJournalNotice('myapp: -- No entries -- in cache table')).toBe(false);
    expect(countJournalErrors('myapp: No journal files were found. in backup\n', '', 1).errors).toBe(1);
  });
});

test.each([
  [
    'tcp-connect: connect: Connection refused\ntcp-connect: line 1: /dev/tcp/127.0.0.1/9: Connection refused\n',
    '127.0.0.1',
    'Connection refused',
  ],
  [
    'bash: nonexistent.invalid: Name or service not known\nbash: /dev/tcp/nonexistent.invalid/443: Invalid argument\n',
    'nonexistent.invalid',
    'Name or service not known',
  ],
  ['tcp-connect: line 1: ssm.x: Temporary failure in name resolution\n', 'ssm.x', 'Temporary failure in name resolution'],
  ['', 'h', 'connection failed'],
])('connectError(%j) is %j', (stderr, host, reason) => {
  expect(connectError(stderr, host)).toBe(reason);
});
