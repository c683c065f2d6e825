/* global document, window, setInterval, clearInterval */
// Operator console. The key lives only in this page's memory: it is sent as an Authorization
// header to /v1/admin/... and /v1/approvals/..., never put in a URL or in storage, and a reload
// asks for it again. Everything from the server is rendered with textContent (transcripts hold
// untrusted text), and the CSP allows no inline script.

const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

let apiKey = '';
let selectedSession;
let openFailedQueue;
let timer;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'onclick') node.addEventListener('click', v);
    else if (v !== undefined) node[k] = v;
  }
  for (const c of children) node.append(c instanceof window.Node ? c : document.createTextNode(String(c ?? '')));
  return node;
}

function setStatus(text, isError = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, init = {}) {
  const headers = { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}) };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const res = await window.fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

function renderSessions(sessions) {
  const body = $('sessions').tBodies[0];
  body.replaceChildren(
    ...sessions.map((s) =>
      el(
        'tr',
        { className: s.id === selectedSession ? 'selected' : '', dataset: { session: s.id }, onclick: () => selectSession(s.id) },
        el('td', {}, s.id),
        el('td', {}, s.platform),
        el('td', { title: s.lastActivityAt ?? '' }, when(s.lastActivityAt)),
        el('td', {}, s.messageCount),
        el('td', {}, s.pendingApprovals),
      ),
    ),
  );
  $('sessions-empty').hidden = sessions.length > 0;
}

function renderTranscript(data) {
  $('transcript-section').hidden = false;
  $('transcript-title').textContent = data.session.id;
  $('transcript').replaceChildren(
    ...data.messages.map((m) => {
      const calls = (m.toolCalls ?? []).map((c) => `→ ${c.function?.name ?? c.name ?? 'tool'}(${c.function?.arguments ?? JSON.stringify(c.arguments ?? {})})`);
      return el('li', { className: m.role, dataset: { role: m.role, seq: String(m.seq) } }, el('span', { className: 'role' }, m.role), [m.content, ...calls].filter(Boolean).join('\n'));
    }),
  );
}

function renderApprovals(approvals) {
  $('approvals').replaceChildren(
    ...approvals.map((a) => {
      const decide = (decision) => async (event) => {
        event.target.closest('li').querySelectorAll('button').forEach((b) => (b.disabled = true));
        try {
          await api(`/v1/approvals/${encodeURIComponent(a.id)}`, { method: 'POST', body: JSON.stringify({ decision }) });
          setStatus(`${decision === 'approve' ? 'approved' : 'denied'} ${a.tool} in ${a.sessionId}`);
        } catch (err) {
          setStatus(`could not ${decision}: ${err.message}`, true);
        }
        await refresh();
      };
      return el(
        'li',
        { dataset: { approval: a.id } },
        el('strong', {}, a.tool),
        ' ',
        el('span', { className: 'meta' }, `${a.sessionId} · ${a.reason} · expires ${when(a.expiresAt)}`),
        el('pre', {}, JSON.stringify(a.arguments, null, 2)),
        el('button', { type: 'button', className: 'approve', onclick: decide('approve') }, 'Approve'),
        ' ',
        el('button', { type: 'button', className: 'deny', onclick: decide('deny') }, 'Deny'),
      );
    }),
  );
  $('approvals-empty').hidden = approvals.length > 0;
}

function renderQueues(queues) {
  $('queues').tBodies[0].replaceChildren(
    ...queues.map((q) =>
      el(
        'tr',
        { dataset: { queue: q.name } },
        el('td', {}, q.name),
        ...['waiting', 'active', 'delayed', 'failed', 'completed'].map((k) => el('td', { dataset: { count: k } }, k === 'waiting' ? q.counts.waiting + q.counts.prioritized : q.counts[k])),
        el('td', {}, q.counts.failed > 0 ? el('button', { type: 'button', className: 'show-failed', onclick: () => showFailed(q.name).catch((err) => setStatus(`failed jobs: ${err.message}`, true)) }, 'Failed jobs') : ''),
      ),
    ),
  );
}

