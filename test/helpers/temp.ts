/** Temp dirs of a test file, removed after it (test/setup.ts calls removeTempDirs in afterAll). */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const made: string[] = [];

/** A new empty directory under os.tmpdir(), e.g. tempDir('gpu-maint-config-'); removed after the test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** An outdir for a test App: without one, App makes a cdk.out* dir in os.tmpdir() and leaves it there. */
export const cdkOutdir = (): string => tempDir('gpu-maint-cdk-');
