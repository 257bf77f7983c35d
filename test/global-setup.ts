/**
 * Runs once per vitest run, in the main process: builds the CLI bundle from the current sources when it
 * is not (the tests that start `bin/gpu-maint.cjs` run it), points TMPDIR (and so os.tmpdir(), mktemp and
 * every child process that inherits the environment) at a directory of this run, and at the end fails the
 * run when anything is left in it. test/setup.ts gives each test file its own directory inside and names
 * the file that leaked; this catches what outlives a file (a background process writing late).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The environment variable through which test/setup.ts finds the run's directory. */
export const RUN_TMP_ENV = 'GPU_MAINT_TEST_RUN_TMP';

export default function setup(): () => void {
  // Each vitest project runs the global setup; the first one's directory serves the whole run.
  if (process.env[RUN_TMP_ENV]) return () => {};
  // Compares contents, not only mtimes (the launcher's check), so no run tests a bundle of older sources.
  execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'cli-bundle.cjs')], { stdio: 'inherit', timeout: 120_000 });
  const previous = process.env.TMPDIR;
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-test-run-'));
  process.env.TMPDIR = runDir;
  process.env[RUN_TMP_ENV] = runDir;
  return () => {
    const left = readdirSync(runDir);
    rmSync(runDir, { recursive: true, force: true });
    delete process.env[RUN_TMP_ENV];
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (left.length > 0) {
      throw new Error(`the test run left ${left.length} entries in its temp dir (removed now): ${left.join(', ')}`);
    }
  };
}
