/**
 * A parser for the subset of the CloudWatch Logs Insights query language the dashboard uses
 * (fields, display, filter, stats, sort, limit, dedup, parse), checking every field a query reads
 * against the fields its log lines carry and the names earlier commands defined.
 * Syntax: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html
 */

/** System fields Logs Insights adds to every event (CWL_AnalyzeLogData-discoverable-fields). */
export const SYSTEM_FIELDS = ['@timestamp', '@message', '@ingestionTime', '@logStream', '@log'] as const;

const AGGREGATES = new Set([
  'avg',
  'count',
  'count_distinct',
  'max',
  'min',
  'sum',
  'pct',
  'stddev',
  'latest',
  'earliest',
  'sortsFirst',
  'sortsLast',
]);
const FUNCTIONS = new Set([
  'abs',
  'ceil',
  'floor',
  'greatest',
  'least',
  'log',
  'sqrt',
  'bin',
  'datefloor',
  'dateceil',
  'fromMillis',
  'toMillis',
  'ispresent',
  'isempty',
  'isblank',
  'coalesce',
  'concat',
  'ltrim',
  'rtrim',
  'trim',
  'strlen',
  'toupper',
  'tolower',
  'substr',
  'replace',
  'strcontains',
  'isValidIp',
  'isIpInSubnet',
]);
const KEYWORDS = new Set(['and', 'or', 'not', 'like', 'in', 'as', 'by', 'asc', 'desc']);

type TokenKind = 'ident' | 'string' | 'number' | 'duration' | 'regex' | 'op' | 'punct';
interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

