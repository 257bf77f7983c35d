/**
 * The alert sink local mode uses: findings that are not ok are printed as alerts (stderr when stdout
 * carries JSON).
 */
import type { Config } from '../../lib/config/schema';
import type { AlertSink } from '../../lambda/core/ports';
import type { TaskResult } from '../../lambda/core/types';
import type { CliIo } from './context';

export function localAlertSink(_config: Config, io: CliIo, options: { json: boolean }): AlertSink {
  const write = options.json ? io.err : io.out;
  return {
    async publish(result: TaskResult): Promise<void> {
      for (const f of result.findings) {
        if (f.severity === 'ok') continue;
        write(`ALERT [${f.severity.toUpperCase()}] ${result.host} ${f.check}: ${f.message}`);
      }
    },
  };
}
