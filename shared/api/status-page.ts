import { createHash } from 'node:crypto';
import * as z from 'zod';
import { STATUS_PAGE_SCRIPT } from './status-page-script.ts';
import { STATUS_PAGE_STYLE } from './status-page-style.ts';

/**
 * The status page (`GET /api/v1/status-page`): the managers with their lifecycle state and health
 * (Start/Stop for administrators), migrations in progress, the workflow executions running, each
 * plan's declared vs computed progress and the latest events, refreshed every few seconds by its
 * script from the API itself, with the bearer token the reader enters. Served by the platform, offline: its script and style
 * sheet are ours, in this bundle.
 */

export const STATUS_PAGE_PATH = '/api/v1/status-page';

export interface StatusPageAsset {
  contentType: string;
  text: string;
}

/**
 * Assets are named by their content's hash, so they may be cached for good: a deploy that changes
 * one changes its name in the page, which is never cached.
 */
const hashed = (base: string, ext: string, text: string) =>
  `${base}.${createHash('sha256').update(text).digest('hex').slice(0, 12)}.${ext}`;

const SCRIPT_FILE = hashed('status-page', 'js', STATUS_PAGE_SCRIPT);
const STYLE_FILE = hashed('status-page', 'css', STATUS_PAGE_STYLE);

/** The files under `/api/v1/status-page/{file}`. */
export const STATUS_PAGE_ASSETS: Readonly<Record<string, StatusPageAsset>> = {
  [SCRIPT_FILE]: { contentType: 'application/javascript; charset=utf-8', text: STATUS_PAGE_SCRIPT },
  [STYLE_FILE]: { contentType: 'text/css; charset=utf-8', text: STATUS_PAGE_STYLE },
};

/** `Cache-Control` of an asset: its name changes with its content. */
export const STATUS_PAGE_ASSET_CACHE = 'public, max-age=31536000, immutable';

/** Columns of a table, as header cells. */
const head = (...columns: string[]) =>
  `<thead><tr>${columns.map((c) => `<th scope="col">${c}</th>`).join('')}</tr></thead>`;

/** A section: its heading, its error message (an alert), its table with a caption for screen readers. */
const section = (id: string, title: string, caption: string, columns: string[], extra = '') => `
    <section aria-labelledby="${id}-title">
      <h2 id="${id}-title">${title}</h2>
      <p id="${id}-message" class="message" role="alert"></p>${extra}
      <table id="${id}">
        <caption class="muted small">${caption}</caption>
        ${head(...columns)}
        <tbody id="${id}-body"></tbody>
      </table>
    </section>`;

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>vector-platform status</title>
    <link rel="stylesheet" href="${STATUS_PAGE_PATH}/${STYLE_FILE}">
    <script type="module" src="${STATUS_PAGE_PATH}/${SCRIPT_FILE}"></script>
  </head>
  <body>
    <header>
      <h1>vector-platform status</h1>
      <p id="announce" role="status" aria-live="polite"></p>
      <p id="updated" class="updated small"></p>
    </header>
    <noscript><p class="message">This page needs JavaScript: it reads the status from the API.</p></noscript>
    <main>
      <section aria-labelledby="token-title">
        <h2 id="token-title">Access token</h2>
        <form id="token-form">
          <label for="token">Bearer token</label>
          <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
          <button type="submit">Use token</button>
          <button type="button" id="forget">Forget token</button>
        </form>
        <p class="hint small">Reading needs a reader's token, Start and Stop an administrator's. Locally,
          from the checkout where <code>npm start</code> runs: <code>npm run token -- --role admin</code>
          (or <code>--role readonly</code>). The token stays in this tab's session storage, never in the URL.</p>
        <p id="auth-message" class="message" role="alert"></p>
      </section>${section(
        'managers',
        'Managers',
        'Each manager’s lifecycle state and live health; Start and Stop need an administrator.',
        ['Manager', 'State', 'Health', 'Checks', 'Actions'],
        '\n      <p id="action-message" class="message" role="alert"></p>',
      )}${section(
        'migrations',
        'Migrations in progress',
        'Jobs planning, running or finalizing, with their chunks and records.',
        ['Job and export', 'Target alias', 'Status', 'Chunks done', 'Records', 'Started'],
      )}${section(
        'executions',
        'Workflow executions',
        'Workflow executions running now, newest first (the latest 20).',
        ['Workflow', 'Execution', 'Started', 'Running for'],
      )}${section(
        'plans',
        'Plans',
        'Progress computed from the tasks vs the progress each plan declares; drift in percentage points.',
        ['Plan', 'Tasks done', 'Computed', 'Declared', 'Drift'],
      )}${section('events', 'Latest events', 'The last 20 events of the platform’s bus, newest first.', [
        'Time',
        'Type',
        'Source',
        'Detail',
      ])}
    </main>
  </body>
</html>
`;

/** `GET /api/v1/status-page/{file}`; a name that is no asset is a 404. */
export const StatusPageAssetPathSchema = z.object({
  file: z
    .string()
    .min(1)
    .max(100)
    // No example: the names change with the files' content (the page links the current ones).
    .meta({ description: 'An asset of the page, as the page links it (`status-page.<hash>.js`)' }),
});

/**
 * The page's content security policy (it replaces the edge's `default-src 'none'` for JSON):
 * its script and style sheet from this API only (no inline script or style, no eval), calls to
 * this API only, nothing else loaded; no `<base>`, no form posts (the token form is handled by
 * the script), never framed. `test/integration/status-page-browser.test.ts` fails on any
 * violation the page reports.
 */
export const STATUS_PAGE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
