// tandem dashboard: polls /metrics (Prometheus text) once a second, derives
// rates and histogram percentiles, draws small canvas line charts, and offers
// a streaming chat box over POST /v1/chat/completions.
// State for tests and curious users: window.tandemDashboard
//   .updates        successful polls that redrew the charts
//   .series[name]   the plotted values, oldest first (null = no data)
//   .decisions      tiers the routing policy picked, charted as % of its decisions per window
//   .policy         the routing policy's name
//   .chat           the last chat exchange (busy, reply, tier, finish, chunks, renders:
//                   how many network reads grew the reply on screen)
'use strict';
(function () {
  const POLL_MS = 1000;
  const HISTORY = 120;          // points kept per series (about two minutes)
  const RATE_WINDOW = 5;        // seconds of counter deltas behind a rate
  const PCT_WINDOW = 10;        // seconds of histogram deltas behind a percentile

  // ---------- Prometheus text parsing ----------

  // Returns Map(name -> [{labels: {...}, value}]).
  function parseMetrics(text) {
    const out = new Map();
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line[0] === '#') continue;
      let i = 0;
      while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
      const name = line.slice(0, i);
      const labels = {};
      if (line[i] === '{') {
        i++;
        while (i < line.length && line[i] !== '}') {
          let k = '';
          while (i < line.length && line[i] !== '=') k += line[i++];
          i += 2;  // ="
          let v = '';
          while (i < line.length && line[i] !== '"') {
            if (line[i] === '\\' && i + 1 < line.length) {
              const c = line[++i];
              v += c === 'n' ? '\n' : c;
            } else {
              v += line[i];
            }
            i++;
          }
          i++;  // closing quote
          labels[k.trim().replace(/^,/, '').trim()] = v;
          while (i < line.length && (line[i] === ',' || line[i] === ' ')) i++;
        }
        i++;  // }
      }
      const rest = line.slice(i).trim().split(/\s+/);
      const value = parseFloat(rest[0]);
      if (!name || Number.isNaN(value) && rest[0] !== 'NaN') continue;
      if (!out.has(name)) out.set(name, []);
      out.get(name).push({ labels, value });
    }
    return out;
  }

  function sum(m, name, pred) {
    let s = 0;
    for (const x of m.get(name) || []) if (!pred || pred(x.labels)) s += x.value;
    return s;
  }

  // Cumulative bucket counts of a histogram summed over all label sets: [[le, count], ...].
  function buckets(m, name) {
    const byLe = new Map();
    for (const x of m.get(name + '_bucket') || []) {
      const le = x.labels.le === '+Inf' ? Infinity : parseFloat(x.labels.le);
      byLe.set(le, (byLe.get(le) || 0) + x.value);
    }
    return [...byLe.entries()].sort((a, b) => a[0] - b[0]);
  }

  // Quantile q of the observations between two cumulative bucket snapshots,
  // interpolating linearly inside the bucket (as Prometheus' histogram_quantile).
  function quantile(q, now, before) {
    const prev = new Map(before || []);
    const d = now.map(([le, c]) => [le, Math.max(0, c - (prev.get(le) || 0))]);
    if (!d.length) return null;
    const total = d[d.length - 1][1];
    if (total <= 0) return null;
    const rank = q * total;
    let lower = 0, below = 0;
    for (const [le, c] of d) {
      if (c >= rank) {
        if (le === Infinity) return lower;  // beyond the last bound: report the bound
        const inBucket = c - below;
        return inBucket > 0 ? lower + (le - lower) * ((rank - below) / inBucket) : le;
      }
      if (le !== Infinity) lower = le;
      below = c;
    }
    return lower;
  }

  // ---------- Formatting ----------

  function fmtNum(v, unit) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (unit === 's') {
      if (v === 0) return '0';
      if (v < 1) return (v * 1000).toFixed(v < 0.01 ? 1 : 0) + ' ms';
      return v.toFixed(v < 10 ? 2 : 1) + ' s';
    }
    if (v === 0) return '0';
    if (Math.abs(v) >= 100) return v.toFixed(0);
    if (Math.abs(v) >= 10) return v.toFixed(1).replace(/\.0$/, '');
    return v.toFixed(2).replace(/\.?0+$/, '') || '0';
  }

  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * 1.0001) return m * p;
    return 10 * p;
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
  }

  // ---------- Charts ----------

  const PALETTE = ['--s1', '--s2', '--s3', '--s4', '--s5', '--s6'];

  class Chart {
    // lines: [{key, label, color}] ; unit: '', 's' or '%'
    constructor(id, lines, unit, minMax) {
      this.canvas = document.getElementById('chart-' + id);
      this.legend = document.querySelector('[data-legend-for="' + id + '"]');
      this.lines = lines;
      this.unit = unit;
      this.minMax = minMax;
      this.updates = 0;
      if (window.ResizeObserver) new ResizeObserver(() => this.draw()).observe(this.canvas);
    }

    setLines(lines) { this.lines = lines; }

    draw() {
      const c = this.canvas, ctx = c.getContext('2d');
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth, h = c.clientHeight;
      if (!w || !h) return;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const padL = 52, padR = 8, padT = 8, padB = 20;
      const pw = w - padL - padR, ph = h - padT - padB;

      let max = 0;
      for (const l of this.lines)
        for (const v of state.series[l.key] || []) if (v !== null && v > max) max = v;
      // Shares (unit '%') always span 0-100.
      const top = this.unit === '%' ? 100 : niceCeil(Math.max(max, this.minMax));

      ctx.font = '11px system-ui, sans-serif';
      ctx.fillStyle = cssVar('--muted');
      ctx.strokeStyle = cssVar('--grid');
      ctx.lineWidth = 1;
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (let i = 0; i <= 4; i++) {
        const y = padT + ph - (ph * i) / 4;
        ctx.beginPath();
        ctx.moveTo(padL, Math.round(y) + 0.5);
        ctx.lineTo(padL + pw, Math.round(y) + 0.5);
        ctx.stroke();
        ctx.fillText(fmtNum((top * i) / 4, this.unit), padL - 6, y);
      }
      ctx.textAlign = 'center';
      ctx.textBaseline = 'alphabetic';
      const span = HISTORY - 1;
      for (const s of [120, 90, 60, 30, 0]) {
        const x = padL + pw - (pw * s) / span;
        if (x < padL - 1) continue;
        ctx.fillText(s ? '-' + s + 's' : 'now', Math.min(x, padL + pw - 12), h - 5);
      }

      for (const l of this.lines) {
        const vals = state.series[l.key] || [];
        const off = HISTORY - vals.length;
        ctx.strokeStyle = cssVar(l.color);
        ctx.lineWidth = 1.75;
        ctx.lineJoin = 'round';
        ctx.beginPath();
        let pen = false;
        vals.forEach((v, i) => {
          if (v === null) { pen = false; return; }
          const x = padL + (pw * (off + i)) / span;
          const y = padT + ph - (ph * Math.min(v, top)) / top;
          if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          pen = true;
        });
        ctx.stroke();
        // A value with no neighbour would draw nothing: show it as a dot.
        ctx.fillStyle = ctx.strokeStyle;
        vals.forEach((v, i) => {
          if (v === null || (vals[i - 1] ?? null) !== null || (vals[i + 1] ?? null) !== null) return;
          ctx.beginPath();
          ctx.arc(padL + (pw * (off + i)) / span, padT + ph - (ph * Math.min(v, top)) / top, 2, 0, 2 * Math.PI);
          ctx.fill();
        });
      }
    }

    update() {
      this.updates++;
      this.canvas.dataset.updates = String(this.updates);
      let html = '';
      const last = {};
      for (const l of this.lines) {
        const vals = state.series[l.key] || [];
        let v = null;
        for (let i = vals.length - 1; i >= 0; i--) if (vals[i] !== null) { v = vals[i]; break; }
        last[l.key] = v;
        html += '<span><i style="background:var(' + l.color + ')"></i>' + escapeHtml(l.label) +
                ' <b>' + fmtNum(v, this.unit) + '</b></span>';
      }
      this.canvas.dataset.last = JSON.stringify(last);
      if (this.legend) this.legend.innerHTML = html;
      this.draw();
    }
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  // ---------- State and polling ----------

  const state = {
    updates: 0,
    pollErrors: 0,
    lastPoll: null,       // Date.now() of the last successful poll
    ready: null,
    tiers: [],            // tiers seen in the metrics, in order of appearance
    decisions: [],        // tiers the policy picked (and 'rejected'), in order of appearance
    policy: null,         // the routing policy's name (tandem:policy_info)
    series: {},
    chat: { busy: false, exchanges: 0, reply: '', tier: null, finish: null, chunks: 0, renders: 0, error: null },
  };
  window.tandemDashboard = state;

  // Snapshots of the cumulative counters and histogram buckets, newest last.
  const snaps = [];  // [{t, ok, err, tokens, perTier, lat, ttft}]

  // The newest snapshot at least `window` seconds older than t (else the oldest), or null.
  function snapshotBefore(t, window) {
    let ref = null;
    for (const s of snaps) {
      if (t - s.t < window - 0.05 && ref) break;
      ref = s;
    }
    return ref && ref.t < t ? ref : null;
  }

  function push(key, v) {
    const a = state.series[key] || (state.series[key] = []);
    a.push(v);
    if (a.length > HISTORY) a.shift();
  }

  function tierColor(i) { return PALETTE[i % PALETTE.length]; }

  let charts = null;
  function makeCharts() {
    charts = {
      requests: new Chart('requests', [
        { key: 'requests_ok', label: 'ok', color: ('--ok') },
        { key: 'requests_err', label: 'errors', color: ('--err') },
      ], '', 1),
      queue: new Chart('queue', [
        { key: 'queue_depth', label: 'queued', color: ('--s3') },
        { key: 'running', label: 'running', color: ('--s1') },
      ], '', 1),
      tiers: new Chart('tiers', [], '', 1),
      decisions: new Chart('decisions', [], '%', 100),
      tokens: new Chart('tokens', [
        { key: 'tokens_per_s', label: 'tokens/s', color: ('--s1') },
      ], '', 10),
      latency: new Chart('latency', [
        { key: 'latency_p50', label: 'p50', color: ('--s2') },
        { key: 'latency_p90', label: 'p90', color: ('--s3') },
        { key: 'latency_p99', label: 'p99', color: ('--s5') },
      ], 's', 0.1),
      ttft: new Chart('ttft', [
        { key: 'ttft_p50', label: 'p50', color: ('--s2') },
        { key: 'ttft_p90', label: 'p90', color: ('--s3') },
        { key: 'ttft_p99', label: 'p99', color: ('--s5') },
      ], 's', 0.1),
    };
  }

  function ingest(m) {
    const t = performance.now() / 1000;
    const ok = sum(m, 'tandem:requests_total', (l) => /^2/.test(l.status || ''));
    const err = sum(m, 'tandem:requests_total', (l) => !/^2/.test(l.status || ''));
    const tokens = sum(m, 'tandem:generation_tokens_total');
    const perTier = {};
    for (const x of m.get('tandem:requests_total') || []) {
      const tier = x.labels.tier;
      if (!tier) continue;
      if (!state.tiers.includes(tier)) state.tiers.push(tier);
      if (x.labels.status === '200') perTier[tier] = (perTier[tier] || 0) + x.value;
    }
    for (const x of m.get('tandem:tier_running') || []) {
      const tier = x.labels.tier;
      if (tier && !state.tiers.includes(tier)) state.tiers.push(tier);
    }

    // The policy's picks for requests that named no tier, as shares of its decisions.
    const perDecision = {};
    for (const x of m.get('tandem:policy_decisions_total') || []) {
      const tier = x.labels.tier;
      if (!tier) continue;
      if (!state.decisions.includes(tier)) state.decisions.push(tier);
      perDecision[tier] = (perDecision[tier] || 0) + x.value;
    }
    for (const x of m.get('tandem:policy_info') || [])
      if (x.labels.policy) state.policy = x.labels.policy;

    const lat = buckets(m, 'tandem:request_latency_seconds');
    const ttft = buckets(m, 'tandem:time_to_first_token_seconds');
    // A counter that went down means the server restarted: start afresh.
    const last = snaps[snaps.length - 1];
    if (last && (ok < last.ok || err < last.err || tokens < last.tokens)) snaps.length = 0;
    snaps.push({ t, ok, err, tokens, perTier, perDecision, lat, ttft });
    while (snaps.length > 2 && t - snaps[1].t >= Math.max(RATE_WINDOW, PCT_WINDOW)) snaps.shift();

    const r = snapshotBefore(t, RATE_WINDOW);
    const rate = (now, before) => (r ? Math.max(0, now - before) / (t - r.t) : null);
    push('requests_ok', rate(ok, r && r.ok));
    push('requests_err', rate(err, r && r.err));
    push('tokens_per_s', rate(tokens, r && r.tokens));
    for (const tier of state.tiers)
      push('tier_' + tier, rate(perTier[tier] || 0, r && (r.perTier[tier] || 0)));
    let decided = 0;
    const delta = {};
    for (const tier of state.decisions) {
      delta[tier] = r ? Math.max(0, (perDecision[tier] || 0) - ((r.perDecision || {})[tier] || 0)) : 0;
      decided += delta[tier];
    }
    for (const tier of state.decisions)
      push('decision_' + tier, decided > 0 ? (100 * delta[tier]) / decided : null);
    push('queue_depth', sum(m, 'tandem:queue_depth'));
    push('running', m.has('tandem:running_requests') ? sum(m, 'tandem:running_requests')
                                                      : sum(m, 'tandem:tier_running'));

    const ref = snapshotBefore(t, PCT_WINDOW);
    for (const q of [50, 90, 99]) {
      push('latency_p' + q, ref ? quantile(q / 100, lat, ref.lat) : null);
      push('ttft_p' + q, ref ? quantile(q / 100, ttft, ref.ttft) : null);
    }


    const ready = sum(m, 'tandem:ready');
    state.ready = ready > 0;
    setStatus(state.ready ? 'ready' : 'not ready', state.ready ? 'ok' : 'wait');
    setText('fact-running', fmtNum(state.series.running[state.series.running.length - 1]));
    setText('fact-queued', fmtNum(state.series.queue_depth[state.series.queue_depth.length - 1]));
    const kv = m.has('tandem:kv_cache_usage_ratio') ? sum(m, 'tandem:kv_cache_usage_ratio')
                                                     : sum(m, 'vllm:kv_cache_usage_perc');
    setText('fact-kv', (kv * 100).toFixed(kv < 0.1 ? 1 : 0) + ' %');
    setText('fact-served', fmtNum(ok) + ' ok · ' + fmtNum(err) + ' errors');

    charts.tiers.setLines(state.tiers.map((tier, i) => ({ key: 'tier_' + tier, label: tier, color: tierColor(i) })));
    // Same colour per tier in both charts; 'rejected' after the tiers.
    charts.decisions.setLines(state.decisions.map((tier) => {
      const i = state.tiers.includes(tier) ? state.tiers.indexOf(tier) : state.tiers.length + state.decisions.indexOf(tier);
      return { key: 'decision_' + tier, label: tier, color: tierColor(i) };
    }));
    setText('fact-policy', state.policy || '–');
    for (const c of Object.values(charts)) c.update();
    state.updates++;
    state.lastPoll = Date.now();
    document.body.dataset.updates = String(state.updates);
  }

  function setText(id, s) {
    const el = document.getElementById(id);
    if (el) el.textContent = s;
  }

  function setStatus(text, kind) {
    const el = document.getElementById('status');
    el.textContent = text;
    el.className = 'pill pill-' + kind;
    el.dataset.state = text;
  }

  async function poll() {
    try {
      const r = await fetch('/metrics', { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      ingest(parseMetrics(await r.text()));
    } catch (e) {
      state.pollErrors++;
      setStatus('unreachable', 'err');
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // ---------- Chat ----------

  const history = [];  // [{role, content}] of this conversation
  let abort = null;

  function apiHeaders() {
    const h = { 'Content-Type': 'application/json' };
    const key = document.getElementById('chat-key').value.trim();
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
  }

  async function loadTiers() {
    const sel = document.getElementById('chat-tier');
    try {
      const r = await fetch('/v1/models', { headers: apiHeaders(), cache: 'no-store' });
      if (r.status === 401) {
        setText('chat-meta', 'This server wants an API key to list its tiers.');
        return;
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const body = await r.json();
      const keep = sel.value;
      sel.innerHTML = '';
      for (const m of body.data || []) {
        const o = document.createElement('option');
        o.value = m.id;
        o.textContent = m.description ? m.id + ' — ' + m.description : m.id;
        sel.appendChild(o);
      }
      if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
      if (document.getElementById('chat-meta').textContent.startsWith('This server wants'))
        setText('chat-meta', '');
    } catch (e) {
      setTimeout(loadTiers, 3000);  // the server may still be loading
    }
  }

  function addMsg(kind, text) {
    const log = document.getElementById('chat-log');
    const el = document.createElement('div');
    el.className = 'msg msg-' + kind;
    el.textContent = text;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  function errorText(body, status) {
    try {
      const j = typeof body === 'string' ? JSON.parse(body) : body;
      if (j && j.error) return (j.error.code || j.error.type || 'error') + ': ' + j.error.message;
    } catch (e) { /* not JSON */ }
    return 'HTTP ' + status + (body ? ': ' + String(body).slice(0, 200) : '');
  }

  async function send(text) {
    const chat = state.chat;
    const sendBtn = document.getElementById('chat-send');
    const model = document.getElementById('chat-tier').value || undefined;
    const maxTokens = parseInt(document.getElementById('chat-max-tokens').value, 10) || 64;
    history.push({ role: 'user', content: text });
    addMsg('user', text);
    const out = addMsg('assistant streaming', '');
    Object.assign(chat, { busy: true, reply: '', tier: null, finish: null, chunks: 0, renders: 0, error: null });
    sendBtn.textContent = 'Stop';
    setText('chat-meta', 'waiting…');
    abort = new AbortController();
    const t0 = performance.now();
    let ttft = null;
    try {
      const r = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: apiHeaders(),
        body: JSON.stringify({ model, messages: history, stream: true, max_tokens: maxTokens }),
        signal: abort.signal,
      });
      if (!r.ok) throw new Error(errorText(await r.text(), r.status));
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '', done = false;
      while (!done) {
        const { value, done: end } = await reader.read();
        if (end) break;
        buf += dec.decode(value, { stream: true });
        const shown = chat.reply.length;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          for (const line of event.split('\n')) {
            if (!line.startsWith('data:')) continue;  // comments (keep-alives) and other fields
            const data = line.slice(5).trim();
            if (data === '[DONE]') { done = true; break; }
            const j = JSON.parse(data);
            if (j.error) throw new Error(errorText(j, 200));
            chat.chunks++;
            if (j.tier) chat.tier = j.tier;
            const choice = (j.choices || [])[0];
            if (!choice) continue;
            const piece = (choice.delta && choice.delta.content) || '';
            if (piece) {
              if (ttft === null) ttft = (performance.now() - t0) / 1000;
              chat.reply += piece;
              out.textContent = chat.reply;
              document.getElementById('chat-log').scrollTop = 1e9;
            }
            if (choice.finish_reason) chat.finish = choice.finish_reason;
          }
        }
        if (chat.reply.length > shown) chat.renders++;
      }
      history.push({ role: 'assistant', content: chat.reply });
      const secs = (performance.now() - t0) / 1000;
      setText('chat-meta', [chat.tier && 'tier ' + chat.tier, chat.finish && 'finish ' + chat.finish,
        ttft !== null && 'first token ' + fmtNum(ttft, 's'), 'total ' + fmtNum(secs, 's')]
        .filter(Boolean).join(' · '));
    } catch (e) {
      history.pop();  // the question goes unanswered; do not resend it
      chat.error = e.name === 'AbortError' ? 'stopped' : e.message;
      if (chat.reply) out.textContent = chat.reply; else out.remove();
      addMsg('error', chat.error);
      setText('chat-meta', '');
    } finally {
      out.classList.remove('streaming');
      chat.busy = false;
      chat.exchanges++;
      abort = null;
      sendBtn.textContent = 'Send';
    }
  }

  function initChat() {
    const form = document.getElementById('chat-form');
    const input = document.getElementById('chat-input');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (abort) { abort.abort(); return; }
      const text = input.value.trim();
      if (!text) return;
      input.value = '';
      send(text);
    });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    document.getElementById('chat-clear').addEventListener('click', () => {
      if (abort) abort.abort();
      history.length = 0;
      document.getElementById('chat-log').innerHTML = '';
      setText('chat-meta', '');
    });
    const key = document.getElementById('chat-key');
    try { key.value = sessionStorage.getItem('tandem-api-key') || ''; } catch (e) { /* storage off */ }
    key.addEventListener('change', () => {
      try { sessionStorage.setItem('tandem-api-key', key.value.trim()); } catch (e) { /* storage off */ }
      loadTiers();
    });
  }

  function start() {
    document.getElementById('window-s').textContent = String(PCT_WINDOW);
    document.getElementById('rate-window-s').textContent = String(RATE_WINDOW);
    makeCharts();
    initChat();
    loadTiers();
    poll();
    if (window.matchMedia)
      window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
        for (const c of Object.values(charts)) c.draw();
      });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
