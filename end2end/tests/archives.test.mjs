// The archives pages with the real engine: two backups of a `folders` policy on a client reached
// over a real sshd on 127.0.0.1 (borg on both ends), with one file added, one removed and one
// changed between them. The archives list shows both; the newest archive's page shows borg's
// view of it and links to the changes since the previous archive, which list the three paths
// with their change; the repository's key page (reached from its row) shows the key export and
// the lock; a rename through the archive's page renames it in borg and on the page. No console
// error or warning on the way.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  RESULTS_DIR,
  apiCaller,
  launchBrowser,
  loggedInPage,
  startServer,
  waitHydrated,
} from './helpers.mjs';
import { startSshd } from './sshd.mjs';

const FINISHED = new Set(['successful', 'failed', 'error', 'canceled']);

describe('archives pages', () => {
  let server;
  let browser;
  let api;
  let sshd;
  let root;
  let policy;
  let repo;

  // Launches the policy and waits until its backup and every job it chained (the catalog) ended.
  async function backup() {
    const launched = await api('POST', `/api/v1/policies/${policy.id}/launch/`, {});
    assert.ok(launched.job, `launched: ${JSON.stringify(launched)}`);
    const deadline = Date.now() + 180_000;
    for (;;) {
      const job = await api('GET', `/api/v1/jobs/${launched.job}/`);
      const jobs = (await api('GET', '/api/v1/jobs/?page_size=100')).results;
      if (FINISHED.has(job.status) && jobs.every((j) => FINISHED.has(j.status))) {
        assert.equal(job.status, 'successful', job.job_explanation);
        return job;
      }
      assert.ok(Date.now() < deadline, `job ${launched.job} still ${job.status}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  before(async () => {
    server = await startServer({ name: 'archives-server' });
    api = apiCaller(server.url);
    browser = await launchBrowser();
    const key = await api('GET', '/api/v1/settings/ssh_public_key/');
    sshd = await startSshd(key.authorized_keys);
    root = mkdtempSync(path.join(os.tmpdir(), 'cyborg-e2e-archives-'));
    const src = path.join(root, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'kept.txt'), 'never changes\n');
    writeFileSync(path.join(src, 'changed.txt'), 'first\n');
    writeFileSync(path.join(src, 'removed.txt'), 'going away\n');
    const client = await api('POST', '/api/v1/clients/', {
      hostname: '127.0.0.1',
      port: sshd.port,
      username: 'root',
      // Pinned at once: jobs run only on a confirmed host key.
      host_key: sshd.hostPublicKey,
    });
    repo = await api('POST', '/api/v1/repositories/', {
      name: 'e2e-archives-repo',
      path: path.join(root, 'repo'),
      repository_key: 'e2e-archives-passphrase',
    });
    const schedule = await api('POST', '/api/v1/schedules/', { name: 'never', crontab: '0 0 1 1 *' });
    policy = await api('POST', '/api/v1/policies/', {
      name: 'e2e-archives',
      policy_type: 'folders',
      extra_vars: JSON.stringify({ folders: [src] }),
      clients: [client.id],
      repository: repo.id,
      schedule: schedule.id,
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sshd?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('list, detail, changes since the previous archive, key page, rename', async () => {
    const first = await backup();
    const src = path.join(root, 'src');
    writeFileSync(path.join(src, 'changed.txt'), 'second, and longer\n');
    unlinkSync(path.join(src, 'removed.txt'));
    writeFileSync(path.join(src, 'added.txt'), 'new here\n');
    const second = await backup();
    assert.notEqual(first.archive_name, second.archive_name);
    const newest = (await api('GET', `/api/v1/archives/?name=${second.archive_name}`)).results[0];

    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/archives',
      '#archives-table',
      { width: 1366, height: 768 },
    );
    try {
      assert.equal(await page.title(), 'Archives — CyBorgBackup');
      // Both archives, newest first, with their repository and client.
      const names = await page.locator('#archives-table td.name').allTextContents();
      assert.deepEqual(names, [second.archive_name, first.archive_name]);
      const cells = await page.locator('#archives-table tbody tr').first().locator('td').allTextContents();
      assert.equal(cells[1], 'e2e-archives-repo');
      assert.equal(cells[2], '127.0.0.1');
      // The name filter is in the address.
      await page.fill('#archive-search', second.archive_name);
      await page.click('#archive-filters button[type="submit"]');
      await page.waitForURL(/search=/);
      await page.waitForFunction(() => document.querySelectorAll('#archives-table td.name').length === 1);

      // The newest archive: the record and what borg says of it.
      await page.click(`#archives-table td.name a:text-is("${second.archive_name}")`);
      await page.waitForSelector('#archive-title');
      assert.equal(await page.textContent('#archive-title'), second.archive_name);
      await page.waitForSelector('#archive-borg');
      assert.match(await page.textContent('#archive-command-line'), /borg/);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'archive-desktop.png'), fullPage: true });

      // The changes since the previous archive: the three paths, each with its change.
      await page.click('#archive-changes');
      await page.waitForSelector('#diff-table');
      assert.match(await page.textContent('#diff-archives'), new RegExp(`From ${first.archive_name} .* to ${second.archive_name}`));
      const change = (file) =>
        page.locator(`#diff-table tr[data-path$="/${file}"]`).getAttribute('data-change');
      assert.equal(await change('added.txt'), 'added');
      assert.equal(await change('removed.txt'), 'removed');
      assert.equal(await change('changed.txt'), 'changed');
      assert.equal(await page.locator('#diff-table tr[data-path$="/kept.txt"]').count(), 0);
      assert.match(await page.textContent('#diff-counts'), /^1 added, 1 removed, \d+ changed$/);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'archive-diff.png'), fullPage: true });
      // Filtered to the added paths.
      await page.click('.diff-filter a:has-text("Added")');
      await page.waitForURL(/change=added/);
      await page.waitForFunction(
        () => [...document.querySelectorAll('#diff-table tbody tr')].every((r) => r.dataset.change === 'added'),
      );

      // The key page from the repository's row: the export, and a free lock.
      await page.goto(`${server.url}/repositories`);
      await page.waitForSelector('#resource-table');
      await page.click('a[aria-label="Key and lock of e2e-archives-repo"]');
      await page.waitForSelector('#repository-key-plain', { timeout: 60_000 });
      assert.match(await page.textContent('#repository-key-plain'), /BORG_KEY/);
      assert.match(await page.textContent('main'), /borg key import --paper/);
      assert.equal(await page.getAttribute('#repository-lock-state', 'data-state'), 'free');
      await page.screenshot({ path: path.join(RESULTS_DIR, 'repository-key.png'), fullPage: true });

      // Rename the newest archive through its page.
      await page.goto(`${server.url}/archives?id=${newest.id}`);
      await page.waitForSelector('#archive-rename-form');
      await waitHydrated(page);
      await page.fill('#archive-name', 'e2e-renamed');
      await page.click('#archive-rename');
      await page.waitForSelector('#archive-title:text-is("e2e-renamed")', { timeout: 60_000 });
      assert.equal((await api('GET', `/api/v1/archives/${newest.id}/`)).name, 'e2e-renamed');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
