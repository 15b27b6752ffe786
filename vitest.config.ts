import { defineConfig } from 'vitest/config';
import { QDRANT_FETCH_BUILD } from './infra/constructs/bundling.ts';

export default defineConfig({
  // The Qdrant client build that Lambda and `npm start` run (see QDRANT_FETCH_BUILD).
  resolve: { alias: { '@qdrant/js-client-rest': QDRANT_FETCH_BUILD } },
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
