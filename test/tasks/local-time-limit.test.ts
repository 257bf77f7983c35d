/**
 * The local runner stops a task at the task's own limit from the registry, the same limit SSM applies
 * (a backup may run for hours locally too). A fake clock drives the limit; the script is real bash.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { runTaskScript } from '../../lambda/adapters/local/script-runner';
import type { TaskOutput } from '../../lambda/core/ports';
import { taskDefinition } from '../../lambda/tasks/registry';
import { parseConfigForTest } from '../helpers/config';

/** Stands in for scripts/backup.sh: says it started, then works until the test releases it. */
const SLOW_BACKUP = `#!/usr/bin/env bash
set -euo pipefail
echo started >&2
# Bounded (10 min), so a test that dies never leaves it running.
for ((i = 0; i < 12000; i++)); do
  [[ -e "\${RELEASE_FILE}" ]] && break
  sleep 0.05
done
echo done
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-limit-'));
  writeFileSync(path.join(dir, 'backup.sh'), SLOW_BACKUP);
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the slow backup and resolves once bash is running it. */
async function startBackup(): Promise<{ result: Promise<TaskOutput>; release: () => void }> {
  const releaseFile = path.join(dir, 'release');
  let started!: () => void;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const result = runTaskScript('backup', parseConfigForTest(), {
    stateDir: path.join(dir, 'state'),
    scriptsDir: dir,
    env: { RELEASE_FILE: releaseFile },
    onStderr: (chunk) => {
      if (chunk.includes('started')) started();
    },
  });
  await running;
  return { result, release: () => writeFileSync(releaseFile, '') };
}

test('a local backup still running after 16 minutes is not stopped and finishes', async () => {
  // GIVEN a backup that has been running for 16 minutes (the runner's former fixed limit was 15)
  const { result, release } = await startBackup();
  vi.advanceTimersByTime(16 * 60_000);
  // WHEN it finishes its work
  release();
  // THEN its output is complete and nothing killed it
  const output = await result;
  expect(output.exitCode).toBe(0);
  expect(output.stdout).toBe('done\n');
});

test('a local backup is stopped when it reaches the backup task limit', async () => {
  // GIVEN a running backup
  const { result } = await startBackup();
  const limitSeconds = taskDefinition('backup').limits.executionSeconds;
  // WHEN the clock reaches the backup task's limit
  vi.advanceTimersByTime(limitSeconds * 1000);
  // THEN its process group is killed and the output says which limit stopped it
  const output = await result;
  expect(output.exitCode).toBe(137);
  expect(output.stderr).toContain(`backup killed after ${limitSeconds} s`);
});
