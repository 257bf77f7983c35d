/**
 * Task scripts as they run on hosts: each scripts/<task>.sh with the scripts/lib helpers it sources
 * inlined, so that one self-contained script goes into an SSM document and local mode runs the very
 * same bytes.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export const SCRIPTS_DIR = path.resolve(__dirname, '..', '..', 'scripts');

/** `source "${BASH_SOURCE[0]%/*}/lib/<name>.sh"`: the only form of source the bundler inlines. */
const SOURCE_LINE = /^source "\$\{BASH_SOURCE\[0\]%\/\*\}\/lib\/([a-z0-9-]+\.sh)"$/;

/**
 * Returns the self-contained script for a task, e.g. `gpu-check` from scripts/gpu-check.sh.
 * @throws when the script is missing, does not start with a bash shebang, or sources a missing lib.
 */
export function bundleTaskScript(scriptName: string, scriptsDir: string = SCRIPTS_DIR): string {
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
    if (inlined.has(lib)) return `# (lib/${lib} already inlined)`;
    inlined.add(lib);
    const body = readFileSync(path.join(scriptsDir, 'lib', lib), 'utf8').replace(/\n$/, '');
    return `# ---- begin lib/${lib} ----\n${body}\n# ---- end lib/${lib} ----`;
  });
  return lines.join('\n');
}
