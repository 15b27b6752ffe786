import { existsSync } from 'node:fs';

/**
 * The chromium the browser tests drive with playwright-core: `CHROMIUM_PATH`, else Debian's.
 * Without one a test is skipped locally (with a warning) and fails in CI, where `.ci/run`
 * installs it.
 */
export function findChromium(test: string): string | undefined {
  const path = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
    (p): p is string => p !== undefined && p !== '' && existsSync(p),
  );
  if (!path && process.env.CI) {
    throw new Error(`chromium is required in CI for ${test} (apt-get install chromium, see .ci/run)`);
  }
  if (!path) console.warn(`${test} skipped: no chromium (apt-get install chromium, or set CHROMIUM_PATH)`);
  return path;
}
