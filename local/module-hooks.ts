import { registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';
import { QDRANT_FETCH_BUILD } from '../infra/constructs/bundling.ts';

/**
 * Makes the handlers run in this process resolve `@qdrant/js-client-rest` to the build Lambda
 * bundles (see `QDRANT_FETCH_BUILD`). Used by `npm start` (main.ts) and by each execution
 * environment (sandbox.ts); call it before any module that imports the client is loaded.
 */
export function useQdrantFetchBuild(): void {
  const fetchBuild = pathToFileURL(QDRANT_FETCH_BUILD).href;
  registerHooks({
    resolve: (specifier, context, next) =>
      specifier === '@qdrant/js-client-rest'
        ? { url: fetchBuild, format: 'module', shortCircuit: true }
        : next(specifier, context),
  });
}
