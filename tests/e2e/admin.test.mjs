// The admin console at /_hearth/ in a real browser: Debian's chromium,
// headless, driven by playwright-core. Screenshots of each page are kept in
// build/test-artifacts/admin/ (look at them after a change to the console).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startHearth, runHearth, makeTempDir, httpRequest, REPO_ROOT } from './helpers.mjs';

const T = { timeout: 60000 };
const SHOTS = path.join(REPO_ROOT, 'build', 'test-artifacts', 'admin');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

describe('admin console', () => {
  let srv;
  let token;
  let work;
  let browser;

  const cli = (args) => runHearth([...args, '--server', srv.url, '--token', token], { timeoutMs: 20000 });
  async function deploy(site, html, message) {
    const dir = path.join(work, `${site}-${Date.now()}`);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(path.join(dir, 'index.html'), html);
    const r = await cli(['deploy', dir, '--site', site, '-m', message]);
    assert.equal(r.code, 0, r.stderr);
  }
  async function shot(page, name) {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }
  async function login(context) {
    const page = await context.newPage();
    await page.goto(`${srv.url}/_hearth/`);
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/_hearth\/sites$/);
    return page;
  }

  before(async () => {
    await fsp.mkdir(SHOTS, { recursive: true });
    work = await makeTempDir('hearth-admin-');
    srv = await startHearth();
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    await deploy('blog.localhost', '<h1>first</h1>', 'first version');
    await deploy('blog.localhost', '<h1>second</h1>', 'second version');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // This machine has no network beyond loopback: keep chromium from trying.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    if (srv) await srv.stop('SIGKILL').catch(() => {});
  });

  test('a page without a session goes to the login; a wrong token is refused with a message', T, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${srv.url}/_hearth/sites/blog.localhost`);
    assert.match(page.url(), /\/_hearth\/login\?next=/);
    await shot(page, '01-login');
    await page.getByLabel('Admin token').fill('hth_not-a-real-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /not an admin token/);
    await shot(page, '02-login-refused');
    // The right token lands on the page asked for first.
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/_hearth\/sites\/blog\.localhost$/);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'hearth_admin');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.path, '/_hearth/');
    await context.close();
  });

  test('the sites page lists sites; a site page rolls back to an older version in one click', T, async () => {
    const context = await browser.newContext();
    const page = await login(context);
    const row = page.getByRole('row', { name: /blog\.localhost/ });
    assert.match(await row.innerText(), /blog\.localhost\s+blog\.localhost\s+2\s+files/);
    await shot(page, '03-sites');
    await page.getByRole('link', { name: 'blog.localhost' }).click();
    await page.waitForURL(/\/_hearth\/sites\/blog\.localhost$/);
    assert.match(await page.getByRole('row', { name: /second version/ }).innerText(), /live/);
    await shot(page, '04-site');
    await page.getByRole('button', { name: 'Roll back to 1' }).click();
    await page.waitForURL(/\?live=1$/);
    assert.match(await page.getByRole('status').innerText(), /Version 1 is live now/);
    assert.match(await page.getByRole('row', { name: /first version/ }).innerText(), /live/);
    await shot(page, '05-rolled-back');
    // The site serves it.
    const served = await httpRequest(`${srv.url}/`, { headers: { Host: 'blog.localhost' } });
    assert.equal(served.text, '<h1>first</h1>');
    // And forward again, from the keyboard: focus on the button, Enter.
    const back = page.getByRole('button', { name: 'Make 2 live' });
    await back.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/\?live=2$/);
    assert.equal((await httpRequest(`${srv.url}/`, { headers: { Host: 'blog.localhost' } })).text, '<h1>second</h1>');
    await context.close();
  });

  test('a form posted without the session\'s CSRF token is refused, and changes nothing', T, async () => {
    const context = await browser.newContext();
    const page = await login(context);
    // Same browser, same cookie; the post lacks (or forges) the token.
    for (const body of ['to=1', 'to=1&csrf=forged']) {
      const r = await page.evaluate(async (b) => {
        const res = await fetch('/_hearth/sites/blog.localhost/rollback', {
          method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: b, redirect: 'manual',
        });
        return { status: res.status, text: await res.text() };
      }, body);
      assert.equal(r.status, 403, body);
      assert.match(r.text, /CSRF/);
    }
    assert.equal((await httpRequest(`${srv.url}/`, { headers: { Host: 'blog.localhost' } })).text, '<h1>second</h1>');
    await context.close();
  });

  test('logging out ends the session: the old cookie no longer opens a page', T, async () => {
    const context = await browser.newContext();
    const page = await login(context);
    const cookie = (await context.cookies()).find((c) => c.name === 'hearth_admin');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/_hearth\/login$/);
    const r = await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: `hearth_admin=${cookie.value}` } });
    assert.equal(r.status, 303);
    assert.match(r.headers.location, /\/_hearth\/login/);
    await context.close();
  });

  test('pages carry a strict content policy and no caching; the stylesheet is embedded', T, async () => {
    const r = await httpRequest(`${srv.url}/_hearth/login`);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['cache-control'], 'no-store');
    const css = r.text.match(/href="(\/_hearth\/ui\/app\.css\?v=[0-9a-f]{16})"/);
    assert.ok(css, 'the page links the stylesheet by fingerprint');
    const sheet = await httpRequest(`${srv.url}${css[1]}`);
    assert.equal(sheet.status, 200);
    assert.match(sheet.headers['content-type'], /text\/css/);
    assert.match(sheet.headers['cache-control'], /immutable/);
    assert.match(sheet.text, /:focus-visible/);
    assert.equal((await httpRequest(`${srv.url}/_hearth/ui/nope.js`)).status, 404);
  });
});
