/**
 * Fault cases of names and manifests: every source path the config accepts round-trips, anything else
 * is refused at validation; hostile names below a source come back bit-exact; a manifest whose units
 * cannot be read, or that lists none, never makes a restore "succeed" with nothing restored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { buildAdversarialTree, describeTree, diffTrees, withoutExcluded } from '../backup/tree';
import { type FaultWorld, faultWorlds, SLOW } from './backup-harness';

const world = faultWorlds();

describe('source paths', () => {
  test.each([
    ['a tab', '\t'],
    ['a carriage return', '\r'],
    ['an escape', '\u001b'],
    ['a DEL', '\u007f'],
  ])('A source path with %s is refused at validation, naming the setting, and nothing runs', async (_label, char) => {
    const w = await world('file');
    const odd = path.join(w.root, `models${char}x`);
    fs.mkdirSync(odd);
    w.setBackup({ sources: [odd] });
    const run = await w.cli(['run', 'backup']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('backup.sources.0');
    expect(run.stderr).toContain('control characters');
    expect(fs.existsSync(w.dest)).toBe(false);
  });

  test(
    'A source path with spaces, unicode, # and & (all accepted) round-trips through backup and restore',
    async () => {
      const w = await world('file');
      const src = path.join(w.root, 'my models ünï #1 & more');
      fs.mkdirSync(path.join(src, 'llama'), { recursive: true });
      fs.writeFileSync(path.join(src, 'llama/w.bin'), 'weights');
      w.setBackup({ sources: [src, w.src] });
      w.write('other/x', 'x');
      const run = await w.backup();
      expect(run.code, run.stderr).toBe(0);
      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.result.units_done).toBe('2');
      expect(fs.readFileSync(path.join(target, src.slice(1), 'llama/w.bin'), 'utf8')).toBe('weights');
    },
    SLOW,
  );
});

describe('hostile names below a source', () => {
  test(
    'Names with newlines, quotes, non-UTF-8 bytes, links, holes and odd modes come back bit-exact',
    async () => {
      const w = await world('file', { exclude: ['*.tmp', 'checkpoints/temp'] });
      const tree = buildAdversarialTree(w.src, { compact: true });
      const expected = withoutExcluded(describeTree(tree.root), tree.excluded);
      expect((await w.backup()).code).toBe(0);
      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(diffTrees(expected, describeTree(target))).toEqual([]);
    },
    SLOW,
  );
});

describe('manifests that restore nothing', () => {
  async function oneSnapshot(): Promise<{ w: FaultWorld; manifest: string }> {
    const w = await world('file');
    w.write('m/a', 'a');
    expect((await w.backup()).code).toBe(0);
    return { w, manifest: path.join(w.hostPrefix(), 'snapshots', `${w.snapshots()[0]}.json`) };
  }

  test(
    'A manifest with a unit line the scripts cannot read: restore exits 1 saying so, never "0 of 0 units"',
    async () => {
      const { w, manifest } = await oneSnapshot();
      fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').replace('"uploaded":true', '"uploaded":"yes"'));
      const target = path.join(w.root, 'restored');
      const run = await w.restore('latest', target);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/restore failed: manifest of snapshot \S+ cannot be read/);
      const test = await w.restoreTest();
      expect(test.code).not.toBe(0);
      expect(`${JSON.stringify(test.result)} ${test.stderr}`).toMatch(/manifest of snapshot \S+ cannot be read/);
    },
    SLOW,
  );

  test(
    'A manifest that lists no unit: restore exits 1 with "nothing was restored"',
    async () => {
      const { w, manifest } = await oneSnapshot();
      fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').replace(/"units":\[[\s\S]*\]\}/, '"units":[\n]}'));
      const run = await w.restore('latest', path.join(w.root, 'restored'));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('has no unit to restore: nothing was restored');
    },
    SLOW,
  );
});
