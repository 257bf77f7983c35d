#!/usr/bin/env node
// Launcher for the gpu-maint CLI: runs the esbuild bundle of bin/cli/main.ts that `npm ci` builds
// (bin/cli-bundle.cjs), so the CLI starts without compiling TypeScript. When a source changed since the
// bundle was built, it rebuilds it first (once, about a second).
'use strict';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// `gpu-maint ... | head` closes the pipe early: stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
const Module = require('node:module');
const path = require('node:path');
const cliBundle = require('./cli-bundle.cjs');

/** The bundle's exports: the file when it is current, else a fresh build (run from memory when the file cannot be written). */
async function loadCli() {
  if (!cliBundle.staleReason()) return require(cliBundle.BUNDLE);
  const { text, written } = await cliBundle.build();
  if (written) return require(cliBundle.BUNDLE);
  const cli = new Module(cliBundle.BUNDLE, module);
  cli.filename = cliBundle.BUNDLE;
  cli.paths = Module._nodeModulePaths(path.dirname(cliBundle.BUNDLE));
  cli._compile(text, cliBundle.BUNDLE);
  return cli.exports;
}

loadCli().then(
  ({ main }) =>
    main(process.argv.slice(2)).then((code) => {
      process.exitCode = code;
    }),
  (err) => {
    process.stderr.write(`gpu-maint: could not build the CLI from its sources: ${err.message}\n`);
    process.exitCode = 1;
  },
);
