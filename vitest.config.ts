import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Handlers run in-process in tests: no EMF lines on stdout (metrics are asserted with spies).
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
