// The ChatShyld sandbox console: plain DOM, no dependencies, no build step. Every value from the
// sandbox is set as text (never as HTML): names and paths are whatever clients sent.
'use strict';

const panels = ['outbox', 'users', 'requests', 'secrets'];
const state = { panel: 'outbox', userId: null, requestId: null, query: '', instance: null };

/** At phone width the detail sits below the list: bring it into view when a row is picked. */
function showDetail(id) {
  if (window.matchMedia('(max-width: 760px)').matches) document.getElementById(id).scrollIntoView({ block: 'start', behavior: 'smooth' });
}

/* ---------- small helpers ---------- */

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
}

async function api(path, options = {}) {
  const response = await fetch(`/__sandbox/api/${path}`, {
    ...options,
    headers: options.body ? { 'content-type': 'application/json' } : {},
  });
  const body = response.headers.get('content-type')?.includes('json') ? await response.json() : null;
  if (!response.ok) throw new Error(body?.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

const post = (path, body = {}) => api(path, { method: 'POST', body: JSON.stringify(body) });

function toast(text) {
  const node = document.getElementById('toast');
  node.textContent = text;
  node.classList.add('shown');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => node.classList.remove('shown'), 1600);
}

function ago(iso) {
  if (!iso) return '—';
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function until(iso) {
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (seconds <= 0) return 'expired';
  if (seconds < 120) return `in ${seconds} s`;
  if (seconds < 7200) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `in ${Math.round(seconds / 3600)} h`;
  return `in ${Math.round(seconds / 86400)} days`;
}

const time = (iso, text) => (iso ? el('time', { datetime: iso, title: new Date(iso).toLocaleString() }, text ?? ago(iso)) : '—');
const badge = (text, tone = '') => el('span', { class: `badge ${tone}` }, text);
const empty = (text) => el('div', { class: 'empty' }, text);
const cell = (label, ...content) => el('td', { 'data-label': label }, ...content);

function table(headings, rows) {
  return el('table', { class: 'table stack' }, el('thead', {}, el('tr', {}, headings.map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, rows));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API refused (no focus, old browser): the classic way.
    const area = el('textarea', { readonly: true, style: 'position:fixed;opacity:0' }, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  toast(`Copied ${text}`);
}

/* ---------- Outbox ---------- */

const codeTone = { pending: 'info', used: 'ok', replaced: '', expired: 'warn' };

async function loadOutbox() {
  const { messages } = await api('outbox');
  const pending = messages.filter((message) => message.state === 'pending').length;
  document.getElementById('count-outbox').textContent = pending ? String(pending) : '';
  if (state.panel !== 'outbox') return;
  if (messages.length === 0) {
    replace('outbox-list', empty('No codes yet. POST /auth/send-otp with a phone number and its code appears here.'));
    return;
  }
  replace(
    'outbox-list',
    table(
      ['Phone', 'Code', 'Sent', 'Expires', 'Status'],
      messages.map((message) =>
        el(
          'tr',
          { 'data-phone': message.phone, 'data-state': message.state },
          cell('Phone', el('span', { class: 'mono' }, message.phone)),
          cell(
            'Code',
            el(
              'button',
              {
                class: `code-button${message.state === 'pending' ? '' : ' spent'}`,
                title: 'Copy the code',
                'aria-label': `Copy code ${message.code}`,
                onclick: () => copy(message.code),
              },
              message.code,
            ),
          ),
          cell('Sent', time(message.sentAt)),
          cell('Expires', message.state === 'pending' ? time(message.expiresAt, until(message.expiresAt)) : '—'),
          cell('Status', badge(message.usedAt ? `used ${ago(message.usedAt)}` : message.state, codeTone[message.state])),
        ),
      ),
    ),
  );
}

/* ---------- Users ---------- */

async function loadUsers() {
  const { users } = await api(`users?q=${encodeURIComponent(state.query)}`);
  document.getElementById('count-users').textContent = state.query ? '' : users.length ? String(users.length) : '';
  if (state.panel !== 'users') return;
  replace(
    'user-list',
    users.length === 0
      ? empty(state.query ? `No user's number or name contains "${state.query}".` : 'No users yet. The first verify-otp of a number creates one.')
      : users.map((user) =>
          el(
            'button',
            { class: 'row', 'data-user': user.id, 'aria-current': user.id === state.userId ? 'true' : 'false', onclick: () => selectUser(user.id) },
            el('span', { class: 'line1' }, el('strong', { class: 'mono' }, user.phone), user.status === 'active' ? null : badge(user.status, 'bad')),
            el('span', { class: 'line2' }, el('span', {}, user.name ?? 'no name'), time(user.createdAt)),
          ),
        ),
  );
  if (state.userId) await loadUser();
  else replace('user-detail', empty('Pick a user to see the profile and sessions.'));
}

function selectUser(id) {
  state.userId = id;
  for (const row of document.querySelectorAll('#user-list .row')) row.setAttribute('aria-current', String(row.dataset.user === id));
  loadUser().then(() => showDetail('user-detail'), showError);
}

function avatar(user) {
  const initials = (user.name ?? user.phone.slice(-2)).trim().slice(0, 2).toUpperCase();
  const fallback = el('span', { class: 'avatar', 'aria-hidden': 'true' }, initials);
  if (!user.photoKey) return fallback;
  const image = el('img', {
    class: 'avatar',
    alt: 'Avatar',
    src: `/__sandbox/api/users/${encodeURIComponent(user.id)}/avatar?v=${encodeURIComponent(user.updatedAt)}`,
  });
  image.addEventListener('error', () => image.replaceWith(fallback));
  return image;
}

async function act(button, path, body, done) {
  button.disabled = true;
  try {
    await post(path, body);
    toast(done);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function loadUser() {
  const id = state.userId;
  let detail;
  try {
    detail = await api(`users/${encodeURIComponent(id)}`);
  } catch {
    state.userId = null;
    replace('user-detail', empty('That user no longer exists.'));
    return;
  }
  if (state.userId !== id) return;
  const { user, sessions, devices } = detail;
  const base = `users/${encodeURIComponent(user.id)}`;
  const activeSessions = sessions.filter((session) => session.status === 'active');
  replace(
    'user-detail',
    el(
      'div',
      { class: 'profile' },
      avatar(user),
      el('div', {}, el('h3', {}, user.name ?? 'No name yet'), el('div', { class: 'mono' }, user.phone), el('div', {}, badge(user.status, user.status === 'active' ? 'ok' : 'bad'))),
    ),
    el(
      'dl',
      { class: 'facts' },
      el('dt', {}, 'User id'), el('dd', { class: 'mono' }, user.id),
      el('dt', {}, 'Created'), el('dd', {}, time(user.createdAt, new Date(user.createdAt).toLocaleString())),
      el('dt', {}, 'Updated'), el('dd', {}, time(user.updatedAt, new Date(user.updatedAt).toLocaleString())),
      el('dt', {}, 'Avatar key'), el('dd', { class: 'mono' }, user.photoKey ?? '—'),
      el('dt', {}, 'Devices'), el('dd', { 'data-devices': devices }, `${devices} signed in`),
    ),
    el(
      'div',
      { class: 'actions' },
      el('button', {
        onclick: (event) => act(event.currentTarget, `${base}/revoke`, {}, 'Every session revoked'),
        disabled: activeSessions.length === 0,
      }, 'Revoke all sessions'),
      el('button', { onclick: (event) => act(event.currentTarget, `${base}/expire-access`, {}, 'Access tokens expired') }, 'Expire access tokens now'),
      el('button', {
        class: 'danger',
        onclick: (event) => {
          if (!confirm(`Delete the account of ${user.phone}? Its profile, sessions and avatar go for good.`)) return;
          state.userId = null;
          act(event.currentTarget, `${base}/delete`, {}, 'Account deleted');
        },
      }, 'Delete account'),
    ),
    el('h4', { class: 'section-title' }, `Sessions (${sessions.length})`),
    sessions.length === 0
      ? empty('No sessions.')
      : table(
          ['Family', 'Status', 'Created', 'Last refresh', 'Expires', ''],
          sessions.map((session) =>
            el(
              'tr',
              { 'data-family': session.familyId, 'data-status': session.status },
              cell('Family', el('code', { title: session.familyId }, session.familyId.slice(0, 8))),
              cell('Status', badge(session.revokedReason ? `${session.status}: ${session.revokedReason}` : session.status, session.status === 'active' ? 'ok' : 'bad')),
              cell('Created', time(session.createdAt)),
              cell('Last refresh', time(session.lastRefreshAt)),
              cell('Expires', time(session.expiresAt, until(session.expiresAt))),
              cell(
                '',
                session.status === 'active'
                  ? el('button', { onclick: (event) => act(event.currentTarget, `${base}/revoke`, { familyId: session.familyId }, 'Session revoked') }, 'Revoke')
                  : null,
              ),
            ),
          ),
        ),
  );
}

/* ---------- Requests ---------- */

const statusTone = (status) => (status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'ok');

async function loadRequests() {
  const { requests } = await api('requests');
  document.getElementById('count-requests').textContent = requests.length ? String(requests.length) : '';
  if (state.panel !== 'requests') return;
  replace(
    'request-list',
    requests.length === 0
      ? empty('No requests yet. Call the API at this address and they appear here.')
      : requests.map((request) =>
          el(
            'button',
            { class: 'row', 'data-request': request.id, 'aria-current': String(request.id === state.requestId), onclick: () => selectRequest(request.id).catch(showError) },
            el('span', { class: 'line1' }, el('span', { class: 'method' }, request.method), el('span', { class: 'path' }, request.path), badge(String(request.status), statusTone(request.status))),
            el('span', { class: 'line2' }, time(request.at), el('span', {}, request.warnings ? `${request.warnings} log line${request.warnings > 1 ? 's' : ''} · ` : '', `${request.ms} ms`)),
          ),
        ),
  );
  if (state.requestId === null) replace('request-detail', empty('Pick a request to see what the handler received and answered.'));
}

async function selectRequest(id) {
  state.requestId = id;
  for (const row of document.querySelectorAll('#request-list .row')) row.setAttribute('aria-current', String(Number(row.dataset.request) === id));
  const request = await api(`requests/${id}`);
  const json = (value) => el('pre', { class: 'json' }, JSON.stringify(value, null, 2));
  replace(
    'request-detail',
    el('div', { class: 'card-head' }, el('h3', { class: 'mono' }, `${request.method} ${request.path}`), badge(String(request.status), statusTone(request.status))),
    el('p', { class: 'hint' }, `${new Date(request.at).toLocaleString()} · ${Math.round(request.ms * 10) / 10} ms`),
    request.logs.length ? [el('h4', { class: 'section-title' }, 'Logs'), el('ul', { class: 'logs' }, request.logs.map((entry) => el('li', {}, badge(entry.level, entry.level === 'error' ? 'bad' : entry.level === 'warn' ? 'warn' : ''), ' ', entry.message, ' ', el('code', {}, JSON.stringify(entry.fields)))))] : null,
    el('h4', { class: 'section-title' }, 'Response'),
    json(request.response ?? null),
    el('h4', { class: 'section-title' }, 'Event (payload 2.0)'),
    json(request.event ?? null),
  );
  showDetail('request-detail');
}

/* ---------- Secrets ---------- */

async function loadSecrets() {
  if (state.panel !== 'secrets') return;
  const { rings, rotation, rotations, problem } = await api('secrets');
  const running = rotation?.state === 'running';
  if (problem) {
    // The file cannot be read: say why, in the panel, with the file and the fix.
    replace('secret-rings', el('div', { class: 'card' }, el('p', { class: 'problem', 'data-problem': 'file' }, problem)));
    return;
  }
  replace(
    'secret-rings',
    rings.map((ring) =>
      el(
        'div',
        { class: 'card', 'data-ring': ring.name },
        el(
          'div',
          { class: 'card-head' },
          el('h3', { class: 'mono' }, ring.name),
          el('button', {
            class: 'primary',
            disabled: running,
            onclick: async (event) => {
              event.currentTarget.disabled = true;
              try {
                await post('secrets/rotate', { name: ring.name });
              } catch (error) {
                showError(error);
              }
            },
          }, 'Rotate'),
        ),
        el('p', { class: 'meta' }, `version ${ring.version ?? '—'} · ${ring.fingerprint}`),
        ring.problem ? el('p', { class: 'problem' }, ring.problem) : null,
        table(
          ['Kid', 'Role', 'Created', 'Fingerprint'],
          ring.keys.map((key) =>
            el(
              'tr',
              { 'data-kid': key.kid, 'data-role': key.role },
              cell('Kid', el('code', {}, key.kid)),
              cell('Role', badge(key.role, key.role === 'signing' ? 'ok' : key.role === 'revoked' ? 'bad' : '')),
              cell('Created', time(key.createdAt)),
              cell('Fingerprint', el('code', {}, key.fingerprint ?? '—')),
            ),
          ),
        ),
        rotationLine(rotations?.[ring.name]),
      ),
    ),
  );
}

/** A ring's own last rotation: another ring's never replaces it. */
function rotationLine(rotation) {
  if (!rotation) return null;
  const tone = rotation.state === 'done' ? 'ok' : rotation.state === 'failed' ? 'bad' : 'info';
  return el('p', { class: 'rotation', 'data-state': rotation.state }, badge(rotation.state, tone), ' ', rotation.message);
}

/* ---------- wiring ---------- */

const loaders = { outbox: loadOutbox, users: loadUsers, requests: loadRequests, secrets: loadSecrets };

function showError(error) {
  toast(error instanceof Error ? error.message : String(error));
}

function show(panel) {
  state.panel = panels.includes(panel) ? panel : 'outbox';
  for (const name of panels) {
    document.getElementById(name).hidden = name !== state.panel;
    document.getElementById(`tab-${name}`).setAttribute('aria-selected', String(name === state.panel));
  }
  loaders[state.panel]().catch(showError);
}

// Many changes arrive in bursts (a login is three requests): reload each part at most every 150 ms.
const pending = new Set();
let flushTimer = null;
function reload(...topics) {
  for (const topic of topics) pending.add(topic);
  flushTimer ??= setTimeout(() => {
    flushTimer = null;
    const topicsNow = [...pending];
    pending.clear();
    for (const topic of topicsNow) loaders[topic]().catch(showError);
  }, 150);
}

function connect() {
  const live = document.getElementById('live');
  const events = new EventSource('/__sandbox/api/events');
  events.addEventListener('open', () => {
    live.dataset.state = 'live';
    live.textContent = 'live';
    reload(...panels);
  });
  events.addEventListener('error', () => {
    live.dataset.state = 'lost';
    live.textContent = 'reconnecting…';
  });
  // Each sandbox run says who it is: after a restart its request ids start again at 1, so the
  // request picked from the previous run must not stay on screen as if it were one of these.
  events.addEventListener('hello', (event) => {
    const { instance } = JSON.parse(event.data);
    if (state.instance !== null && state.instance !== instance) {
      state.requestId = null;
      reload('requests');
    }
    state.instance = instance;
  });
  events.addEventListener('change', (event) => {
    const { topic } = JSON.parse(event.data);
    // An API request may have sent a code or changed a user.
    if (topic === 'requests') reload('requests', 'outbox', 'users');
    else reload(topic);
  });
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('api-url').textContent = `API at ${location.origin}`;
  let searchTimer;
  document.getElementById('user-search').addEventListener('input', (event) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.query = event.target.value.trim();
      loadUsers().catch(showError);
    }, 120);
  });
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  show(location.hash.slice(1));
  connect();
  // Relative times ("2 min ago", "expires in 9 min") stay true between changes.
  setInterval(() => loaders[state.panel]().catch(showError), 15000);
});
