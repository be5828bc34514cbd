// The dashboard: login/logout, the session guard with its redirect back, the overview (counts,
// the 30-day chart, the next runs, the last jobs kept live by server-sent events) and the phone
// layout, the nodes page. Every page visited must log no console error or warning (hydration warnings included).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_EMAIL,
  RESULTS_DIR,
  apiCaller,
  fillLogin,
  launchBrowser,
  startServer,
  waitHydrated,
  watchConsole,
} from './helpers.mjs';

describe('dashboard', () => {
  let server;
  let browser;
  let policyId;
  let api;

  async function newPage(viewport = { width: 1366, height: 768 }, extra = {}) {
    const context = await browser.newContext({ viewport, ...extra });
    const page = await context.newPage();
    const problems = watchConsole(page);
    return { context, page, problems };
  }

  before(async () => {
    server = await startServer({ name: 'dashboard-server' });
    api = apiCaller(server.url);
    browser = await launchBrowser();
    // Two clients on closed ports of this machine: a launched job fails at once, offline.
    const c1 = await api('POST', '/api/v1/clients/', { hostname: '127.0.0.1', port: 1 });
    await api('POST', '/api/v1/clients/', { hostname: 'db1.example.org' });
    const repo = await api('POST', '/api/v1/repositories/', { name: 'main', path: '/srv/borg/main' });
    const sched = await api('POST', '/api/v1/schedules/', { name: 'hourly', crontab: '0 * * * *' });
    const policy = await api('POST', '/api/v1/policies/', {
      name: 'web-rootfs',
      policy_type: 'rootfs',
      clients: [c1.id],
      repository: repo.id,
      schedule: sched.id,
    });
    policyId = policy.id;
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('without a session a page answers an HTTP redirect to the login', async () => {
    for (const [page, next] of [
      ['/', '/'],
      ['/jobs', '/jobs'],
      ['/clients?x=1', '/clients%3Fx%3D1'],
    ]) {
      const res = await fetch(`${server.url}${page}`, {
        redirect: 'manual',
        headers: { accept: 'text/html' },
      });
      assert.equal(res.status, 302, `${page} status`);
      assert.equal(res.headers.get('location'), `/login?next=${next}`, `${page} location`);
    }
  });

  test('login with a wrong password shows the error', async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${server.url}/login`);
      assert.equal(await page.title(), 'Log in — CyBorgBackup');
      await fillLogin(page, 'not-the-password');
      await page.waitForFunction(
        () => document.querySelector('#login-error')?.textContent.includes('No active account'),
        null,
        { timeout: 30_000 },
      );
      assert.match(new URL(page.url()).pathname, /^\/login$/);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('login lands on the overview: counts, 30-day chart, next runs, live last jobs', async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${server.url}/`);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/');
      await fillLogin(page);
      await page.waitForURL(`${server.url}/`, { timeout: 30_000 });
      await page.waitForSelector('#count-clients');
      assert.equal(await page.title(), 'Overview — CyBorgBackup');
      assert.equal((await page.textContent('.user-email'))?.trim(), ADMIN_EMAIL);
      const count = async (id) => (await page.textContent(`#${id}`))?.trim();
      assert.equal(await count('count-clients'), '2');
      assert.equal(await count('count-policies'), '1');
      assert.equal(await count('count-repositories'), '1');
      assert.equal(await count('count-running'), '0');
      assert.equal(await count('count-failed'), '0');
      assert.equal(await page.locator('svg#stats-chart g.day').count(), 30);
      // An hourly schedule: the next 10 runs are 10 consecutive hours of the one policy.
      const runs = await page.locator('#next-runs li').allTextContents();
      assert.equal(runs.length, 10);
      for (const r of runs) assert.match(r, /web-rootfs/);
      const times = await page.locator('#next-runs time').evaluateAll((ts) =>
        ts.map((t) => Date.parse(t.getAttribute('datetime'))),
      );
      for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 3_600_000);
      assert.ok(times[0] > Date.now() - 60_000 && times[0] <= Date.now() + 3_600_000);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'overview-desktop.png'), fullPage: true });

      // Live: a job launched now appears in the list and reaches its end without a reload.
      await page.evaluate(() => {
        window.__stillHere = true;
      });
      const launched = await api('POST', `/api/v1/policies/${policyId}/launch/`);
      const anyJob = `#last-jobs tr[data-job-id="${launched.job}"]`;
      await page.waitForSelector(anyJob, { timeout: 30_000 });
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('#last-jobs .status')].some((s) =>
            /^(failed|error)$/.test(s.textContent.trim()),
          ),
        null,
        { timeout: 60_000 },
      );
      assert.equal(await page.evaluate(() => window.__stillHere), true, 'no page reload');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a page asked for logged out comes back after login', async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${server.url}/jobs`);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/jobs');
      await fillLogin(page);
      await page.waitForURL(`${server.url}/jobs`, { timeout: 30_000 });
      await page.waitForSelector('h1:has-text("Jobs")');
      assert.equal(await page.title(), 'Jobs — CyBorgBackup');
      assert.equal(await page.getAttribute('nav a[href="/jobs"]', 'aria-current'), 'page');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the nodes page lists this server as a live node, refreshed while open', async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${server.url}/nodes`);
      await fillLogin(page);
      await page.waitForURL(`${server.url}/nodes`, { timeout: 30_000 });
      await page.waitForSelector('#nodes-table');
      await waitHydrated(page);
      assert.equal(await page.title(), 'Nodes — CyBorgBackup');
      assert.equal(await page.getAttribute('nav a[href="/nodes"]', 'aria-current'), 'page');
      const listed = await api('GET', '/api/v1/nodes/');
      assert.equal(listed.count, 1);
      const node = listed.results[0];
      const row = page.locator(`#nodes-table tr[data-node="${node.id}"]`);
      assert.equal(await row.getAttribute('data-state'), 'alive');
      const cells = await row.locator('td').allTextContents();
      assert.equal(cells[2], 'alive');
      assert.match(cells[3], /^\d+ s ago$/);
      assert.equal(cells[4], `0 / ${node.capacity}`);
      // The heartbeat's age is read again every few seconds, without a reload.
      await page.evaluate(() => {
        window.__stillHere = true;
      });
      const first = await row.getAttribute('data-node');
      await page.waitForResponse((r) => r.url().includes('/rpc/nodes'), { timeout: 15_000 });
      assert.equal(await page.evaluate(() => window.__stillHere), true, 'no page load');
      assert.equal(await row.getAttribute('data-node'), first);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('each page brings its own WASM chunk: loaded directly it hydrates, navigated to it loads', async () => {
    const { context, page, problems } = await newPage();
    const wasm = [];
    page.on('response', (res) => {
      const { pathname } = new URL(res.url());
      if (pathname.startsWith('/pkg/') && pathname.endsWith('.wasm')) {
        wasm.push({ file: pathname.slice('/pkg/'.length), status: res.status() });
      }
    });
    try {
      await page.goto(`${server.url}/login?next=%2Fjobs`);
      await fillLogin(page);
      await page.waitForURL(`${server.url}/jobs`, { timeout: 30_000 });
      // A hard load of the page: the main file and the jobs page's chunk(s), all found.
      wasm.length = 0;
      await page.reload();
      await waitHydrated(page);
      await page.waitForSelector('h1:has-text("Jobs")');
      const direct = wasm.map((w) => w.file);
      assert.ok(direct.includes('cyborgbackup.wasm'), `main file fetched: ${direct}`);
      const chunks = direct.filter((f) => f !== 'cyborgbackup.wasm');
      assert.ok(chunks.length >= 1, `the jobs page's code comes from a chunk: ${direct}`);
      assert.ok(wasm.every((w) => w.status === 200), JSON.stringify(wasm));
      // Hydrated: the page's own filter form navigates inside the page (a form left to the
      // browser would load a new document and lose this mark).
      await page.evaluate(() => {
        window.__stillHere = true;
      });
      await page.selectOption('#filter-job_type', 'job');
      await page.click('#job-filters button[type="submit"]');
      await page.waitForURL(/job_type=job/, { timeout: 30_000 });
      assert.equal(await page.evaluate(() => window.__stillHere), true, 'no page load');
      // Navigating in the browser to a page not seen yet fetches that page's chunk, not the
      // main file again.
      const fetchedSoFar = wasm.length;
      await page.click('nav a[href="/schedules"]');
      await page.waitForSelector('h1:has-text("Schedules")');
      assert.equal(await page.evaluate(() => window.__stillHere), true, 'no page load');
      const later = wasm.slice(fetchedSoFar).map((w) => w.file);
      assert.ok(later.length >= 1, 'the schedules page brought its chunk');
      assert.ok(!later.includes('cyborgbackup.wasm'), `main file not fetched again: ${later}`);
      assert.ok(!later.some((f) => chunks.includes(f)), `only chunks not yet loaded: ${later}`);
      // The four resource pages are one lazily loaded route: once Clients is shown, Policies
      // needs nothing more.
      await page.click('nav a[href="/clients"]');
      await page.waitForSelector('h1:has-text("Clients")');
      const withClients = wasm.length;
      assert.ok(withClients > fetchedSoFar + later.length, 'the resource pages brought a chunk');
      await page.click('nav a[href="/policies"]');
      await page.waitForSelector('h1:has-text("Policies")');
      await page.waitForSelector('#resource-search');
      assert.equal(await page.evaluate(() => window.__stillHere), true, 'no page load');
      assert.deepEqual(wasm.slice(withClients), [], 'no WASM fetched for Policies after Clients');
      // The form is not on the page until asked for; its code comes then.
      assert.equal(await page.locator('#resource-form').count(), 0, 'no form before "New"');
      await page.click('#resource-new');
      await page.waitForSelector('#resource-form #field-name');
      // Keyboard focus moves to the heading of the form that replaced the button.
      await page.waitForFunction(
        () => document.activeElement?.id === 'editor-title',
        null,
        { timeout: 5_000 },
      );
      const forForm = wasm.slice(withClients);
      assert.ok(forForm.length >= 1, 'the form brought its chunk');
      assert.ok(forForm.every((w) => w.status === 200), JSON.stringify(forForm));
      // Cancel puts the button back; opening again needs nothing more.
      await page.click('#resource-cancel');
      await page.waitForSelector('#resource-new');
      await page.click('#resource-new');
      await page.waitForSelector('#resource-form #field-name');
      assert.equal(wasm.length, withClients + forForm.length, 'the form chunk is fetched once');
      assert.equal(await page.evaluate(() => window.__stillHere), true, 'no page load');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('after login, next must be a path of this site', async () => {
    for (const next of ['//evil.example/x', 'http://evil.example/', '/\\evil.example']) {
      const { context, page, problems } = await newPage();
      try {
        await page.goto(`${server.url}/login?next=${encodeURIComponent(next)}`);
        await fillLogin(page);
        await page.waitForURL(`${server.url}/`, { timeout: 30_000 });
        await page.waitForSelector('#count-clients');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    }
  });

  test('logout ends the session, returns to /login, and / then redirects', async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${server.url}/login`);
      await fillLogin(page);
      await page.waitForURL(`${server.url}/`, { timeout: 30_000 });
      await waitHydrated(page);
      const [cookie] = (await context.cookies()).filter((c) => c.name === 'cyborg_session');
      assert.ok(cookie, 'the session cookie is set');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(cookie.path, '/');
      await page.click('#logout');
      await page.waitForURL(`${server.url}/login`, { timeout: 30_000 });
      assert.equal(
        (await context.cookies()).filter((c) => c.name === 'cyborg_session').length,
        0,
        'the cookie is cleared',
      );
      // The old token is dead on the server too.
      const me = await fetch(`${server.url}/api/v1/me/`, {
        headers: { cookie: `cyborg_session=${cookie.value}` },
      });
      assert.equal(me.status, 401);
      await page.goto(`${server.url}/`);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('phone (390×844): no horizontal overflow, the menu button opens the navigation', async () => {
    const { context, page, problems } = await newPage(
      { width: 390, height: 844 },
      { deviceScaleFactor: 2, isMobile: true, hasTouch: true },
    );
    try {
      await page.goto(`${server.url}/login`);
      const loginWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(loginWidth <= 390, `login page scrollWidth ${loginWidth}`);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'login-phone.png'), fullPage: true });
      await fillLogin(page);
      await page.waitForURL(`${server.url}/`, { timeout: 30_000 });
      await page.waitForSelector('#count-clients');
      await waitHydrated(page);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `overview scrollWidth ${width}`);
      assert.equal(await page.isVisible('#main-nav'), false, 'the nav is folded');
      await page.screenshot({ path: path.join(RESULTS_DIR, 'overview-phone.png'), fullPage: true });
      await page.click('label.menu-button');
      await page.waitForSelector('#main-nav', { state: 'visible' });
      await page.screenshot({ path: path.join(RESULTS_DIR, 'overview-phone-menu.png') });
      await page.click('#main-nav a[href="/policies"]');
      await page.waitForURL(`${server.url}/policies`);
      await page.waitForSelector('h1:has-text("Policies")');
      assert.equal(await page.isVisible('#main-nav'), false, 'a navigation folds the menu');
      const after = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(after <= 390, `policies scrollWidth ${after}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
