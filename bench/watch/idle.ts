/**
 * Idle cost of the kernel-log watcher with a follower that writes nothing (a quiet kernel log), measured from
 * /proc over a window: CPU time (utime + stime, with reaped children) as a share of one core, and RSS, of
 * every process carrying this run's marker in its environment:
 * - `script`: the bundled scripts/gpu-watch.sh alone, as the State Manager association runs it on hosts;
 * - `cli`: `gpu-maint watch` (Node.js, tsx) with that script under it, as `schedule --systemd` installs it.
 * The follower itself is a stand-in (`sleep`); on hosts journalctl's own RSS comes on top (see docs/watch.md).
 *
 * Usage: npx tsx bench/watch/idle.ts [--seconds 60] [--mode script|cli]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleTaskScript } from '../../lambda/tasks/scripts';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, mode: { type: 'string', default: 'script' } },
});
if (args.mode !== 'script' && args.mode !== 'cli') throw new Error(`--mode must be script or cli, got: ${args.mode}`);
const SECONDS = Number(args.seconds);
if (!Number.isInteger(SECONDS) || SECONDS < 5 || SECONDS > 600) throw new Error(`--seconds must be 5-600, got: ${args.seconds}`);
const TICKS_PER_S = 100; // USER_HZ on Linux

interface Proc {
  readonly pid: number;
  readonly comm: string;
  readonly ticks: number;
  readonly rssKiB: number;
}

/** Processes whose environment holds `marker`, from /proc/<pid>/stat, status and environ. */
function marked(marker: string): Proc[] {
  const out: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').includes(`${marker}\0`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state): utime..cstime are fields 14-17.
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
  const marker = `GPU_MAINT_BENCH_IDLE=${dir}`;
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    LC_ALL: 'C',
    GPU_MAINT_BENCH_IDLE: dir,
    GPU_MAINT_WATCH_SOURCE: 'dmesg',
    GPU_MAINT_STATE_DIR: path.join(dir, 'state'),
    GPU_MAINT_IMDS: 'off',
    GPU_MAINT_HOST_ID: 'i-0idle',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const command =
    args.mode === 'cli'
      ? [
          process.execPath,
          path.join(__dirname, '..', '..', 'bin', 'gpu-maint.cjs'),
          '--set',
          `local.stateDir=${path.join(dir, 'state')}`,
          'watch',
        ]
      : ['bash', path.join(dir, 'gpu-watch.sh')];
  const child = spawn(command[0], command.slice(1), { env, stdio: 'ignore', detached: true });
  const pgid = child.pid as number;
  const stop = () => {
    // The CLI stops its watcher's process group on SIGTERM; whatever is left is ended by its marker.
    for (const pid of [pgid, ...marked(marker).map((p) => p.pid)]) {
      try {
        process.kill(pid === pgid ? -pid : pid, 'SIGTERM');
      } catch {
        // already gone
      }
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
    await new Promise((r) => setTimeout(r, args.mode === 'cli' ? 10_000 : 3000)); // started and settled
    const before = marked(marker);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const after = marked(marker);
    const elapsedS = (performance.now() - t0) / 1000;
    const ticks = (ps: Proc[]) => ps.reduce((s, p) => s + p.ticks, 0);
    const cpuS = (ticks(after) - ticks(before)) / TICKS_PER_S;
    const rss = after.reduce((s, p) => s + p.rssKiB, 0);
    const lines = [
      `watcher idle (${args.mode}): ${elapsedS.toFixed(0)} s window, quiet kernel log, node ${process.version}, ${os.cpus().length} CPUs`,
      `CPU: ${(cpuS * 1000).toFixed(0)} ms in ${elapsedS.toFixed(0)} s = ${((cpuS / elapsedS) * 100).toFixed(3)} % of one core`,
      `CPU by process: ${after.map((p) => `${p.comm} ${((p.ticks - (before.find((b) => b.pid === p.pid)?.ticks ?? 0)) * 10).toFixed(0)}`).join(', ')} ms`,
      `RSS: ${(rss / 1024).toFixed(1)} MiB in ${after.length} processes (${after.map((p) => `${p.comm} ${(p.rssKiB / 1024).toFixed(1)}`).join(', ')} MiB)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    clearTimeout(limit);
    stop();
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/watch/idle: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
