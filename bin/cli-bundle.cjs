#!/usr/bin/env node
// Builds the gpu-maint CLI (bin/cli/main.ts and what it imports) into one CommonJS file with esbuild, and
// tells whether that file is still built from the sources on disk. The launcher (bin/gpu-maint.cjs) runs
// the bundle, so the CLI starts without compiling TypeScript; `npm ci` builds it (the `prepare` script),
// and the launcher rebuilds it when a source changed since. See docs/architecture.md ("The CLI bundle").
//
// Usage: node bin/cli-bundle.cjs [--check]
//   (no option) builds the bundle when it is missing or not built from the current sources.
//   --check     only tells: exit 0 when the bundle is current, 1 otherwise (with the reason on stderr).
// Environment: GPU_MAINT_CLI_BUNDLE, where the bundle lives (default below).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const ENTRY = path.join(ROOT, 'bin', 'cli', 'main.ts');
/** Inside node_modules: ignored by git and every tool, and rebuilt after each `npm ci`. */
const BUNDLE = path.resolve(process.env.GPU_MAINT_CLI_BUNDLE || path.join(ROOT, 'node_modules', '.cache', 'gpu-maint-cli', 'main.cjs'));
/** The bundle's first line: this marker, then the JSON record of its inputs. */
const HEADER = '//gpu-maint-cli-inputs ';
const FORMAT = 1;

/**
 * Loaded from node_modules, not bundled: the AWS SDK is most of the bundle's bytes, and only the AWS
 * commands and s3:// stores use it (the others are never reached from the CLI).
 */
const EXTERNAL = ['@aws-sdk/*', '@smithy/*', '@aws-lambda-powertools/*', 'aws-cdk-lib', 'constructs'];
/** `require("@aws-sdk/...")` as esbuild writes an import of an external SDK package. */
const SDK_REQUIRE = /\brequire\((?="@(?:aws-sdk|smithy)\/)/g;
/**
 * Stands in for those requires: the package loads when the command first touches one of its exports, so
 * `--help` and local commands never load it, although the command modules import it at their top. A
 * module that enumerates the namespace (`import * as`) just loads it then.
 */
const LAZY_REQUIRE = `function __gpuMaintLazyRequire(id) {
  let mod;
  const load = () => (mod ??= require(id));
  return new Proxy({}, {
    get: (_, key) => load()[key],
    has: (_, key) => key in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, key) => {
      const found = Reflect.getOwnPropertyDescriptor(load(), key);
      return found && { ...found, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(load()),
  });
}`;

/**
 * Files whose change must rebuild the bundle besides the sources it was built from: this build (its
 * options) and npm's record of the installed packages (rewritten by every install, so an upgrade of a
 * bundled dependency rebuilds).
 */
const EXTRA_INPUTS = [path.join('bin', 'cli-bundle.cjs'), path.join('node_modules', '.package-lock.json')];

/**
 * The record of one input: size and mtime for the launcher's quick check (a stat per file), and a
 * SHA-256 for the exact check the test suite makes before it runs the bundle.
 * @param {string} file
 */
function fingerprint(file) {
  const stat = fs.statSync(file);
  return { size: stat.size, mtimeMs: stat.mtimeMs, sha256: sha256(file) };
}

/** Loaded on use: the launcher's quick check never hashes, and node:crypto costs it a few ms. */
function sha256(file) {
  return require('node:crypto').createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Replaces `__dirname` and `__filename` in a source file with the source's own location, computed from the
 * bundle's: the sources find files beside them (scripts/, docs/, node_modules/uplot) through them.
 * @param {string} source
 * @param {string} file absolute path of the source file
 */
function keepSourceLocation(source, file, bundle) {
  if (!/\b__(?:dirname|filename)\b/.test(source)) return source;
  const dir = JSON.stringify(path.relative(path.dirname(bundle), path.dirname(file)));
  const base = JSON.stringify(path.basename(file));
  return source
    .replace(/\b__dirname\b/g, `require('node:path').join(__dirname, ${dir})`)
    .replace(/\b__filename\b/g, `require('node:path').join(__dirname, ${dir}, ${base})`);
}

/**
 * @param {string} bundle where the bundle will run from
 * @returns {import('esbuild').Plugin}
 */
function sourceLocationPlugin(bundle) {
  return {
    name: 'gpu-maint-source-location',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        const source = await fs.promises.readFile(args.path, 'utf8');
        return { contents: keepSourceLocation(source, args.path, bundle), loader: 'ts' };
      });
    },
  };
}

