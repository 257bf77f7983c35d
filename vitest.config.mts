import { defineConfig } from 'vitest/config';
import unitFiles from './test/unit-files.json' with { type: 'json' };

/**
 * `unit` and `unit-isolated` are the fast inner loop (`npm run test:unit`): TypeScript only (core,
 * config, adapters against mocks, the CLI in-process on temp files); nothing there runs bash scripts,
 * external tools, CDK synth or servers (test/architecture/unit-project.test.ts checks their imports).
 * `unit` shares one module cache across its files (isolate: false), which makes it fast; a file that
 * needs fresh modules goes in `unitIsolated` of test/unit-files.json. Every other file is `scripts`.
 */
const UNIT = [...unitFiles.unit, ...unitFiles.unitIsolated];

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    // Points TMPDIR at a directory of this run and fails the run if anything is left in it.
    globalSetup: ['test/global-setup.ts'],
    environment: 'node',
    // forks, not threads: NodejsFunction bundling needs real child-process stdio.
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: unitFiles.unit, isolate: false, testTimeout: 10_000 } },
      { extends: true, test: { name: 'unit-isolated', include: unitFiles.unitIsolated, testTimeout: 10_000 } },
      {
        extends: true,
        // Real bash and tools on temp trees, s3rver and IMDS fakes on 127.0.0.1, CDK synth. A beforeAll that
        // runs a whole backup of the adversarial tree (dozens of tar/zstd/sha256 pipelines) or a first synth
        // took over 120 s on the shared 2-core machine at load 25; tests that wait longer set their own.
        test: { name: 'scripts', include: ['test/**/*.test.ts'], exclude: UNIT, testTimeout: 90_000, hookTimeout: 300_000 },
      },
    ],
  },
});