export class QueryError extends Error {}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const regexAllowed = () => {
    const prev = tokens.at(-1);
    return prev !== undefined && prev.kind === 'ident' && (prev.text === 'like' || prev.text === '=~');
  };
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new QueryError(`unterminated string at ${JSON.stringify(text.slice(i))}`);
      tokens.push({ kind: 'string', text: text.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '`') {
      const end = text.indexOf('`', i + 1);
      if (end < 0) throw new QueryError(`unterminated backquoted name at ${JSON.stringify(text.slice(i))}`);
      tokens.push({ kind: 'ident', text: text.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '/' && regexAllowed()) {
      let j = i + 1;
      while (j < text.length && text[j] !== '/') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw new QueryError(`unterminated regex at ${JSON.stringify(text.slice(i))}`);
      const body = text.slice(i + 1, j);
      try {
        new RegExp(body);
      } catch (e) {
        throw new QueryError(`invalid regex /${body}/: ${(e as Error).message}`);
      }
      tokens.push({ kind: 'regex', text: body });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([a-z]+)?/.exec(text.slice(i)) as RegExpExecArray;
      if (m[2] && !/^(ms|s|m|h|d|w|mo|q|y)$/.test(m[2])) throw new QueryError(`bad duration unit in ${JSON.stringify(m[0])}`);
      tokens.push({ kind: m[2] ? 'duration' : 'number', text: m[0] });
      i += m[0].length;
    } else if (/[@A-Za-z_]/.test(c)) {
      const m = /^@?[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
      if (!m) throw new QueryError(`unexpected ${JSON.stringify(text.slice(i, i + 10))}`);
      if (m[0].endsWith('.')) throw new QueryError(`field name ends with a dot: ${m[0]}`);
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else {
      const op = ['!=', '<=', '>=', '=~', '=', '<', '>', '+', '-', '*', '/', '%', '^'].find((o) => text.startsWith(o, i));
      if (op) {
        tokens.push({ kind: op === '=~' ? 'ident' : 'op', text: op });
        i += op.length;
      } else if ('(),[]'.includes(c)) {
        tokens.push({ kind: 'punct', text: c });
        i++;
      } else {
        throw new QueryError(`unexpected character ${JSON.stringify(c)} in ${JSON.stringify(text)}`);
      }
    }
  }
  return tokens;
}

/** Splits at top-level `|` (not inside strings or regexes). */
function splitCommands(query: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (quote) {
      if (c === quote && query[i - 1] !== '\\') quote = null;
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
    } else if (c === '/' && /\blike\s*$/.test(current)) {
      quote = '/';
    } else if (c === '|') {
      parts.push(current.trim());
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current.trim());
  return parts.filter((p) => p !== '');
}

/** Decides whether a field name exists in the log lines (dynamic keys, array indexes). */
export type FieldCheck = (name: string) => boolean;

export interface ParsedQuery {
  readonly commands: readonly string[];
  /** Every log field the query reads (before any stats). */
  readonly fieldsRead: ReadonlySet<string>;
}

class CommandParser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly resolve: (name: string) => void,
    private readonly allowAggregates: boolean,
  ) {}

  done(): boolean {
    return this.pos >= this.tokens.length;
  }

  peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  next(): Token {
    const t = this.tokens[this.pos++];
    if (!t) throw new QueryError('unexpected end of command');
    return t;
  }

  accept(text: string): boolean {
    if (this.peek()?.text === text && this.peek()?.kind !== 'string') {
      this.pos++;
      return true;
    }
    return false;
  }

  expect(text: string): void {
    const t = this.next();
    if (t.text !== text) throw new QueryError(`expected ${JSON.stringify(text)}, got ${JSON.stringify(t.text)}`);
  }

  expectEnd(): void {
    if (!this.done()) throw new QueryError(`unexpected ${JSON.stringify(this.peek()?.text)}`);
  }

  identifier(): string {
    const t = this.next();
    if (t.kind !== 'ident' || KEYWORDS.has(t.text)) throw new QueryError(`expected a name, got ${JSON.stringify(t.text)}`);
    return t.text;
  }

  expression(): string {
    let text = this.and();
    while (this.accept('or')) text += ` or ${this.and()}`;
    return text;
  }

  private and(): string {
    let text = this.not();
    while (this.accept('and')) text += ` and ${this.not()}`;
    return text;
  }

  private not(): string {
    if (this.accept('not')) return `not ${this.not()}`;
    return this.comparison();
  }

  private comparison(): string {
    const left = this.additive();
    const t = this.peek();
    if (!t) return left;
    if (t.kind === 'op' && ['=', '!=', '<', '>', '<=', '>='].includes(t.text)) {
      this.pos++;
      return `${left} ${t.text} ${this.additive()}`;
    }
    const negated = t.text === 'not' && this.tokens[this.pos + 1]?.text === 'like';
    if (t.text === 'like' || t.text === '=~' || negated) {
      this.pos += negated ? 2 : 1;
      const pattern = this.next();
      if (pattern.kind !== 'regex' && pattern.kind !== 'string') throw new QueryError(`like needs a /regex/ or a "string"`);
      return `${left} like`;
    }
    if (t.text === 'in') {
      this.pos++;
      this.expect('[');
      do this.primary();
      while (this.accept(','));
      this.expect(']');
      return `${left} in`;
    }
    return left;
  }

  private additive(): string {
    let text = this.multiplicative();
    while (this.peek()?.kind === 'op' && ['+', '-'].includes(this.peek()?.text ?? ''))
      text += ` ${this.next().text} ${this.multiplicative()}`;
    return text;
  }

  private multiplicative(): string {
    let text = this.primary();
    while (this.peek()?.kind === 'op' && ['*', '/', '%', '^'].includes(this.peek()?.text ?? ''))
      text += ` ${this.next().text} ${this.primary()}`;
    return text;
  }

  private primary(): string {
    const t = this.next();
    if (t.kind === 'number' || t.kind === 'string' || t.kind === 'duration') return t.text;
    if (t.kind === 'op' && t.text === '-') return `-${this.primary()}`;
    if (t.kind === 'punct' && t.text === '(') {
      const inner = this.expression();
      this.expect(')');
      return `(${inner})`;
    }
    if (t.kind !== 'ident' || KEYWORDS.has(t.text)) throw new QueryError(`unexpected ${JSON.stringify(t.text)}`);
    if (this.peek()?.text === '(' && this.peek()?.kind === 'punct') {
      const isAggregate = AGGREGATES.has(t.text);
      if (!isAggregate && !FUNCTIONS.has(t.text)) throw new QueryError(`unknown function ${t.text}()`);
      if (isAggregate && !this.allowAggregates) throw new QueryError(`${t.text}() is an aggregation: only in stats`);
      this.pos++;
      const args: string[] = [];
      if (!this.accept(')')) {
        if (t.text === 'count' && this.accept('*')) args.push('*');
        else args.push(this.expression());
        while (this.accept(',')) args.push(this.expression());
        this.expect(')');
      }
      return `${t.text}(${args.join(', ')})`;
    }
    this.resolve(t.text);
    return t.text;
  }

  /** `expr [as alias]`: returns the name the column gets. */
  aliased(): string {
    const expr = this.expression();
    return this.accept('as') ? this.identifier() : expr;
  }
}

/**
 * Parses a query and checks it. `fieldExists` says whether the log lines carry a field; names
 * defined by `fields ... as`, `parse ... as` and `stats` are in scope for later commands, and after
 * `stats` only its output columns are.
 */
export function parseQuery(query: string, fieldExists: FieldCheck): ParsedQuery {
  const commands = splitCommands(query.replace(/^\s*SOURCE\s+('[^']*'\s*)+/, '').replace(/^\s*\|/, ''));
  if (commands.length === 0) throw new QueryError('empty query');
  let defined = new Set<string>();
  let aggregated = false;
  const fieldsRead = new Set<string>();
  const resolve = (name: string) => {
    if (defined.has(name)) return;
    if (aggregated) throw new QueryError(`${name} is not an output of the earlier stats`);
    if ((SYSTEM_FIELDS as readonly string[]).includes(name) || fieldExists(name)) {
      fieldsRead.add(name);
      return;
    }
    throw new QueryError(`no field ${name} in the log lines`);
  };
  for (const command of commands) {
    const m = /^([a-z]+)\b\s*(.*)$/s.exec(command);
    if (!m) throw new QueryError(`not a command: ${JSON.stringify(command)}`);
    const [, verb, rest] = m;
    const p = new CommandParser(tokenize(rest), resolve, verb === 'stats');
    try {
      switch (verb) {
        case 'fields':
        case 'display': {
          const names: string[] = [];
          do names.push(p.aliased());
          while (p.accept(','));
          for (const n of names) defined.add(n);
          break;
        }
        case 'filter':
          p.expression();
          break;
        case 'stats': {
          const outputs: string[] = [];
          do {
            const expr = p.expression();
            if (!/^[A-Za-z_]+\(/.test(expr) || !AGGREGATES.has(expr.slice(0, expr.indexOf('('))))
              throw new QueryError(`stats needs an aggregation, got ${expr}`);
            outputs.push(p.accept('as') ? p.identifier() : expr);
          } while (p.accept(','));
          if (p.accept('by')) {
            do outputs.push(p.aliased());
            while (p.accept(','));
          }
          defined = new Set(outputs);
          aggregated = true;
          break;
        }
        case 'sort': {
          p.expression();
          if (!p.accept('asc')) p.accept('desc');
          break;
        }
        case 'limit': {
          const t = p.next();
          if (t.kind !== 'number' || !/^[1-9][0-9]*$/.test(t.text) || Number(t.text) > 10000)
            throw new QueryError(`limit needs a count 1-10000, got ${t.text}`);
          break;
        }
        case 'dedup': {
          do p.expression();
          while (p.accept(','));
          break;
        }
        case 'parse': {
          p.expression();
          const pattern = p.next();
          if (pattern.kind === 'string') {
            p.expect('as');
            const stars = pattern.text.split('*').length - 1;
            const names: string[] = [];
            do names.push(p.identifier());
            while (p.accept(','));
            if (names.length !== stars) throw new QueryError(`parse pattern has ${stars} *, but ${names.length} names follow as`);
            for (const n of names) defined.add(n);
          } else {
            throw new QueryError('parse needs a "glob pattern" with * and "as" names');
          }
          break;
        }
        default:
          throw new QueryError(`unsupported command ${verb}`);
      }
      p.expectEnd();
    } catch (e) {
      if (e instanceof QueryError) throw new QueryError(`${verb}: ${e.message} (in ${JSON.stringify(command)})`);
      throw e;
    }
  }
  return { commands, fieldsRead };
}

/**
 * The field names Logs Insights discovers in a JSON log event, in document order: nested objects
 * and arrays flattened with dots (`result.findings.0.check`).
 */
export function flattenFields(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return prefix ? [prefix] : [];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  if (entries.length === 0) return prefix ? [prefix] : [];
  return entries.flatMap(([k, v]) => flattenFields(v, prefix ? `${prefix}.${k}` : k));
}
