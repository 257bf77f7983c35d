/**
 * Faults while restoring: Ctrl-C or SIGTERM reaches the restore script (it runs in its own process group),
 * the CLI says how far it got and exits 130/143, and no restore process keeps running afterwards.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from 'vitest';
import { alive, disposeFaultHosts, fakeTool, makeFaultHost, put, runCliProcess, writeConfig } from './cli-harness';

afterEach(disposeFaultHosts);

test.each([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)(
  '%s during a restore: the script stops, the CLI exits %i saying how far it got, nothing keeps running',
  async (signal, code) => {
    const host = makeFaultHost();
    const models = path.join(host.data, 'models');
    for (const unit of ['m1', 'm2', 'm3']) put(path.join(models, unit, 'weights.bin'), 4000);
    writeConfig(host, { backup: { sources: [models], destination: `file://${path.join(host.data, 'store')}` } });
    expect((await runCliProcess(host, ['run', 'backup'])).code).toBe(0);
    // Decompression is slowed down and announces itself, with its pid, once the restore is under way.
    const pids = path.join(host.root, 'zstd.pids');
    fakeTool(host, 'zstd', `echo $$ >>"${pids}"\nsleep 3\nexec /usr/bin/zstd "$@"`);
    const target = path.join(host.data, 'restored');
    const run = await runCliProcess(host, ['restore', '--snapshot', 'latest', '--to', target], { signals: [{ signal, whenFile: pids }] });
    expect(run.code).toBe(code);
    expect(run.stderr).toMatch(
      new RegExp(`restore interrupted by ${signal}: \\d unit\\(s\\) restored into ${target.replace(/[/.]/g, '\\$&')}`),
    );
    await sleep(500);
    const started = existsSync(pids) ? readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    expect(started.filter(alive)).toEqual([]);
  },
);
