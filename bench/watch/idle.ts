/**
 * Idle cost of the kernel-log watcher: the bundled scripts/gpu-watch.sh with a follower that writes nothing
 * (a quiet kernel log), measured from /proc over a window: CPU time of its process group (utime + stime,
 * with the children it reaped: the 1 s ticker's `sleep`) as a share of one core, and the group's RSS.
 * The follower itself is a stand-in (`sleep`); on hosts journalctl's own RSS comes on top (see docs/watch.md).
 *
 * Usage: npx tsx bench/watch/idle.ts [--seconds 60]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleTaskScript } from '../../lambda/tasks/scripts';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '60' } } });
const SECONDS = Number(args.seconds);
if (!Number.isInteger(SECONDS) || SECONDS < 5 || SECONDS > 600) throw new Error(`--seconds must be 5-600, got: ${args.seconds}`);
const TICKS_PER_S = 100; // USER_HZ on Linux

interface Proc {
  readonly pid: number;
  readonly comm: string;
  readonly ticks: number;
  readonly rssKiB: number;
}

/** Processes of a process group, from /proc/<pid>/stat and status. */
function group(pgid: number): Proc[] {
  const out: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state): pgrp is field 5, utime..cstime fields 14-17.
      if (Number(fields[2]) !== pgid) continue;
      const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'));
      out.push({ pid: Number(entry), comm, ticks, rssKiB: rss ? Number(rss[1]) : 0 });
    } catch {
      // the process ended while being read
    }
  }
  return out;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-bench-idle-'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  // A quiet kernel log: the follower prints nothing until it is stopped.
  writeFileSync(path.join(bin, 'dmesg'), `#!/usr/bin/env bash\nexec sleep ${SECONDS + 60}\n`);
  chmodSync(path.join(bin, 'dmesg'), 0o755);
  writeFileSync(path.join(dir, 'gpu-watch.sh'), bundleTaskScript('gpu-watch'), { mode: 0o700 });
  const child = spawn('bash', [path.join(dir, 'gpu-watch.sh')], {
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      LC_ALL: 'C',
      GPU_MAINT_WATCH_SOURCE: 'dmesg',
      GPU_MAINT_STATE_DIR: path.join(dir, 'state'),
      GPU_MAINT_IMDS: 'off',
      GPU_MAINT_HOST_ID: 'i-0idle',
    },
    stdio: 'ignore',
    detached: true,
  });
  const pgid = child.pid as number;
  const stop = () => {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const limit = setTimeout(
    () => {
      stop();
      process.exit(2);
    },
    (SECONDS + 30) * 1000,
  );
  try {
    await new Promise((r) => setTimeout(r, 3000)); // started and settled
    const before = group(pgid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const after = group(pgid);
    const elapsedS = (performance.now() - t0) / 1000;
    const ticks = (ps: Proc[]) => ps.reduce((s, p) => s + p.ticks, 0);
    const cpuS = (ticks(after) - ticks(before)) / TICKS_PER_S;
    const rss = after.reduce((s, p) => s + p.rssKiB, 0);
    const lines = [
      `watcher idle: ${elapsedS.toFixed(0)} s window, quiet kernel log, node ${process.version}, ${os.cpus().length} CPUs`,
      `CPU: ${(cpuS * 1000).toFixed(0)} ms in ${elapsedS.toFixed(0)} s = ${((cpuS / elapsedS) * 100).toFixed(3)} % of one core`,
      `RSS: ${(rss / 1024).toFixed(1)} MiB in ${after.length} processes (${after.map((p) => `${p.comm} ${(p.rssKiB / 1024).toFixed(1)}`).join(', ')} MiB)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    clearTimeout(limit);
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/watch/idle: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
