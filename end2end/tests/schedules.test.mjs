// The schedules page: the list (search, sort), the editor's live preview of a crontab, a save
// refused by the server with its messages next to the fields, create and edit through the form,
// and a delete that asks first and names the policies using the schedule. No console error or
// warning on the way, at desktop and phone sizes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  RESULTS_DIR,
  apiCaller,
  launchBrowser,
  loggedInPage,
  openForm,
  startServer,
} from './helpers.mjs';

describe('schedules page', () => {
  let server;
  let browser;
  let api;

  before(async () => {
    server = await startServer({ name: 'schedules-server' });
    api = apiCaller(server.url);
    browser = await launchBrowser();
    const c = await api('POST', '/api/v1/clients/', { hostname: 'web1.example.org' });
    const repo = await api('POST', '/api/v1/repositories/', { name: 'main', path: '/srv/borg/main' });
    const hourly = await api('POST', '/api/v1/schedules/', { name: 'hourly', crontab: '0 * * * *' });
    await api('POST', '/api/v1/schedules/', { name: 'weekly', crontab: '0 4 * * 0' });
    await api('POST', '/api/v1/policies/', {
      name: 'web-rootfs',
      policy_type: 'rootfs',
      clients: [c.id],
      repository: repo.id,
      schedule: hourly.id,
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A logged-in, hydrated page on /schedules, its form opened ("New schedule"). */
  async function schedulesPage(viewport = { width: 1366, height: 768 }, extra = {}) {
    const opened = await loggedInPage(browser, server.url, '/schedules', '#schedules', viewport, extra);
    await openForm(opened.page, '#schedule-new', '#schedule-form');
    return opened;
  }

  const names = (page) => page.locator('#schedules td.name').allTextContents();

  test('lists, searches and sorts the schedules', async () => {
    const { context, page, problems } = await schedulesPage();
    try {
      assert.equal(await page.title(), 'Schedules — CyBorgBackup');
      assert.deepEqual(await names(page), ['hourly', 'weekly']);
      await page.click('#schedules th a:has-text("Name")');
      await page.waitForURL(/order_by=-name/);
      await page.waitForFunction(
        () => document.querySelector('#schedules td.name')?.textContent === 'weekly',
      );
      assert.deepEqual(await names(page), ['weekly', 'hourly']);
      // The search form navigates inside the page (a form left to the browser would load a new
      // document and lose this mark), keeping the order chosen.
      await page.evaluate(() => {
        window.__stillHere = true;
      });
      await page.fill('#schedule-search', 'week');
      await page.click('.search-form button[type="submit"]');
      await page.waitForURL(/search=week/);
      await page.waitForFunction(() => document.querySelectorAll('#schedules td.name').length === 1);
      assert.equal(await page.evaluate(() => window.__stillHere), true, 'no page load');
      assert.equal(new URL(page.url()).searchParams.get('order_by'), '-name');
      assert.deepEqual(await names(page), ['weekly']);
      assert.match(await page.textContent('#schedules-count'), /^1 schedule, page 1 of 1/);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the editor previews a crontab as it is typed, shows refusals, creates and edits', async () => {
    const { context, page, problems } = await schedulesPage();
    try {
      // Live preview: five runs a day apart at 02:30 UTC.
      await page.fill('#schedule-crontab', '30 2 * * *');
      await page.waitForSelector('#schedule-preview .preview-runs li:nth-child(5)');
      const times = await page
        .locator('#schedule-preview time')
        .evaluateAll((ts) => ts.map((t) => t.getAttribute('datetime')));
      assert.equal(times.length, 5);
      for (const t of times) assert.match(t, /T02:30:00(\+00:00|Z)$/);
      const ms = times.map((t) => Date.parse(t));
      for (let i = 1; i < ms.length; i++) assert.equal(ms[i] - ms[i - 1], 86_400_000);
      assert.ok(ms[0] > Date.now() && ms[0] <= Date.now() + 86_400_000);

      // A crontab the server refuses: the preview says why, at once.
      await page.fill('#schedule-crontab', '61 * * * *');
      await page.waitForSelector('#schedule-preview .preview-error');
      assert.match(await page.textContent('#schedule-preview .preview-error'), /minute/i);

      // Save refused (blank name, bad crontab): the messages sit next to their fields and
      // nothing is created.
      await page.click('#schedule-save');
      await page.waitForFunction(
        () => document.querySelector('#schedule-name-error')?.textContent.trim().length > 0,
      );
      assert.match(await page.textContent('#schedule-name-error'), /blank|required/i);
      assert.match(await page.textContent('#schedule-crontab-error'), /minute/i);
      assert.equal((await api('GET', '/api/v1/schedules/')).count, 2);

      // Create.
      await page.fill('#schedule-name', 'nightly');
      await page.fill('#schedule-crontab', '30 2 * * *');
      await page.click('#schedule-save');
      await page.waitForSelector('#schedule-saved:has-text("nightly")');
      await page.waitForSelector('#schedules td.name:has-text("nightly")');
      assert.equal(await page.textContent('#schedule-name-error'), '');
      const created = (await api('GET', '/api/v1/schedules/?name=nightly')).results;
      assert.equal(created.length, 1);
      assert.equal(created[0].crontab, '30 2 * * *');
      assert.equal(created[0].enabled, true);

      // Edit: the form takes the row, the save updates it.
      await page.click('button[aria-label="Edit nightly"]');
      assert.equal(await page.textContent('#editor-title'), 'Edit schedule');
      assert.equal(await page.inputValue('#schedule-crontab'), '30 2 * * *');
      await page.fill('#schedule-crontab', '15 3 * * 1-5');
      await page.uncheck('#schedule-enabled');
      await page.click('#schedule-save');
      await page.waitForSelector('#schedules tr:has(td.name:text-is("nightly")) code:text-is("15 3 * * 1-5")');
      const edited = await api('GET', `/api/v1/schedules/${created[0].id}/`);
      assert.equal(edited.crontab, '15 3 * * 1-5');
      assert.equal(edited.enabled, false);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'schedules-desktop.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('delete asks first, names the policies using the schedule, and deletes an unused one', async () => {
    await api('POST', '/api/v1/schedules/', { name: 'spare', crontab: '0 0 1 * *' });
    const { context, page, problems } = await schedulesPage();
    try {
      // In use: the confirmation names the policy, and the server's refusal is shown.
      await page.click('button[aria-label="Delete hourly"]');
      await page.waitForSelector('#delete-dependents:has-text("web-rootfs")');
      await page.click('#confirm-delete');
      await page.waitForFunction(
        () => document.querySelector('#delete-error')?.textContent.trim().length > 0,
      );
      assert.ok((await api('GET', '/api/v1/schedules/?name=hourly')).count === 1, 'still there');
      await page.click('#delete-confirm button:has-text("Cancel")');
      await page.waitForSelector('#delete-confirm', { state: 'detached' });

      // Unused: deleted, and gone from the list.
      await page.click('button[aria-label="Delete spare"]');
      await page.waitForSelector('#delete-dependents:has-text("No policy uses it")');
      await page.click('#confirm-delete');
      await page.waitForSelector('#schedules td.name:text-is("spare")', { state: 'detached' });
      assert.equal((await api('GET', '/api/v1/schedules/?name=spare')).count, 0);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('phone (390×844): the list and the editor fit the screen', async () => {
    const { context, page, problems } = await schedulesPage(
      { width: 390, height: 844 },
      { deviceScaleFactor: 2, isMobile: true, hasTouch: true },
    );
    try {
      await page.fill('#schedule-crontab', '*/15 * * * *');
      await page.waitForSelector('#schedule-preview .preview-runs li');
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `schedules scrollWidth ${width}`);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'schedules-phone.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
