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
 * A source that uses `__dirname` or `__filename` gets its own location as them, computed from the
 * bundle's (`__gpuMaintBundleDir`, set by the banner): the sources find files beside them (scripts/, docs/,
 * node_modules/uplot) through them. esbuild's `define` renames the identifiers (never text in strings or
 * comments), and nothing in the bundle declares a `__dirname` that would hide the bundle's own.
 * @param {string} source
 * @param {string} file absolute path of the source file
 * @param {string} bundle where the bundle will run from
 * @returns {Promise<string | undefined>} the source as JavaScript, or undefined when it uses neither
 */
async function keepSourceLocation(source, file, bundle) {
  if (!/\b__(?:dirname|filename)\b/.test(source)) return undefined;
  const { code } = await require('esbuild').transform(source, {
    loader: 'ts',
    sourcefile: file,
    tsconfigRaw: fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8'),
    define: { __dirname: '__gpuMaintSourceDir', __filename: '__gpuMaintSourceFile' },
  });
  const dir = JSON.stringify(path.relative(path.dirname(bundle), path.dirname(file)));
  const base = JSON.stringify(path.basename(file));
  const location = `const __gpuMaintSourceDir = require('node:path').join(__gpuMaintBundleDir, ${dir});
const __gpuMaintSourceFile = require('node:path').join(__gpuMaintSourceDir, ${base});`;
  return `${location}\n${code}`;
}

/**
 * Packages whose default export is a function and whose loading costs every command: string-width builds
 * an Intl.Segmenter and an RGI_Emoji regular expression when it loads (a tenth of the CLI's start-up),
 * which only a terminal report needs.
 */
const LAZY_DEFAULT_FUNCTIONS = ['string-width', 'wrap-ansi'];

/**
 * Gives the sources' imports of LAZY_DEFAULT_FUNCTIONS a stand-in function that loads the package (still
 * bundled) on its first call.
 * @type {import('esbuild').Plugin}
 */
