// The landing page: server-rendered, styled, free of console errors, and hydrated (a click calls
// a server function under /rpc, which only works once the WASM bundle has taken over the page).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESULTS_DIR, launchBrowser, startServer, watchErrors } from './helpers.mjs';

describe('landing page', () => {
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

  test('renders, has no console errors, and hydrates', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    try {
      const res = await page.goto(`${server.url}/`, { waitUntil: 'load' });
      assert.equal(res.status(), 200);
      assert.equal(await page.title(), 'CyBorgBackup');
      assert.equal((await page.textContent('h1'))?.trim(), 'CyBorgBackup');
      assert.match(await page.textContent('#server-status'), /not checked yet/);

      // Until the WASM bundle has hydrated the page the button does nothing: click until the
      // server function's answer shows, for at most 30 s.
      const deadline = Date.now() + 30_000;
      let status = '';
      while (Date.now() < deadline) {
        await page.click('#check-server');
        try {
          await page.waitForFunction(
            () => document.querySelector('#server-status')?.textContent.includes('server is up'),
            null,
            { timeout: 2_000 },
          );
        } catch {
          // not hydrated yet
        }
        status = (await page.textContent('#server-status')) ?? '';
        if (status.includes('server is up')) break;
      }
      assert.match(status, /server is up, version \d+\.\d+\.\d+/);
      assert.deepEqual(errors, [], 'no console errors, page errors or failed requests');
    } finally {
      await context.close();
    }
  });

  test('fits a phone screen (390×844) and saves a screenshot', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    const errors = watchErrors(page);
    try {
      await page.goto(`${server.url}/`, { waitUntil: 'networkidle' });
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= 390, `no horizontal scrolling (scrollWidth ${scrollWidth})`);
      const button = await page.$('#check-server');
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
