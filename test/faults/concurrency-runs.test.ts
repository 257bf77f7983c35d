/**
 * Faults from runs that overlap on one state dir: a second cleanup or backup while one runs, several CLIs
 * started at once, a bundle that must not change under a running bash.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { age, disposeFaultHosts, type FaultHost, fakeTool, makeFaultHost, put, runCliProcess, startCli, writeConfig } from './cli-harness';

afterEach(disposeFaultHosts);

function alertsOf(host: FaultHost): Record<string, { severity: string; status: string }> {
  const file = path.join(host.stateDir, 'alerts', 'state.json');
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')).hosts['fault-host']?.alerts ?? {};
}

/** A host whose cleanup holds its lock while a slow rm works on an old run dir. */
function slowCleanupHost(): { host: FaultHost; started: string } {
  const host = makeFaultHost();
  const exp = path.join(host.data, 'exp');
  for (const name of ['a', 'b']) {
    put(path.join(exp, name, 'f.bin'), 100, 40);
    age(path.join(exp, name), 40);
  }
  const started = path.join(host.root, 'rm-started');
  fakeTool(host, 'rm', `case "$*" in *"${exp}/"*) touch "${started}"; sleep 4 ;; esac\nexec /bin/rm "$@"`);
  writeConfig(host, { cleanup: { dryRun: false, maxDeleteFraction: 1, experiments: { paths: [exp] } } });
  return { host, started };
}

test('a second cleanup while one runs: exit 0, a cleanup.run warning under the real host, no task.failed, and no alert left after the next good run', async () => {
  const { host, started } = slowCleanupHost();
  const first = startCli(host, ['run', 'cleanup']);
  while (!existsSync(started)) await new Promise((r) => setTimeout(r, 50));
  const second = await runCliProcess(host, ['run', 'cleanup', '--json']);
  expect(second.code).toBe(0);
  const result = JSON.parse(second.stdout);
  expect(result.host).toBe('fault-host');
  expect(result.status).toBe('warning');
  expect(result.findings).toEqual([expect.objectContaining({ check: 'cleanup.run', severity: 'warning' })]);
  expect(result.findings[0].message).toContain('another cleanup is already running');
  expect((await first.done).code).toBe(0);
  // The next good run resolves what the skipped one raised; nothing stays firing.
  const third = await runCliProcess(host, ['run', 'cleanup']);
  expect(third.code).toBe(0);
  expect(Object.keys(alertsOf(host))).toEqual([]);
});

test('a second backup while one runs: exit 0, a backup.run warning under the real host, no task.failed, no alert left after the next good backup', async () => {
  const host = makeFaultHost();
  const models = path.join(host.data, 'models');
  put(path.join(models, 'm1', 'weights.bin'), 5000);
  const started = path.join(host.root, 'zstd-started');
  fakeTool(host, 'zstd', `touch "${started}"; sleep 3; exec /usr/bin/zstd "$@"`);
  writeConfig(host, { backup: { sources: [models], destination: `file://${path.join(host.data, 'store')}` } });
  const first = startCli(host, ['run', 'backup']);
  while (!existsSync(started)) await new Promise((r) => setTimeout(r, 50));
  const second = await runCliProcess(host, ['run', 'backup', '--json']);
  expect(second.code).toBe(0);
  const result = JSON.parse(second.stdout);
  expect(result.host).toBe('fault-host');
  expect(result.findings.map((f: { check: string }) => f.check)).not.toContain('task.failed');
  expect(result.findings).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ check: 'backup.run', severity: 'warning', message: expect.stringContaining('already running') }),
    ]),
  );
  expect((await first.done).code).toBe(0);
  const third = await runCliProcess(host, ['run', 'backup']);
  expect(third.code).toBe(0);
  expect(Object.keys(alertsOf(host))).toEqual([]);
});

test('four CLIs started at once on one state dir all run their script (no exit 127, no "no begin line") and leave one bundle and no temp files', async () => {
  const host = makeFaultHost();
  const runs = await Promise.all([0, 1, 2, 3].map(() => runCliProcess(host, ['run', 'cleanup', 'health-check', '--json'])));
  for (const run of runs) {
    const results = JSON.parse(run.stdout) as Array<{ task: string; findings: Array<{ check: string; message: string }> }>;
    const taskFindings = results.flatMap((r) => r.findings).filter((f) => f.check.startsWith('task.'));
    expect(taskFindings).toEqual([]);
  }
  const scripts = readdirSync(path.join(host.stateDir, 'scripts')).sort();
  expect(scripts).toEqual([
    expect.stringMatching(/^cleanup\.[0-9a-f]{16}\.sh$/),
    expect.stringMatching(/^health-check\.[0-9a-f]{16}\.sh$/),
  ]);
});

test('a bundle a running script is reading is never rewritten by a second run', async () => {
  const { host, started } = slowCleanupHost();
  const first = startCli(host, ['run', 'cleanup']);
  while (!existsSync(started)) await new Promise((r) => setTimeout(r, 50));
  const [bundle] = readdirSync(path.join(host.stateDir, 'scripts'));
  const before = statSync(path.join(host.stateDir, 'scripts', bundle), { bigint: true });
  await runCliProcess(host, ['run', 'cleanup']);
  const after = statSync(path.join(host.stateDir, 'scripts', bundle), { bigint: true });
  expect(after.mtimeNs).toBe(before.mtimeNs);
  expect(after.ino).toBe(before.ino);
  expect((await first.done).code).toBe(0);
});
