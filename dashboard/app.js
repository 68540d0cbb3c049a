/* Wharf dashboard: plain browser JavaScript over the REST API (/api/v1), uPlot for the charts. */
'use strict'

const API = '/api/v1'
const POLL_MS = 2000
const HISTORY = 150 // points kept per chart (5 minutes at 2 s)
const $ = (sel) => document.querySelector(sel)

let auth = sessionStorage.getItem('wharf.auth')
let keyName = sessionStorage.getItem('wharf.key')
let timer

/** A call to the API with the API key; a 401 goes back to the login form. */
async function api (path, init = {}) {
  const res = await fetch(API + path, {
    ...init,
    headers: { authorization: `Basic ${auth}`, 'x-wharf-dashboard': '1', ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers }
  })
  if (res.status === 401) {
    logout('the API key was refused')
    throw new Error('unauthorized')
  }
  const text = await res.text()
  const body = text === '' ? null : JSON.parse(text)
  if (!res.ok && res.status !== 202) throw new Error(body?.message ?? `HTTP ${res.status}`)
  return { status: res.status, body }
}

function el (tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
    else e.setAttribute(k, v)
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')))
  return e
}

function fill (tbody, rows) {
  tbody.replaceChildren(...rows)
}

const fmt = {
  n: (v) => v === null || v === undefined ? '–' : Number(v).toLocaleString('en', { maximumFractionDigits: 1 }),
  bytes: (v) => {
    if (v === null || v === undefined) return '–'
    const units = ['B', 'KiB', 'MiB', 'GiB']
    let i = 0
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
    return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
  },
  age: (s) => {
    if (s === null || s === undefined) return '–'
    if (s < 120) return `${Math.floor(s)} s`
    if (s < 7200) return `${Math.floor(s / 60)} min`
    if (s < 172800) return `${Math.floor(s / 3600)} h`
    return `${Math.floor(s / 86400)} d`
  },
  time: (ms) => ms ? new Date(ms).toLocaleString() : '–'
}

// ---- login ----

function showLogin (message = '') {
  clearInterval(timer)
  $('#app').hidden = true
  $('#login').hidden = false
  $('#login-error').textContent = message
}

function logout (message) {
  sessionStorage.removeItem('wharf.auth')
  sessionStorage.removeItem('wharf.key')
  auth = null
  showLogin(message)
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const name = $('#login-key').value.trim()
  auth = btoa(`${name}:${$('#login-secret').value}`)
  try {
    await api('/stats')
  } catch (err) {
    if (err.message !== 'unauthorized') $('#login-error').textContent = err.message
    return
  }
  keyName = name
  sessionStorage.setItem('wharf.auth', auth)
  sessionStorage.setItem('wharf.key', name)
  $('#login-secret').value = ''
  start()
})

$('#logout').addEventListener('click', () => logout(''))

// ---- views ----

const views = ['overview', 'clients', 'subscriptions', 'retained', 'publish', 'metrics']

