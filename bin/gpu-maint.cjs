#!/usr/bin/env node
// Launcher for the gpu-maint CLI: runs the TypeScript sources through tsx, so `npx gpu-maint`
// works straight after `npm ci` with no build step.
'use strict';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
const { main } = require('./cli/main.ts');
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
