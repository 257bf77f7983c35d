import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    environment: 'node',
    // forks, not threads: NodejsFunction bundling needs real child-process stdio.
    pool: 'forks',
    testTimeout: 90_000,
    hookTimeout: 120_000,
  },
});
