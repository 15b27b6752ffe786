import * as z from 'zod';

/**
 * The API's documentation page (`GET /api/v1/docs`): Swagger UI served from the `swagger-ui-dist`
 * package by the platform itself, offline, no CDN. The page and its script are ours (below); the
 * UI's script, style sheet and icons are the package's files, listed in `DOCS_PACKAGE_FILES` and
 * carried in the function's bundle (`files` in the manifest).
 */

export const DOCS_PATH = '/api/v1/docs';
export const OPENAPI_PATH = '/api/v1/openapi.json';

export interface DocsAsset {
  contentType: string;
  /** A file of an npm package, by module path; or the text of our own file. */
  source: { package: string } | { text: string };
}

/**
 * The page's own script: starts Swagger UI on the document. A file of its own (no inline script,
 * so the policy below needs no `'unsafe-inline'` for scripts). "Authorize" keeps the token in the
 * page's memory only (no `persistAuthorization`: no token left in localStorage).
 */
const INIT_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '${OPENAPI_PATH}',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    // No request to the public validator service (validator.swagger.io): the page stays offline.
    validatorUrl: null,
    displayRequestDuration: true,
  });
});
`;

export const DOCS_PAGE_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>vector-platform API</title>
    <link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
    <link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
    <script src="${DOCS_PATH}/init.js"></script>
  </body>
</html>
`;

const JS = 'application/javascript; charset=utf-8';

/** The files under `/api/v1/docs/{file}`. */
export const DOCS_ASSETS: Readonly<Record<string, DocsAsset>> = {
  'init.js': { contentType: JS, source: { text: INIT_SCRIPT } },
  'swagger-ui-bundle.js': { contentType: JS, source: { package: 'swagger-ui-dist/swagger-ui-bundle.js' } },
  'swagger-ui.css': {
    contentType: 'text/css; charset=utf-8',
    source: { package: 'swagger-ui-dist/swagger-ui.css' },
  },
  'favicon-32x32.png': { contentType: 'image/png', source: { package: 'swagger-ui-dist/favicon-32x32.png' } },
  'favicon-16x16.png': { contentType: 'image/png', source: { package: 'swagger-ui-dist/favicon-16x16.png' } },
};

/** The package files the docs function reads: its bundle must carry them. */
export const DOCS_PACKAGE_FILES: readonly string[] = Object.values(DOCS_ASSETS).flatMap((a) =>
  'package' in a.source ? [a.source.package] : [],
);

/** `GET /api/v1/docs/{file}`; a name that is no asset is a 404. */
export const DocsAssetPathSchema = z.object({
  file: z
    .string()
    .min(1)
    .max(100)
    .meta({ description: 'An asset of the page', examples: Object.keys(DOCS_ASSETS) }),
});

/**
 * The page's content security policy (it replaces the edge's `default-src 'none'` for JSON):
 * - `script-src 'self'`: Swagger UI's bundle and our init script, both files of this API; no
 *   inline script, no eval;
 * - `style-src 'self'`: the style sheet; Swagger UI's React components set styles through the
 *   DOM (not `style` attributes in markup), which the policy allows without `'unsafe-inline'`;
 * - `img-src 'self' data:`: the favicons, and the SVG icons the style sheet holds as `data:` URLs
 *   (refused without `data:`: the browser test sees the violations);
 * - `connect-src 'self'`: loading the document and "Try it out" calls, to this API only;
 * - nothing else: no fonts, frames, objects, workers; no `<base>`, no form posts; never framed.
 * `test/integration/docs-browser.test.ts` fails on any violation the page reports.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
