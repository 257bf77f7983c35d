import { defineConfig } from 'vitest/config';
import { UNIT_TEST_FILES } from './test/unit-files';

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    // Points TMPDIR at a directory of this run and fails the run if anything is left in it.
    globalSetup: ['test/global-setup.ts'],
    environment: 'node',
    // forks, not threads: NodejsFunction bundling needs real child-process stdio.
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: [...UNIT_TEST_FILES], isolate: false, testTimeout: 10_000 } },
      {
        extends: true,
        // Real bash and tools on temp trees, s3rver and IMDS fakes on 127.0.0.1, CDK synth. A beforeAll that
        // runs a whole backup of the adversarial tree (dozens of tar/zstd/sha256 pipelines) or a first synth
        // took over 120 s on the shared 2-core machine at load 25; tests that wait longer set their own.
        test: { name: 'scripts', include: ['test/**/*.test.ts'], exclude: [...UNIT_TEST_FILES], testTimeout: 90_000, hookTimeout: 300_000 },
      },
    ],
  },
});
