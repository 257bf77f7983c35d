#!/usr/bin/env node
// Launcher for the gpu-maint CLI: runs the TypeScript sources through tsx, so `npx gpu-maint`
// works straight after `npm ci` with no build step.
'use strict';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// `gpu-maint ... | head` closes the pipe early: stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
require('tsx/cjs');
const { main } = require('./cli/main.ts');
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
