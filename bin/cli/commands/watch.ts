/**
 * `gpu-maint watch`: follows the kernel log on this machine (scripts/gpu-watch.sh) and alerts on NVIDIA Xid
 * errors within seconds, through the same alert state and notifier as `gpu-maint run` (an Xid notified
 * here is not notified again when the scheduled gpu-check reads the same line). Runs in the foreground
 * until interrupted; `gpu-maint schedule --systemd` installs it as a service.
 */
import type { Command } from 'commander';
import { localPaths } from '../../../lambda/adapters/local/local-run';
import { startLocalWatch } from '../../../lambda/adapters/local/watch';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, UsageError } from '../context';
import { localAlertSink } from '../local-alerts';

interface WatchOptions {
  readonly json?: boolean;
  readonly debounce: string;
}

export const registerWatch: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('watch')
    .description('follow the kernel log and alert on NVIDIA Xid errors within seconds (foreground; Ctrl-C stops)')
    .option('--json', 'print each watcher event and its gpu.xid findings as one JSON line')
    .option('--debounce <seconds>', 'one event per GPU and Xid code per this many seconds (1-60)', '5')
    .action(async (options: WatchOptions, cmd: Command) => {
      if (!/^\d{1,2}$/.test(options.debounce) || Number(options.debounce) < 1 || Number(options.debounce) > 60) {
        throw new UsageError(`--debounce must be a whole number of seconds from 1 to 60, got: ${JSON.stringify(options.debounce)}`);
      }
      const config = configFor(cmd);
      const watch = startLocalWatch({
        stateDir: localPaths(config).stateDir,
        alerts: localAlertSink(config, io, { json: Boolean(options.json) }),
        env: { GPU_MAINT_WATCH_DEBOUNCE_S: options.debounce },
        onLog: (line) => io.err(line),
        onEvent: (event, result) => {
          if (options.json) io.out(JSON.stringify({ event, findings: result?.findings ?? [] }));
        },
      });
      const stop = () => void watch.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const code = await watch.done;
        // Stopped by a signal: a clean end. Otherwise the watcher itself gave up (bad configuration).
        if (code !== 0 && code !== null && code < 128)
          throw new ExitError(`the kernel-log watcher exited with status ${code}`, EXIT.taskFailed);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
};
