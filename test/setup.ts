import 'aws-sdk-client-mock-vitest/extend';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { RUN_TMP_ENV } from './global-setup';
import { guardSiblingReads } from './helpers/hermetic';
import { removeTempDirs } from './helpers/temp';

// The SDK warns about Node 20 on every client construction; the lock file pins versions that support it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

guardSiblingReads();

// Each test file gets its own TMPDIR (inside the run's, test/global-setup.ts) and fails when it leaves
// anything there: a temp dir not removed, a CDK App without `outdir` (cdk.out*), a script's mktemp.
const runDir = process.env[RUN_TMP_ENV];
if (runDir) {
  const fileDir = mkdtempSync(path.join(runDir, 'file-'));
  process.env.TMPDIR = fileDir;
  afterAll(() => {
    removeTempDirs();
    const left = readdirSync(fileDir);
    rmSync(fileDir, { recursive: true, force: true });
    process.env.TMPDIR = runDir;
    if (left.length > 0) {
      throw new Error(`this test file left ${left.length} entries in its temp dir (removed now): ${left.join(', ')}`);
    }
  });
}
