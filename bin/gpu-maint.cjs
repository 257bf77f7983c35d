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
const cliBundle = require('./cli-bundle.cjs');

/** The bundle's text: the file's while it is current, else a fresh build (run from memory where it cannot be written). */
async function currentBundle() {
  const text = cliBundle.readBundle();
  if (!cliBundle.staleReason({ text })) return text;
  return (await cliBundle.build()).text;
}

currentBundle().then(
  async (text) => {
    const { exports: cli, saveCodeCache, configMemo } = cliBundle.runBundle(text);
    cli.useConfigMemo?.(configMemo);
    process.exitCode = await cli.main(process.argv.slice(2));
    saveCodeCache();
  },
  (err) => {
    process.stderr.write(`gpu-maint: could not build the CLI from its sources: ${err.message}\n`);
    process.exitCode = 1;
  },
);
