/**
 * `gpu-maint logrotate --print`: shows the /etc/logrotate.d/gpu-maint file that `gpu-maint run
 * logrotate` (or the State Manager association in AWS) installs from logrotate.groups.
 */
import type { Command } from 'commander';
import { renderLogrotateConfig } from '../../../lambda/core/logrotate/evaluate';
import { type CliIo, configFor, type RegisterCommand, UsageError } from '../context';

export const registerLogrotate: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('logrotate')
    .description('show the logrotate configuration rendered from logrotate.groups (apply it with `gpu-maint run logrotate`)')
    .option('--print', 'print the file that would be installed as /etc/logrotate.d/gpu-maint')
    .action((options: { print?: boolean }, cmd: Command) => {
      if (!options.print) {
        throw new UsageError(
          'nothing to do: use --print to show the configuration, or `gpu-maint run logrotate` to install and validate it',
        );
      }
      const config = configFor(cmd);
      io.out(renderLogrotateConfig(config.logrotate.groups));
    });
};
