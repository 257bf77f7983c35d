import { defineConfig } from 'vitest/config';

/**
 * The fast inner loop (`npm run test:unit`): TypeScript only (core, config, adapters against mocks, the
 * CLI in-process on temp files). Nothing here runs bash scripts, external tools, CDK synth or servers;
 * test/architecture/unit-project.test.ts checks that. Everything else is the `scripts` project.
 */
const UNIT = [
  'test/architecture/**/*.test.ts',
  'test/alerts/{aws-adapters,cli,dynamodb,policy,render,runbook,scenario,silences}.test.ts',
  'test/backup/{manifest-evaluate,prune-handler,prune,retention}.test.ts',
  'test/cleanup/{disk-pressure,evaluate,parameters}.test.ts',
  'test/cli/{cli,invoke}.test.ts',
  'test/config/*.test.ts',
  'test/core/*.test.ts',
  'test/gpu/{evaluate,instance-gpus,nvidia-smi,xid-catalog,xid}.test.ts',
  'test/health/{evaluate,parse}.test.ts',
  'test/lambda/*.test.ts',
];

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    // Points TMPDIR at a directory of this run and fails the run if anything is left in it.
    globalSetup: ['test/global-setup.ts'],
    environment: 'node',
    // forks, not threads: NodejsFunction bundling needs real child-process stdio.
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, isolate: false, testTimeout: 10_000 } },
      {
        extends: true,
        // Real bash and tools on temp trees, s3rver and IMDS fakes on 127.0.0.1, CDK synth.
        test: { name: 'scripts', include: ['test/**/*.test.ts'], exclude: UNIT, testTimeout: 90_000, hookTimeout: 120_000 },
      },
    ],
  },
});
