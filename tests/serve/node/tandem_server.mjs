// Helpers for the node tests: start `tandem serve` over the demo models on a
// free port, wait until /health says ready, stop it with SIGTERM.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
export const sourceDir = process.env.TANDEM_SOURCE_DIR || resolve(here, '../../..');

// Why the tests cannot run here, or null when they can.
export function missingBinary() {
  const bin = process.env.TANDEM_BINARY;
  if (!bin) return 'TANDEM_BINARY is not set (ctest sets it to the built tandem)';
  if (!existsSync(bin)) return `TANDEM_BINARY ${bin} does not exist`;
  for (const m of ['big-q8_0.gguf', 'little-aligned-q8_0.gguf'])
    if (!existsSync(join(sourceDir, 'models', m))) return `models/${m} is missing`;
  return null;
}

// Resolves an npm package from tests/serve/node/node_modules, or null when it is not installed.
export async function importOptional(name) {
  try {
    const require = createRequire(join(here, 'package.json'));
    require.resolve(name);
    return await import(name);
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts the server; resolves once /health answers 200. `extra` are more CLI flags.
export async function startServer({ extra = [], slots = 4, readyTimeoutMs = 180_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-node-'));
  const portFile = join(dir, 'port');
  const args = [
    'serve',
    '-m', join(sourceDir, 'models', 'big-q8_0.gguf'),
    '-d', join(sourceDir, 'models', 'little-aligned-q8_0.gguf'),
    '--port', '0', '--port-file', portFile,
    '--slots', String(slots), '-t', process.env.TANDEM_TEST_THREADS || '2',
    ...extra,
  ];
  const child = spawn(process.env.TANDEM_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d) => {
    log += d.toString();
    if (log.length > 64_000) log = log.slice(-48_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  let gone = null;
  exited.then((e) => { gone = e; });

  const server = {
    child,
    dir,
    port: 0,
    base: '',
    log: () => log,
    exited,
    // SIGTERM, then the exit status (SIGKILL after `ms`).
    async stop(ms = 60_000) {
      if (!gone) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const e = await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      return e;
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  try {
    while (!existsSync(portFile)) {
      if (gone) throw new Error(`tandem serve exited early (${JSON.stringify(gone)})`);
      if (Date.now() > deadline) throw new Error('tandem serve wrote no port file');
      await sleep(50);
    }
    server.port = parseInt(readFileSync(portFile, 'utf8'), 10);
    server.base = `http://127.0.0.1:${server.port}`;
    for (;;) {
      if (gone) throw new Error(`tandem serve exited while loading (${JSON.stringify(gone)})`);
      if (Date.now() > deadline) throw new Error('tandem serve did not become ready');
      try {
        const r = await fetch(server.base + '/health');
        await r.arrayBuffer();
        if (r.status === 200) break;
      } catch { /* not listening yet */ }
      await sleep(100);
    }
  } catch (e) {
    await server.stop(5_000);
    e.message += '\n--- server log ---\n' + log;
    throw e;
  }
  return server;
}
