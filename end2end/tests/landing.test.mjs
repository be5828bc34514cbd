// The first visit: the static files are served, a server function answers under /rpc, and `/`
// sends a visitor without a session to the login page, which renders, hydrates and fits a phone.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESULTS_DIR, launchBrowser, startServer, watchErrors } from './helpers.mjs';

describe('first visit', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({ name: 'landing-server' });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the server answers /api/v1/ping/ and serves the stylesheet, WASM and favicon', async () => {
    const ping = await (await fetch(`${server.url}/api/v1/ping/`)).json();
    assert.equal(ping.ping, 'pong');
    assert.match(ping.version, /^\d+\.\d+\.\d+/);
    for (const [file, type] of [
      ['/pkg/cyborgbackup.css', /text\/css/],
      ['/pkg/cyborgbackup.js', /javascript/],
      ['/pkg/cyborgbackup.wasm', /application\/wasm/],
      ['/favicon.svg', /image\/svg\+xml/],
    ]) {
      const res = await fetch(`${server.url}${file}`);
      assert.equal(res.status, 200, `${file} status`);
      assert.match(res.headers.get('content-type') ?? '', type, `${file} content-type`);
    }
  });

  test('a server function answers under /rpc', async () => {
    const res = await fetch(`${server.url}/rpc/server_version`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /\d+\.\d+\.\d+/);
  });

  test('/ leads a visitor without a session to the login page, which renders and hydrates', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    try {
      const res = await page.goto(`${server.url}/`, { waitUntil: 'load' });
      assert.equal(res.status(), 200);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.equal(await page.title(), 'Log in — CyBorgBackup');
      assert.equal((await page.textContent('h1'))?.trim(), 'CyBorgBackup');
      assert.ok(await page.isVisible('label[for="email"]'));
      assert.ok(await page.isVisible('label[for="password"]'));
      // The hydrate entry marks the body once the WASM bundle has taken over the page.
      await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
      assert.deepEqual(errors, [], 'no console errors, page errors or failed requests');
    } finally {
      await context.close();
    }
  });

  test('the login page fits a phone screen (390×844) and saves a screenshot', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    const errors = watchErrors(page);
    try {
      await page.goto(`${server.url}/login`, { waitUntil: 'networkidle' });
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= 390, `no horizontal scrolling (scrollWidth ${scrollWidth})`);
      const button = await page.$('#login-form button[type="submit"]');
      const box = await button.boundingBox();
      assert.ok(box && box.height >= 40, 'the button is a comfortable touch target');
      const file = path.join(RESULTS_DIR, 'landing-phone.png');
      await page.screenshot({ path: file, fullPage: true });
      assert.deepEqual(errors, [], 'no console errors, page errors or failed requests');
    } finally {
      await context.close();
    }
  });
});
