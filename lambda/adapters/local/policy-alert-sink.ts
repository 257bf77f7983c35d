/**
 * Local mode's alert sink: the alert policy (lambda/core/alerts) over the state file and the terminal
 * notifier. A webhook that fails does not fail the run: the notification is parked in the state file
 * and sent with the next evaluation of the host, and the failure is reported on `warn`.
 */
import type { Config } from '../../config/schema';
import { AlertDeliveryError, PolicyAlertSink } from '../../core/alerts/engine';
import { storedSilences } from '../../core/alerts/ports';
import { alertSettings } from '../../core/alerts/settings';
import { type AlertSink, type Clock, systemClock } from '../../core/ports';
import type { TaskResult } from '../../core/types';
import { alertStateFilePath, FileAlertStateStore } from './alert-state-file';
import { localStateDir } from './paths';
import { TerminalNotifier } from './terminal-notifier';

export interface LocalAlertSinkOptions {
  readonly clock?: Clock;
  /** Where delivery problems are reported. @default the same writer */
  readonly warn?: (line: string) => void;
  /** Injected in tests. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

export function localPolicyAlertSink(config: Config, write: (line: string) => void, options: LocalAlertSinkOptions = {}): AlertSink {
  const clock = options.clock ?? systemClock;
  const warn = options.warn ?? write;
  const store = new FileAlertStateStore(alertStateFilePath(localStateDir(config)), clock, warn);
  const sink = new PolicyAlertSink({
    store,
    silences: storedSilences(store),
    settings: alertSettings(config),
    notifier: new TerminalNotifier(write, { webhookUrl: config.local.webhookUrl, fetch: options.fetch }),
    clock,
    log: { warn: (message, details) => warn(`gpu-maint: alerts: ${message}${details ? ` ${JSON.stringify(details)}` : ''}`) },
  });
  return {
    async publish(result: TaskResult): Promise<void> {
      try {
        await sink.publish(result);
      } catch (err) {
        // The task's report matters more than its alerts: say what went wrong and carry on.
        warn(
          err instanceof AlertDeliveryError
            ? `gpu-maint: ${err.message}`
            : `gpu-maint: alerts: not evaluated for ${result.task}: ${(err as Error).message}`,
        );
      }
    },
  };
}
