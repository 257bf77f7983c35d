/**
 * `gpu-maint run <task...|all>`: runs tasks on this machine (local mode) and reports what they found.
 */
import { type Command, Option } from 'commander';
import { Interrupts, SIGNAL_EXIT_CODES } from '../../../lambda/adapters/local/interrupts';
import { localPaths, runLocalTask } from '../../../lambda/adapters/local/local-run';
import { ProgressLine } from '../../../lambda/adapters/local/progress';
import { formatReport, summarize } from '../../../lambda/adapters/local/report';
import { systemClock } from '../../../lambda/core/ports';
import { severityAtLeast, type TaskName, type TaskResult } from '../../../lambda/core/types';
import { TASKS } from '../../../lambda/tasks/registry';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, reportStyle, UsageError } from '../context';
import { localAlertSink } from '../local-alerts';

interface RunOptions {
  readonly json?: boolean;
  readonly failOn?: 'warning' | 'critical';
  readonly verbose?: boolean;
}

export function resolveTasks(names: readonly string[]): TaskName[] {
  const tasks: TaskName[] = [];
  for (const name of names) {
    if (name === 'all') {
      tasks.push(...[...TASKS.values()].filter((t) => t.inRunAll).map((t) => t.name));
    } else if (TASKS.has(name as TaskName)) {
      tasks.push(name as TaskName);
    } else {
      throw new UsageError(`unknown task ${JSON.stringify(name)}; expected one of: all, ${[...TASKS.keys()].join(', ')}`);
    }
  }
  return [...new Set(tasks)];
}

/** Exit code for a set of results: 1 when a task could not run, 3 when --fail-on is reached. */
export function exitCodeFor(results: readonly TaskResult[], failOn?: 'warning' | 'critical'): number {
  if (results.some((r) => r.status === 'failed')) return EXIT.taskFailed;
  if (failOn && results.some((r) => r.findings.some((f) => severityAtLeast(f.severity, failOn)))) return EXIT.findings;
  return EXIT.ok;
}

export const registerRun: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('run')
    .description(
      `run tasks on this machine: ${[...TASKS.values()].map((t) => `${t.name} (${t.summary})`).join('; ')}. "all" runs every task except those that change system configuration (logrotate).`,
    )
    .argument('<task...>', 'task names, or "all"')
    .option('--json', 'print results as JSON (one object, or an array for several tasks)')
    .addOption(
      new Option('--fail-on <severity>', 'exit 3 when a finding reaches this severity (for cron)').choices(['warning', 'critical']),
    )
    .option('-v, --verbose', "show the task scripts' logs, whole finding messages (raw kernel fields) and every threshold")
    .action(async (names: string[], options: RunOptions, cmd: Command) => {
      const tasks = resolveTasks(names);
      const config = configFor(cmd);
      const paths = localPaths(config);
      // Notifications are held back and printed after the report of the task that caused them.
      const pending: string[] = [];
      const alertIo: CliIo = { ...io, out: (t) => pending.push(t), err: options.json ? io.err : (t) => pending.push(t) };
      const alerts = localAlertSink(config, alertIo, { json: Boolean(options.json) });
      const results: TaskResult[] = [];
      const style = reportStyle(io, Boolean(options.verbose));
      // Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the running script at a safe point; no further task starts.
      const interrupts = new Interrupts();
      const uninstall = interrupts.install();
      const onStop = interrupts.subscribe((signal, count) => {
        io.err(
          count === 1
            ? `gpu-maint: ${signal}: stopping the running task at a safe point (send it again to kill it now)`
            : `gpu-maint: ${signal} again: killing the running task`,
        );
      });
      try {
        await runTasks();
      } finally {
        onStop();
        uninstall();
      }
      if (interrupts.signal) {
        const notRun = tasks.filter((t) => !results.some((r) => r.task === t));
        throw new ExitError(
          `interrupted by ${interrupts.signal}${notRun.length > 0 ? `; not run: ${notRun.join(', ')}` : ''}`,
          SIGNAL_EXIT_CODES[interrupts.signal],
        );
      }
      const code = exitCodeFor(results, options.failOn);
      if (code === EXIT.taskFailed) {
        const failed = results.filter((r) => r.status === 'failed').map((r) => r.task);
        throw new ExitError(`could not run: ${failed.join(', ')} (see the task.failed / task.output findings)`, code);
      }
      if (code === EXIT.findings) throw new ExitError(`findings at or above ${options.failOn} (--fail-on)`, code);

      async function runTasks(): Promise<void> {
        for (const task of tasks) {
          if (interrupts.signal) break;
          // A cleanup that disk pressure already triggered in this run is not run a second time.
          if (task === 'cleanup' && results.some((r) => r.task === 'cleanup')) continue;
          const triggered: TaskResult[] = [];
          // One updating line on a terminal's stderr (never in --json, a pipe or a log): progress
          // records of backup, elapsed time of the others.
          const status = options.json ? undefined : io.status;
          const progress = status ? new ProgressLine(task, status) : undefined;
          let partial = '';
          const result = await runLocalTask(task, {
            config,
            clock: systemClock,
            alerts,
            env: { GPU_MAINT_PROGRESS: progress ? '1' : '0' },
            // With --json, stdout carries only the JSON document.
            remediationOutput: options.json ? io.err : alertIo.out,
            onStderr: (_task, chunk) => {
              const lines = (partial + chunk).split('\n');
              partial = lines.pop() ?? '';
              for (const line of lines) {
                if (progress?.line(line)) continue;
                if (options.verbose) {
                  if (progress) status?.('');
                  io.err(line);
                }
              }
            },
            onDiskPressureCleanup: (cleanup) => triggered.push(cleanup),
            interrupts,
          }).finally(() => progress?.stop());
          results.push(result, ...triggered);
          if (!options.json) {
            io.out(formatReport(result, style));
            for (const cleanup of triggered) {
              io.out(
                `\ndisk critical: ran cleanup on this machine (cleanup.onDiskPressure, at most once per ${config.cleanup.cooldownHours} h)\n${formatReport(cleanup, style)}`,
              );
            }
          }
          for (const line of pending.splice(0)) io.out(line);
          if (!options.json) io.out('');
        }
        if (options.json) {
          io.out(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
        } else {
          io.out(summarize(results, style));
          io.out(`metrics: ${paths.metricsFile} and ${paths.textfileDir}/`);
        }
      }
    });
};
