/**
 * An adversarial source tree for backup round trips, and an entry-by-entry description of a tree
 * (type, mode, owner, size, mtime, content hash, link target, hard-link groups, sparseness) to compare
 * a restored tree with its source. Paths are kept as bytes: some names are not valid UTF-8.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const b = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
const join = (...parts: (string | Buffer)[]) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [b(p)] : [Buffer.from('/'), b(p)])));

/** A name that is not valid UTF-8 (Latin-1 "café" bytes). */
export const NON_UTF8_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0xff]);

/** Fixed past times (seconds with nanoseconds) so restored mtimes are checked exactly. */
const T1 = new Date('2024-03-01T10:20:30.123Z');
const T2 = new Date('2023-07-15T08:00:00.5Z');

export interface AdversarialTree {
  readonly root: string;
  /**
   * The units a backup at depth 1 lists, as bytes: the top-level entries, and each file of 8 MiB or
   * more below them (stored on its own: here the 16 MiB sparse file).
   */
  readonly units: readonly Buffer[];
  /** Paths (relative, utf8) that the default excludes leave out. */
  readonly excluded: readonly string[];
}

/**
 * Builds the tree under `root`. Units: `model a` (spaces, a 256 KiB incompressible file), a name with
 * quotes, one with a newline, a non-ASCII one, one whose name is not UTF-8, `links` (symlinks inside,
 * outside, dangling, to a directory), `hard` (hard links), `empty-top` (an empty unit), `nested` (empty
 * dirs), `sparse` (a sparse and a zero-byte file), `modes` (0755, 0600, 0700 dir, other owner when
 * root), `README.md` (a file unit), `top-link` (a symlink unit) and `ck` (excluded checkpoints/temp).
 * `compact` moves the odd names into one unit `names` and links, sparse, modes, nested and ck into one
 * unit `fs`: the same entries in 7 units instead of 14 (each unit is one AWS CLI call against S3).
 */
export function buildAdversarialTree(root: string, options: { compact?: boolean } = {}): AdversarialTree {
  const group = (unit: string | Buffer): Buffer => {
    if (!options.compact) return b(unit);
    const name = b(unit).toString('latin1');
    if (['links', 'sparse', 'modes', 'nested', 'ck'].includes(name)) return join('fs', unit);
    if (!['model a', 'hard', 'empty-top', 'README.md', 'top-link'].includes(name)) return join('names', unit);
    return b(unit);
  };
  /** Path below root of `rest` inside `unit`. */
  const at = (unit: string | Buffer, rest?: string | Buffer) =>
    rest === undefined ? join(root, group(unit)) : join(root, group(unit), rest);
  fs.mkdirSync(root, { recursive: true });
  const mk = (unit: string | Buffer, rest?: string | Buffer) => fs.mkdirSync(at(unit, rest), { recursive: true });
  const write = (unit: string | Buffer, rest: string | Buffer, data: string | Buffer) => fs.writeFileSync(at(unit, rest), data);

  mk('model a', 'sub dir');
  write('model a', 'weights.bin', randomBytes(256 * 1024));
  write('model a', 'config.json', '{"dtype":"float16"}\n');
  write('model a', 'sub dir/tokenizer.json', '{}');
  write('model a', 'scratch.tmp', 'excluded by *.tmp');
  mk(`q"uote's`);
  write(`q"uote's`, `it's "here".txt`, 'quotes');
  mk('new\nline');
  write('new\nline', 'file\nname', 'newline');
  mk('ünïcödé-模型');
  write('ünïcödé-模型', 'файл.txt', 'unicode');
  mk(NON_UTF8_NAME);
  write(NON_UTF8_NAME, Buffer.from([0x66, 0xfe]), 'latin-1 bytes');
  mk('links');
  fs.symlinkSync('../model a/config.json', at('links', 'inside'));
  fs.symlinkSync('/etc/hostname', at('links', 'outside'));
  fs.symlinkSync('does-not-exist', at('links', 'dangling'));
  fs.symlinkSync('../model a', at('links', 'dir-link'));
  mk('hard');
  write('hard', 'a', 'hard-linked content\n');
  fs.linkSync(at('hard', 'a'), at('hard', 'b'));
  mk('empty-top');
  mk('nested', 'empty1/empty2');
  mk('nested', 'also empty');
  mk('sparse');
  const fd = fs.openSync(at('sparse', 'holes.bin'), 'w');
  fs.writeSync(fd, Buffer.from('data in the middle'), 0, 18, 8 * 1024 * 1024);
  fs.ftruncateSync(fd, 16 * 1024 * 1024);
  fs.closeSync(fd);
  write('sparse', 'zero-bytes', '');
  mk('modes', 'private-dir');
  write('modes', 'run.sh', '#!/bin/sh\necho hi\n');
  fs.chmodSync(at('modes', 'run.sh'), 0o755);
  write('modes', 'secret', 'secret');
  fs.chmodSync(at('modes', 'secret'), 0o600);
  write('modes', 'private-dir/x', 'x');
  fs.chmodSync(at('modes', 'private-dir'), 0o700);
  if (process.getuid?.() === 0) fs.chownSync(at('modes', 'secret'), 1234, 5678);
  fs.writeFileSync(at('README.md'), '# models\n');
  fs.symlinkSync('model a', at('top-link'));
  mk('ck', 'checkpoints/temp');
  write('ck', 'checkpoints/temp/step-1.pt', 'excluded by checkpoints/temp');
  write('ck', 'checkpoints/keep.pt', 'kept');

  // Fixed mtimes, files first, then directories (writing into a directory changes its mtime).
  for (const [unit, rest] of [
    ['model a', 'config.json'],
    ['modes', 'run.sh'],
    ['hard', 'a'],
    ['sparse', 'holes.bin'],
  ])
    fs.utimesSync(at(unit, rest), T1, T1);
  for (const [unit, rest] of [
    ['model a', 'sub dir'],
    ['nested', 'empty1/empty2'],
    ['modes', 'private-dir'],
  ])
    fs.utimesSync(at(unit, rest), T2, T2);
  fs.utimesSync(at('empty-top'), T2, T2);
  const rel = (unit: string, rest: string) => join(group(unit), rest).toString('utf8');
  return {
    root,
    units: [...fs.readdirSync(root, { encoding: 'buffer' }), join(group('sparse'), 'holes.bin')],
    excluded: [rel('model a', 'scratch.tmp'), rel('ck', 'checkpoints/temp'), rel('ck', 'checkpoints/temp/step-1.pt')],
  };
}

