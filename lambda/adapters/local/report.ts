/**
 * The terminal report of local mode, read at a glance: one line per check with ✓ ! ✗ (green, yellow,
 * red on a colour terminal), host checks first, then the findings of each GPU under its own heading;
 * messages wrapped to the terminal width under the message column, and the threshold of a finding
 * that is not ok on its own dim line. Raw kernel fields (pid=, name=) and the GPU id a heading already
 * shows are left out; `-v` (verbose) keeps every message whole and shows every threshold, and `--json`
 * keeps everything.
 */
import Table from 'cli-table3';
import { createColors } from 'picocolors';
import stringWidth from 'string-width';
import wrapAnsi from 'wrap-ansi';
import type { CleanupDetails } from '../../core/cleanup/evaluate';
import { formatAge, formatBytes } from '../../core/format';
import type { Finding, GpuReading, Severity, TaskResult } from '../../core/types';

export interface ReportStyle {
  /** ANSI colours (see colorEnabled). */
  readonly color: boolean;
  /** Terminal width in columns; undefined: no wrapping (output to a pipe or file). */
  readonly width?: number;
  /** Whole messages (raw kernel fields included) and every threshold. */
  readonly verbose?: boolean;
  /** How many cleanup paths to list before "...and N more". */
  readonly listLimit?: number;
}

export const PLAIN: ReportStyle = { color: false };

/**
 * Whether to colour output, following https://no-color.org and the FORCE_COLOR convention of
 * Node's tty and the chalk/supports-color family: a non-empty NO_COLOR turns colour off; FORCE_COLOR
 * turns it on (off when it is 0 or false); otherwise colour only on a terminal that is not "dumb".
 */
export function colorEnabled(env: Readonly<Record<string, string | undefined>>, isTty: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  return isTty && env.TERM !== 'dumb';
}

const MARK: Record<Severity, string> = { ok: '✓', warning: '!', critical: '✗' };
const MIN_MESSAGE_WIDTH = 24;
const DEFAULT_LIST_LIMIT = 10;

type Colors = ReturnType<typeof createColors>;

function markOf(severity: Severity, c: Colors): string {
  if (severity === 'critical') return c.red(c.bold(MARK.critical));
  if (severity === 'warning') return c.yellow(c.bold(MARK.warning));
  return c.green(MARK.ok);
}

function statusOf(status: TaskResult['status'], c: Colors): string {
  const text = status.toUpperCase();
  if (status === 'critical' || status === 'failed') return c.red(c.bold(text));
  if (status === 'warning') return c.yellow(c.bold(text));
  return c.green(c.bold(text));
}

/** Kernel log fields that say nothing to an operator: `pid='<unknown>', name=<unknown>, ` and the like. */
const KERNEL_FIELDS = /\b(?:pid|name)=(?:'[^']*'|<[^>]*>|[^,\s]+),\s*/g;

/**
 * A finding's message for the report: without raw kernel fields and, under a GPU heading, without the
 * leading GPU id the heading already shows (`GPU 3 (00000000:2B:00.0): `, `GPU 3: `, `GPU 3 `).
 */
export function readableMessage(f: Finding, underGpuHeading: boolean): string {
  let message = f.message.replace(KERNEL_FIELDS, '');
  if (underGpuHeading && f.gpu !== undefined) {
    message = message.replace(new RegExp(`^GPU ${f.gpu}(?: \\([^)]*\\))?:? `), '');
  }
  return message;
}

/** Lays out one finding: mark, check, wrapped message, and the threshold on its own dim line. */
function findingLines(f: Finding, indent: number, checkWidth: number, style: ReportStyle, c: Colors, underGpu: boolean): string[] {
  const messageColumn = 4 + 2 + checkWidth + 1;
  const prefix = `${' '.repeat(indent)}${markOf(f.severity, c)} ${f.check.padEnd(messageColumn - indent - 2)}`;
  const hang = ' '.repeat(messageColumn);
  const message = style.verbose ? f.message : readableMessage(f, underGpu);
  const room = style.width === undefined ? undefined : Math.max(MIN_MESSAGE_WIDTH, style.width - messageColumn);
  const wrap = (text: string): string[] => (room === undefined ? [text] : wrapAnsi(text, room, { hard: true, trim: true }).split('\n'));
  const [first, ...rest] = wrap(message);
  const lines = [`${prefix}${first}`, ...rest.map((l) => `${hang}${l}`)];
  if (f.threshold && (style.verbose || f.severity !== 'ok')) {
    for (const l of wrap(`threshold: ${f.threshold}`)) lines.push(`${hang}${c.dim(l)}`);
  }
  return lines;
}

