/**
 * Local alerting: the same alert policy as the collect Lambda (notify on change, repeat, resolve,
 * silences) over <stateDir>/alerts/state.json, printed on the terminal (and posted to local.webhookUrl).
 * With --json, notifications go to stderr so that stdout stays JSON.
 */

import { localPolicyAlertSink } from '../../lambda/adapters/local/policy-alert-sink';
import type { Config } from '../../lambda/config/schema';
import type { AlertSink } from '../../lambda/core/ports';
import type { CliIo } from './context';

export function localAlertSink(config: Config, io: CliIo, options: { json: boolean }): AlertSink {
  return localPolicyAlertSink(config, options.json ? io.err : io.out, { warn: io.err });
}
