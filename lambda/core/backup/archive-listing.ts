/**
 * What an archive holds, from GNU tar's verbose listing: `tar --list --verbose --full-time
 * --numeric-owner --quoting-style=c` run with LC_ALL=C and TZ=UTC (ARCHIVE_LIST_ARGS). C quoting makes
 * every name unambiguous: quotes, backslashes, newlines and bytes that are not ASCII come as escapes, so
 * a name holding ` -> ` or a newline reads back exactly.
 */

/** tar's arguments for the listing this module parses (the archive comes on standard input). */
export const ARCHIVE_LIST_ARGS = ['--list', '--verbose', '--full-time', '--numeric-owner', '--quoting-style=c', '--file=-'] as const;
/** The environment tar needs for that listing: bytes above ASCII escaped, times in UTC. */
export const ARCHIVE_LIST_ENV = { LC_ALL: 'C', TZ: 'UTC' } as const;

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev' | 'blockdev' | 'other';

export interface ArchiveEntry {
  /** Path relative to the unit's source (`llama/shards/00.safetensors`), as its raw bytes in a latin1 string: a lossless key. */
  readonly rawPath: string;
  /** The same path for display (bytes that are not UTF-8 show as U+FFFD). */
  readonly path: string;
  readonly type: EntryType;
  /** Permission bits, e.g. 0o644. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of a regular file; 0 for the rest (a hard link's size is its target's). */
  readonly size: number;
  /** Modification time as tar lists it in UTC, e.g. `2026-11-28 02:00:00.123456789`. */
  readonly mtime: string;
  /** A symlink's target, or the path a hard link shares its data with (display form). */
  readonly target?: string;
}

export interface ArchiveListing {
  readonly entries: readonly ArchiveEntry[];
  /** Lines that are not entries of the expected form (never expected from GNU tar; reported, not dropped silently). */
  readonly unparsed: readonly string[];
}

const QUOTED = '"((?:[^"\\\\]|\\\\.)*)"';
const LINE = new RegExp(
  `^([-dlhcbps])([-rwxsStT]{9}) (\\d+)/(\\d+) +(\\d+|\\d+,\\s*\\d+) (\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d(?::\\d\\d(?:\\.\\d+)?)?) +${QUOTED}(?: (->|link to) ${QUOTED})?$`,
);

const ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39, '?': 63 };

/** Decodes a C-quoted name (without its quotes) to its raw bytes, as a latin1 string. */
export function unquoteC(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1));
    if (octal) {
      out += String.fromCharCode(Number.parseInt(octal[0], 8) & 0xff);
      i += octal[0].length;
    } else {
      const next = text[++i];
      out += next in ESCAPES ? String.fromCharCode(ESCAPES[next]) : next;
    }
  }
  return out;
}

const utf8 = new TextDecoder('utf-8');

/** Raw bytes (a latin1 string) for display: UTF-8 decoded, invalid sequences as U+FFFD. */
export function displayPath(raw: string): string {
  return utf8.decode(Uint8Array.from(raw, (ch) => ch.charCodeAt(0)));
}

/** Mode bits from `rwxr-xr-x` (with s/S/t/T for setuid, setgid and sticky). */
export function modeBits(perms: string): number {
  let mode = 0;
  const special = [0o4000, 0o2000, 0o1000];
  for (let who = 0; who < 3; who++) {
    const [r, w, x] = perms.slice(who * 3, who * 3 + 3);
    if (r === 'r') mode |= 0o4 << ((2 - who) * 3);
    if (w === 'w') mode |= 0o2 << ((2 - who) * 3);
    if (x === 'x' || x === 's' || x === 't') mode |= 0o1 << ((2 - who) * 3);
    if (x === 's' || x === 'S' || x === 't' || x === 'T') mode |= special[who];
  }
  return mode;
}

/** The archive's `./unit/...` member names, relative to the source: `unit/...`, without a directory's trailing slash. */
function relative(raw: string): string {
  return raw.replace(/^(\.\/)+/, '').replace(/(.)\/+$/, '$1');
}

const TYPES: Record<string, EntryType> = { '-': 'file', d: 'dir', l: 'symlink', h: 'hardlink', p: 'fifo', c: 'chardev', b: 'blockdev' };

/** Parses tar's verbose listing (ARCHIVE_LIST_ARGS). */
export function parseArchiveListing(text: string): ArchiveListing {
  const entries: ArchiveEntry[] = [];
  const unparsed: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) {
      unparsed.push(line);
      continue;
    }
    const [, typeChar, perms, uid, gid, size, mtime, name, linkKind, linkName] = m;
    const type = TYPES[typeChar] ?? 'other';
    const rawPath = relative(unquoteC(name));
    const target = linkName === undefined ? undefined : unquoteC(linkName);
    entries.push({
      rawPath,
      path: displayPath(rawPath),
      type,
      mode: modeBits(perms),
      uid: Number(uid),
      gid: Number(gid),
      size: type === 'file' ? Number(size) : 0,
      mtime,
      ...(target === undefined ? {} : { target: displayPath(linkKind === 'link to' ? relative(target) : target) }),
    });
  }
  return { entries, unparsed };
}

/** `-rw-r--r--`-style type and mode, as `ls -l` shows it. */
export function modeString(entry: Pick<ArchiveEntry, 'type' | 'mode'>): string {
  const typeChar = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', fifo: 'p', chardev: 'c', blockdev: 'b', other: '?' }[entry.type];
  let out = typeChar;
  const special = ['s', 's', 't'];
  for (let who = 0; who < 3; who++) {
    const shift = (2 - who) * 3;
    const bit = (n: number) => (entry.mode >> shift) & n;
    const specialSet = (entry.mode & [0o4000, 0o2000, 0o1000][who]) !== 0;
    const exec = bit(1) ? (specialSet ? special[who] : 'x') : specialSet ? special[who].toUpperCase() : '-';
    out += `${bit(4) ? 'r' : '-'}${bit(2) ? 'w' : '-'}${exec}`;
  }
  return out;
}