/**
 * Builds the bundle's text (header line included) from the sources on disk, to run from `bundle`.
 * @param {string} bundle
 * @returns {Promise<string>}
 */
async function buildText(bundle) {
  const esbuild = require('esbuild');
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    // Error and class names stay as written (messages and `instanceof`-free checks may print them).
    keepNames: true,
    banner: { js: LAZY_REQUIRE },
    legalComments: 'none',
    plugins: [sourceLocationPlugin(bundle)],
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const inputs = {};
  const sources = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
  for (const rel of [...sources, ...EXTRA_INPUTS.filter((f) => fs.existsSync(path.join(ROOT, f)))]) {
    inputs[rel.split('/').join(path.sep)] = fingerprint(path.join(ROOT, rel));
  }
  const code = result.outputFiles[0].text.replace(SDK_REQUIRE, '__gpuMaintLazyRequire(');
  return `${HEADER}${JSON.stringify({ format: FORMAT, inputs })}\n${code}`;
}

/**
 * Builds the bundle and writes it in place (a temp file renamed over it, so a CLI starting meanwhile reads
 * the old or the new file, never half of one). Returns the text, also when it could not be written.
 * @param {string} [bundle]
 * @returns {Promise<{ text: string, written: boolean }>}
 */
async function build(bundle = BUNDLE) {
  const text = await buildText(bundle);
  const tmp = `${bundle}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(bundle), { recursive: true });
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, bundle);
    return { text, written: true };
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing was written there
    }
    return { text, written: false };
  }
}

/**
 * The bundle's record of its inputs, or null when there is no bundle (or not one this build wrote).
 * Reads only the first line.
 */
function readInputs(bundle) {
  let fd;
  try {
    fd = fs.openSync(bundle, 'r');
  } catch {
    return null;
  }
  try {
    const chunk = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, chunk, 0, chunk.length, 0);
    const text = chunk.toString('utf8', 0, n);
    const end = text.indexOf('\n');
    if (!text.startsWith(HEADER) || end < 0) return null;
    const record = JSON.parse(text.slice(HEADER.length, end));
    return record.format === FORMAT ? record.inputs : null;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Why the bundle is not built from the sources on disk, or null when it is: an input gone, or its size or
 * mtime changed (what the launcher can afford at each start), and with `exact` also its content (SHA-256).
 * @param {{ exact?: boolean, bundle?: string, root?: string }} [options] root: what the recorded paths are relative to
 * @returns {string | null}
 */
function staleReason(options = {}) {
  const { bundle = BUNDLE, root = ROOT } = options;
  const inputs = readInputs(bundle);
  if (!inputs) return `no bundle at ${bundle}`;
  for (const [rel, recorded] of Object.entries(inputs)) {
    let stat;
    try {
      stat = fs.statSync(path.join(root, rel));
    } catch {
      return `${rel} is gone`;
    }
    // A touched file rebuilds even in the exact check, so that the launcher's quick check agrees with it.
    if (stat.size !== recorded.size || stat.mtimeMs !== recorded.mtimeMs) return `${rel} changed`;
    if (options.exact && sha256(path.join(root, rel)) !== recorded.sha256) return `${rel} changed`;
  }
  return null;
}

async function cli(argv) {
  if (argv[0] === '--check') {
    const reason = staleReason({ exact: true });
    if (reason) console.error(`the CLI bundle is not current: ${reason}`);
    return reason ? 1 : 0;
  }
  if (argv.length > 0) {
    console.error(`usage: node bin/cli-bundle.cjs [--check]; unknown argument: ${argv[0]}`);
    return 2;
  }
  if (!staleReason({ exact: true })) return 0;
  const { written } = await build();
  if (!written) {
    console.error(`could not write the CLI bundle to ${BUNDLE}`);
    return 1;
  }
  return 0;
}

module.exports = { BUNDLE, HEADER, build, staleReason };

if (require.main === module) {
  cli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
