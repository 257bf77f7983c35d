/**
 * The task script bundler: each scripts/<task>.sh with the scripts/lib helpers it sources
 * inlined, so that one self-contained script goes into an SSM document and local mode runs the very
 * same bytes. Full-line comments are dropped (outside heredocs): an SSM document holds at most 64 KB,
 * and comments are about a third of each script; the repository keeps them.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export const SCRIPTS_DIR = path.resolve(__dirname, '..', '..', 'scripts');

/** `source "${BASH_SOURCE[0]%/*}/lib/<name>.sh"`: the only form of source the bundler inlines. */
const SOURCE_LINE = /^source "\$\{BASH_SOURCE\[0\]%\/\*\}\/lib\/([a-z0-9-]+\.sh)"$/;
/** A heredoc operator (`<<WORD`, `<<-'WORD'`, `<< "WORD"`), not a here-string (`<<<`). */
const HEREDOC_START = /(?<!<)<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/** Kept, so that shellcheck judges the bundle as it judges the sources. */
const SHELLCHECK_DIRECTIVE = /^\s*#\s*shellcheck\s/;

/**
 * Drops full-line comments (a line whose first non-blank character is `#`), except the shebang, shellcheck
 * directives and lines inside heredocs, whose text is data. Trailing comments stay: telling them from a `#` inside a word or
 * a quoted string needs a shell parser.
 */
export function stripComments(script: string): string {
  const out: string[] = [];
  let heredocEnd: { word: string; tabs: boolean } | null = null;
  for (const [i, line] of script.split('\n').entries()) {
    if (heredocEnd) {
      out.push(line);
      if ((heredocEnd.tabs ? line.replace(/^\t+/, '') : line) === heredocEnd.word) heredocEnd = null;
      continue;
    }
    if (i > 0 && /^\s*#/.test(line) && !SHELLCHECK_DIRECTIVE.test(line)) continue;
    out.push(line);
    // Several heredocs on one line are read one after the other; the last one ends last.
    for (const m of line.matchAll(HEREDOC_START)) heredocEnd = { word: m[3], tabs: m[1] === '-' };
  }
  return out.join('\n');
}

/**
 * Returns the self-contained script for a task, e.g. `gpu-check` from scripts/gpu-check.sh.
 * `keepComments` keeps full-line comments (tests compare both forms).
 * @throws when the script is missing, does not start with a bash shebang, or sources a missing lib.
 */
export function bundleTaskScript(
  scriptName: string,
  scriptsDir: string = SCRIPTS_DIR,
  options: { readonly keepComments?: boolean } = {},
): string {
  if (!/^[a-z0-9-]+$/.test(scriptName)) {
    throw new Error(`script name must be lowercase letters, digits and dashes, got: ${JSON.stringify(scriptName)}`);
  }
  const file = path.join(scriptsDir, `${scriptName}.sh`);
  const source = readFileSync(file, 'utf8');
  if (!source.startsWith('#!/usr/bin/env bash\n')) {
    throw new Error(`${file} must start with "#!/usr/bin/env bash" (SSM runs scripts through sh)`);
  }
  const inlined = new Set<string>();
  const lines = source.split('\n').map((line) => {
    const match = SOURCE_LINE.exec(line);
    if (!match) return line;
    const lib = match[1];
    if (inlined.has(lib)) return '';
    inlined.add(lib);
    return readFileSync(path.join(scriptsDir, 'lib', lib), 'utf8').replace(/\n$/, '');
  });
  const bundle = lines.join('\n');
  return options.keepComments ? bundle : stripComments(bundle);
}
