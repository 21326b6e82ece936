// API tokens: names, scopes (admin, read, deploy:SITE), expiry, revocation;
// `hearth tokens`; the console's session cookie (__Host- over HTTPS);
// /_hearth/metrics behind a token unless --metrics-public; /_hearth/health
// saying nothing but its status.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { startHearth, runHearth, makeTempDir, httpRequest, controlApi, sleep } from './helpers.mjs';

const T = { timeout: 60000 };

async function adminToken(srv) {
  return (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
}

/** POST /_hearth/login with a token; resolves the response and the cookie pair it set ("" if none). */
async function login(url, token, headers = {}) {
  const r = await httpRequest(`${url}/_hearth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: `token=${encodeURIComponent(token)}`,
  });
  const set = r.headers['set-cookie']?.[0] ?? '';
  return { ...r, setCookie: set, cookie: set.split(';')[0] };
}

describe('API tokens', () => {
  let srv;
  let token;
  let work;
  const cli = (args, t = token) => runHearth([...args, '--server', srv.url, '--token', t], { timeoutMs: 20000 });
  const api = (t, method, p, body) => controlApi(srv, t, method, p, body);

  async function folder(name, files) {
    const dir = path.join(work, name);
    await fsp.mkdir(dir, { recursive: true });
    for (const [f, c] of Object.entries(files)) await fsp.writeFile(path.join(dir, f), c);
    return dir;
  }
  async function addToken(name, scope, expires) {
    const body = { name, scope };
    if (expires) body.expires = expires;
    const r = await api(token, 'POST', '/tokens', body);
    assert.equal(r.status, 201, r.text);
    return r.json;
  }

  before(async () => {
    work = await makeTempDir('hearth-tokens-');
    srv = await startHearth();
    token = await adminToken(srv);
    // Two sites, each with two versions (so each can roll back).
    for (const site of ['blog.localhost', 'shop.localhost']) {
      for (const v of [1, 2]) {
        const r = await cli(['deploy', await folder(`${site}-${v}`, { 'index.html': `<h1>${site} ${v}</h1>` }), '--site', site]);
        assert.equal(r.code, 0, r.stderr);
      }
    }
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('hearth tokens add/list/rm: the secret is printed once, the list never shows one', T, async () => {
    const added = await cli(['tokens', 'add', 'ci', '--scope', 'deploy:Blog.localhost', '--expires', '30d']);
    assert.equal(added.code, 0, added.stderr);
    const secret = added.stdout.trim();
    assert.match(secret, /^hth_[A-Za-z0-9_-]{43}$/);
    assert.match(added.stderr, /scope deploy:blog\.localhost/);
    const list = await cli(['tokens']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /ID +NAME +SCOPE +CREATED +EXPIRES +LAST USED/);
    assert.match(list.stdout, /ci +deploy:blog\.localhost +\d{4}-\d\d-\d\d \d\d:\d\d +\d{4}-\d\d-\d\d/);
    assert.match(list.stdout, /admin +admin +\S+ \S+ +never/);  // the first token: admin, no expiry
    assert.ok(!list.stdout.includes(secret) && !list.stdout.includes(token), 'no secret in the list');
    const json = await api(token, 'GET', '/tokens');
    assert.equal(json.status, 200);
    assert.ok(!json.text.includes(secret) && !json.text.includes(token), 'no secret in the API list');
    assert.ok(!/hth_/.test(json.text), json.text);
    const mine = json.json.items.find((t) => t.name === 'ci');
    assert.equal(mine.scope, 'deploy:blog.localhost');
    assert.ok(mine.expires_at > Date.now() / 1000 + 29 * 86400 && mine.expires_at < Date.now() / 1000 + 31 * 86400);
    assert.deepEqual(Object.keys(mine).sort(), ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'scope']);
    // It works, and its use is noted.
    assert.equal((await api(secret, 'GET', '/sites/blog.localhost/versions')).status, 200);
    let used = null;
    for (let i = 0; i < 50 && !used; i++) {
      used = (await api(token, 'GET', '/tokens')).json.items.find((t) => t.id === mine.id).last_used_at;
      if (!used) await sleep(100);
    }
    assert.ok(used > 0, 'last_used_at is written');
    const rm = await cli(['tokens', 'rm', mine.id]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, new RegExp(`revoked token ${mine.id.replace(/[-]/g, '\\-')}`));
    assert.equal((await api(secret, 'GET', '/sites/blog.localhost/versions')).status, 401);
    // Refusals are one line.
    const bad = await cli(['tokens', 'add', 'x', '--scope', 'write']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /scope must be admin, read or deploy:SITE/);
    const past = await cli(['tokens', 'add', 'x', '--expires', '2001-01-01']);
    assert.equal(past.code, 1);
    assert.match(past.stderr, /in the future/);
    assert.equal((await cli(['tokens', 'rm', 'nosuchid'])).code, 1);
    for (const args of [['tokens', '--help'], ['tokens', 'add', '--help'], ['tokens', 'rm', '--help']]) {
      const h = await runHearth(args);
      assert.equal(h.code, 0, args.join(' '));
      assert.match(h.stdout, /Usage: hearth tokens/);
    }
  });

  test('a read token can GET but not deploy, change or add tokens (403)', T, async () => {
    const read = (await addToken('reader', 'read')).token;
    assert.equal((await api(read, 'GET', '/sites')).status, 200);
    assert.equal((await api(read, 'GET', '/sites/blog.localhost/versions')).status, 200);
    for (const [method, p, body] of [
      ['POST', '/tokens', { name: 'more' }],
      ['GET', '/tokens', undefined],
      ['POST', '/sites/blog.localhost/deploys', { files: [] }],
      ['POST', '/sites/blog.localhost/rollback', {}],
      ['POST', '/sites', { name: 'new.localhost' }],
      ['DELETE', '/sites/shop.localhost', undefined],
    ]) {
      const r = await api(read, method, p, body);
      assert.equal(r.status, 403, `${method} ${p}: ${r.text}`);
      assert.match(r.json.error, /scope \(read\)/);
    }
    const deploy = await cli(['deploy', await folder('read-deploy', { 'index.html': 'no' }), '--site', 'blog.localhost'], read);
    assert.notEqual(deploy.code, 0);
    assert.match(deploy.stderr, /scope/);
    assert.ok(!(await api(token, 'GET', '/sites')).json.some((s) => s.name === 'new.localhost'));
  });

  test('a deploy:blog.localhost token deploys and rolls back blog only', T, async () => {
    const deployer = (await addToken('ci-blog', 'deploy:blog.localhost')).token;
    const ok = await cli(['deploy', await folder('blog-3', { 'index.html': '<h1>blog 3</h1>', 'new.css': 'b{}' }), '--site', 'blog.localhost'], deployer);
    assert.equal(ok.code, 0, ok.stderr);
    const page = await httpRequest(`${srv.url}/`, { headers: { Host: 'blog.localhost' } });
    assert.equal(page.text, '<h1>blog 3</h1>');
    const back = await api(deployer, 'POST', '/sites/blog.localhost/rollback', {});
    assert.equal(back.status, 200, back.text);
    // Not another site: neither a deploy, nor a rollback, nor its versions.
    const other = await cli(['deploy', await folder('shop-evil', { 'index.html': 'evil' }), '--site', 'shop.localhost'], deployer);
    assert.notEqual(other.code, 0);
    assert.equal((await api(deployer, 'POST', '/sites/shop.localhost/rollback', {})).status, 403);
    assert.equal((await api(deployer, 'GET', '/sites/shop.localhost/versions')).status, 403);
    assert.equal((await httpRequest(`${srv.url}/`, { headers: { Host: 'shop.localhost' } })).text, '<h1>shop.localhost 2</h1>');
    // Not another site's pending deploy either: made by the admin, published by the deploy token.
    const pending = await api(token, 'POST', '/sites/shop.localhost/deploys', { files: [] });
    assert.equal(pending.status, 201, pending.text);
    assert.equal((await api(deployer, 'POST', `/deploys/${pending.json.version}/publish`, {})).status, 403);
    // Nothing else at all.
    for (const [method, p, body] of [
      ['GET', '/sites', undefined], ['GET', '/tokens', undefined], ['POST', '/tokens', { name: 'x' }],
      ['PATCH', '/sites/blog.localhost', { spa: true }], ['DELETE', '/sites/blog.localhost', undefined],
      ['POST', '/sites', { name: 'x.localhost' }],
    ]) assert.equal((await api(deployer, method, p, body)).status, 403, `${method} ${p}`);
    assert.equal((await httpRequest(`${srv.url}/_hearth/metrics`, { headers: { Authorization: `Bearer ${deployer}` } })).status, 403);
  });

  test('an expired token is 401; a revoked one is 401 at once', T, async () => {
    const soon = await addToken('short', 'admin', '2s');
    assert.equal((await api(soon.token, 'GET', '/sites')).status, 200);
    await sleep(2600);
    const late = await api(soon.token, 'GET', '/sites');
    assert.equal(late.status, 401, late.text);
    assert.match(late.headers['www-authenticate'] ?? '', /^Bearer/);
    const r = await addToken('gone', 'read');
    assert.equal((await api(r.token, 'GET', '/sites')).status, 200);
    const del = await api(token, 'DELETE', `/tokens/${r.id}`);
    assert.equal(del.status, 200, del.text);
    assert.equal((await api(r.token, 'GET', '/sites')).status, 401);
    assert.equal((await api(token, 'DELETE', `/tokens/${r.id}`)).status, 404);
  });

  test('the console: only an admin token logs in; revoking it ends its session; a session ends with its token', T, async () => {
    const read = await addToken('console-read', 'read');
    const refused = await login(srv.url, read.token);
    assert.equal(refused.status, 401);
    assert.equal(refused.setCookie, '');
    const a = await addToken('console-admin', 'admin');
    const ok = await login(srv.url, a.token);
    assert.equal(ok.status, 303);
    assert.match(ok.setCookie, /^hearth_admin=.*Path=\/_hearth\//);  // plain HTTP: today's name
    const sites = await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: ok.cookie } });
    assert.equal(sites.status, 200);
    // The Tokens page lists it (no secret) and revokes it; the session ends at once.
    const page = await httpRequest(`${srv.url}/_hearth/tokens`, { headers: { Cookie: ok.cookie } });
    assert.equal(page.status, 200);
    assert.match(page.text, /console-admin/);
    assert.ok(!page.text.includes(a.token) && !page.text.includes(token), 'no secret on the page');
    const csrf = page.text.match(/name="csrf" value="([^"]+)"/)[1];
    const revoke = await httpRequest(`${srv.url}/_hearth/tokens/${encodeURIComponent(a.id)}/revoke`, {
      method: 'POST', headers: { Cookie: ok.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(csrf)}`,
    });
    assert.equal(revoke.status, 303);
    assert.equal(revoke.headers.location, '/_hearth/login');
    const after = await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: ok.cookie } });
    assert.equal(after.status, 303, 'the session ended with its token');
    assert.match(after.headers.location, /^\/_hearth\/login/);
    assert.equal((await api(a.token, 'GET', '/sites')).status, 401);
    // Revoked through the API (or the CLI) ends it too.
    const b = await addToken('console-b', 'admin');
    const s2 = await login(srv.url, b.token);
    assert.equal((await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: s2.cookie } })).status, 200);
    assert.equal((await cli(['tokens', 'rm', b.id])).code, 0);
    assert.equal((await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: s2.cookie } })).status, 303);
    // A token that expires soon makes a session that ends with it (the cookie says so too).
    const c = await addToken('console-c', 'admin', '3s');
    const s3 = await login(srv.url, c.token);
    const age = Number(s3.setCookie.match(/Max-Age=(\d+)/)[1]);
    assert.ok(age >= 1 && age <= 3, s3.setCookie);
    assert.equal((await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: s3.cookie } })).status, 200);
    await sleep(3600);
    assert.equal((await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: s3.cookie } })).status, 303);
  });

  test('the console adds a token and shows its secret once (CSRF checked)', T, async () => {
    const s = await login(srv.url, token);
    const page = await httpRequest(`${srv.url}/_hearth/tokens`, { headers: { Cookie: s.cookie } });
    const csrf = page.text.match(/name="csrf" value="([^"]+)"/)[1];
    const post = (body) => httpRequest(`${srv.url}/_hearth/tokens`, {
      method: 'POST', headers: { Cookie: s.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body,
    });
    const forged = await post('name=evil&access=admin&site=&expires=');
    assert.equal(forged.status, 403);
    const made = await post(`csrf=${encodeURIComponent(csrf)}&name=ui-ci&access=deploy&site=shop.localhost&expires=7d`);
    assert.equal(made.status, 200, made.text);
    const secret = made.text.match(/id="new-secret" readonly value="(hth_[^"]+)"/)[1];
    const listed = (await api(token, 'GET', '/tokens')).json.items.find((t) => t.name === 'ui-ci');
    assert.equal(listed.scope, 'deploy:shop.localhost');
    assert.ok(listed.expires_at > 0);
    assert.equal((await api(secret, 'GET', '/sites/shop.localhost/versions')).status, 200);
    const again = await httpRequest(`${srv.url}/_hearth/tokens`, { headers: { Cookie: s.cookie } });
    assert.ok(!again.text.includes(secret), 'shown only on the answer to the form');
    const refused = await post(`csrf=${encodeURIComponent(csrf)}&name=bad&access=deploy&site=&expires=`);
    assert.equal(refused.status, 400);
    assert.match(refused.text, /deploy:SITE/);
  });

  test('only an admin token is a superuser of a site\'s data API', T, async () => {
    const made = await api(token, 'POST', '/sites/blog.localhost/collections', { name: 'notes', fields: [{ name: 'title', type: 'text' }] });
    assert.equal(made.status, 201, made.text);
    const records = (auth) => httpRequest(`${srv.url}/api/collections/notes/records`, { headers: { Host: 'blog.localhost', Authorization: auth } });
    assert.equal((await records(token)).status, 200);
    const read = (await addToken('data-read', 'read')).token;
    const deployer = (await addToken('data-deploy', 'deploy:blog.localhost')).token;
    for (const t of [read, deployer]) {
      const r = await records(t);
      assert.equal(r.status, 403, r.text);
      const bearer = await records(`Bearer ${t}`);
      assert.equal(bearer.status, 403, bearer.text);
    }
  });

  test('metrics need an admin or read token; health says only ok', T, async () => {
    const anon = await httpRequest(`${srv.url}/_hearth/metrics`);
    assert.equal(anon.status, 401);
    assert.ok(!anon.text.includes('hearth_requests_total'));
    assert.equal((await httpRequest(`${srv.url}/_hearth/metrics`, { headers: { Authorization: 'Bearer hth_wrong' } })).status, 401);
    const read = (await addToken('metrics-read', 'read')).token;
    for (const t of [token, read]) {
      const r = await httpRequest(`${srv.url}/_hearth/metrics`, { headers: { Authorization: `Bearer ${t}` } });
      assert.equal(r.status, 200);
      assert.match(r.text, /hearth_requests_total/);
    }
    // On a site's host too: the token, not the host, decides.
    assert.equal((await httpRequest(`${srv.url}/_hearth/metrics`, { headers: { Host: 'blog.localhost' } })).status, 401);
    const health = await httpRequest(`${srv.url}/_hearth/health`, { headers: { Host: 'blog.localhost' } });
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.text), { status: 'ok' });
  });
});

