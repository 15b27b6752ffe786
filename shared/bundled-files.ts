import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Package files a handler reads at run time (a page's script and style sheet), which a JavaScript
 * bundle does not carry. A function declares them in the manifest (`files`); its Lambda bundle
 * holds a copy of each under `files/<module path>` beside `index.mjs` (`bundledFilesCommands` in
 * `infra/constructs/bundling.ts`). Unbundled (`npm start`, tests) they are read from node_modules.
 */
export const BUNDLED_FILES_DIR = 'files';

/** The bytes of `specifier` (`swagger-ui-dist/swagger-ui.css`): beside the bundle, else from its package. */
export function readBundledFile(specifier: string): Buffer {
  const beside = new URL(`./${BUNDLED_FILES_DIR}/${specifier}`, import.meta.url);
  if (existsSync(beside)) return readFileSync(beside);
  return readFileSync(createRequire(import.meta.url).resolve(specifier));
}
