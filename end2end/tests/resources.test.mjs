// The resource pages (clients, repositories, policies, users), all drawn from one description:
// create through the form with a refusal shown next to its field and nothing stored, edit,
// the policy form's pickers by name and its type explanations, delete confirmations that name
// what depends on the object, and the phone layout. No console error or warning on the way.
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

describe('resource pages', () => {
  let server;
  let browser;
  let api;

  before(async () => {
    server = await startServer({ name: 'resources-server' });
    api = apiCaller(server.url);
    browser = await launchBrowser();
    await api('POST', '/api/v1/schedules/', { name: 'nightly', crontab: '0 3 * * *' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A logged-in, hydrated page on one resource's list, its form opened ("New …"). */
  async function open(route, viewport = { width: 1366, height: 768 }, extra = {}) {
    const opened = await loggedInPage(browser, server.url, route, '#resource-table', viewport, extra);
    await openForm(opened.page, '#resource-new', '#resource-form');
    return opened;
  }

  const firstCells = (page) => page.locator('#resource-table tbody tr td:first-child').allTextContents();

  /** Waits until a field's message is shown and answers it. */
  async function fieldError(page, field) {
    const sel = `#field-${field}-error`;
    await page.waitForFunction((s) => document.querySelector(s)?.textContent.trim().length > 0, sel);
    return page.textContent(sel);
  }

  test('clients: a refused form shows its messages and stores nothing; create, sort and edit', async () => {
    const { context, page, problems } = await open('/clients');
    try {
      assert.equal(await page.title(), 'Clients — CyBorgBackup');
      assert.equal(await page.inputValue('#field-port'), '22');
      // A port that is no number and a blank hostname: both refused, next to their fields.
      await page.fill('#field-port', 'twenty-two');
      await page.click('#resource-save');
      assert.match(await fieldError(page, 'port'), /whole number/i);
      await page.fill('#field-port', '2222');
      await page.click('#resource-save');
      assert.match(await fieldError(page, 'hostname'), /blank|required/i);
      assert.equal((await api('GET', '/api/v1/clients/')).count, 0);

      for (const host of ['web1.example.org', 'db1.example.org']) {
        await page.fill('#field-hostname', host);
        await page.fill('#field-port', '2222');
        await page.click('#resource-save');
        await page.waitForSelector(`#resource-saved:has-text("${host}")`);
        await page.waitForSelector(`#resource-table td:text-is("${host}")`);
      }
      assert.equal(await page.textContent('#field-hostname-error'), '');
      assert.deepEqual(await firstCells(page), ['db1.example.org', 'web1.example.org']);
      const web = (await api('GET', '/api/v1/clients/?hostname=web1.example.org')).results[0];
      assert.equal(web.port, 2222);
      assert.equal(web.username, 'root');

      // Sorted by hostname, descending.
      await page.click('#resource-table th a:has-text("Hostname")');
      await page.waitForURL(/order_by=-hostname/);
      await page.waitForFunction(
        () => document.querySelector('#resource-table tbody td')?.textContent === 'web1.example.org',
      );

      // Edit: the form takes the row; the save updates it.
      await page.click('button[aria-label="Edit db1.example.org"]');
      assert.equal(await page.textContent('#editor-title'), 'Edit client');
      assert.equal(await page.inputValue('#field-port'), '2222');
      await page.fill('#field-username', 'backup');
      await page.fill('#field-bandwidth_limit', '512');
      await page.click('#resource-save');
      await page.waitForSelector('#resource-table tr:has(td:text-is("db1.example.org")) td:text-is("backup")');
      const db = (await api('GET', '/api/v1/clients/?hostname=db1.example.org')).results[0];
      assert.equal(db.username, 'backup');
      assert.equal(db.bandwidth_limit, 512);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('repositories: the passphrase is written, never shown, and kept when left empty', async () => {
    const { context, page, problems } = await open('/repositories');
    try {
      await page.fill('#field-name', 'main');
      await page.fill('#field-path', '/srv/borg/main');
      await page.fill('#field-repository_key', 'correct horse battery');
      await page.click('#resource-save');
      await page.waitForSelector('#resource-table td:text-is("/srv/borg/main")');
      assert.ok(!(await page.content()).includes('correct horse battery'));
      await page.click('button[aria-label="Edit main"]');
      assert.equal(await page.inputValue('#field-repository_key'), '');
      await page.fill('#field-name', 'main-store');
      await page.click('#resource-save');
      await page.waitForSelector('#resource-table td:text-is("main-store")');
      const repo = (await api('GET', '/api/v1/repositories/')).results[0];
      assert.equal(repo.name, 'main-store');
      assert.equal(repo.repository_key, 'correct horse battery');
      assert.equal(repo.integrity_schedule, null);

      // Integrity checks on a schedule: picked by name, the next one shown in the table; none again.
      await page.click('button[aria-label="Edit main-store"]');
      await page.selectOption('#field-integrity_schedule', { label: 'nightly (0 3 * * *)' });
      await page.click('#resource-save');
      await page.waitForSelector('#resource-table td:has-text("T03:00:00")');
      const scheduled = (await api('GET', '/api/v1/repositories/')).results[0];
      const nightly = (await api('GET', '/api/v1/schedules/')).results.find((x) => x.name === 'nightly');
      assert.equal(scheduled.integrity_schedule, nightly.id);
      assert.match(scheduled.integrity_next_run, /T03:00:00/);
      await page.click('button[aria-label="Edit main-store"]');
      await page.waitForFunction(
        (id) => document.querySelector('#field-integrity_schedule')?.value === id,
        String(nightly.id),
      );
      await page.selectOption('#field-integrity_schedule', { label: 'none' });
      await page.click('#resource-save');
      await page.waitForFunction(
        () => ![...document.querySelectorAll('#resource-table td')].some((td) => td.textContent.includes('T03:00:00')),
      );
      assert.equal((await api('GET', '/api/v1/repositories/')).results[0].integrity_next_run, null);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('policies: pickers by name, the type explained, a refused extra_vars, create', async () => {
    const { context, page, problems } = await open('/policies');
    try {
      assert.match(await page.textContent('#field-policy_type-help'), /folders you list/);
      await page.selectOption('#field-policy_type', 'mysql');
      await page.waitForSelector('#field-policy_type-help:has-text("mysqldump")');
      await page.selectOption('#field-policy_type', 'folders');

      await page.fill('#field-name', 'web-folders');
      await page.check('#field-clients label:has-text("web1.example.org") input');
      await page.selectOption('#field-repository', { label: 'main-store' });
      await page.selectOption('#field-schedule', { label: 'nightly (0 3 * * *)' });
      await page.fill('#field-keep_daily', '7');
      // folders without any folder: refused under extra_vars, nothing stored.
      await page.fill('#field-extra_vars', '{}');
      await page.click('#resource-save');
      assert.match(await fieldError(page, 'extra_vars'), /folder/i);
      assert.equal((await api('GET', '/api/v1/policies/')).count, 0);

      await page.fill('#field-extra_vars', '{"folders": ["/srv/www"]}');
      await page.click('#resource-save');
      await page.waitForSelector('#resource-table td:text-is("web-folders")');
      const p = (await api('GET', '/api/v1/policies/')).results[0];
      const web = (await api('GET', '/api/v1/clients/?hostname=web1.example.org')).results[0];
      assert.deepEqual(p.clients, [web.id]);
      assert.equal(p.summary_fields.repository.name, 'main-store');
      assert.equal(p.summary_fields.schedule.name, 'nightly');
      assert.equal(p.keep_daily, 7);
      assert.equal(p.keep_hourly, null);
      assert.equal(p.policy_type, 'folders');
      const row = page.locator('#resource-table tr:has(td:text-is("web-folders"))');
      assert.match(await row.textContent(), /web1\.example\.org.*main-store.*nightly/);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'policies-desktop.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('delete asks first and names what depends on the object', async () => {
    const repoPage = await open('/repositories');
    try {
      // In use by a policy: named, and the server's refusal is shown.
      await repoPage.page.click('button[aria-label="Delete main-store"]');
      await repoPage.page.waitForSelector('#delete-dependents:has-text("policy web-folders")');
      await repoPage.page.click('#confirm-delete');
      await repoPage.page.waitForFunction(
        () => document.querySelector('#delete-error')?.textContent.includes('web-folders'),
      );
      assert.equal((await api('GET', '/api/v1/repositories/')).count, 1);
      assert.deepEqual(repoPage.problems, []);
    } finally {
      await repoPage.context.close();
    }
    const clientPage = await open('/clients');
    try {
      // A client in a policy: named; deleting takes it out of the policy.
      await clientPage.page.click('button[aria-label="Delete web1.example.org"]');
      await clientPage.page.waitForSelector('#delete-dependents:has-text("policy web-folders")');
      await clientPage.page.click('#confirm-delete');
      await clientPage.page.waitForSelector('#resource-table td:text-is("web1.example.org")', {
        state: 'detached',
      });
      assert.deepEqual((await api('GET', '/api/v1/policies/')).results[0].clients, []);
      assert.deepEqual(clientPage.problems, []);
    } finally {
      await clientPage.context.close();
    }
  });

  test('users: a short password is refused on the form; create and delete', async () => {
    const { context, page, problems } = await open('/users');
    try {
      await page.fill('#field-email', 'operator@e2e.local');
      await page.fill('#field-password', 'short');
      await page.click('#resource-save');
      assert.match(await fieldError(page, 'password'), /8/);
      assert.equal((await api('GET', '/api/v1/users/?email=operator@e2e.local')).count, 0);
      await page.fill('#field-password', 'a long enough password');
      await page.click('#resource-save');
      await page.waitForSelector('#resource-table td:text-is("operator@e2e.local")');
      assert.ok(!(await page.content()).includes('a long enough password'));
      await page.click('button[aria-label="Delete operator@e2e.local"]');
      await page.waitForSelector('#delete-dependents:has-text("sessions and API tokens end")');
      await page.click('#confirm-delete');
      await page.waitForSelector('#resource-table td:text-is("operator@e2e.local")', { state: 'detached' });
      assert.equal((await api('GET', '/api/v1/users/?email=operator@e2e.local')).count, 0);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('phone (390×844): the policy list and form fit the screen', async () => {
    const { context, page, problems } = await open(
      '/policies',
      { width: 390, height: 844 },
      { deviceScaleFactor: 2, isMobile: true, hasTouch: true },
    );
    try {
      await page.waitForSelector('#field-extra_vars');
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `policies scrollWidth ${width}`);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'policies-phone.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
