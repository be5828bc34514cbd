// The calendar page: the month grid of every enabled policy (counts per day, one colour per
// policy with a legend, an every-minute policy counted without freezing the page), month
// navigation and "today", a picked day's runs, and conflicts flagged (two policies on one
// repository at the same minute). No console error or warning, at desktop and phone sizes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESULTS_DIR, apiCaller, launchBrowser, loggedInPage, startServer } from './helpers.mjs';

describe('calendar page', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({ name: 'calendar-server' });
    const api = apiCaller(server.url);
    browser = await launchBrowser();
    const c = await api('POST', '/api/v1/clients/', { hostname: 'web1.example.org' });
    const r1 = await api('POST', '/api/v1/repositories/', { name: 'r1', path: '/srv/borg/r1' });
    const r2 = await api('POST', '/api/v1/repositories/', { name: 'r2', path: '/srv/borg/r2' });
    const policy = async (name, crontab, repository) => {
      const s = await api('POST', '/api/v1/schedules/', { name: `${name} schedule`, crontab });
      await api('POST', '/api/v1/policies/', {
        name,
        policy_type: 'config',
        clients: [c.id],
        repository: repository.id,
        schedule: s.id,
      });
    };
    // a-daily and b-hourly meet at 02:00 on r1 (a conflict); c-every-minute is alone on r2.
    await policy('a-daily', '0 2 * * *', r1);
    await policy('b-hourly', '0 * * * *', r1);
    await policy('c-every-minute', '* * * * *', r2);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const calendarPage = (route, viewport = { width: 1366, height: 768 }, extra = {}) =>
    loggedInPage(browser, server.url, route, '#calendar-grid', viewport, extra);

  const badge = (page, day) =>
    page.locator(`#calendar-grid a[data-day="${day}"] .badge`).textContent();

  test("one policy's calendar: its runs alone, its conflicts kept, reached from the policies page", async () => {
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/policies',
      '#resource-table',
      { width: 1366, height: 768 },
    );
    try {
      await page.click('a[aria-label="Calendar of b-hourly"]');
      await page.waitForURL(/\/calendar\?policy=\d+$/);
      await page.waitForSelector('#calendar-title:has-text("b-hourly")');
      const id = new URL(page.url()).searchParams.get('policy');
      await page.goto(`${server.url}/calendar?month=2030-01&policy=${id}`);
      await page.waitForSelector('#calendar-grid');
      assert.equal(await page.textContent('#calendar-title'), 'Calendar of the policy b-hourly');
      assert.deepEqual(
        (await page.locator('#legend li').allTextContents()).map((t) => t.split(' ')[0]),
        ['b-hourly'],
      );
      for (const day of [1, 31]) assert.equal(await badge(page, day), '24');
      // Its 02:00 run still meets a-daily's on r1.
      assert.equal(await page.locator('#calendar-grid a.has-conflict').count(), 31);
      // Navigation keeps the policy.
      await page.click('#month-next');
      await page.waitForURL(new RegExp(`month=2030-02&policy=${id}$`));
      await page.waitForFunction(() => document.querySelector('#month-title')?.textContent === 'February 2030');
      assert.equal(await badge(page, 28), '24');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a month: counts per day, legend, navigation, a day with its runs and conflicts', async () => {
    const { context, page, problems } = await calendarPage('/calendar?month=2030-01');
    try {
      assert.equal(await page.title(), 'Calendar — CyBorgBackup');
      assert.equal(await page.textContent('#month-title'), 'January 2030');
      assert.equal(await page.locator('#calendar-grid a.cal-day').count(), 31);
      // 1 January 2030 is a Tuesday: one blank cell before it.
      assert.equal(await page.locator('#calendar-grid .cal-blank').count(), 1);
      assert.deepEqual(
        (await page.locator('#legend li').allTextContents()).map((t) => t.split(' ')[0]),
        ['a-daily', 'b-hourly', 'c-every-minute'],
      );
      // 1 + 24 + 1,440 runs every day; each day has the 02:00 conflict.
      for (const day of [1, 15, 31]) assert.equal(await badge(page, day), '1465');
      assert.equal(await page.locator('#calendar-grid a.has-conflict').count(), 31);

      // Pick a day: its runs, with the two at 02:00 flagged.
      await page.click('#calendar-grid a[data-day="15"]');
      await page.waitForURL(/month=2030-01&day=15/);
      await page.waitForSelector('#day-runs');
      assert.match(await page.textContent('#day-title'), /^15 January 2030: 1465 runs/);
      assert.match(await page.textContent('#day-conflicts'), /^2 runs in conflict/);
      const conflicts = await page.locator('#day-runs li.conflict').allTextContents();
      assert.equal(conflicts.length, 2);
      for (const c of conflicts) assert.match(c, /^02:00 UTC/);
      assert.match(await page.textContent('#day-more'), /^and 1415 more$/);
      assert.equal(
        await page.getAttribute('#calendar-grid a[data-day="15"]', 'aria-current'),
        'date',
      );
      await page.screenshot({ path: path.join(RESULTS_DIR, 'calendar-desktop.png'), fullPage: true });

      // Next and previous month, then today.
      await page.click('#month-next');
      await page.waitForURL(/month=2030-02$/);
      await page.waitForFunction(
        () => document.querySelector('#month-title')?.textContent === 'February 2030',
      );
      assert.equal(await page.locator('#calendar-grid a.cal-day').count(), 28);
      const showing = (t) =>
        page.waitForFunction((t) => document.querySelector('#month-title')?.textContent === t, t);
      await page.click('#month-previous');
      await showing('January 2030');
      await page.click('#month-previous');
      await showing('December 2029');
      assert.equal(await page.locator('#calendar-grid a.cal-day').count(), 31);
      await page.click('#month-today');
      const now = new Date();
      const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
        'September', 'October', 'November', 'December'];
      const title = `${months[now.getUTCMonth()]} ${now.getUTCFullYear()}`;
      await showing(title);
      assert.equal(await page.locator('#calendar-grid a.today').count(), 1);
      assert.equal(
        await page.getAttribute('#calendar-grid a.today', 'data-day'),
        String(now.getUTCDate()),
      );
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the keyboard moves between days (Tab, arrows) and opens one', async () => {
    const { context, page, problems } = await calendarPage('/calendar?month=2030-03');
    try {
      await page.focus('#calendar-grid a[data-day="1"]');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.day), '2');
      // Arrow keys: right a day, down a week, left a day, up a week; clamped at the month's end.
      const focused = () => page.evaluate(() => document.activeElement?.dataset.day);
      await page.keyboard.press('ArrowRight');
      assert.equal(await focused(), '3');
      await page.keyboard.press('ArrowDown');
      assert.equal(await focused(), '10');
      await page.keyboard.press('ArrowLeft');
      assert.equal(await focused(), '9');
      await page.keyboard.press('ArrowUp');
      assert.equal(await focused(), '2');
      await page.focus('#calendar-grid a[data-day="30"]');
      await page.keyboard.press('ArrowDown');
      assert.equal(await focused(), '31');
      await page.keyboard.press('ArrowUp');
      await page.keyboard.press('ArrowUp');
      assert.equal(await focused(), '17');
      await page.focus('#calendar-grid a[data-day="2"]');
      await page.keyboard.press('Enter');
      await page.waitForURL(/month=2030-03&day=2/);
      await page.waitForSelector('#day-title:has-text("2 March 2030")');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('phone (390×844): the grid fits the screen', async () => {
    const { context, page, problems } = await calendarPage(
      '/calendar?month=2030-01&day=1',
      { width: 390, height: 844 },
      { deviceScaleFactor: 2, isMobile: true, hasTouch: true },
    );
    try {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `calendar scrollWidth ${width}`);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'calendar-phone.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
