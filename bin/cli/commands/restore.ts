/**
 * `gpu-maint restore --snapshot <id|latest> [--host H] [--unit U]... --to DIR [--force]`: restores a
 * backup snapshot from the configured destination by running scripts/restore.sh (the same bundle the
 * SSM document runs). Every archive is verified (sha256 and listing) before it is moved into place.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { Interrupts, SIGNAL_EXIT_CODES, type StopSignal } from '../../../lambda/adapters/local/interrupts';
import { ProgressLine } from '../../../lambda/adapters/local/progress';
import { runTaskScript } from '../../../lambda/adapters/local/script-runner';
import type { Config } from '../../../lambda/config/schema';
import { isSnapshotId } from '../../../lambda/core/backup/manifest';
import { HOST_KEY } from '../../../lambda/core/backup/store';
import { parseKeyValues, parseResult } from '../../../lambda/core/contract';
import { formatBytes } from '../../../lambda/core/format';
import { taskDefinition } from '../../../lambda/tasks/registry';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, stateDirOf, UsageError } from '../context';

interface RestoreOptions {
  readonly snapshot: string;
  readonly host?: string;
  readonly unit: string[];
  readonly to: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

export interface RestoreOutcome {
  readonly exitCode: number;
  readonly summary: Record<string, string>;
  /** `restored|failed <unit id> files=N bytes=N path="..."` lines. */
  readonly units: readonly string[];
  readonly stderr: string;
}

/**
 * The restore script's environment: the restore task's parameters from config, with these values by parameter
 * name; every value is checked against its pattern, as an SSM document would.
 * @throws UsageError naming the option whose value does not fit.
 */
export function restoreEnvironment(config: Config, values: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of taskDefinition('restore').parameters) {
    const value = values[p.name] ?? p.fromConfig(config);
    if (!new RegExp(p.allowedPattern).test(value)) {
      throw new UsageError(`${p.name.toLowerCase()} ${JSON.stringify(value)} is not allowed: ${p.description}`);
    }
    env[p.env] = value;
  }
  return env;
}

/**
 * Runs the restore task with the task runner (bundle, the task's time limit, process-group kill) and
 * these variables over its config defaults, streaming its log lines to `onLog`. Ctrl-C, SIGTERM and
 * SIGHUP are forwarded to it (its exit handlers remove the staging dir), and `interrupted` says which
 * one stopped it.
 */
export async function runRestoreScript(
  config: Config,
  stateDir: string,
  env: Record<string, string>,
  onLog: (line: string) => void,
  interrupts?: Interrupts,
): Promise<RestoreOutcome & { readonly interrupted?: StopSignal }> {
  let pending = '';
  const output = await runTaskScript('restore', config, {
    stateDir,
    env,
    interrupts,
    onStderr: (chunk) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLog(line);
    },
  });
  if (pending) onLog(pending);
  const parsed = parseResult(output.stdout);
  const summary = parseKeyValues(parsed.sections.get('restore')?.stdout ?? '');
  const units = (parsed.sections.get('restore-units')?.stdout ?? '').split('\n').filter(Boolean);
  return {
    exitCode: output.exitCode ?? 1,
    summary,
    units,
    stderr: output.stderr ?? '',
    ...(output.interrupted ? { interrupted: output.interrupted as StopSignal } : {}),
  };
}

const UNIT_LINE = /^(\S+) (\S+) files=(\d+) bytes=(\d+) path=(".*")$/;

/**
 * A `restore-units` line in words: `restored llama (3 entries, 1.2 MiB) → models/llama`; a line of
 * another shape is shown as it is.
 */
export function unitInWords(line: string): string {
  const m = UNIT_LINE.exec(line);
  if (!m) return line;
  let unitPath: string;
  try {
    unitPath = JSON.parse(m[5]) as string;
  } catch {
    return line;
  }
  const [, action, id, files, bytes] = m;
  const entries = `${files} ${files === '1' ? 'entry' : 'entries'}, ${formatBytes(Number(bytes))}`;
  const verb = action === 'failed' ? 'FAILED' : action;
  return `${verb} ${id} (${entries})${unitPath && unitPath !== id ? ` → ${unitPath}` : ''}`;
}

/**
 * The restore summary in one sentence: what was restored and verified, and on a failure how many units
 * failed (their reason follows in the error). Null when the script did not say (it could not start).
 */
