/**
 * The layering rules of the codebase (docs/architecture.md) as a check: what may import what.
 * Dependency-free so that it runs anywhere: `npm run check:layering` (exit 1 and one line per
 * violation) and test/architecture/layering.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface SourceFile {
  /** Repository-relative path with forward slashes, e.g. lambda/core/gpu/xid.ts. */
  readonly path: string;
  readonly text: string;
}

export interface Violation {
  readonly file: string;
  /** The import as written, e.g. '../../lib/stack' or 'node:fs'. */
  readonly specifier: string;
  readonly rule: string;
}

/** What a file imports: a package name (e.g. `@aws-sdk/client-s3`, `node:fs`) or a repo-relative module path without extension. */
interface ImportTarget {
  readonly specifier: string;
  readonly module?: string;
  readonly packageName?: string;
}

interface Rule {
  readonly name: string;
  /** Files the rule applies to (repo-relative path prefix). */
  readonly appliesTo: (file: string) => boolean;
  /** True when the import breaks the rule. */
  readonly forbids: (target: ImportTarget) => boolean;
}

const under = (dir: string) => (p: string) => p === dir || p.startsWith(`${dir}/`);
const moduleUnder =
  (...dirs: string[]) =>
  (t: ImportTarget) =>
    t.module !== undefined && dirs.some((d) => under(d)(t.module as string));

/** Packages that do I/O or bind to AWS: never in the pure core, which takes ports instead. */
const IMPURE_PACKAGES = [
  /^@aws-sdk\//,
  /^@aws-lambda-powertools\//,
  /^aws-cdk-lib(\/|$)/,
  /^constructs$/,
  /^(node:)?fs(\/promises)?$/,
  /^(node:)?child_process$/,
  /^(node:)?(http|https|net|dgram)$/,
];

export const RULES: readonly Rule[] = [
  {
    name: 'the runtime (lambda/) never imports the CDK app (lib/) or the entry points (bin/)',
    appliesTo: under('lambda'),
    forbids: moduleUnder('lib', 'bin'),
  },
  {
    name: 'lambda/core imports only lambda/core and lambda/config/schema',
    appliesTo: under('lambda/core'),
    forbids: (t) => t.module !== undefined && !under('lambda/core')(t.module) && t.module !== 'lambda/config/schema',
  },
  {
    name: 'lambda/core is pure: no AWS SDK, CDK, file system, child processes or network',
    appliesTo: under('lambda/core'),
    forbids: (t) => t.packageName !== undefined && IMPURE_PACKAGES.some((re) => re.test(t.packageName as string)),
  },
  {
    name: 'local adapters never import AWS adapters',
    appliesTo: under('lambda/adapters/local'),
    forbids: moduleUnder('lambda/adapters/aws'),
  },
  {
    name: 'AWS adapters never import local adapters',
    appliesTo: under('lambda/adapters/aws'),
    forbids: moduleUnder('lambda/adapters/local'),
  },
  {
    name: 'handlers import only core, config, tasks, AWS adapters and other handlers',
    appliesTo: under('lambda/handlers'),
    forbids: (t) =>
      t.module !== undefined &&
      !['lambda/core', 'lambda/config', 'lambda/tasks', 'lambda/adapters/aws', 'lambda/handlers'].some((d) => under(d)(t.module as string)),
  },
];

// Static imports and re-exports start a statement: `import x from '...'`, `import type {...} from '...'`
// (over several lines), `export * from '...'`, `import '...'`.
const STATIC_IMPORT_RE = /^\s*(?:(?:import|export)\b[^;'"]*?\bfrom\s*|import\s*)(['"])([^'"\n]+)\1/gm;
// Dynamic ones may sit anywhere in code: `await import('...')`, `require('...')`.
const DYNAMIC_IMPORT_RE = /\b(?:import|require)\s*\(\s*(['"])([^'"\n]+)\1/g;

/** Strips comments so that an import quoted in a comment does not count. Strings are kept. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** True when `index` is outside string literals on its line (an even number of quotes before it). */
function inCode(text: string, index: number): boolean {
  const lineStart = text.lastIndexOf('\n', index) + 1;
  const before = text.slice(lineStart, index).replace(/\\./g, '');
  return ["'", '"', '`'].every((q) => before.split(q).length % 2 === 1);
}

export function importsOf(file: SourceFile): ImportTarget[] {
  const code = withoutComments(file.text);
  const specifiers = [
    ...[...code.matchAll(STATIC_IMPORT_RE)].map((m) => ({ at: m.index, specifier: m[2] })),
    ...[...code.matchAll(DYNAMIC_IMPORT_RE)].filter((m) => inCode(code, m.index)).map((m) => ({ at: m.index, specifier: m[2] })),
  ].sort((x, y) => x.at - y.at);
  return specifiers.map(({ specifier }) => {
    if (!specifier.startsWith('.')) return { specifier, packageName: specifier };
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file.path), specifier));
    return { specifier, module: resolved.replace(/\.(c|m)?[jt]s$/, '').replace(/\/index$/, '') };
  });
}

export function checkLayering(files: readonly SourceFile[], rules: readonly Rule[] = RULES): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const applicable = rules.filter((r) => r.appliesTo(file.path));
    if (applicable.length === 0) continue;
    for (const target of importsOf(file)) {
      for (const rule of applicable) {
        if (rule.forbids(target)) violations.push({ file: file.path, specifier: target.specifier, rule: rule.name });
      }
    }
  }
  return violations;
}

/** The checked sources: TypeScript and JavaScript under bin/, lib/ and lambda/. */
export function readSources(root: string, dirs: readonly string[] = ['bin', 'lib', 'lambda']): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (/\.(c|m)?[jt]s$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        out.push({ path: child, text: readFileSync(path.join(root, child), 'utf8') });
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return out;
}

export function formatViolation(v: Violation): string {
  return `${v.file}: imports '${v.specifier}': ${v.rule}`;
}

if (require.main === module) {
  const root = path.resolve(__dirname, '..', '..');
  const files = readSources(root);
  const violations = checkLayering(files);
  for (const v of violations) console.error(formatViolation(v));
  console.log(`layering: ${files.length} files, ${violations.length} violation(s)`);
  process.exitCode = violations.length > 0 ? 1 : 0;
}
