/**
 * scripts/restore.sh with --force into a target whose entries are symlinks: replacing a unit must never
 * delete or write anything outside the target.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ScriptHarness } from './harness';

let h: ScriptHarness;
let dest: string;

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-restore-target-');
  const src = path.join(h.root, 'src');
  fs.mkdirSync(path.join(src, 'org/model-1'), { recursive: true });
  fs.writeFileSync(path.join(src, 'org/model-1/w'), 'from the backup');
  dest = path.join(h.root, 'dest');
  const run = await h.run('backup', {
    GPU_MAINT_BACKUP_SOURCES: src,
    GPU_MAINT_BACKUP_UNIT_DEPTH: '2',
    GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
  });
  expect(run.code, run.stderr).toBe(0);
});
afterAll(() => h.cleanup());

test('a forced restore does not follow a symlinked parent out of the target, and names the unit', async () => {
  const outside = path.join(h.root, 'outside');
  fs.mkdirSync(path.join(outside, 'model-1'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'model-1/precious'), 'not part of any restore');
  const target = path.join(h.root, 'target');
  fs.mkdirSync(target);
  fs.symlinkSync(outside, path.join(target, 'org'));

  const run = await h.run('restore', {
    GPU_MAINT_BACKUP_DESTINATION: `file://${dest}`,
    GPU_MAINT_RESTORE_TARGET: target,
    GPU_MAINT_RESTORE_FORCE: 'true',
  });

  expect(run.code).toBe(1);
  expect(run.kv.status).toBe('failed');
  expect(run.stderr).toContain('leads outside the target');
  expect(fs.readFileSync(path.join(outside, 'model-1/precious'), 'utf8')).toBe('not part of any restore');
  expect(fs.existsSync(path.join(outside, 'model-1/w'))).toBe(false);
  expect(fs.readdirSync(target)).toEqual(['org']);
});

test('a unit restored as a symlink is not followed by a unit of another source moved in after it', async () => {
  // Source `two/org` is a link to a directory outside; source `two` holds that link as its unit `org`.
  const two = path.join(h.root, 'two');
  const outside = path.join(h.root, 'outside-two');
  fs.mkdirSync(outside, { recursive: true });
  fs.writeFileSync(path.join(outside, 'w'), 'outside');
  fs.mkdirSync(two);
  fs.symlinkSync(outside, path.join(two, 'org'));
  const store = path.join(h.root, 'dest-two');
  const backup = await h.run('backup', {
    GPU_MAINT_BACKUP_SOURCES: `${two},${path.join(two, 'org')}`,
    GPU_MAINT_BACKUP_DESTINATION: `file://${store}`,
  });
  expect(backup.code, backup.stderr).toBe(0);
  fs.rmSync(path.join(outside, 'w'));
  const target = path.join(h.root, 'target-two');

  const run = await h.run('restore', { GPU_MAINT_BACKUP_DESTINATION: `file://${store}`, GPU_MAINT_RESTORE_TARGET: target });

  expect(run.code).toBe(1);
  expect(run.kv.error).toContain('leads outside the target');
  expect(fs.readdirSync(outside)).toEqual([]);
  expect(fs.readlinkSync(path.join(target, two.slice(1), 'org'))).toBe(outside);
});
