/**
 * The gpu-maint CLI: local mode (run tasks on this machine, evaluate saved output) and operator
 * commands for a deployed stack. Each command lives in ./commands/<name>.ts.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../../lambda/config/load';
import { version as VERSION } from '../../package.json';
import { type CliIo, EXIT, ExitError, processIo, type RegisterCommand, UsageError } from './context';

export { useConfigMemo } from './context';

interface CommandModule {
  /** The top-level command the module registers. */
  readonly name: string;
  readonly load: () => Promise<RegisterCommand>;
}

/**
 * Command modules in help order, imported on demand: some pull in AWS SDK clients or other large
 * modules that cost a command which does not need them about 0.2 s of start-up.
 */
export const COMMANDS: readonly CommandModule[] = [
  { name: 'run', load: async () => (await import('./commands/run.js')).registerRun },
  { name: 'watch', load: async () => (await import('./commands/watch.js')).registerWatch },
  { name: 'evaluate', load: async () => (await import('./commands/evaluate.js')).registerEvaluate },
  { name: 'silence', load: async () => (await import('./commands/silence.js')).registerSilence },
  { name: 'alerts', load: async () => (await import('./commands/alerts.js')).registerAlerts },
  { name: 'schedule', load: async () => (await import('./commands/schedule.js')).registerSchedule },
  { name: 'logrotate', load: async () => (await import('./commands/logrotate.js')).registerLogrotate },
  { name: 'invoke', load: async () => (await import('./commands/invoke.js')).registerInvoke },
  { name: 'smoke', load: async () => (await import('./commands/smoke.js')).registerSmoke },
  { name: 'restore', load: async () => (await import('./commands/restore.js')).registerRestore },
  { name: 'snapshots', load: async () => (await import('./commands/snapshots.js')).registerSnapshots },
  { name: 'check', load: async () => (await import('./commands/check.js')).registerCheck },
  { name: 'ls', load: async () => (await import('./commands/ls.js')).registerLs },
  { name: 'diff', load: async () => (await import('./commands/diff.js')).registerDiff },
  { name: 'prune', load: async () => (await import('./commands/prune.js')).registerPrune },
  { name: 'report', load: async () => (await import('./commands/report.js')).registerReport },
];

/** Global options that take a value (`--config <file>`, `--set <key.path=value>`). */
const GLOBAL_VALUE_OPTIONS = new Set(['--config', '--set']);

/** `--version`: commander prints the version as soon as it reads the option, before any command. */
const VERSION_OPTIONS = new Set(['-V', '--version']);

/**
 * The command modules a command line needs: only the named command's when nothing but global options
 * precede its name; none for the version; every module otherwise (program help, `help <command>`,
 * unknown commands and options, whose messages and suggestions list them all).
 */
export function commandsFor(argv: readonly string[]): readonly CommandModule[] {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const equals = arg.indexOf('=');
    if (VERSION_OPTIONS.has(arg)) return [];
    if (GLOBAL_VALUE_OPTIONS.has(arg)) {
      i++;
    } else if (!(arg.startsWith('--') && equals > 0 && GLOBAL_VALUE_OPTIONS.has(arg.slice(0, equals)))) {
      const named = COMMANDS.find((c) => c.name === arg);
      return named ? [named] : COMMANDS;
    }
  }
  return COMMANDS;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Builds the program with the commands argv needs (all of them when argv is not given). */
export async function buildProgram(io: CliIo = processIo, argv?: readonly string[]): Promise<Command> {
  const modules = argv ? commandsFor(argv) : COMMANDS;
  const registers = await Promise.all(modules.map((m) => m.load()));
  const program = new Command('gpu-maint')
    .description('Maintenance for GPU hosts: checks, backups, cleanup and alerts, locally or across an AWS fleet.')
    .addOption(new Option('--config <file>', 'configuration file (JSON or YAML)'))
    .addOption(
      new Option('--set <key.path=value>', 'override one setting; repeatable (value parsed as JSON when it parses)')
        .argParser(collect)
        .default([]),
    )
    .version(`gpu-maint ${VERSION}`, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  for (const register of registers) register(program, io);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** The one line a usage error ends with: where the help of the command (or the program) is. */
export function usageHint(program: Command, argv: readonly string[]): string {
  const names: string[] = [];
  let cmd = program;
  for (const arg of argv) {
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) continue;
    names.push(sub.name());
    cmd = sub;
  }
  return `Run 'gpu-maint ${[...names, '--help'].join(' ')}' for usage.`;
}

/** Runs the CLI and returns the exit code (never throws). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = await buildProgram(io, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      // Commander printed the error (and any "Did you mean"); one hint line instead of the whole help.
      io.err(usageHint(program, argv));
      return EXIT.usage;
    }
    if (err instanceof UsageError) {
      io.err(`gpu-maint: ${err.message}`);
      io.err(usageHint(program, argv));
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
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
