/**
 * `gpu-maint silence <host> [--check C] --for 2h --reason "..."`: silences a host's alerts (or one check)
 * for maintenance. Local state by default; the deployed stack's DynamoDB table with `--stack NAME`.
 * `--list` shows silences, `--clear` ends one early. Silenced alerts are recorded, not notified; one
 * still firing when the silence ends is notified then.
 */

import * as os from 'node:os';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Command } from 'commander';
import { DynamoDbAlertStateStore } from '../../../lambda/adapters/aws/alert-state-dynamodb';
import { explainAwsError } from '../../../lambda/adapters/aws/explain-error';
import { alertStateFilePath, FileAlertStateStore } from '../../../lambda/adapters/local/alert-state-file';
import type { Config } from '../../../lambda/config/schema';
import type { Silence } from '../../../lambda/core/alerts/model';
import type { SilenceStore } from '../../../lambda/core/alerts/ports';
import { makeSilence, parseCheckName, parseDuration } from '../../../lambda/core/alerts/silences';
import type { CheckName } from '../../../lambda/core/types';
import { type CliIo, configFor, ExitError, type RegisterCommand, stateDirOf, UsageError } from '../context';

interface SilenceOptions {
  readonly check?: string;
  readonly for?: string;
  readonly until?: string;
  readonly reason?: string;
  readonly list?: boolean;
  readonly clear?: boolean;
  readonly stack?: string;
  readonly json?: boolean;
  readonly now?: string;
}

/** Stack output that names the alert state table (lib/constructs/alert-state-table.ts). */
export const ALERT_TABLE_OUTPUT = 'AlertStateTableName';

/** The alert table of a deployed stack, from its outputs. */
export async function alertTableOfStack(stack: string, region: string | undefined): Promise<string> {
  const cfn = new CloudFormationClient(region ? { region } : {});
  let outputs: { OutputKey?: string; OutputValue?: string }[];
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
    outputs = out.Stacks?.[0]?.Outputs ?? [];
  } catch (err) {
    const ctx = { action: 'cloudformation:DescribeStacks', resource: `stack ${stack}`, stack, region, regionOption: '--region' };
    throw new ExitError(`--stack ${stack}: ${explainAwsError(err, ctx)}`, 1);
  }
  const match = outputs.find((o) => o.OutputKey === ALERT_TABLE_OUTPUT) ?? outputs.find((o) => o.OutputKey?.startsWith(ALERT_TABLE_OUTPUT));
  if (!match?.OutputValue) {
    throw new ExitError(`--stack ${stack}: no ${ALERT_TABLE_OUTPUT} output; is it a gpu-maint stack deployed with alerting?`, 1);
  }
  return match.OutputValue;
}

/** The silence store of local state or of a deployed stack; `clock` decides what has expired (`--now`). */
export async function silenceStoreFor(
  config: Config,
  stack: string | undefined,
  clock: { now(): Date },
): Promise<{ store: SilenceStore; where: string }> {
  if (stack) {
    const region = config.aws.region;
    const table = await alertTableOfStack(stack, region);
    return {
      store: new DynamoDbAlertStateStore(new DynamoDBClient(region ? { region } : {}), table, { clock }),
      where: `stack ${stack} (table ${table})`,
    };
  }
  const file = alertStateFilePath(stateDirOf(config));
  return { store: new FileAlertStateStore(file, clock), where: file };
}

function parseTime(text: string, option: string): Date {
  const t = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t)) throw new UsageError(`${option} ${JSON.stringify(text)}: expected an ISO-8601 time such as 2026-11-28T18:00:00Z`);
  return new Date(t);
}

function describe(s: Silence, now: Date): string {
  const ended = Date.parse(s.until) <= now.getTime();
  return `${s.host} ${s.check ?? '(all checks)'} until ${s.until}${ended ? ' (ended)' : ''}: ${s.reason}${s.createdBy ? ` [${s.createdBy}]` : ''}`;
}

export const registerSilence: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('silence')
    .description('silence a host (or one check) for maintenance: alerts are recorded but not notified until the silence ends')
    .argument('[host]', 'host id, e.g. i-0abc123 (SSM instance id)')
    .option('--check <check>', 'silence only this check, e.g. gpu.xid')
    .option('--for <duration>', 'how long, e.g. 2h, 90m, 1d')
    .option('--until <iso-time>', 'end time instead of --for')
    .option('--reason <text>', 'why (shown with the silence)')
    .option('--list', 'list silences (of the host when given)')
    .option('--clear', 'end the silence of the host (and --check) now')
    .option('--stack <name>', "use the deployed stack's alert state (DynamoDB) instead of local state")
    .option('--json', 'print JSON')
    .option('--now <iso-time>', 'current time (tests, scripted backfills)')
    .action(async (host: string | undefined, options: SilenceOptions, cmd: Command) => {
      const now = options.now ? parseTime(options.now, '--now') : new Date();
      const check: CheckName | undefined = options.check ? wrap(() => parseCheckName(options.check as string)) : undefined;
      if (!options.list && !host) throw new UsageError('missing <host>: gpu-maint silence <host> --for 2h --reason "..." (or --list)');
      if (options.list && options.clear) throw new UsageError('--list and --clear cannot be combined');
      const config = configFor(cmd);
      const { store, where } = await silenceStoreFor(config, options.stack, { now: () => now });

      if (options.list) {
        const silences = [...(await store.listSilences(host))].sort(
          (a, b) => a.host.localeCompare(b.host) || a.until.localeCompare(b.until),
        );
        if (options.json) io.out(JSON.stringify(silences, null, 2));
        else io.out(silences.length ? silences.map((s) => describe(s, now)).join('\n') : `no silences (${where})`);
        return;
      }
      if (options.clear) {
        const found = await store.deleteSilence(host as string, check);
        if (!found) throw new ExitError(`no silence of ${host}${check ? ` --check ${check}` : ' (all checks)'} in ${where}`, 1);
        io.out(
          options.json
            ? JSON.stringify({ cleared: { host, ...(check ? { check } : {}) } })
            : `cleared the silence of ${host} ${check ?? '(all checks)'}; alerts still firing notify at the next evaluation`,
        );
        return;
      }
      if ((options.for === undefined) === (options.until === undefined))
        throw new UsageError('give exactly one of --for <duration> or --until <iso-time>');
      if (!options.reason) throw new UsageError('--reason is required: say why, e.g. --reason "driver upgrade, OPS-123"');
      const until =
        options.for !== undefined
          ? new Date(now.getTime() + wrap(() => parseDuration(options.for as string), '--for'))
          : parseTime(options.until as string, '--until');
      const silence = wrap(() =>
        makeSilence({
          host: host as string,
          ...(check ? { check } : {}),
          until,
          reason: options.reason as string,
          createdBy: safeUser(),
          now,
        }),
      );
      await store.putSilence(silence);
      io.out(options.json ? JSON.stringify(silence, null, 2) : `silenced ${describe(silence, now)} (${where})`);
    });
};

function wrap<T>(fn: () => T, option?: string): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError(`${option ? `${option} ` : ''}${(err as Error).message}`);
  }
}

function safeUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER;
  }
}
