/**
 * Fault cases: a corrupted byte in a stored archive. The read that finds it (restore-test or restore)
 * quarantines the archive; the next backup uploads the unit again instead of reusing it, and its
 * snapshot passes restore-test.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { type FaultWorld, faultWorlds, finding, SLOW } from './backup-harness';

const world = faultWorlds();

/** Flips one byte in the middle of a stored archive. */
function corrupt(w: FaultWorld, archive: string): void {
  const file = w.storedFile(archive);
  const data = fs.readFileSync(file);
  data[Math.floor(data.length / 2)] ^= 0xff;
  fs.writeFileSync(file, data);
}

describe.each(['file', 's3'] as const)('corrupt archives (%s)', (kind) => {
  test(
    'A corrupted byte in an archive: restore-test quarantines it, the next backup uploads the unit again, and restore-test passes',
    async () => {
      const w = await world(kind);
      w.write('model/weights.bin', 'w'.repeat(20_000));
      expect((await w.backup()).code).toBe(0);
      const [archive] = w.archives();
      corrupt(w, archive);

      const found = await w.restoreTest();
      expect(found.code, found.stderr).toBe(0);
      const rt = finding(found.result, 'backup.restore-test');
      expect(rt?.severity).toBe('critical');
      expect(rt?.message).toMatch(
        /1 unit\(s\) of 1 failed: model-[0-9a-f]+: archive sha256 [0-9a-f]{64} does not match the manifest's [0-9a-f]{64} \(corrupt\)/,
      );
      expect(w.stored()).toContain(`quarantine/${archive}`);

      const again = await w.backup();
      expect(again.code, again.stderr).toBe(0);
      const run = finding(again.result, 'backup.run');
      expect(run?.message).toContain('1 uploaded, 0 reused');
      expect(run?.message).toContain(`archive ${archive} was found corrupt (quarantined)`);
      expect(w.archives()).toHaveLength(2);

      await expect(w.restoreTest().then((r) => finding(r.result, 'backup.restore-test')?.severity)).resolves.toBe('ok');
      if (kind === 'file') {
        // Still quarantined: a later backup reuses the new archive, never the bad one.
        const third = await w.backup();
        expect(finding(third.result, 'backup.run')?.message).toContain('0 uploaded, 1 reused');
      }
    },
    2 * SLOW,
  );
});

describe('corrupt archives (file)', () => {
  test(
    'A corrupted archive found by a restore: exit 1 with the reason, nothing of it in the target, and it is quarantined',
    async () => {
      const w = await world('file');
      w.write('a/x', 'x'.repeat(5000));
      w.write('b/y', 'y');
      expect((await w.backup()).code).toBe(0);
      const bad = w.archives().find((k) => k.startsWith('units/a-')) as string;
      corrupt(w, bad);
      const target = path.join(w.root, 'restored');
      const restore = await w.restore('latest', target);
      expect(restore.code).toBe(1);
      expect(restore.result.error).toMatch(/^1 unit\(s\) of 2 failed: a-[0-9a-f]+: archive sha256 .* \(corrupt\)$/);
      expect(fs.readdirSync(target)).toEqual(['b']);
      expect(w.stored()).toContain(`quarantine/${bad}`);
      const again = await w.backup();
      expect(finding(again.result, 'backup.run')?.message).toContain('1 uploaded, 1 reused');
    },
    SLOW,
  );

  test(
    'A truncated archive (a stored file cut short): restore-test reports it and it is quarantined',
    async () => {
      const w = await world('file');
      w.write('m/data', 'd'.repeat(50_000));
      expect((await w.backup()).code).toBe(0);
      const [archive] = w.archives();
      fs.truncateSync(w.storedFile(archive), 40);
      const found = await w.restoreTest();
      expect(finding(found.result, 'backup.restore-test')?.severity).toBe('critical');
      expect(w.stored()).toContain(`quarantine/${archive}`);
    },
    SLOW,
  );

  test(
    'A missing archive: restore-test reports it as missing, and the next backup uploads the unit again',
    async () => {
      const w = await world('file');
      w.write('m/data', 'data');
      expect((await w.backup()).code).toBe(0);
      const [archive] = w.archives();
      fs.unlinkSync(w.storedFile(archive));
      const found = await w.restoreTest();
      expect(finding(found.result, 'backup.restore-test')?.message).toContain('is missing');
      const again = await w.backup();
      expect(finding(again.result, 'backup.run')?.message).toContain('1 uploaded, 0 reused');
      await expect(w.restoreTest().then((r) => finding(r.result, 'backup.restore-test')?.severity)).resolves.toBe('ok');
    },
    SLOW,
  );
});
