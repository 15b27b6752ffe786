/**
 * The status page's script (`shared/api/status-page.ts`), a file of its own so the page's policy
 * needs no inline script. Browser JavaScript in a string: no template literals or backslashes in
 * it. Every text from the API goes in with `textContent`, never as markup. The token stays in
 * the tab's `sessionStorage` (gone with the tab) and is sent as a bearer header only.
 */
export const STATUS_PAGE_SCRIPT = `const API = '/api/v1';
const TOKEN_KEY = 'vector-platform.status-page.token';
const REFRESH_MS = 5000;
const IN_PROGRESS = ['planning', 'running', 'finalizing'];
const TOKEN_HELP = 'Locally: npm run token -- --role admin (or --role readonly to only read).';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let timer = 0;
let running = false;
let again = false;
const lastStates = new Map();

/** An element with optional class and children (strings become text nodes, never markup). */
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
const pct = (n) => (n === null || n === undefined ? 'n/a' : n + '%');

/**
 * How long ago an ISO time was, coarser as it grows: '42 s', '3 min 5 s', '2 h 10 min', '3 d 4 h'.
 * Hand-written: Intl.DurationFormat is too recent to count on in every reader's browser.
 */
function elapsed(iso) {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

function announce(text) {
  $('announce').textContent = text;
}

function showMessage(id, text) {
  const node = $(id);
  if (node.textContent !== text) node.textContent = text;
}

/** What an error answer says: the API's error shape, or API Gateway's own bodies. */
function reasonOf(res) {
  const body = res.body;
  const message = (body && body.error && body.error.message) || (body && body.message) || '';
  return 'HTTP ' + res.status + (message ? ': ' + message : '');
}

async function api(method, path) {
  let res;
  try {
    res = await fetch(API + path, {
      method,
      cache: 'no-store',
      headers: { authorization: 'Bearer ' + token, accept: 'application/json' },
    });
  } catch (err) {
    return { status: 0, body: { message: 'the API is unreachable (' + err.message + ')' } };
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  return { status: res.status, body };
}

/** A 401 stops the refreshes until a new token is entered. */
function tokenRefused() {
  stopRefreshing();
  showMessage(
    'auth-message',
    "The API refused the token (401: missing, expired or not from this API's issuer). Enter a new one. " +
      TOKEN_HELP,
  );
}

/** A failed read is said in its own section; the others still show. */
function failed(res, messageId, what) {
  if (res.status === 401) {
    tokenRefused();
    return;
  }
  if (res.status === 403) {
    showMessage(messageId, 'This token may not read ' + what + ' (403): it needs at least the reader role.');
    return;
  }
  showMessage(messageId, 'Could not load ' + what + ' (' + reasonOf(res) + ').');
}

/**
 * Rows kept by key across refreshes and moved only when out of place: a row taken out of the
 * document would take the keyboard focus of its button with it.
 */
function syncRows(tbody, items, keyOf, fill) {
  const existing = new Map();
  for (const row of tbody.rows) existing.set(row.dataset.key, row);
  items.forEach((item, i) => {
    const key = keyOf(item);
    const row = existing.get(key) || el('tr');
    row.dataset.key = key;
    fill(row, item);
    if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] || null);
  });
  while (tbody.rows.length > items.length) tbody.lastElementChild.remove();
}

function cells(row, count) {
  while (row.cells.length < count) row.append(el('td'));
  return Array.from(row.cells);
}

function emptyRow(tbody, columns, text) {
  const cell = el('td', 'muted', text);
  cell.colSpan = columns;
  const row = el('tr', null, cell);
  row.dataset.key = '';
  tbody.replaceChildren(row);
}

function renderManagers(managers) {
  syncRows($('managers-body'), managers, (m) => m.id, (row, m) => {
    row.dataset.manager = m.id;
    const [name, state, health, checks, actions] = cells(row, 5);
    name.replaceChildren(el('strong', null, m.name), el('br'), el('code', 'small', m.id));
    const s = m.status;
    state.replaceChildren(
      el('span', 'badge state state-' + s.state, s.state),
      el('br'),
      el('span', 'small muted', s.since ? 'since ' + when(s.since) + (s.by ? ' by ' + s.by : '') : 'since deployment'),
      ...(s.lastError ? [el('div', 'small error', s.lastError)] : []),
    );
    health.replaceChildren(el('span', 'badge health health-' + m.health.status, m.health.status));
    checks.replaceChildren(
      el(
        'ul',
        'checks small',
        ...m.health.checks.map((c) =>
          el(
            'li',
            null,
            el('span', 'health-' + c.status, c.name + ': ' + c.status),
            ' (' + Math.round(c.latencyMs) + ' ms)' + (c.detail ? ' ' + c.detail : ''),
          ),
        ),
      ),
    );
    renderAction(actions, m);
    const before = lastStates.get(m.id);
    if (before && before !== s.state) announce(m.name + ' is now ' + s.state + '.');
    lastStates.set(m.id, s.state);
  });
}

/** Start or Stop for a manager that may be stopped; its button is kept while the row is. */
function renderAction(cell, m) {
  if (!m.stoppable) {
    cell.replaceChildren(el('span', 'muted small', 'always on'));
    return;
  }
  let button = cell.querySelector('button');
  if (!button) {
    button = el('button');
    button.type = 'button';
    button.addEventListener('click', () => act(m.id, m.name, button.dataset.verb, button));
    cell.replaceChildren(button);
  }
  if (button.dataset.busy) return;
  const state = m.status.state;
  const verb = state === 'running' ? 'stop' : state === 'stopped' || state === 'failed' ? 'start' : '';
  button.dataset.verb = verb;
  button.disabled = verb === '';
  button.textContent = verb === 'stop' ? 'Stop' : verb === 'start' ? 'Start' : state + '…';
  button.setAttribute(
    'aria-label',
    verb === 'stop' ? 'Stop ' + m.name : verb === 'start' ? 'Start ' + m.name : m.name + ' is ' + state,
  );
}

async function act(id, name, verb, button) {
  if (!verb) return;
  showMessage('action-message', '');
  button.dataset.busy = '1';
  button.disabled = true;
  button.textContent = verb === 'stop' ? 'Stopping…' : 'Starting…';
  const res = await api('POST', '/managers/' + encodeURIComponent(id) + '/' + verb);
  delete button.dataset.busy;
  if (res.status === 200) {
    // Said once: the refresh that shows the new state need not say it again.
    lastStates.set(id, res.body.state);
    announce(name + (verb === 'stop' ? ' stopped.' : ' started.'));
  } else if (res.status === 403) {
    showMessage(
      'action-message',
      (verb === 'stop' ? 'Stopping ' : 'Starting ') + name +
        ' needs an administrator (403): this token lacks the admin role. ' + TOKEN_HELP,
    );
  } else if (res.status !== 401) {
    showMessage('action-message', 'Could not ' + verb + ' ' + name + ' (' + reasonOf(res) + ').');
  }
  if (res.status === 401) tokenRefused();
  else refreshNow();
}

function renderMigrations(jobs) {
  const active = jobs.filter((j) => IN_PROGRESS.includes(j.status));
  const tbody = $('migrations-body');
  if (active.length === 0) {
    const latest = jobs[0];
    emptyRow(
      tbody,
      6,
      'No migration in progress.' +
        (latest ? ' Latest: ' + latest.key + ', ' + latest.status + ' ' + when(latest.completedAt || latest.updatedAt) + '.' : ''),
    );
    return;
  }
  syncRows(tbody, active, (j) => j.id, (row, j) => {
    const [job, target, status, chunks, records, started] = cells(row, 6);
    job.replaceChildren(el('code', 'small', j.id), el('br'), j.key);
    target.textContent = j.target + (j.dryRun ? ' (dry run)' : '');
    status.replaceChildren(el('span', 'badge job-' + j.status, j.status));
    const bar = el('progress');
    bar.max = Math.max(j.chunks.total, 1);
    bar.value = j.chunks.done;
    bar.setAttribute('aria-label', 'Chunks of ' + j.key);
    chunks.replaceChildren(
      bar,
      ' ' + j.chunks.done + ' / ' + j.chunks.total + (j.chunks.failed ? ', ' + j.chunks.failed + ' failed' : ''),
    );
    records.textContent =
      j.counts.records + ' read, ' + j.counts.written + ' written, ' + j.counts.rejected + ' rejected (of ' +
      j.plannedRecords + ' planned)';
    started.textContent = when(j.startedAt || j.createdAt);
  });
}

function renderExecutions(executions) {
  const tbody = $('executions-body');
  if (executions.length === 0) {
    emptyRow(tbody, 4, 'No workflow execution running.');
    return;
  }
  syncRows(tbody, executions, (x) => x.executionId, (row, x) => {
    const [workflow, execution, started, running] = cells(row, 4);
    workflow.replaceChildren(x.workflowName, el('br'), el('code', 'small', x.workflowId));
    execution.replaceChildren(el('code', 'small', x.executionId));
    started.textContent = when(x.startedAt);
    running.className = 'number';
    running.textContent = elapsed(x.startedAt);
  });
}

function renderPlans(plans) {
  const tbody = $('plans-body');
  if (plans.length === 0) {
    emptyRow(tbody, 5, 'No plan indexed (npm run plans:index -- <folder>).');
    return;
  }
  syncRows(tbody, plans, (p) => p.id, (row, p) => {
    row.dataset.plan = p.planId;
    const [plan, tasks, computed, declared, drift] = cells(row, 5);
    plan.replaceChildren(p.title || p.planId, el('br'), el('code', 'small', p.planId));
    tasks.className = 'number';
    tasks.textContent = p.progress.done + ' / ' + p.progress.total;
    const bar = el('progress');
    bar.max = 100;
    bar.value = p.progress.computed || 0;
    bar.setAttribute('aria-label', 'Computed progress of ' + p.planId);
    computed.replaceChildren(bar, ' ' + pct(p.progress.computed));
    declared.className = 'number';
    declared.textContent = pct(p.progress.declared);
    const d = p.progress.drift;
    drift.className = 'number' + (d ? ' drift' : '');
    drift.textContent = d === null || d === undefined ? 'n/a' : (d > 0 ? '+' : '') + d + ' pts';
  });
}

function summaryOf(detail) {
  const text = Object.entries(detail || {})
    .filter(([key]) => key !== 'schemaVersion')
    .map(([key, value]) => key + '=' + (typeof value === 'string' ? value : JSON.stringify(value)))
    .join(' ');
  return text.length > 200 ? text.slice(0, 199) + '…' : text;
}

function renderEvents(events) {
  const tbody = $('events-body');
  if (events.length === 0) {
    emptyRow(tbody, 4, 'No event in the log.');
    return;
  }
  syncRows(tbody, events, (e) => e.id, (row, e) => {
    const [time, type, source, detail] = cells(row, 4);
    time.textContent = when(e.time);
    type.textContent = e.type;
    source.textContent = e.source;
    detail.className = 'small';
    detail.textContent = summaryOf(e.detail);
  });
}

const SECTIONS = [
  { path: '/managers/status', message: 'managers-message', what: 'the managers', render: (b) => renderManagers(b.managers) },
  { path: '/migrations?limit=20', message: 'migrations-message', what: 'the migrations', render: (b) => renderMigrations(b.migrations) },
  {
    path: '/executions?status=RUNNING&limit=20',
    message: 'executions-message',
    what: 'the workflow executions',
    render: (b) => renderExecutions(b.executions),
  },
  { path: '/plans', message: 'plans-message', what: 'the plans', render: (b) => renderPlans(b.plans) },
  { path: '/events?limit=20', message: 'events-message', what: 'the events', render: (b) => renderEvents(b.events) },
];

/**
 * One refresh at a time: asking for one while one runs makes it run once more after (a start or
 * stop is then shown). A hidden tab is not refreshed until it is shown again.
 */
async function refresh() {
  if (!token || document.hidden) return;
  if (running) {
    again = true;
    return;
  }
  running = true;
  clearTimeout(timer);
  const used = token;
  const results = await Promise.all(SECTIONS.map((s) => api('GET', s.path)));
  running = false;
  if (token !== used) {
    // The token changed or was forgotten meanwhile: these answers are not for it.
    again = false;
    if (token) refresh();
    return;
  }
  let authorized = true;
  results.forEach((res, i) => {
    const section = SECTIONS[i];
    if (res.status === 200) {
      showMessage(section.message, '');
      section.render(res.body);
    } else {
      if (res.status === 401) authorized = false;
      failed(res, section.message, section.what);
    }
  });
  if (!authorized) return;
  showMessage('auth-message', '');
  $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '; refreshed every ' + REFRESH_MS / 1000 + ' s.';
  if (again) {
    again = false;
    refresh();
  } else {
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

function refreshNow() {
  clearTimeout(timer);
  refresh();
}

function stopRefreshing() {
  clearTimeout(timer);
  $('updated').textContent = 'Not refreshing: no usable token.';
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  showMessage('auth-message', '');
  announce('Token set; loading the status.');
  refreshNow();
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refreshNow();
});

$('forget').addEventListener('click', () => {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  $('token').value = '';
  stopRefreshing();
  for (const tbody of document.querySelectorAll('tbody')) tbody.replaceChildren();
  lastStates.clear();
  announce('Token forgotten.');
});

if (token) {
  $('token').value = token;
  refresh();
} else {
  $('updated').textContent = 'Enter a token to load the status.';
}
`;