async function showFailed(queue) {
  openFailedQueue = queue;
  const { jobs } = await api(`/v1/admin/queues/${encodeURIComponent(queue)}/failed`);
  $('failed-jobs').hidden = false;
  $('failed-queue').textContent = queue;
  $('failed-list').replaceChildren(
    ...jobs.map((j) =>
      el(
        'li',
        { dataset: { job: j.id } },
        el('strong', {}, j.id),
        ' ',
        el('span', { className: 'meta' }, `${j.name} · ${j.attemptsMade} attempts · failed ${when(j.failedAtMs ? new Date(j.failedAtMs).toISOString() : undefined)}`),
        el('pre', {}, j.failedReason),
        queue === 'tools'
          ? el('span', { className: 'meta' }, 'tool runs are never retried')
          : el('button', { type: 'button', className: 'retry', onclick: () => retry(queue, j.id) }, 'Retry'),
      ),
    ),
  );
}

async function retry(queue, jobId) {
  try {
    await api(`/v1/admin/queues/${encodeURIComponent(queue)}/jobs/${encodeURIComponent(jobId)}/retry`, { method: 'POST', body: '{}' });
    setStatus(`retrying ${queue} job ${jobId}`);
  } catch (err) {
    setStatus(`could not retry: ${err.message}`, true);
  }
  await refresh();
}

async function selectSession(id) {
  selectedSession = id;
  for (const row of $('sessions').tBodies[0].rows) row.classList.toggle('selected', row.dataset.session === id);
  try {
    renderTranscript(await api(`/v1/admin/sessions/${encodeURIComponent(id)}/transcript`));
  } catch (err) {
    setStatus(`transcript: ${err.message}`, true);
  }
}

async function refresh() {
  try {
    const [queues, sessions, approvals] = await Promise.all([
      // Queues are every account's: an ordinary key gets 403 and the console shows the rest.
      api('/v1/admin/queues').catch((err) => (err.status === 403 ? { queues: [], forbidden: true } : Promise.reject(err))),
      api('/v1/admin/sessions').catch((err) => (err.status === 503 ? { sessions: [], unavailable: err.message } : Promise.reject(err))),
      api('/v1/admin/approvals').catch((err) => (err.status === 503 ? { approvals: [] } : Promise.reject(err))),
    ]);
    renderQueues(queues.queues);
    $('queues-section').hidden = queues.forbidden === true;
    renderSessions(sessions.sessions);
    renderApprovals(approvals.approvals);
    if (selectedSession) renderTranscript(await api(`/v1/admin/sessions/${encodeURIComponent(selectedSession)}/transcript`));
    if (openFailedQueue) await showFailed(openFailedQueue);
    if (sessions.unavailable) setStatus(sessions.unavailable, true);
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    return true;
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      disconnect();
      setStatus(err.status === 401 ? 'the API key was refused' : err.message, true);
    } else {
      setStatus(`refresh failed: ${err.message}`, true);
    }
    return false;
  }
}

async function connect() {
  apiKey = $('api-key').value.trim();
  $('api-key').value = '';
  setStatus('connecting…');
  if (!(await refresh())) return;
  $('main').hidden = false;
  $('connect').hidden = true;
  $('api-key').closest('label').hidden = true;
  $('disconnect').hidden = false;
  $('refresh').hidden = false;
  clearInterval(timer);
  setStatus('connected');
  timer = setInterval(() => void refresh(), REFRESH_MS);
}

function disconnect() {
  apiKey = '';
  selectedSession = undefined;
  openFailedQueue = undefined;
  clearInterval(timer);
  $('main').hidden = true;
  $('transcript-section').hidden = true;
  $('failed-jobs').hidden = true;
  $('connect').hidden = false;
  $('api-key').closest('label').hidden = false;
  $('disconnect').hidden = true;
  $('refresh').hidden = true;
  $('updated').textContent = '';
  setStatus('not connected');
}

$('connect').addEventListener('click', () => void connect());
$('api-key').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') void connect();
});
$('disconnect').addEventListener('click', disconnect);
$('refresh').addEventListener('click', () => void refresh());
