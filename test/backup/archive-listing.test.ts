/** Reading GNU tar's verbose, C-quoted listing (lines as tar 1.34 prints them for backup archives). */
import { describe, expect, test } from 'vitest';
import { modeBits, modeString, parseArchiveListing, unquoteC } from '../../lambda/core/backup/archive-listing';

const LISTING = [
  'drwxr-xr-x 0/0               0 2026-12-02 09:52:06.730652309 "./u/"',
  '-rw-r--r-- 1000/1001        10485760 2026-12-02 09:52:06.730652309 "./u/sparse"',
  'lrwxrwxrwx 0/0               0 2026-12-02 09:52:06.726652309 "./u/l" -> "../x y"',
  '-rw-r--r-- 0/0               0 2026-12-02 09:52:06.726652309 "./u/q\\"t"',
  '-rw-r--r-- 0/0               0 2026-12-02 09:52:06.730652309 "./u/ar -> b"',
  '-rw-r--r-- 0/0               0 2026-12-02 09:52:06.726652309 "./u/new\\nline"',
  'hrw-r--r-- 0/0               0 2026-12-02 09:52:06.718652309 "./u/a" link to "./u/b"',
  '-rw-r--r-- 0/0               0 2026-12-02 09:52:06.726652309 "./u/\\351\\377"',
  '-rwsr-x--T 0/0               1 2026-12-02 09:52:06 "./u/setuid"',
  '-rw-r--r-- 0/0              20 2024-03-01 10:20:30.122999    "./u/short-fraction"',
].join('\n');

describe('tar listing', () => {
  const { entries, unparsed } = parseArchiveListing(`${LISTING}\n`);

  test('every line of the listing is an entry', () => {
    expect(unparsed).toEqual([]);
    expect(entries).toHaveLength(10);
  });

  test('a directory is named without its leading ./ and trailing slash', () => {
    expect(entries[0]).toMatchObject({ path: 'u', type: 'dir', mode: 0o755, size: 0 });
  });

  test('a file keeps its size, owner and full modification time', () => {
    expect(entries[1]).toEqual({
      rawPath: 'u/sparse',
      path: 'u/sparse',
      type: 'file',
      mode: 0o644,
      uid: 1000,
      gid: 1001,
      size: 10485760,
      mtime: '2026-12-02 09:52:06.730652309',
    });
  });

  test.each([
    [2, { path: 'u/l', type: 'symlink', target: '../x y' }],
    [3, { path: 'u/q"t', type: 'file' }],
    [4, { path: 'u/ar -> b', type: 'file' }],
    [5, { path: 'u/new\nline', type: 'file' }],
    [6, { path: 'u/a', type: 'hardlink', target: 'u/b', size: 0 }],
  ])('entry %i reads as %j', (index, expected) => {
    expect(entries[index]).toMatchObject(expected);
  });

  test('a name that is not UTF-8 keeps its exact bytes and shows replacement characters', () => {
    expect(Buffer.from(entries[7].rawPath, 'latin1')).toEqual(Buffer.from([0x75, 0x2f, 0xe9, 0xff]));
    expect(entries[7].path).toBe('u/\ufffd\ufffd');
  });

  test('setuid and sticky bits are read from s and T', () => {
    expect(entries[8].mode).toBe(0o5750);
    expect(modeString(entries[8])).toBe('-rwsr-x--T');
  });

  test('a line of another form is reported, not dropped', () => {
    expect(parseArchiveListing('tar: something odd\n').unparsed).toEqual(['tar: something odd']);
  });
});

test.each([
  ['plain', 'plain'],
  ['a\\\\b', 'a\\b'],
  ['tab\\there', 'tab\there'],
  ['\\303\\251', '\u00c3\u00a9'],
])('unquoteC(%j) is %j', (quoted, raw) => {
  expect(unquoteC(quoted)).toBe(raw);
});

test.each([
  ['rwxr-xr-x', 0o755],
  ['rw-------', 0o600],
  ['rwxrwsrwt', 0o3777],
])('modeBits(%j) is %o', (perms, mode) => {
  expect(modeBits(perms)).toBe(mode);
});
