/**
 * `gpu-maint evaluate <task> --input FILE`: evaluates a saved script output (a file with the raw
 * stdout, or the JSON of `aws ssm get-command-invocation`), to answer "why did this page?".
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { formatReport } from '../../../lambda/adapters/local/report';
import { taskOutputFromInvocation } from '../../../lambda/core/collect';
import { evaluationSettings } from '../../../lambda/core/evaluation-settings';
import type { TaskOutput } from '../../../lambda/core/ports';
import { evaluateTaskOutput } from '../../../lambda/core/task-evaluation';
import type { TaskName } from '../../../lambda/core/types';
import { taskDefinition } from '../../../lambda/tasks/registry';
import { type CliIo, configFor, type RegisterCommand, reportStyle, UsageError } from '../context';

interface EvaluateOptions {
  readonly input: string;
  readonly json?: boolean;
  readonly host?: string;
  readonly now?: string;
  readonly verbose?: boolean;
}

/** Reads raw stdout, or the StandardOutputContent of a GetCommandInvocation JSON response. */
export function readSavedOutput(task: TaskName, text: string, host?: string): TaskOutput {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(trimmed) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--input looks like JSON but does not parse: ${(err as Error).message}`);
    }
    if (typeof doc.StandardOutputContent !== 'string') {
      throw new UsageError('--input JSON has no StandardOutputContent: expected the output of `aws ssm get-command-invocation`');
    }
    // The collector's own mapping (StatusDetails, exit code over a plain Failed), so the answer matches what paged.
    const status = typeof doc.Status === 'string' ? doc.Status : 'Success';
    const instanceId = host ?? (typeof doc.InstanceId === 'string' ? doc.InstanceId : undefined);
    const output = taskOutputFromInvocation(
      { commandId: String(doc.CommandId ?? ''), instanceId: instanceId ?? '', documentName: String(doc.DocumentName ?? ''), status },
      {
        stdout: doc.StandardOutputContent,
        stderr: typeof doc.StandardErrorContent === 'string' ? doc.StandardErrorContent : '',
        responseCode: typeof doc.ResponseCode === 'number' ? doc.ResponseCode : null,
        status,
        ...(typeof doc.StatusDetails === 'string' ? { statusDetails: doc.StatusDetails } : {}),
      },
      task,
    );
    return { ...output, host: instanceId };
  }
  return { task, host, stdout: text, exitCode: null };
}

export const registerEvaluate: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('evaluate')
    .description('evaluate a saved task output (raw stdout, or `aws ssm get-command-invocation` JSON) with the current config')
    .argument('<task>', 'task that produced the output, e.g. gpu-check')
    .requiredOption('--input <file>', 'saved output; "-" reads standard input')
    .option('--json', 'print the result as JSON')
    .option('--host <id>', 'host id to report (default: from the output)')
    .option('--now <iso-time>', 'evaluate as of this time (default: now)')
    .option('-v, --verbose', 'whole finding messages (raw kernel fields) and every threshold')
    .action(async (task: string, options: EvaluateOptions, cmd: Command) => {
      const def = (() => {
        try {
          return taskDefinition(task);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
      })();
      const config = configFor(cmd);
      let text: string;
      try {
        text = readFileSync(options.input === '-' ? 0 : options.input, 'utf8');
      } catch (err) {
        throw new UsageError(`--input ${options.input}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      const now = options.now ? new Date(options.now) : new Date();
      if (Number.isNaN(now.getTime())) throw new UsageError(`--now ${JSON.stringify(options.now)}: expected an ISO-8601 time`);
      const result = evaluateTaskOutput(readSavedOutput(def.name, text, options.host), def.evaluate, evaluationSettings(config), now);
      io.out(options.json ? JSON.stringify(result, null, 2) : formatReport(result, reportStyle(io, Boolean(options.verbose))));
    });
};
