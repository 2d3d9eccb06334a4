// The dashboard in headless Chromium (Debian `chromium`, driven by
// playwright-core): it renders from tandem's own assets only, its charts update
// while load runs, and its chat box streams a reply.
// TANDEM_DASHBOARD_SCREENSHOT=/path.png saves a screenshot after the load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { importOptional, missingBinary, startServer } from './tandem_server.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const pw = await importOptional('playwright-core');
const skip = missingBinary() ||
  (pw ? null : 'playwright-core is not installed (npm ci --prefix tests/serve/node)') ||
  (existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt install chromium)`);

// Closed-loop load: `clients` workers each send small chats until `stop()`.
function startLoad(base, clients) {
  let running = true;
  const counts = { ok: 0, other: 0 };
  const worker = async (i) => {
    while (running) {
      try {
        const r = await fetch(base + '/v1/chat/completions', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            model: i % 2 ? 'little' : 'tandem',
            messages: [{ role: 'user', content: `Write about the number ${i}.` }],
            max_tokens: 16,
          }),
        });
        await r.arrayBuffer();
        if (r.status === 200) counts.ok++; else counts.other++;
      } catch {
        counts.other++;
      }
    }
  };
  const all = Promise.all(Array.from({ length: clients }, (_, i) => worker(i)));
  return { counts, stop: async () => { running = false; await all; } };
}

test('dashboard renders, its charts follow the load, its chat streams', { skip: skip || false, timeout: 300_000 }, async (t) => {
  const server = await startServer({ slots: 4 });
  let browser, load, exit;
  try {
    browser = await pw.chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const pageErrors = [];
    const foreign = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push('console: ' + m.text()); });
    page.on('request', (r) => { if (!r.url().startsWith(server.base)) foreign.push(r.url()); });

    const resp = await page.goto(server.base + '/');
    assert.equal(resp.status(), 200);
    assert.equal(await page.title(), 'tandem');
    for (const id of ['requests', 'queue', 'tiers', 'tokens', 'latency', 'ttft'])
      assert.equal(await page.locator('#chart-' + id).count(), 1, `chart ${id} is missing`);

    // Polling works before any load.
    await page.waitForFunction(() => window.tandemDashboard && window.tandemDashboard.updates >= 2,
      null, { timeout: 30_000 });
    assert.equal(await page.locator('#status').getAttribute('data-state'), 'ready');
    const before = await page.evaluate(() => window.tandemDashboard.updates);

    load = startLoad(server.base, 4);
    const seen = (name) => `(window.tandemDashboard.series[${JSON.stringify(name)}] || [])` +
      '.some((v) => v !== null && v > 0)';
    await page.waitForFunction(
      `window.tandemDashboard.updates >= ${before + 3} && ${seen('requests_ok')} && ` +
      `${seen('tokens_per_s')} && ${seen('latency_p50')} && ${seen('ttft_p99')} && ` +
      `(${seen('tier_big')} || ${seen('tier_little')}) && ${seen('running')}`,
      null, { timeout: 120_000, polling: 250 });
    await load.stop();
    load = null;

    const state = await page.evaluate(() => {
      const d = window.tandemDashboard;
      return {
        updates: d.updates,
        tiers: d.tiers,
        errors: d.series.requests_err.filter((v) => v > 0).length,
        chartUpdates: [...document.querySelectorAll('canvas.chart')].map((c) => +c.dataset.updates),
        legend: document.querySelector('[data-legend-for="tokens"]').textContent,
      };
    });
    assert.ok(state.updates > before + 2, JSON.stringify(state));
    assert.ok(state.chartUpdates.every((n) => n > before), JSON.stringify(state));
    assert.ok(state.tiers.includes('big') && state.tiers.includes('little'), JSON.stringify(state));
    assert.equal(state.errors, 0, 'the load had no errors, the chart shows some');
    assert.match(state.legend, /tokens\/s\s*\d/);
    // The canvases hold drawn pixels.
    const inked = await page.evaluate(() => {
      const c = document.getElementById('chart-tokens');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 500, `the tokens chart has ${inked} drawn pixels`);
    if (process.env.TANDEM_DASHBOARD_SCREENSHOT)
      await page.screenshot({ path: process.env.TANDEM_DASHBOARD_SCREENSHOT, fullPage: true });

    // The chat box: pick a tier from /v1/models and stream a reply. The big tier takes some
    // tens of ms a token, so a reply of a few tokens arrives over several network reads and
    // grows on screen read by read (`renders`). A sampled reply may end at once, and another
    // engineer's load may delay a read: up to three exchanges to see one stream.
    await page.waitForFunction(() => [...document.querySelectorAll('#chat-tier option')]
      .some((o) => o.value === 'big'), null, { timeout: 30_000 });
    await page.selectOption('#chat-tier', 'big');
    await page.fill('#chat-max-tokens', '32');
    let chat;
    for (let attempt = 1; attempt <= 3; attempt++) {
      await page.fill('#chat-input', 'Once upon a time ' + attempt);
      await page.click('#chat-send');
      await page.waitForFunction((n) => window.tandemDashboard.chat.exchanges >= n &&
        !window.tandemDashboard.chat.busy, attempt, { timeout: 120_000 });
      chat = await page.evaluate(() => ({
        ...window.tandemDashboard.chat,
        shown: [...document.querySelectorAll('.msg-assistant')].pop()?.textContent,
        user: [...document.querySelectorAll('.msg-user')].pop()?.textContent,
        meta: document.getElementById('chat-meta').textContent,
      }));
      t.diagnostic(`chat ${attempt}: ${chat.chunks} chunks, ${chat.renders} renders, finish ${chat.finish}`);
      assert.equal(chat.error, null, JSON.stringify(chat));
      assert.equal(chat.tier, 'big');
      assert.ok(['stop', 'length'].includes(chat.finish), JSON.stringify(chat));
      assert.equal(chat.shown, chat.reply);
      assert.equal(chat.user, 'Once upon a time ' + attempt);
      assert.match(chat.meta, /tier big/);
      if (chat.renders >= 2) break;
      await page.click('#chat-clear');
    }
    assert.ok(chat.reply.length > 0, JSON.stringify(chat));
    assert.ok(chat.chunks >= 3, JSON.stringify(chat));
    assert.ok(chat.renders >= 2, 'the reply never grew on screen while streaming: ' + JSON.stringify(chat));

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(foreign, [], 'the dashboard fetched something from elsewhere');
  } catch (e) {
    t.diagnostic(server.log().slice(-8000));
    throw e;
  } finally {
    if (load) await load.stop();
    if (browser) await browser.close();
    exit = await server.stop();
  }
  assert.deepEqual(exit, { code: 0, signal: null });
});
