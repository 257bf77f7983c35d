/**
 * The gpu-maint CLI: local mode (run tasks on this machine, evaluate saved output) and operator
 * commands for a deployed stack. Each command lives in ./commands/<name>.ts.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../../lib/config/load';
import { type CliIo, EXIT, ExitError, processIo, type RegisterCommand, UsageError } from './context';
import { registerAlerts } from './commands/alerts';
import { registerEvaluate } from './commands/evaluate';
import { registerInvoke } from './commands/invoke';
import { registerLogrotate } from './commands/logrotate';
import { registerPrune } from './commands/prune';
import { registerRestore } from './commands/restore';
import { registerRun } from './commands/run';
import { registerSchedule } from './commands/schedule';
import { registerSilence } from './commands/silence';
import { registerSnapshots } from './commands/snapshots';

/** Command modules in help order. */
const COMMANDS: readonly RegisterCommand[] = [registerRun, registerEvaluate, registerSilence, registerAlerts, registerSchedule, registerLogrotate, registerInvoke, registerRestore, registerSnapshots, registerPrune];

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('gpu-maint')
    .description('Maintenance for GPU hosts: checks, backups, cleanup and alerts, locally or across an AWS fleet.')
    .addOption(new Option('--config <file>', 'configuration file (JSON or YAML)'))
    .addOption(new Option('--set <key.path=value>', 'override one setting; repeatable (value parsed as JSON when it parses)').argParser(collect).default([]))
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  for (const register of COMMANDS) register(program, io);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI and returns the exit code (never throws). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof ConfigError || err instanceof UsageError) {
      io.err(`gpu-maint: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof ExitError) {
      io.err(`gpu-maint: ${err.message}`);
      return err.exitCode;
    }
    io.err(`gpu-maint: ${(err as Error).message ?? String(err)}`);
    if (process.env.GPU_MAINT_DEBUG) io.err((err as Error).stack ?? '');
    return EXIT.taskFailed;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
