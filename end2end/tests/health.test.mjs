// Knowing when backups stop, in the browser: the first steps of an empty installation, an alert
// raised by a client that cannot be reached and acknowledged from the alerts page, and the
// settings page (the key line to authorize, an API token made, used and revoked).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESULTS_DIR, apiCaller, launchBrowser, loggedInPage, startServer } from './helpers.mjs';

describe('health', () => {
  let server;
  let browser;
  let api;
  const desktop = { width: 1366, height: 768 };

  before(async () => {
    server = await startServer({ name: 'health-server' });
    api = apiCaller(server.url);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('an empty installation walks through its first steps', async () => {
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/',
      '#first-steps',
      desktop,
    );
    try {
      const done = () =>
        page.locator('#first-steps li').evaluateAll((lis) => lis.map((li) => li.dataset.done));
      assert.deepEqual(await done(), ['false', 'false', 'false', 'false', 'false']);
      const links = await page
        .locator('#first-steps li a')
        .evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      assert.deepEqual(links, ['/clients', '/repositories', '/schedules', '/policies', '/policies']);
      assert.match(await page.textContent('#first-steps-key'), /^restrict,port-forwarding ssh-ed25519 /);
      // Zeros and an empty chart, not an error.
      assert.equal((await page.textContent('#count-clients')).trim(), '0');
      assert.equal(await page.locator('svg#stats-chart g.day').count(), 30);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'first-steps.png'), fullPage: true });

      await api('POST', '/api/v1/clients/', { hostname: '127.0.0.1', port: 1 });
      await page.reload();
      await page.waitForSelector('#first-steps');
      assert.deepEqual(await done(), ['true', 'false', 'false', 'false', 'false']);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('an unreachable client raises an alert that is acknowledged on the alerts page', async () => {
    const clients = await api('GET', '/api/v1/clients/');
    const repo = await api('POST', '/api/v1/repositories/', { name: 'main', path: '/srv/borg/main' });
    const sched = await api('POST', '/api/v1/schedules/', { name: 'yearly', crontab: '0 0 1 1 * *' });
    const policy = await api('POST', '/api/v1/policies/', {
      name: 'web-rootfs',
      policy_type: 'rootfs',
      clients: [clients.results[0].id],
      repository: repo.id,
      schedule: sched.id,
    });
    await api('POST', `/api/v1/policies/${policy.id}/launch/`);
    // The monitor evaluates the rules when a job ends (and every 10 s).
    const deadline = Date.now() + 60_000;
    let open;
    for (;;) {
      open = await api('GET', '/api/v1/alerts/?resolved__isnull=true');
      if (open.count > 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(open.count, 1, JSON.stringify(open));
    assert.equal(open.results[0].kind, 'client_unreachable');

    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/alerts',
      '#open-alerts',
      desktop,
    );
    try {
      const row = `#open-alerts tr[data-alert-id="${open.results[0].id}"]`;
      assert.match(await page.textContent(row), /client_unreachable/);
      await page.click(`${row} button.ack`);
      await page.waitForFunction(
        (sel) => document.querySelector(sel)?.textContent.includes('acknowledged'),
        row,
        { timeout: 30_000 },
      );
      const after = await api('GET', `/api/v1/alerts/${open.results[0].id}/`);
      assert.equal(after.state, 'acknowledged');
      assert.ok(after.acknowledged_by > 0);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'alerts.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the settings page shows the key line and makes, shows once and revokes a token', async () => {
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/settings',
      '#token-form',
      desktop,
    );
    try {
      const key = await api('GET', '/api/v1/settings/ssh_public_key/');
      assert.equal((await page.textContent('#authorized-keys-line')).trim(), key.authorized_keys);
      await page.fill('#token-name', 'grafana');
      await page.selectOption('#token-scope', 'read');
      await page.click('#token-form button[type="submit"]');
      await page.waitForSelector('#new-token', { timeout: 30_000 });
      const token = (await page.textContent('#new-token')).trim();
      assert.match(token, /^cbt_/);
      await page.waitForSelector('#tokens tr[data-token-id]');
      assert.match(await page.textContent('#tokens tbody'), /grafana/);
      assert.doesNotMatch(await page.textContent('#tokens tbody'), /cbt_/);

      const read = await fetch(`${server.url}/api/v1/clients/`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(read.status, 200);
      const write = await fetch(`${server.url}/api/v1/clients/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ hostname: 'x.example.com' }),
      });
      assert.equal(write.status, 403, 'a read token may not write');

      await page.click('#tokens button.revoke');
      await page.waitForFunction(() => !document.querySelector('#tokens tr[data-token-id]'), null, {
        timeout: 30_000,
      });
      const revoked = await fetch(`${server.url}/api/v1/clients/`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(revoked.status, 401);
      await page.screenshot({ path: path.join(RESULTS_DIR, 'settings.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the settings page backs the server itself up into its repository', async () => {
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'cyborg-self-backup-'));
    const repo = await api('POST', '/api/v1/repositories/', {
      name: 'Server backups',
      path: path.join(target, 'repo'),
      repository_key: 'e2e-self-backup-passphrase',
    });
    await api('PATCH', '/api/v1/settings/', { self_backup_repository: repo.id });
    const { context, page, problems } = await loggedInPage(
      browser,
      server.url,
      '/settings',
      '#self-backup-now',
      desktop,
    );
    try {
      assert.match(await page.textContent('#self-backup-settings'), /Server backups/);
      await page.click('#self-backup-now');
      await page.waitForSelector('#self-backups tr[data-status="successful"]', { timeout: 120_000 });
      const runs = await api('GET', '/api/v1/settings/self_backup/');
      assert.equal(runs[0].status, 'successful');
      assert.match(await page.textContent('#self-backups tbody'), new RegExp(runs[0].archive));
      await page.screenshot({ path: path.join(RESULTS_DIR, 'self-backup.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      fs.rmSync(target, { recursive: true, force: true });
    }
  });
});