function route () {
  const view = views.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'overview'
  for (const v of views) $(`#${v}`).hidden = v !== view
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${view}`)
  refresh(view)
}
window.addEventListener('hashchange', route)

function refresh (view) {
  const run = { overview, clients: loadClients, subscriptions: loadSubscriptions, retained: loadRetained, metrics: loadMetrics }[view]
  if (run) run().catch(showError)
}

function showError (err) {
  if (err.message !== 'unauthorized') $('#status').textContent = `last request failed: ${err.message}`
}

// ---- overview: tiles, charts, nodes ----

const charts = {}
const series = { t: [], in: [], out: [], dropped: [], ack: [], pending: [] }

function chart (id, labels, colors) {
  const target = $(id)
  const opts = {
    width: Math.max(300, target.clientWidth || 360),
    height: 180,
    legend: { live: false },
    scales: { x: { time: true } },
    series: [{}, ...labels.map((label, i) => ({ label, stroke: colors[i], width: 2, points: { show: false } }))],
    axes: [{}, { size: 60 }]
  }
  return new uPlot(opts, [[], ...labels.map(() => [])], target)
}

function ensureCharts () {
  if (charts.rates) return
  charts.rates = chart('#chart-rates', ['in', 'out', 'dropped'], ['#1f6feb', '#1a7f37', '#cf222e'])
  charts.ack = chart('#chart-ack', ['ack ms'], ['#8250df'])
  charts.pending = chart('#chart-pending', ['bytes'], ['#9a6700'])
}

function push (key, value) {
  series[key].push(value)
  if (series[key].length > HISTORY) series[key].shift()
}

async function overview () {
  const [{ body: nodes }, { body: stats }] = await Promise.all([api('/nodes'), api('/stats')])
  $('#status').textContent = ''
  $('#this-node').textContent = `node ${stats.node}`
  const live = nodes.data.filter((n) => n.status === 'live')
  const sum = (f) => live.reduce((s, n) => s + (f(n) ?? 0), 0)
  const acks = live.map((n) => n.kafka_ack_ms).filter((v) => v !== null)
  const c = stats.cluster
  $('#tiles').replaceChildren(...[
    ['nodes live', `${c.nodes_live}${c.nodes_down > 0 ? ` (${c.nodes_down} down)` : ''}`],
    ['connections', fmt.n(c.connections)],
    ['clients known', fmt.n(c.clients_known)],
    ['persistent sessions', fmt.n(c.sessions_stored)],
    ['retained', fmt.n(c.retained)],
    ['in / s', fmt.n(sum((n) => n.rates?.received))],
    ['out / s', fmt.n(sum((n) => n.rates?.sent))]
  ].map(([label, value]) => el('div', { class: 'tile' }, el('b', {}, value), el('span', {}, label))))

  ensureCharts()
  push('t', Date.now() / 1000)
  push('in', sum((n) => n.rates?.received))
  push('out', sum((n) => n.rates?.sent))
  push('dropped', sum((n) => n.rates?.dropped))
  push('ack', acks.length === 0 ? null : acks.reduce((a, b) => a + b, 0) / acks.length)
  push('pending', sum((n) => n.pending_bytes))
  charts.rates.setData([series.t, series.in, series.out, series.dropped])
  charts.ack.setData([series.t, series.ack])
  charts.pending.setData([series.t, series.pending])

  fill($('#nodes tbody'), nodes.data.map((n) => el('tr', { 'data-node': n.node },
    el('td', {}, n.node, n.this_node ? el('span', { class: 'muted' }, ' (this node)') : ''),
    el('td', {}, el('span', { class: `badge ${n.status}` }, n.status)),
    el('td', {}, n.version ?? '–'),
    el('td', {}, fmt.age(n.uptime_s)),
    el('td', {}, fmt.n(n.connections)),
    el('td', {}, fmt.n(n.rates?.received)),
    el('td', {}, fmt.n(n.rates?.sent)),
    el('td', {}, fmt.n(n.rates?.dropped)),
    el('td', {}, fmt.bytes(n.pending_bytes)),
    el('td', {}, n.kafka_ack_ms === null ? '–' : `${n.kafka_ack_ms.toFixed(1)} ms`),
    el('td', {}, n.listeners.map((l) => `${l.name} ${l.port}`).join(', '))
  )))
}

// ---- clients ----

let selectedClient = null

async function loadClients () {
  const q = new URLSearchParams({ limit: '200' })
  const prefix = $('#clients-prefix').value.trim()
  if (prefix) q.set('clientid_prefix', prefix)
  if ($('#clients-connected').value) q.set('connected', $('#clients-connected').value)
  const { body } = await api(`/clients?${q}`)
  $('#clients-count').textContent = `${body.meta.count} client${body.meta.count === 1 ? '' : 's'}${body.meta.hasnext ? ' (first 200 shown)' : ''}`
  fill($('#clients-table tbody'), body.data.map((c) => el('tr', {
    class: `clickable${c.clientid === selectedClient ? ' selected' : ''}`,
    'data-clientid': c.clientid,
    onclick: () => showClient(c.clientid)
  },
  el('td', {}, c.clientid),
  el('td', {}, c.node),
  el('td', {}, c.username ?? '–'),
  el('td', {}, c.ip_address),
  el('td', {}, el('span', { class: `badge ${c.connected ? 'connected' : 'away'}` }, c.connected ? 'connected' : (c.disconnect_reason ?? 'away'))),
  el('td', {}, fmt.time(c.connected ? c.connected_at : c.disconnected_at)),
  el('td', {}, c.subscriptions_cnt))))
  if (selectedClient !== null) showClient(selectedClient, false).catch(showError)
}

async function showClient (clientid, select = true) {
  if (select) selectedClient = clientid
  const box = $('#client-detail')
  let c
  try {
    c = (await api(`/clients/${encodeURIComponent(clientid)}`)).body
  } catch (err) {
    box.replaceChildren(el('p', { class: 'muted' }, `${clientid}: ${err.message}`))
    return
  }
  const rows = [
    ['node', c.node], ['state', c.connected ? 'connected' : `away (${c.disconnect_reason ?? '–'})`], ['user name', c.username ?? '–'],
    ['address', c.ip_address], ['listener', c.listener], ['protocol', c.proto_ver === 4 ? 'MQTT 3.1.1' : `MQTT (v${c.proto_ver})`],
    ['clean session', c.clean_start], ['keepalive', `${c.keepalive} s`], ['connected at', fmt.time(c.connected_at)]
  ]
  if (c.session) rows.push(['session inflight', c.session.inflight], ['offline backlog', c.session.offline_backlog ?? '–'], ['expires after', `${c.session.expiry_interval} s`])
  const kick = el('button', { class: 'danger kick', type: 'button' }, 'Kick')
  const result = el('p', { class: 'kick-result', role: 'status' })
  kick.addEventListener('click', async () => {
    kick.disabled = true
    try {
      const r = await api(`/clients/${encodeURIComponent(clientid)}`, { method: 'DELETE' })
      result.className = 'kick-result ok'
      result.textContent = r.status === 204 ? 'kicked: the connection is closed' : r.body.message
      await loadClients()
    } catch (err) {
      result.className = 'kick-result error'
      result.textContent = err.message
    }
  })
  box.replaceChildren(
    el('h3', {}, clientid),
    el('dl', {}, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    el('h3', {}, 'subscriptions'),
    c.subscriptions.length === 0 ? el('p', { class: 'muted' }, 'none') : el('table', {}, el('tbody', {}, ...c.subscriptions.map((s) => el('tr', {}, el('td', {}, s.topic), el('td', {}, `QoS ${s.qos}`))))),
    ...(c.connected ? [kick] : []),
    result
  )
  box.hidden = false
}

$('#clients-search').addEventListener('submit', (e) => { e.preventDefault(); selectedClient = null; $('#client-detail').hidden = true; loadClients().catch(showError) })

// ---- subscriptions, retained ----

async function loadSubscriptions () {
  const q = new URLSearchParams({ limit: '500' })
  if ($('#subs-clientid').value.trim()) q.set('clientid', $('#subs-clientid').value.trim())
  if ($('#subs-topic').value.trim()) q.set('topic', $('#subs-topic').value.trim())
  const { body } = await api(`/subscriptions?${q}`)
  $('#subs-count').textContent = `${body.meta.count} subscription${body.meta.count === 1 ? '' : 's'}`
  fill($('#subs-table tbody'), body.data.map((s) => el('tr', {}, el('td', {}, s.clientid), el('td', {}, s.node), el('td', {}, s.topic), el('td', {}, s.qos), el('td', {}, s.connected ? 'yes' : 'no'))))
}
$('#subs-search').addEventListener('submit', (e) => { e.preventDefault(); loadSubscriptions().catch(showError) })

async function loadRetained () {
  const q = new URLSearchParams({ limit: '500' })
  if ($('#retained-match').value.trim()) q.set('match', $('#retained-match').value.trim())
  const { body } = await api(`/topics?${q}`)
  $('#retained-count').textContent = `${body.meta.count} retained topic${body.meta.count === 1 ? '' : 's'}`
  fill($('#retained-table tbody'), body.data.map((t) => el('tr', {}, el('td', {}, t.topic), el('td', {}, t.qos), el('td', {}, t.payload_bytes), el('td', { class: 'muted' }, t.payload.slice(0, 80)))))
}
$('#retained-search').addEventListener('submit', (e) => { e.preventDefault(); loadRetained().catch(showError) })

// ---- publish ----

$('#publish-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const out = $('#publish-result')
  const body = {
    topic: $('#publish-topic').value,
    payload: $('#publish-payload').value,
    qos: Number($('#publish-qos').value),
    retain: $('#publish-retain').checked,
    payload_encoding: $('#publish-base64').checked ? 'base64' : 'plain'
  }
  try {
    const { body: ack } = await api('/publish', { method: 'POST', body: JSON.stringify(body) })
    out.className = 'ok'
    out.textContent = `published to ${ack.topic} (${ack.bytes} bytes, QoS ${ack.qos}): acknowledged by Kafka`
  } catch (err) {
    out.className = 'error'
    out.textContent = err.message
  }
})

// ---- metrics ----

let metricsCache = []

async function loadMetrics () {
  metricsCache = (await api('/metrics')).body
  renderMetrics()
}

function renderMetrics () {
  const filter = $('#metrics-filter').value.trim()
  const rows = []
  for (const m of metricsCache) {
    if (filter && !m.name.includes(filter)) continue
    for (const v of m.values.slice(0, 50)) {
      const labels = Object.entries(v.labels).filter(([k]) => k !== 'node').map(([k, l]) => `${k}=${l}`).join(' ')
      rows.push(el('tr', {}, el('td', {}, v.metricName ?? m.name), el('td', { class: 'muted' }, m.type), el('td', { class: 'muted' }, labels), el('td', {}, fmt.n(v.value))))
    }
  }
  fill($('#metrics-table tbody'), rows)
}
$('#metrics-filter').addEventListener('input', renderMetrics)

// ---- start ----

function start () {
  $('#login').hidden = true
  $('#app').hidden = false
  $('#key-name').textContent = `key ${keyName}`
  route()
  clearInterval(timer)
  timer = setInterval(() => {
    const view = location.hash.slice(1) || 'overview'
    if (view === 'overview' || view === 'clients') refresh(view)
  }, POLL_MS)
}

if (auth) start()
else showLogin()
