// Shared helpers of the end-to-end tests: start the real server binary on a free port over a
// fresh data directory, and launch Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = path.join(ROOT, 'end2end', 'test-results');
export const ADMIN_EMAIL = 'admin@e2e.local';
export const ADMIN_PASSWORD = 'e2e-admin-password';

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `target/debug/cyborgbackup` (override with CYBORG_E2E_BIN) from the repository root over
 * a temporary data directory and waits until `/api/v1/ping/` answers.
 * Returns { url, port, dataDir, logFile, stop() }.
 */
export async function startServer({ name = 'server', timeoutMs = 60_000 } = {}) {
  const bin = process.env.CYBORG_E2E_BIN
    ? path.resolve(ROOT, process.env.CYBORG_E2E_BIN)
    : path.join(ROOT, 'target', 'debug', 'cyborgbackup');
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo leptos build\` first`);
  }
  const siteRoot = process.env.LEPTOS_SITE_ROOT
    ? path.resolve(ROOT, process.env.LEPTOS_SITE_ROOT)
    : path.join(ROOT, 'target', 'site');
  if (!existsSync(path.join(siteRoot, 'pkg'))) {
    throw new Error(`${siteRoot}/pkg does not exist: run \`cargo leptos build\` first`);
  }
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cyborg-e2e-'));
  mkdirSync(RESULTS_DIR, { recursive: true });
  const logFile = path.join(RESULTS_DIR, `${name}.log`);
  const log = createWriteStream(logFile);
  const env = {
    ...process.env,
    CYBORG_DATA_DIR: dataDir,
    CYBORG_ADMIN_EMAIL: ADMIN_EMAIL,
    CYBORG_ADMIN_PASSWORD: ADMIN_PASSWORD,
    CYBORG_SECRET_KEY: 'e2e-secret-key',
    LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
    LEPTOS_SITE_ROOT: siteRoot,
    RUST_LOG: process.env.RUST_LOG ?? 'info',
  };
  delete env.DATABASE_URL; // always the SQLite file inside the temporary data directory
  const child = spawn(bin, ['serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(timer);
    }
    log.end();
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) {
      await stop();
      throw new Error(`the server exited early (${JSON.stringify(exited)}); see ${logFile}`);
    }
    try {
      const res = await fetch(`${url}/api/v1/ping/`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the server did not answer /api/v1/ping/ within ${timeoutMs} ms; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, dataDir, logFile, stop };
}

/** Debian's Chromium, headless, with no network of its own. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Records console errors, uncaught page errors and failed requests of a page. */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) =>
    errors.push(`requestfailed: ${req.url()} ${req.failure()?.errorText ?? ''}`),
  );
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`http ${res.status()}: ${res.url()}`);
  });
  return errors;
}

/** Console errors and warnings and uncaught errors of a page (hydration problems log there). */
export function watchConsole(page) {
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      problems.push(`${msg.type()}: ${msg.text()} (${page.url()})`);
    }
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message} (${page.url()})`));
  return problems;
}

export async function waitHydrated(page) {
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
}

export async function fillLogin(page, password = ADMIN_PASSWORD) {
  await waitHydrated(page);
  await page.fill('#email', ADMIN_EMAIL);
  await page.fill('#password', password);
  await page.click('#login-form button[type="submit"]');
}

/**
 * A JSON caller of the server's REST API as the admin (basic authentication): `api(method,
 * route, body)` answers the parsed body and fails the test on a status other than 2xx.
 */
export function apiCaller(url) {
  const basic = `Basic ${Buffer.from(`${ADMIN_EMAIL}:${ADMIN_PASSWORD}`).toString('base64')}`;
  return async (method, route, body) => {
    const res = await fetch(`${url}${route}`, {
      method,
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${route}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/**
 * A new browser context at `viewport` (plus context options `extra`), logged in through the
 * login page that `route` redirects to, back on `route` once `selector` is there and the page
 * is hydrated. Answers { context, page, problems } (problems: see watchConsole).
 */
export async function loggedInPage(browser, url, route, selector, viewport, extra = {}) {
  const context = await browser.newContext({ viewport, ...extra });
  const page = await context.newPage();
  const problems = watchConsole(page);
  await page.goto(`${url}${route}`);
  await fillLogin(page);
  await page.waitForURL(`${url}${route}`, { timeout: 30_000 });
  await page.waitForSelector(selector);
  await waitHydrated(page);
  return { context, page, problems };
}

/**
 * Opens a page's form that is drawn on demand (its code is a lazily loaded WASM chunk): clicks
 * the button that stands in its place and waits for the form.
 */
export async function openForm(page, button, form) {
  await page.click(button);
  await page.waitForSelector(form, { timeout: 30_000 });
}
