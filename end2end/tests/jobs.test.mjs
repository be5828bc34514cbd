// Jobs in the browser with the real engine: a `folders` policy on a client reached over a real
// sshd on 127.0.0.1 (borg on both ends) is launched from the policies page; its job page shows
// the log as it streams and the status reaching `successful` without a reload; the jobs list
// filters by status; the catalog of the archive is walked folder by folder and searched; after a
// second backup a changed file's history shows both versions, each downloaded and restored. No
// console error or warning on the way.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  RESULTS_DIR,
  apiCaller,
  launchBrowser,
  loggedInPage,
  openForm,
  startServer,
} from './helpers.mjs';
import { startSshd } from './sshd.mjs';

describe('jobs pages', () => {
  let server;
  let browser;
  let api;
  let sshd;
  let root;
  let policy;

  before(async () => {
    server = await startServer({ name: 'jobs-server' });
    api = apiCaller(server.url);
    browser = await launchBrowser();
    const key = await api('GET', '/api/v1/settings/ssh_public_key/');
    // The client authorizes the server with exactly the line the API gives.
    sshd = await startSshd(key.authorized_keys);
    root = mkdtempSync(path.join(os.tmpdir(), 'cyborg-e2e-borg-'));
    const src = path.join(root, 'src');
    mkdirSync(path.join(src, 'docs'), { recursive: true });
    writeFileSync(path.join(src, 'docs', 'report 2026.txt'), 'quarterly numbers\n');
    writeFileSync(path.join(src, 'notes.md'), '# notes\n');
    const client = await api('POST', '/api/v1/clients/', {
      hostname: '127.0.0.1',
      port: sshd.port,
      username: 'root',
    });
    const repo = await api('POST', '/api/v1/repositories/', {
      name: 'e2e-repo',
      path: path.join(root, 'repo'),
      repository_key: 'e2e-passphrase-never-shown',
    });
    const schedule = await api('POST', '/api/v1/schedules/', { name: 'new-year', crontab: '0 0 1 1 *' });
    policy = await api('POST', '/api/v1/policies/', {
      name: 'e2e-folders',
      policy_type: 'folders',
      extra_vars: JSON.stringify({ folders: [src] }),
      clients: [client.id],
      repository: repo.id,
      schedule: schedule.id,
    });
  });

  // The catalog page of `client`, logged in, at desktop size.
  const catalogPage = (client) =>
    loggedInPage(browser, server.url, `/catalog?client=${client.id}`, '#catalog-archives', {
      width: 1366,
      height: 768,
    });

  // From the open archive's top down to the backed-up `src/docs`, one folder (one read) at a time.
  async function walkToDocs(page) {
    for (const folder of [...path.join(root, 'src', 'docs').split('/').filter(Boolean)]) {
      await page.click(`#catalog-listing td.name a:text-is("${folder}/")`);
      await page.waitForSelector(`#catalog-crumbs a:text-is("${folder}")`);
    }
  }

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sshd?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("the client's host key: fetched, compared by fingerprint, accepted", async () => {
    const client = (await api('GET', '/api/v1/clients/')).results[0];
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      `/host-key?client=${client.id}`,
      '#host-key-status',
      { width: 1366, height: 768 },
    );
    try {
      // Not trusted on first use: nothing is pinned until the operator accepts a key.
      assert.equal((await api('GET', `/api/v1/clients/${client.id}/`)).host_key, '');
      assert.match(await page.textContent('#host-key-authorized'), /^restrict,port-forwarding ssh-ed25519 /);
      await page.click('#host-key-scan');
      await page.waitForSelector('#host-key-seen-fingerprint');
      assert.equal(await page.textContent('#host-key-seen-fingerprint'), sshd.fingerprint);
      await page.click('#host-key-accept');
      await page.waitForSelector('#host-key-status.pinned');
      assert.equal(await page.textContent('#host-key-fingerprint'), sshd.fingerprint);
      const pinned = await api('GET', `/api/v1/clients/${client.id}/`);
      assert.equal(pinned.host_key_status, 'pinned');
      assert.equal(pinned.host_key, sshd.hostPublicKey.split(' ').slice(0, 2).join(' '));
      await page.screenshot({ path: path.join(RESULTS_DIR, 'host-key.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('launch now, watch the log stream to successful, find the job in the list', async () => {
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/policies',
      '#resource-table',
      { width: 1366, height: 768 },
    );
    try {
      // Marks this document: a reload would lose it.
      await page.evaluate(() => {
        window.__sameDocument = true;
      });
      await page.click('button[aria-label="Launch e2e-folders now"]');
      await page.waitForURL(/\/jobs\/\d+$/);
      const id = Number(page.url().split('/').pop());
      await page.waitForSelector('#job-status');
      const first = await page.textContent('#job-status');
      assert.notEqual(first, 'successful', 'the page was shown before the job ended');
      await page.waitForSelector('#job-status:text-is("successful")', { timeout: 180_000 });
      assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');

      // What the page shows is the stored log, and it is a real borg run.
      const stored = await fetch(`${server.url}/api/v1/jobs/${id}/stdout/?format=txt`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${ADMIN_EMAIL}:${ADMIN_PASSWORD}`).toString('base64')}`,
        },
      }).then((r) => r.text());
      const shown = await page.textContent('#job-log');
      assert.ok(stored.trim().length > 0, 'the log is not empty');
      assert.equal(shown.trim(), stored.trim());
      assert.ok(!shown.includes('e2e-passphrase-never-shown'));
      const job = await api('GET', `/api/v1/jobs/${id}/`);
      assert.equal(job.status, 'successful');
      assert.match(job.archive_name, /^folders-127\.0\.0\.1-/);
      assert.match(await page.textContent('.job-fields'), new RegExp(job.archive_name));
      assert.ok(await page.isVisible('#job-relaunch'));
      await page.screenshot({ path: path.join(RESULTS_DIR, 'job-desktop.png'), fullPage: true });

      // The jobs list, filtered to successful backups of this policy.
      await page.goto(`${server.url}/jobs?status=successful&job_type=job&policy=${policy.id}`);
      await page.waitForSelector(`#jobs-table tr[data-job-id="${id}"]`);
      assert.equal(await page.inputValue('#filter-status'), 'successful');
      const rows = await page.locator('#jobs-table tbody tr').count();
      assert.equal(rows, 1);

      // The policy's retention: its one archive, kept (the policy has no keep rule).
      await page.goto(`${server.url}/retention?policy=${policy.id}`);
      await page.waitForSelector('#retention-rules');
      assert.match(await page.textContent('#retention-rules'), /No keep rule/);
      assert.match(await page.textContent('main'), new RegExp(job.archive_name));
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the catalog: walk the archive folder by folder, find a file by search', async () => {
    // The catalog job follows the backup in the chain.
    const deadline = Date.now() + 120_000;
    while ((await api('GET', '/api/v1/jobs/?job_type=catalog&status=successful')).count === 0) {
      assert.ok(Date.now() < deadline, 'no successful catalog job');
      await new Promise((r) => setTimeout(r, 500));
    }
    const archive = (await api('GET', '/api/v1/jobs/?job_type=job&status=successful')).results[0]
      .archive_name;
    const client = (await api('GET', '/api/v1/clients/')).results[0];
    const { context, page, problems } = await catalogPage(client);
    try {
      assert.equal(await page.title(), 'Catalog — CyBorgBackup');
      await page.click(`#catalog-archives a:text-is("${archive}")`);
      await page.waitForSelector('#catalog-listing');
      await walkToDocs(page);
      const row = page.locator('#catalog-listing tbody tr', {
        has: page.locator('td.name', { hasText: /^report 2026\.txt$/ }),
      });
      await row.waitFor();
      const cells = await row.locator('td').allTextContents();
      assert.equal(cells[4], '18 B', `size of the 18-byte file: ${cells}`);
      assert.match(cells[2], /^-rw/);
      assert.equal(cells[3], 'root:root');
      assert.equal(cells[6], 'yes');

      // Search across the client's archives: grouped under the archive, linking to the folder.
      await page.fill('#catalog-search', 'REPORT 2026');
      await page.click('#catalog-client button[type="submit"]');
      await page.waitForSelector('#catalog-hits');
      assert.match(await page.textContent('#catalog-hits'), /^1 match\./);
      assert.equal(await page.textContent('#catalog-results .hit-group h3'), archive);
      await page.click('#catalog-results .hit a');
      await page.locator('#catalog-listing td.name span', { hasText: /^report 2026\.txt$/ }).waitFor();
      await page.screenshot({ path: path.join(RESULTS_DIR, 'catalog-desktop.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('restore a ticked file from the catalog onto the client; download it', async () => {
    const archive = (await api('GET', '/api/v1/jobs/?job_type=job&status=successful')).results[0]
      .archive_name;
    const client = (await api('GET', '/api/v1/clients/')).results[0];
    const { context, page, problems } = await catalogPage(client);
    try {
      await page.click(`#catalog-archives a:text-is("${archive}")`);
      await page.waitForSelector('#catalog-listing');
      await openForm(page, '#restore-open', '#restore-form');
      assert.equal(await page.textContent('#restore-form h3'), 'Restore the whole archive');
      await walkToDocs(page);
      const row = page.locator('#catalog-listing tbody tr', {
        has: page.locator('td.name', { hasText: /^report 2026\.txt$/ }),
      });
      await row.waitFor();

      // Download: the file's bytes, under its name.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        row.locator('a.download').click(),
      ]);
      assert.equal(download.suggestedFilename(), 'report 2026.txt');
      const saved = path.join(root, 'downloaded.txt');
      await download.saveAs(saved);
      assert.equal(readFileSync(saved, 'utf8'), 'quarterly numbers\n');

      // Restore the ticked file: the destination is checked first, then the job page opens.
      await row.locator('td.pick input').check();
      // The folder walk drew the archive's listing anew: the form is asked for again.
      await openForm(page, '#restore-open', '#restore-form');
      assert.equal(await page.textContent('#restore-form h3'), 'Restore the selected item');
      await page.waitForSelector(`#restore-client option[value="${client.id}"]:checked`, {
        state: 'attached',
      });
      await page.fill('#restore-dest', 'not/absolute');
      await page.click('#restore-submit');
      await page.waitForSelector('#restore-dest-error:has-text("absolute")');
      const dest = path.join(root, 'restored here');
      await page.fill('#restore-dest', dest);
      await page.click('#restore-submit');
      await page.waitForURL(/\/jobs\/\d+$/);
      await page.waitForSelector('#job-status:text-is("successful")', { timeout: 120_000 });
      const job = await api('GET', `/api/v1/jobs/${page.url().split('/').pop()}/`);
      assert.equal(job.job_type, 'restore');
      const restored = path.join(dest, root, 'src', 'docs', 'report 2026.txt');
      assert.equal(readFileSync(restored, 'utf8'), 'quarterly numbers\n');
      assert.ok(!existsSync(path.join(dest, root, 'src', 'notes.md')), 'only the ticked file');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a changed file's history: both versions, each downloaded and restored from its archive", async () => {
    const file = path.join(root, 'src', 'docs', 'report 2026.txt');
    writeFileSync(file, 'quarterly numbers, revised\n');
    const catalogs = async () =>
      (await api('GET', '/api/v1/jobs/?job_type=catalog&status=successful')).count;
    const before = await catalogs();
    const launched = await api('POST', `/api/v1/policies/${policy.id}/launch/`, {});
    assert.ok(launched.job, `launched: ${JSON.stringify(launched)}`);
    const deadline = Date.now() + 180_000;
    while ((await catalogs()) === before) {
      assert.ok(Date.now() < deadline, 'no catalog job after the second backup');
      await new Promise((r) => setTimeout(r, 500));
    }
    const backups = (await api('GET', '/api/v1/jobs/?job_type=job&status=successful&order_by=-id'))
      .results;
    const [newest, oldest] = [backups[0].archive_name, backups[backups.length - 1].archive_name];
    assert.notEqual(newest, oldest);
    const client = (await api('GET', '/api/v1/clients/')).results[0];
    const { context, page, problems } = await catalogPage(client);
    try {
      await page.click(`#catalog-archives a:text-is("${newest}")`);
      await page.waitForSelector('#catalog-listing');
      await walkToDocs(page);
      const row = page.locator('#catalog-listing tbody tr', {
        has: page.locator('td.name', { hasText: /^report 2026\.txt$/ }),
      });
      await row.locator('a.history').click();
      await page.waitForSelector('#history-versions');
      assert.match(await page.textContent('#history-title'), /report 2026\.txt/);
      assert.equal(await page.textContent('#history-count'), '2 versions, newest first.');
      const versions = page.locator('#history-versions tbody tr.version');
      assert.equal(await versions.count(), 2);
      // Newest first: the revised file, current; then the first one, changed after one archive.
      const [current, first] = [versions.nth(0), versions.nth(1)];
      assert.equal(await current.getAttribute('data-change'), 'changed');
      assert.equal(await current.getAttribute('data-then'), 'current');
      assert.equal(await current.locator('td.size').textContent(), '27 B');
      assert.match(await current.locator('td.span').textContent(), new RegExp(`^${newest} `));
      assert.equal(await first.getAttribute('data-change'), 'appeared');
      assert.equal(await first.getAttribute('data-then'), 'changed');
      assert.equal(await first.locator('td.size').textContent(), '18 B');
      assert.match(await first.locator('td.span').textContent(), new RegExp(`^${oldest} `));

      // Each version downloads with its own bytes.
      for (const [version, bytes] of [
        [current, 'quarterly numbers, revised\n'],
        [first, 'quarterly numbers\n'],
      ]) {
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          version.locator('a.download').click(),
        ]);
        assert.equal(download.suggestedFilename(), 'report 2026.txt');
        const saved = path.join(root, 'version.txt');
        await download.saveAs(saved);
        assert.equal(readFileSync(saved, 'utf8'), bytes);
      }
      await page.screenshot({ path: path.join(RESULTS_DIR, 'catalog-history.png'), fullPage: true });

      // The first version restored from its own (older) archive.
      await first.locator('button.restore-version').click();
      await page.waitForSelector('#restore-form');
      assert.equal(await page.textContent('#restore-from'), `From the archive ${oldest}.`);
      assert.equal(await page.textContent('#restore-form h3'), 'Restore the selected item');
      await page.waitForSelector(`#restore-client option[value="${client.id}"]:checked`, {
        state: 'attached',
      });
      const dest = path.join(root, 'old version');
      await page.fill('#restore-dest', dest);
      await page.click('#restore-submit');
      await page.waitForURL(/\/jobs\/\d+$/);
      await page.waitForSelector('#job-status:text-is("successful")', { timeout: 120_000 });
      const restored = path.join(dest, file);
      assert.equal(readFileSync(restored, 'utf8'), 'quarterly numbers\n');

      // Closing the history goes back to the folder.
      await page.goBack();
      await page.waitForSelector('#history-close');
      await page.click('#history-close');
      await page.waitForSelector('#catalog-listing');
      assert.equal(await page.locator('#catalog-history').count(), 0);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('check a repository from its row; the result shows on the repositories page', async () => {
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/repositories',
      '#resource-table',
      { width: 1366, height: 768 },
    );
    try {
      const row = page.locator('#resource-table tbody tr', { hasText: 'e2e-repo' });
      await row.locator('button.check-integrity').click();
      await page.waitForURL(/\/jobs\/\d+$/);
      await page.waitForSelector('#job-status:text-is("successful")', { timeout: 120_000 });
      const job = await api('GET', `/api/v1/jobs/${page.url().split('/').pop()}/`);
      assert.equal(job.job_type, 'integrity');
      assert.match(job.job_explanation, /borg check: no problem found/);
      assert.match(job.job_explanation, /equal to their unchanged source/);
      await page.goto(`${server.url}/repositories`);
      await page.waitForSelector('#resource-table');
      const cells = await page
        .locator('#resource-table tbody tr', { hasText: 'e2e-repo' })
        .locator('td')
        .allTextContents();
      assert.ok(cells.includes('successful'), `Last check column: ${cells}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the policy form lists the databases on the picked client and writes the ticked ones', async () => {
    // A database only this test knows, in the machine's PostgreSQL (the client is this machine).
    const db = `cyborg_e2e_shop_${process.pid}`;
    const psql = (sql) =>
      execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', sql]);
    psql(`DROP DATABASE IF EXISTS ${db}`);
    psql(`CREATE DATABASE ${db}`);
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/policies',
      '#resource-table',
      { width: 1366, height: 768 },
    );
    try {
      await openForm(page, '#resource-new', '#resource-form');
      await page.fill('#field-name', 'e2e-databases');
      await page.selectOption('#field-policy_type', 'postgresql');
      await page.fill('#field-extra_vars', '{"user": "postgres", "host": "127.0.0.1"}');
      // No client picked yet: said, nothing asked.
      await page.click('#module-lookup-button');
      await page.waitForSelector('#module-lookup-error:has-text("Pick a client first")');
      await page.check('#field-clients label:has-text("127.0.0.1") input');
      await page.click('#module-lookup-button');
      const item = page.locator('#module-items label', { hasText: db });
      await item.waitFor({ timeout: 60_000 });
      await item.locator('input').check();
      assert.deepEqual(JSON.parse(await page.inputValue('#field-extra_vars')), {
        user: 'postgres',
        host: '127.0.0.1',
        databases: [db],
      });
      await page.selectOption('#field-repository', { label: 'e2e-repo' });
      await page.selectOption('#field-schedule', { label: 'new-year (0 0 1 1 *)' });
      await page.click('#resource-save');
      await page.waitForSelector('#resource-table td:text-is("e2e-databases")');
      const saved = (await api('GET', '/api/v1/policies/?name=e2e-databases')).results[0];
      assert.deepEqual(JSON.parse(saved.extra_vars).databases, [db]);
      // A folders policy has nothing to list.
      await page.selectOption('#field-policy_type', 'folders');
      assert.equal(await page.locator('#module-lookup-button').count(), 0);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      psql(`DROP DATABASE IF EXISTS ${db}`);
    }
  });

  test('a finished job offers relaunch, not cancel; relaunch runs a new job (phone size)', async () => {
    const done = (await api('GET', '/api/v1/jobs/?status=successful&job_type=job')).results[0];
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      `/jobs/${done.id}`,
      '#job-log',
      { width: 390, height: 844 },
      { deviceScaleFactor: 2, isMobile: true, hasTouch: true },
    );
    try {
      // A finished job offers Relaunch, not Cancel.
      assert.equal(await page.locator('#job-cancel').count(), 0);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `job page scrollWidth ${width}`);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'job-phone.png'), fullPage: true });
      // Relaunch goes to the new job's page, which runs to its end too.
      await page.click('#job-relaunch');
      await page.waitForURL((u) => !u.pathname.endsWith(`/jobs/${done.id}`));
      await page.waitForSelector('#job-status:text-is("successful")', { timeout: 180_000 });
      const again = await api('GET', `/api/v1/jobs/${page.url().split('/').pop()}/`);
      assert.equal(again.launch_type, 'relaunch');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