export function restoreHeadline(s: Readonly<Record<string, string>>, target: string): string | null {
  if (!s.status || !s.snapshot) return null;
  const what = `snapshot ${s.snapshot} (host ${s.host_key})`;
  const restored = `${s.units_done ?? 0} of ${s.units_total ?? 0} units`;
  const size = `${s.files ?? 0} entries, ${formatBytes(Number(s.bytes ?? 0))}`;
  if (s.status === 'ok') return `restored ${restored} of ${what} into ${target}: ${size}, verified`;
  const failed = Number(s.units_failed ?? 0);
  return `restore of ${what} into ${target} incomplete: ${restored} restored and verified (${size}), ${failed} failed and replaced nothing`;
}

export const registerRestore: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('restore')
    .description('restore a backup snapshot into a directory; each archive is verified (sha256, listing) before it is moved into place')
    .requiredOption('--snapshot <id>', 'snapshot id (e.g. 20261128T020000Z-42) or "latest" (the snapshot written last)')
    .option('--host <key>', "whose snapshot: a host key as `gpu-maint snapshots list` shows it (default: this host's)")
    .option(
      '--unit <id-or-path>',
      'restore only this unit (id, or path relative to its source); repeatable',
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .requiredOption('--to <dir>', 'directory to restore into (with one source it stands for the source)')
    .option('--force', 'restore into a non-empty directory; restored units replace entries of the same name')
    .option('--json', 'print the outcome as JSON')
    .action(async (options: RestoreOptions, cmd: Command) => {
      const config = configFor(cmd);
      if (options.snapshot !== 'latest' && !isSnapshotId(options.snapshot)) {
        throw new UsageError(
          `--snapshot ${JSON.stringify(options.snapshot)}: expected a snapshot id such as 20261128T020000Z-42, or latest`,
        );
      }
      if (options.host !== undefined && !HOST_KEY.test(options.host)) {
        throw new UsageError(`--host ${JSON.stringify(options.host)}: expected a host key (letters, digits, . _ : @ -)`);
      }
      for (const u of options.unit) {
        if (u === '' || u.includes(',') || u.includes('\n'))
          throw new UsageError(`--unit ${JSON.stringify(u)}: expected a unit id or path without commas`);
      }
      const stateDir = stateDirOf(config);
      const target = path.resolve(options.to);
      const env = restoreEnvironment(config, {
        Snapshot: options.snapshot,
        RestoreHost: options.host ?? '',
        Units: options.unit.join(','),
        Target: target,
        Force: options.force ? 'true' : 'false',
      });
      // One updating progress line on a terminal's stderr; never in --json, a pipe or a log.
      const progress = !options.json && io.status ? new ProgressLine('restore', io.status) : undefined;
      env.GPU_MAINT_PROGRESS = progress ? '1' : '0';
      const interrupts = new Interrupts();
      const uninstall = interrupts.install();
      let outcome: Awaited<ReturnType<typeof runRestoreScript>>;
      try {
        outcome = await runRestoreScript(
          config,
          stateDir,
          env,
          (line) => {
            if (progress?.line(line)) return;
            // Errors come back once in the exit message; per-unit logs are shown as they happen.
            if (!options.json && line.trim() && !line.includes(': error: ')) {
              if (progress) io.status?.('');
              io.err(line);
            }
          },
          interrupts,
        );
      } finally {
        progress?.stop();
        uninstall();
      }
      if (outcome.interrupted) {
        const done = outcome.units.filter((u) => u.startsWith('restored ')).length;
        throw new ExitError(
          `restore interrupted by ${outcome.interrupted}: ${done} unit(s) restored into ${target} before it stopped; run it again to restore the rest`,
          SIGNAL_EXIT_CODES[outcome.interrupted],
        );
      }
      const s = outcome.summary;
      if (options.json) {
        io.out(JSON.stringify({ ...s, exitCode: outcome.exitCode, units: outcome.units }, null, 2));
      } else if (s.status) {
        // A failure's reason is printed once, by the error below.
        const headline = restoreHeadline(s, target);
        const lines = [...(headline ? [headline] : []), ...outcome.units.map((u) => `  ${unitInWords(u)}`)];
        if (lines.length > 0) io.out(lines.join('\n'));
      }
      if (outcome.exitCode !== 0) {
        const reason = s.error || outcome.stderr.trim().split('\n').pop() || `restore.sh exited ${outcome.exitCode}`;
        throw new ExitError(`restore failed: ${reason}`, EXIT.taskFailed);
      }
    });
};
