/**
 * Parser for the result contract printed by task scripts (scripts/lib/result.sh).
 * It never throws on bad input: problems come back as `errors`, so a malformed result becomes a
 * finding instead of a crash.
 */

export interface Section {
  readonly name: string;
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status of the probe; null when the status line is missing (output cut inside the section). */
  readonly exitCode: number | null;
  readonly seconds: number | null;
  /** True when the probe hit its deadline (timeout exit 124, or killed 137). */
  readonly timedOut: boolean;
}

export interface ParsedResult {
  readonly version: number | null;
  readonly task: string | null;
  readonly host: string | null;
  readonly at: string | null;
  readonly sections: ReadonlyMap<string, Section>;
  /** False when the end line is missing: the output was truncated (or the script died). */
  readonly complete: boolean;
  /** Human-readable problems with the output itself; empty for a well-formed complete result. */
  readonly errors: readonly string[];
}

/**
 * The contract's constants, as scripts/lib/result.sh defines them for bash (test/scripts/result-lib.test.ts
 * proves both sides equal).
 */
export const RESULT_CONTRACT = {
  /** Every contract line starts with it; raw lines starting with it are escaped with a backslash. */
  marker: '@@gpu-maint',
  version: 1,
  exit: {
    /** timeout(1) stopped the probe at its deadline. */
    timedOut: 124,
    /** The probe was killed, or abandoned after SIGKILL (a wedged driver). */
    killed: 137,
    /** The probe was not run (skipped_section), with the reason on its stderr. */
    notRun: 125,
    /** The probe's command does not exist on this host. */
    notFound: 127,
  },
} as const;

export const SUPPORTED_CONTRACT_VERSION = RESULT_CONTRACT.version;

const MARK = `${RESULT_CONTRACT.marker} `;
/** The marker contains no regular-expression metacharacters besides `-`, which is literal outside a class. */
const contractLine = (rest: string) => new RegExp(`^${RESULT_CONTRACT.marker} ${rest}`);
const BEGIN = contractLine('v(\\d+) begin (.*)$');
const END = contractLine('v(\\d+) end\\b');
const SECTION = contractLine('section (\\S+)$');
const STDERR = contractLine('stderr (\\S+)$');
const STATUS = contractLine('status (\\S+) (.*)$');

function parseAttrs(text: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const part of text.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) attrs[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return attrs;
}

function unescapeLine(text: string): string {
  return text.startsWith(`\\${RESULT_CONTRACT.marker}`) ? text.slice(1) : text;
}

interface OpenSection {
  name: string;
  stdout: string[];
  stderr: string[];
  inStderr: boolean;
}

function closeSection(open: OpenSection, exitCode: number | null, seconds: number | null): Section {
  return {
    name: open.name,
    stdout: open.stdout.length ? `${open.stdout.join('\n')}\n` : '',
    stderr: open.stderr.length ? `${open.stderr.join('\n')}\n` : '',
    exitCode,
    seconds,
    timedOut: exitCode === RESULT_CONTRACT.exit.timedOut || exitCode === RESULT_CONTRACT.exit.killed,
  };
}

export function parseResult(output: string): ParsedResult {
  const errors: string[] = [];
  const sections = new Map<string, Section>();
  let version: number | null = null;
  let task: string | null = null;
  let host: string | null = null;
  let at: string | null = null;
  let complete = false;
  let open: OpenSection | null = null;

  const lines = output.replace(/\r\n/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();

  for (const line of lines) {
    if (!line.startsWith(MARK)) {
      if (open) (open.inStderr ? open.stderr : open.stdout).push(unescapeLine(line));
      // Text outside sections (e.g. a shell's own noise) is ignored; probes own their output.
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = BEGIN.exec(line))) {
      version = Number(m[1]);
      const attrs = parseAttrs(m[2]);
      task = attrs.task ?? null;
      host = attrs.host ?? null;
      at = attrs.at ?? null;
    } else if ((m = SECTION.exec(line))) {
      if (open) {
        errors.push(`section ${open.name} has no status line`);
        sections.set(open.name, closeSection(open, null, null));
      }
      open = { name: m[1], stdout: [], stderr: [], inStderr: false };
    } else if ((m = STDERR.exec(line)) && open && m[1] === open.name) {
      open.inStderr = true;
    } else if ((m = STATUS.exec(line)) && open && m[1] === open.name) {
      const attrs = parseAttrs(m[2]);
      const exitCode = /^\d+$/.test(attrs.exit ?? '') ? Number(attrs.exit) : null;
      const seconds = attrs.seconds !== undefined && Number.isFinite(Number(attrs.seconds)) ? Number(attrs.seconds) : null;
      if (exitCode === null) errors.push(`section ${open.name} has an unreadable exit status: ${JSON.stringify(attrs.exit ?? '')}`);
      sections.set(open.name, closeSection(open, exitCode, seconds));
      open = null;
    } else if (END.test(line)) {
      complete = true;
    } else {
      errors.push(`unrecognised contract line: ${JSON.stringify(line.slice(0, 120))}`);
    }
  }

  if (open) sections.set(open.name, closeSection(open, null, null));
  if (version === null) {
    errors.push('no "@@gpu-maint v1 begin" line: this is not a gpu-maint task result');
  } else if (version !== SUPPORTED_CONTRACT_VERSION) {
    errors.push(`contract version ${version} is not supported (expected ${SUPPORTED_CONTRACT_VERSION})`);
  }
  if (version !== null && !complete) {
    errors.push(open ? `output truncated inside section ${open.name} (no end line)` : 'output truncated: no "@@gpu-maint v1 end" line');
  }
  return { version, task, host, at, sections, complete, errors };
}

/** Reads a key=value section (action summaries) into a record; later keys win. */
export function parseKeyValues(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return values;
}
