import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The integration suites that also run against a deployed stage (`npm run test:deployed`, through
 * test/integration/deployed-run.ts, which sets TEST_TARGET=deployed and the DEPLOYED_* variables).
 * Their checks go through the HTTP API and the exports bucket only; the parts that need the local
 * runtime's internals are skipped there, each with its reason in its title (see target.ts).
 */
export const DEPLOYED_SUITES = [
  'test/integration/vectors-api.test.ts',
  'test/integration/plans-api.test.ts',
  'test/integration/auth.test.ts',
  'test/integration/correlation.test.ts',
  'test/integration/migrations.test.ts',
  'test/integration/managers.test.ts',
];

// Spread, not mergeConfig: that would append these lists to the base's `include` and `reporters`.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: DEPLOYED_SUITES,
    // One file at a time: a shared stage's rate limits count every request of the run.
    fileParallelism: false,
    // A real stage: cold starts, queues and the network.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Every test by name, so that each skipped part shows its reason.
    reporters: ['verbose', './test/summary-reporter.ts'],
  },
});
