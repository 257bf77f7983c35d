/**
 * The `unit` vitest project, the fast inner loop (`npm run test:unit`): TypeScript only (core, config,
 * adapters against mocks, the CLI in-process on temp files). Nothing here runs bash scripts, external
 * tools, CDK synth or servers; test/architecture/unit-project.test.ts checks their imports. Every other
 * test file is in the `scripts` project.
 */
export const UNIT_TEST_FILES: readonly string[] = [
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
  'test/tasks/registry.test.ts',
];
