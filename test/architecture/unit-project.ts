/** Helpers of test/architecture/unit-project.test.ts: which files are units, and which imports are slow. */
import { importsOf } from './layering';

/** A glob of test/unit-files.json (`*`, `**\/`, `{a,b}`) as a regular expression over repo-relative paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (glob.startsWith('**/', i)) {
      re += '(?:.*/)?';
      i += 2;
    } else if (c === '*') re += '[^/]*';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      re += `(?:${glob
        .slice(i + 1, end)
        .split(',')
        .map((a) => a.replace(/[.+^$()|[\]\\]/g, '\\$&'))
        .join('|')})`;
      i = end;
    } else re += c.replace(/[.+^$()|[\]\\?]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Imports that mean a process, a synth or a server: packages and repo modules. */
const SLOW_PACKAGES = [/^(node:)?child_process$/, /^aws-cdk-lib(\/|$)/, /^(node:)?(http|https|net)$/, /^s3rver$/];
const SLOW_MODULES = [
  'lambda/adapters/local/script-runner',
  'test/backup/harness',
  'test/cleanup/harness',
  'test/health/harness',
  'test/faults/backup-harness',
  'test/helpers/fake-host',
  'test/helpers/imds-server',
  'bin/app',
];

export function slowImports(file: string, text: string): string[] {
  return importsOf({ path: file, text })
    .filter((t) =>
      t.packageName !== undefined
        ? SLOW_PACKAGES.some((re) => re.test(t.packageName as string))
        : SLOW_MODULES.includes(t.module as string),
    )
    .map((t) => t.specifier);
}