describe('--metrics-public, --admin-host and the default site', () => {
  test('with --metrics-public metrics answer without a token', T, async () => {
    const srv = await startHearth({ args: ['--metrics-public'] });
    try {
      const r = await httpRequest(`${srv.url}/_hearth/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.text, /hearth_requests_total/);
      const cfg = await runHearth(['config', '--metrics-public']);
      assert.match(cfg.stdout, /^metrics-public = true/m);
      assert.match((await runHearth(['config'])).stdout, /^metrics-public = false/m);
    } finally {
      await srv.stop('SIGKILL').catch(() => {});
    }
  });

  test('the default site never serves the --admin-host name; the console answers only there', T, async () => {
    const srv = await startHearth({ args: ['--admin-host', 'admin.localhost'] });
    try {
      const token = await adminToken(srv);
      const work = await makeTempDir('hearth-tokens-');
      await fsp.writeFile(path.join(work, 'index.html'), '<h1>default</h1>');
      const d = await runHearth(['deploy', work, '--site', 'main.localhost', '--server', srv.url, '--token', token]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal((await controlApi(srv, token, 'PATCH', '/sites/main.localhost', { default: true })).status, 200);
      // Any unclaimed host: the default site, and no console.
      assert.equal((await httpRequest(`${srv.url}/`, { headers: { Host: 'other.localhost' } })).text, '<h1>default</h1>');
      assert.equal((await httpRequest(`${srv.url}/_hearth/login`, { headers: { Host: 'other.localhost' } })).status, 404);
      // The console's host: the console, and not the default site's files.
      assert.equal((await httpRequest(`${srv.url}/_hearth/login`, { headers: { Host: 'admin.localhost' } })).status, 200);
      const root = await httpRequest(`${srv.url}/`, { headers: { Host: 'admin.localhost' } });
      assert.ok(!root.text.includes('<h1>default</h1>'), 'the default site is not on the console\'s origin');
    } finally {
      await srv.stop('SIGKILL').catch(() => {});
    }
  });
});

describe('an upstream never sees the console\'s cookie', () => {
  test('the proxy drops hearth_admin and __Host-hearth_admin from Cookie, keeps the rest', T, async () => {
    const seen = [];
    const upstream = http.createServer((req, res) => { seen.push(req.headers.cookie ?? ''); res.end('ok'); });
    await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
    const srv = await startHearth();
    try {
      const token = await adminToken(srv);
      const add = await runHearth(['sites', 'add', 'app.localhost', '--proxy', `http://127.0.0.1:${upstream.address().port}`,
        '--server', srv.url, '--token', token]);
      assert.equal(add.code, 0, add.stderr);
      const r = await httpRequest(`${srv.url}/x`, {
        headers: { Host: 'app.localhost', Cookie: 'a=1; __Host-hearth_admin=hth_secret; hearth_admin=hth_other; b=2' },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(seen.at(-1), 'a=1; b=2');
    } finally {
      await srv.stop('SIGKILL').catch(() => {});
      upstream.close();
    }
  });
});

describe('the session cookie over HTTPS', () => {
  test('is __Host-hearth_admin (Secure, Path=/); each scheme reads only its own name', T, async () => {
    const srv = await startHearth({ args: ['--https', '127.0.0.1:0'] });
    try {
      const token = await adminToken(srv);
      const work = await makeTempDir('hearth-tokens-');
      const cert = await runHearth(['cert', 'self-signed', '--host', 'admin.localhost', '--out', path.join(work, 'admin.pem'),
        '--server', srv.url, '--token', token]);
      assert.equal(cert.code, 0, cert.stderr);
      const request = (p, { method = 'GET', headers = {}, body } = {}) => new Promise((resolve, reject) => {
        const req = https.request({
          host: '127.0.0.1', port: srv.httpsPort, path: p, method, servername: 'admin.localhost', rejectUnauthorized: false,
          headers: { Host: 'admin.localhost', ...headers }, agent: false, timeout: 10000,
        }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        if (body) req.write(body);
        req.end();
      });
      const r = await request('/_hearth/login', {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${token}`,
      });
      assert.equal(r.status, 303, r.text);
      const set = r.headers['set-cookie'][0];
      assert.match(set, /^__Host-hearth_admin=hth_[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
      assert.ok(!/Domain/i.test(set));
      const secret = set.split(';')[0].split('=')[1];
      assert.equal((await request('/_hearth/sites', { headers: { Cookie: `__Host-hearth_admin=${secret}` } })).status, 200);
      // The plain name means nothing over HTTPS, nor the __Host- one over HTTP.
      assert.equal((await request('/_hearth/sites', { headers: { Cookie: `hearth_admin=${secret}` } })).status, 303);
      assert.equal((await httpRequest(`${srv.url}/_hearth/sites`, { headers: { Cookie: `__Host-hearth_admin=${secret}` } })).status, 303);
      // Logging out clears the __Host- cookie.
      const page = await request('/_hearth/sites', { headers: { Cookie: `__Host-hearth_admin=${secret}` } });
      const csrf = page.text.match(/name="csrf" value="([^"]+)"/)[1];
      const out = await request('/_hearth/logout', {
        method: 'POST', headers: { Cookie: `__Host-hearth_admin=${secret}`, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `csrf=${encodeURIComponent(csrf)}`,
      });
      assert.equal(out.status, 303);
      assert.match(out.headers['set-cookie'][0], /^__Host-hearth_admin=; Path=\/;.*Max-Age=0; Secure$/);
      assert.equal((await request('/_hearth/sites', { headers: { Cookie: `__Host-hearth_admin=${secret}` } })).status, 303);
    } finally {
      await srv.stop('SIGKILL').catch(() => {});
    }
  });
});

// HEAD of every GET control route answers as the GET does, without a body
// (handlers branch on the row's method, GET for a HEAD; they used to 405).
describe('HEAD on the control API', () => {
  let srv;
  before(async () => { srv = await startHearth(); });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });
  test('answers each GET route with the GET status and no body', T, async () => {
    const token = await adminToken(srv);
    const headers = { Authorization: `Bearer ${token}` };
    for (const p of ['tokens', 'admins', 'certs', 'certs/local-ca', 'certs/1', 'sites']) {
      const url = `${srv.url}/_hearth/api/${p}`;
      const get = await httpRequest(url, { headers });
      const head = await httpRequest(url, { method: 'HEAD', headers });
      assert.equal(head.status, get.status, p);
      assert.notEqual(head.status, 405, p);
      assert.equal(head.text, '', p);
    }
  });
});