const lazyDefaultFunctionsPlugin = {
  name: 'gpu-maint-lazy-default-functions',
  setup(build) {
    const filter = new RegExp(`^(?:${LAZY_DEFAULT_FUNCTIONS.join('|')})$`);
    build.onResolve({ filter }, (args) => {
      if (args.namespace !== 'file' || args.importer.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      return { path: args.path, namespace: 'gpu-maint-lazy' };
    });
    build.onLoad({ filter: /.*/, namespace: 'gpu-maint-lazy' }, (args) => ({
      contents: `let loaded;
module.exports = { __esModule: true, default: (...args) => (loaded ??= require(${JSON.stringify(args.path)}).default)(...args) };`,
      resolveDir: ROOT,
      loader: 'js',
    }));
  },
};

/**
 * A module of a bundled package that no command uses, left out: zod's translations of its messages (the
 * `locales` namespaces of zod and of its core, 400 KB of the bundle's 2 MB; the English messages zod
 * uses are imported on their own). Reading and loading them cost every command about 4 ms.
 */
const OMITTED_MODULE = /^\.\.\/locales\/index\.js$/;
/** The modules that import it: zod's classic API and its core. */
const OMITTED_MODULE_IMPORTER = /[\\/]node_modules[\\/]zod[\\/]v4[\\/](?:classic[\\/]external|core[\\/]index)\.js$/;

/**
 * Gives OMITTED_MODULE an empty module (an ES module, so `export * as locales` of it is an empty
 * namespace).
 * @type {import('esbuild').Plugin}
 */
const omittedModulePlugin = {
  name: 'gpu-maint-omitted-module',
  setup(build) {
    build.onResolve({ filter: OMITTED_MODULE }, (args) =>
      OMITTED_MODULE_IMPORTER.test(args.importer) ? { path: args.path, namespace: 'gpu-maint-omitted' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'gpu-maint-omitted' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

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
        const contents = await keepSourceLocation(await fs.promises.readFile(args.path, 'utf8'), args.path, bundle);
        return contents === undefined ? undefined : { contents, loader: 'js' };
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
    banner: { js: `const __gpuMaintBundleDir = __dirname;\n${LAZY_REQUIRE}` },
    legalComments: 'none',
    plugins: [sourceLocationPlugin(bundle), lazyDefaultFunctionsPlugin, omittedModulePlugin],
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) {
    const messages = await esbuild.formatMessages(result.warnings, { kind: 'warning' });
    throw new Error(`esbuild warned, so the bundle could behave unlike the sources:\n${messages.join('')}`);
  }
  const inputs = {};
  const sources = Object.keys(result.metafile.inputs).filter(
    (f) => !f.startsWith('node_modules/') && !/^gpu-maint-(?:lazy|omitted):/.test(f),
  );
  for (const rel of [...sources, ...EXTRA_INPUTS.filter((f) => fs.existsSync(path.join(ROOT, f)))]) {
    inputs[rel.split('/').join(path.sep)] = fingerprint(path.join(ROOT, rel));
  }
  const code = result.outputFiles[0].text.replace(SDK_REQUIRE, '__gpuMaintLazyRequire(');
  const id = require('node:crypto').createHash('sha256').update(code).digest('hex').slice(0, 16);
  return `${HEADER}${JSON.stringify({ format: FORMAT, id, inputs })}\n${code}`;
}

/**
 * Builds the bundle and writes it in place (a temp file renamed over it, so a CLI starting meanwhile reads
 * the old or the new file, never half of one), and removes the code caches and memos of earlier builds. Returns the
 * text, also when it could not be written.
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
  } catch {
    removeQuietly(tmp);
    return { text, written: false };
  }
  const header = parseHeader(text);
  const suffixes = Object.values(BUILD_FILES);
  const keep = new Set(suffixes.map((suffix) => path.basename(buildFile(bundle, header, suffix))));
  const prefix = `${path.basename(bundle)}.`;
  for (const name of fs.readdirSync(path.dirname(bundle))) {
    if (name.startsWith(prefix) && suffixes.some((suffix) => name.endsWith(suffix)) && !keep.has(name))
      fs.rmSync(path.join(path.dirname(bundle), name), { force: true });
  }
  return { text, written: true };
}

/** Removes a temp file this process may have left; where nothing could be written, there is none. */
function removeQuietly(file) {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // its directory is not there or not writable: nothing was written
  }
}

/**
 * The bundle's text, or null when there is none. One read: its header always describes its code, even
 * while a rebuild renames a new file over it.
 * @param {string} [bundle]
 * @returns {string | null}
 */
function readBundle(bundle = BUNDLE) {
  try {
    return fs.readFileSync(bundle, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The first line's record ({ format, id, inputs }), or null when the text is not a bundle this build wrote.
 * @param {string | null} text
 */
function parseHeader(text) {
  if (!text?.startsWith(HEADER)) return null;
  try {
    const record = JSON.parse(text.slice(HEADER.length, text.indexOf('\n')));
    return record.format === FORMAT ? record : null;
  } catch {
    return null;
  }
}

/**
 * Why a bundle is not built from the sources on disk, or null when it is: no bundle, an input gone, or its
 * size or mtime changed (what the launcher can afford at each start), and with `exact` also its content
 * (SHA-256).
 * @param {{ text?: string | null, bundle?: string, root?: string, exact?: boolean }} [options] text: the
 *   bundle's (read from `bundle` when not given); root: what the recorded paths are relative to
 * @returns {string | null}
 */
function staleReason(options = {}) {
  const { bundle = BUNDLE, root = ROOT } = options;
  const header = parseHeader(options.text === undefined ? readBundle(bundle) : options.text);
  if (!header) return `no bundle at ${bundle}`;
  for (const [rel, recorded] of Object.entries(header.inputs)) {
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

/**
 * What one build keeps beside the bundle, named by the build (so never another build's), by suffix:
 * V8's compiled code, and the memo of validated settings (bin/cli/config-memo.ts).
 */
const BUILD_FILES = { codeCache: '.v8cache', configMemo: '.config-memo.json' };

/** The file `suffix` (of BUILD_FILES) of one build of the bundle. */
function buildFile(bundle, header, suffix) {
  return `${bundle}.${header?.id ?? 'unknown'}${suffix}`;
}

/**
 * Runs the bundle's text as the CommonJS module `bundle`, with V8's code cache of that build when there is
 * one: compiling the bundle is a third of the CLI's start-up without it. Returns the module's exports,
 * a function that writes the cache when there was none (call it once the command ran, so that the cache
 * holds the functions it compiled; it does nothing where the cache cannot be written), and the file of
 * this build's memo of validated settings (for the exports' `useConfigMemo`).
 * @param {string} text
 * @param {string} [bundle]
 * @returns {{ exports: any, saveCodeCache: () => void, configMemo: string }}
 */
function runBundle(text, bundle = BUNDLE) {
  const Module = require('node:module');
  const vm = require('node:vm');
  const header = parseHeader(text);
  const cacheFile = buildFile(bundle, header, BUILD_FILES.codeCache);
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // first run of this build
  }
  const script = new vm.Script(Module.wrap(text), { filename: bundle, cachedData });
  const cli = new Module(bundle, module);
  cli.filename = bundle;
  cli.paths = Module._nodeModulePaths(path.dirname(bundle));
  Module._cache[bundle] = cli;
  script.runInThisContext().call(cli.exports, cli.exports, Module.createRequire(bundle), cli, bundle, path.dirname(bundle));
  cli.loaded = true;
  const saveCodeCache = () => {
    if (cachedData && !script.cachedDataRejected) return;
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch {
      // A read-only install runs without the cache.
      removeQuietly(tmp);
    }
  };
  return { exports: cli.exports, saveCodeCache, configMemo: buildFile(bundle, header, BUILD_FILES.configMemo) };
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

module.exports = { BUNDLE, HEADER, build, readBundle, runBundle, staleReason };

if (require.main === module) {
  cli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`could not build the CLI bundle: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
