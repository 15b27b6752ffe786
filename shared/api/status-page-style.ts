/**
 * The status page's style sheet (`shared/api/status-page.ts`). Colours only repeat what the text
 * already says (a state, a health), so nothing depends on seeing them.
 */
export const STATUS_PAGE_STYLE = `:root {
  color-scheme: light dark;
  --ok: #1a7f37;
  --warn: #9a6700;
  --bad: #cf222e;
  --muted: #6e7781;
  --line: #d0d7de;
}
body {
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0 auto;
  max-width: 72rem;
  padding: 1rem 1.5rem 3rem;
}
h1 { font-size: 1.5rem; margin: 0.5rem 0; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 0.5rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em; }
.hint, .muted, .updated { color: var(--muted); }
.small { font-size: 0.85em; }
form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
input { flex: 1 1 24rem; font: inherit; padding: 0.3rem 0.5rem; }
button { font: inherit; padding: 0.25rem 0.75rem; cursor: pointer; }
button:disabled { cursor: progress; }
.message:empty { display: none; }
.message { border-left: 4px solid var(--bad); padding: 0.4rem 0.75rem; margin: 0.5rem 0; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; padding-bottom: 0.25rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
th { font-weight: 600; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
ul.checks { list-style: none; margin: 0; padding: 0; }
progress { width: 8rem; vertical-align: middle; }
.badge { font-weight: 600; }
.state-running, .health-healthy, .job-completed { color: var(--ok); }
.state-starting, .state-stopping, .health-degraded, .job-planning, .job-running, .job-finalizing { color: var(--warn); }
.state-failed, .health-unhealthy, .job-failed, .error { color: var(--bad); }
.state-stopped, .job-rolled-back { color: var(--muted); }
.drift { color: var(--warn); font-weight: 600; }
`;