function gpuHeading(index: number, gpus: readonly GpuReading[] | undefined, c: Colors): string {
  const gpu = gpus?.find((g) => g.index === index);
  const about = [gpu?.name, gpu?.busId].filter((x): x is string => Boolean(x));
  return `  ${c.bold(`GPU ${index}`)}${about.length ? c.dim(` · ${about.join(' · ')}`) : ''}`;
}

/** The report of one task result. */
export function formatReport(result: TaskResult, style: ReportStyle = PLAIN): string {
  const c = createColors(style.color);
  const checkWidth = Math.max(12, ...result.findings.map((f) => f.check.length));
  const lines = [`${c.bold(result.task)} on ${result.host}: ${statusOf(result.status, c)}`];
  if (result.findings.length === 0) lines.push('  (no findings)');
  const hostLevel = result.findings.filter((f) => f.gpu === undefined);
  for (const f of hostLevel) lines.push(...findingLines(f, 2, checkWidth, style, c, false));
  const gpuIndexes = [...new Set(result.findings.flatMap((f) => (f.gpu === undefined ? [] : [f.gpu])))].sort((a, b) => a - b);
  for (const index of gpuIndexes) {
    lines.push(gpuHeading(index, result.gpus, c));
    for (const f of result.findings.filter((x) => x.gpu === index)) lines.push(...findingLines(f, 4, checkWidth, style, c, true));
  }
  const cleanup = (result as { cleanup?: CleanupDetails }).cleanup;
  if (cleanup && cleanup.deleted.length > 0) lines.push(...cleanupList(cleanup, result.at, style, c));
  return lines.join('\n');
}

/** cli-table3 options for a table without borders: columns two spaces apart, rows indented by `indent`. */
export function borderless(indent: string): Pick<Table.TableConstructorOptions, 'chars' | 'style'> {
  const none = ['top', 'top-mid', 'top-left', 'top-right', 'bottom', 'bottom-mid', 'bottom-left', 'bottom-right'];
  return {
    chars: {
      ...Object.fromEntries([...none, 'left-mid', 'mid', 'mid-mid', 'right', 'right-mid'].map((k) => [k, ''])),
      left: indent,
      middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  };
}

/**
 * The paths a cleanup deleted (or, in a dry run, would delete): largest first, the first
 * style.listLimit of them with size, age and category, then "...and N more".
 */
function cleanupList(details: CleanupDetails, at: string | undefined, style: ReportStyle, c: Colors): string[] {
  const limit = style.listLimit ?? DEFAULT_LIST_LIMIT;
  const sorted = [...details.deleted].sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path));
  const shown = style.verbose ? sorted : sorted.slice(0, limit);
  const started = at ? Date.parse(at) : Number.NaN;
  const table = new Table({
    ...borderless('    '),
    colAligns: ['right', 'right', 'left', 'left'],
    wordWrap: false,
  });
  for (const item of shown) {
    const modified = item.modifiedAt ? Date.parse(item.modifiedAt) : Number.NaN;
    const age = Number.isNaN(modified) || Number.isNaN(started) ? '' : `${formatAge((started - modified) / 1000)} old`;
    table.push([formatBytes(item.bytes), age, item.category, item.path]);
  }
  const verb = details.dryRun ? 'would delete' : 'deleted';
  const lines = [
    `  ${verb} (largest first):`,
    ...table
      .toString()
      .split('\n')
      .map((l) => l.trimEnd()),
  ];
  const more = sorted.length - shown.length;
  if (more > 0) lines.push(c.dim(`    ...and ${more} more (-v or --json lists every path)`));
  return lines;
}

/** Counts per severity, e.g. `2 critical, 1 warning, 9 ok`. */
export function summarize(results: readonly TaskResult[], style: ReportStyle = PLAIN): string {
  const c = createColors(style.color);
  const count = { critical: 0, warning: 0, ok: 0 } as Record<Severity, number>;
  for (const r of results) for (const f of r.findings) count[f.severity] += 1;
  const failed = results.filter((r) => r.status === 'failed').map((r) => r.task);
  const paint = (n: number, text: string, colour: (s: string) => string) => (n > 0 ? colour(text) : text);
  const parts = [
    paint(count.critical, `${count.critical} critical`, c.red),
    paint(count.warning, `${count.warning} warning`, c.yellow),
    paint(count.ok, `${count.ok} ok`, c.green),
  ];
  return `${results.length} task(s): ${parts.join(', ')}${failed.length ? `; ${c.red(`could not run: ${failed.join(', ')}`)}` : ''}`;
}

/** Display width of a line as a terminal shows it (colour codes take no room, ✓ takes one). */
export function displayWidth(line: string): number {
  return stringWidth(line);
}