export interface EntryInfo {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Nanoseconds; null for symlinks (their own mtime is not part of the contract). */
  readonly mtimeNs: string | null;
  readonly sha256: string | null;
  readonly linkTarget: string | null;
  /** Names (hex) of the other entries sharing this file's inode: hard links. */
  readonly hardLinks: readonly string[];
  /** True for a regular file that occupies less disk than its size (holes). */
  readonly sparse: boolean;
}

/** Describes every entry below `root` (not root itself), keyed by the hex of its relative path. */
export function describeTree(root: string): Map<string, EntryInfo> {
  const raw = new Map<string, { info: Omit<EntryInfo, 'hardLinks'>; ino: bigint; nlink: number }>();
  const walk = (dir: Buffer, rel: Buffer | null) => {
    for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) {
      const full = join(dir, name);
      const relPath = rel ? join(rel, name) : name;
      const st = fs.lstatSync(full, { bigint: true });
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      raw.set(relPath.toString('hex'), {
        ino: st.ino,
        nlink: Number(st.nlink),
        info: {
          type,
          mode: Number(st.mode & 0o7777n),
          uid: Number(st.uid),
          gid: Number(st.gid),
          size: type === 'dir' ? 0 : Number(st.size),
          mtimeNs: type === 'symlink' ? null : st.mtimeNs.toString(),
          sha256: type === 'file' ? createHash('sha256').update(fs.readFileSync(full)).digest('hex') : null,
          linkTarget: type === 'symlink' ? fs.readlinkSync(full, { encoding: 'buffer' }).toString('hex') : null,
          sparse: type === 'file' && Number(st.blocks) * 512 < Number(st.size) / 2,
        },
      });
      if (type === 'dir') walk(full, relPath);
    }
  };
  walk(Buffer.from(root), null);
  const byInode = new Map<bigint, string[]>();
  for (const [key, e] of raw) if (e.info.type === 'file' && e.nlink > 1) byInode.set(e.ino, [...(byInode.get(e.ino) ?? []), key]);
  const out = new Map<string, EntryInfo>();
  for (const [key, e] of raw) {
    const group = e.info.type === 'file' && e.nlink > 1 ? (byInode.get(e.ino) ?? []).filter((k) => k !== key).sort() : [];
    out.set(key, { ...e.info, hardLinks: group });
  }
  return out;
}

export const hexPath = (rel: string | Buffer) => b(rel).toString('hex');
export const readablePath = (hex: string) => JSON.stringify(Buffer.from(hex, 'hex').toString('latin1'));

/** Lists differences between two descriptions (empty when the trees are equal entry by entry). */
export function diffTrees(expected: Map<string, EntryInfo>, actual: Map<string, EntryInfo>): string[] {
  const problems: string[] = [];
  for (const [key, e] of expected) {
    const a = actual.get(key);
    if (!a) {
      problems.push(`missing ${readablePath(key)}`);
      continue;
    }
    for (const field of Object.keys(e) as (keyof EntryInfo)[]) {
      if (JSON.stringify(e[field]) !== JSON.stringify(a[field])) {
        problems.push(`${readablePath(key)}: ${field} ${JSON.stringify(a[field])}, expected ${JSON.stringify(e[field])}`);
      }
    }
  }
  for (const key of actual.keys()) if (!expected.has(key)) problems.push(`unexpected ${readablePath(key)}`);
  return problems;
}

/** The description of a source as a backup should restore it: without the excluded entries. */
export function withoutExcluded(tree: Map<string, EntryInfo>, excluded: readonly string[]): Map<string, EntryInfo> {
  const drop = new Set(excluded.map(hexPath));
  return new Map([...tree].filter(([key]) => !drop.has(key)));
}

export const relPath = (root: string, ...parts: string[]) => path.join(root, ...parts);
