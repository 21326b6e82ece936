// Sites: static sites stored in hearth.db, deployed atomically by content hash.
// Covers the admin token, the control API (/_hearth/api/), the client CLI
// (deploy, sites, versions, rollback, token), serving by Host, and two
// durability tests (kill -9 during a deploy; atomic publishes under load).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  startHearth, runHearth, makeTempDir, httpRequest, curl, withTimeout, sleep, tier,
} from './helpers.mjs';

const T = { timeout: 30000 };
const API = '/_hearth/api';
const MAX_BODY = 20 * 1024 * 1024; // the shared server runs with --max-body-size 20MiB
const IMMUTABLE = 'public, max-age=31536000, immutable';

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const etagOf = (b) => `"${sha256(b).slice(0, 32)}"`;
const buf = (x) => (Buffer.isBuffer(x) ? x : Buffer.from(x));

// ---------------------------------------------------------------------------
// Helpers.

/** Writes {relativePath: string|Buffer} under dir (creating folders). */
async function writeTree(dir, files) {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    await fsp.mkdir(path.dirname(p), { recursive: true });
    await fsp.writeFile(p, content);
  }
}

/** A fresh folder with `files` in it. */
async function siteDir(files) {
  const d = await makeTempDir('hearth-site-');
  await writeTree(d, files);
  return d;
}

/** One control-API call. body: object (JSON), string (sent as-is) or Buffer (raw). */
async function api(base, token, method, p, body, { headers = {}, timeoutMs = 30000 } = {}) {
  const h = { ...headers };
  if (token !== undefined && token !== null) h.Authorization = `Bearer ${token}`;
  let data;
  if (body !== undefined) {
    if (Buffer.isBuffer(body)) { data = body; h['Content-Type'] = 'application/octet-stream'; }
    else { data = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)); h['Content-Type'] = 'application/json'; }
    h['Content-Length'] = String(data.length);
  }
  const r = await httpRequest(`${base}${API}${p}`, { method, headers: h, body: data, timeoutMs });
  let json = null;
  try { json = JSON.parse(r.text); } catch { /* not JSON */ }
  return { ...r, json };
}

/** GET (or other method) of a site path with a Host header, on a fresh connection. */
function get(base, host, p, { method = 'GET', headers = {}, timeoutMs = 15000 } = {}) {
  return httpRequest(`${base}${p}`, { method, headers: { Host: host, ...headers }, timeoutMs });
}

/** Manifest entries for {path: content}. */
function manifestOf(files) {
  return Object.entries(files).map(([p, c]) => ({ path: p, hash: sha256(buf(c)), size: buf(c).length }));
}

/** Full deploy through the API: manifest, missing blobs, publish. Returns the version. */
async function apiDeploy(base, token, site, files, message) {
  const body = { files: manifestOf(files) };
  if (message !== undefined) body.message = message;
  const m = await api(base, token, 'POST', `/sites/${site}/deploys`, body);
  assert.equal(m.status, 201, `manifest for ${site}: ${m.text}`);
  const byHash = new Map(Object.values(files).map((c) => [sha256(buf(c)), buf(c)]));
  for (const h of m.json.missing) {
    const put = await api(base, token, 'PUT', `/blobs/${h}`, byHash.get(h));
    assert.equal(put.status, 201, `blob ${h}: ${put.text}`);
  }
  const pub = await api(base, token, 'POST', `/deploys/${m.json.version}/publish`, {});
  assert.equal(pub.status, 200, `publish ${m.json.version}: ${pub.text}`);
  return m.json.version;
}

/** Runs the hearth CLI in a scratch folder (so ./hearth-data is never a real one). */
let cliCwd;
async function cli(args, env = {}, timeoutMs = 60000) {
  if (!cliCwd) cliCwd = await makeTempDir('hearth-cli-cwd-');
  return runHearth(args, { env, timeoutMs, cwd: cliCwd });
}

function assertCliOk(r, what) {
  assert.equal(r.timedOut, false, `${what}: timed out`);
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** A CLI failure: non-zero exit, exactly one stderr line "hearth: ..." matching re. */
function assertCliError(r, re, what) {
  assert.equal(r.timedOut, false, `${what}: timed out`);
  assert.notEqual(r.code, 0, `${what}: should fail; stdout: ${r.stdout}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: stderr should be one line: ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], /^hearth: /, `${what}: stderr ${JSON.stringify(r.stderr)}`);
  if (re) assert.match(lines[0], re, `${what}: stderr ${JSON.stringify(r.stderr)}`);
}

/** Checks the documented fields of a JSON answer (extra fields are allowed). */
function assertFields(obj, expected, what = 'JSON') {
  assert.ok(obj && typeof obj === 'object', `${what}: not an object: ${JSON.stringify(obj)}`);
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(obj[k], v, `${what}: field ${k} in ${JSON.stringify(obj)}`);
  }
}

function parseDeployText(stdout) {
  const m1 = /^deployed (\S+) version (\d+)$/m.exec(stdout);
  const m2 = /^uploaded (\d+) of (\d+) files \(([^)]+)\)$/m.exec(stdout);
  const m3 = /^(https?:\/\/\S+)$/m.exec(stdout);
  assert.ok(m1 && m2 && m3, `unexpected deploy output: ${JSON.stringify(stdout)}`);
  return { site: m1[1], version: Number(m1[2]), uploaded: Number(m2[1]), files: Number(m2[2]), human: m2[3], url: m3[1] };
}

async function readToken(dataDir) {
  return (await fsp.readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim();
}

function waitStreamEnd(stream, ms = 5000) {
  return withTimeout(new Promise((r) => (stream.readableEnded || stream.destroyed ? r() : stream.once('close', r))), ms, 'stdout end');
}

/** A port nothing listens on (bound then released). */
async function deadPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function assertServes(base, host, files, label) {
  for (const [p, c] of Object.entries(files)) {
    const r = await get(base, host, `/${p}`, { timeoutMs: 30000 });
    assert.equal(r.status, 200, `${label}: /${p} status ${r.status}`);
    assert.equal(sha256(r.body), sha256(buf(c)), `${label}: /${p} content differs (${r.body.length} bytes vs ${buf(c).length})`);
  }
}

// ---------------------------------------------------------------------------
// The admin token.

describe('admin token', () => {
  test('first start prints the token once on stdout and saves it 0600; a restart prints nothing', T, async () => {
    const s1 = await startHearth();
    const tokenFile = path.join(s1.dataDir, 'admin.token');
    try {
      const deadline = Date.now() + 5000;
      while (!/admin token[\s\S]*\n\s+\S+\s*\n/.test(s1.stdout()) && Date.now() < deadline) await sleep(50);
      const lines = s1.stdout().split('\n');
      const i = lines.findIndex((l) => l.startsWith('hearth: admin token (shown once; saved to '));
      assert.ok(i >= 0, `no token header on stdout: ${JSON.stringify(s1.stdout())}`);
      assert.equal(lines[i], `hearth: admin token (shown once; saved to ${tokenFile}):`);
      const m = /^\s+(\S+)\s*$/.exec(lines[i + 1] ?? '');
      assert.ok(m, `token line should be indented: ${JSON.stringify(lines[i + 1])}`);
      const printed = m[1];
      assert.ok(printed.length >= 20, 'token looks too short');

      const st = await fsp.stat(tokenFile);
      assert.equal(st.mode & 0o777, 0o600, `admin.token mode is ${(st.mode & 0o777).toString(8)}`);
      assert.equal(await readToken(s1.dataDir), printed, 'saved token differs from the printed one');

      const ok = await api(s1.url, printed, 'GET', '/sites');
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, []);
      await s1.stop();
      await waitStreamEnd(s1.proc.stdout);
    } finally {
      if (s1.alive()) await s1.stop('SIGKILL');
    }
    const before = await fsp.readFile(tokenFile, 'utf8');
    const s2 = await startHearth({ dataDir: s1.dataDir });
    try {
      const ok = await api(s2.url, before.trim(), 'GET', '/sites');
      assert.equal(ok.status, 200, 'the saved token still works after a restart');
      await s2.stop();
      await waitStreamEnd(s2.proc.stdout);
      assert.doesNotMatch(s2.stdout(), /admin token/, 'second start must not print a token');
      assert.ok(!s2.stdout().includes(before.trim()), 'second start printed the token');
      assert.equal(await fsp.readFile(tokenFile, 'utf8'), before, 'admin.token changed on restart');
    } finally {
      if (s2.alive()) await s2.stop('SIGKILL');
    }
  });
});

// ---------------------------------------------------------------------------
// One shared server for the API, CLI and serving tests.

describe('sites on a shared server', () => {
  let srv;
  let base;
  let port;
  let token;
  let env; // HEARTH_SERVER + HEARTH_TOKEN for CLI verbs
  let welcome; // what a host no site claims gets

  before(async () => {
    srv = await startHearth({ args: ['--workers', '2', '--max-body-size', '20MiB'] });
    base = srv.url;
    port = srv.port;
    token = await readToken(srv.dataDir);
    env = { HEARTH_SERVER: base, HEARTH_TOKEN: token };
    welcome = await get(base, 'nobody.invalid', '/');
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  const siteNames = async () => (await api(base, token, 'GET', '/sites')).json.map((s) => s.name);

  describe('authentication', () => {
    test('API calls without a valid bearer token get 401 JSON with WWW-Authenticate: Bearer', T, async () => {
      const hash = sha256('x');
      const calls = [
        ['GET', '/sites', undefined],
        ['POST', '/sites', { name: 'sneaky.test' }],
        ['POST', '/sites/sneaky.test/deploys', { files: [] }],
        ['PUT', `/blobs/${hash}`, Buffer.from('x')],
        ['POST', '/deploys/1/publish', {}],
        ['POST', '/sites/sneaky.test/rollback', {}],
        ['GET', '/sites/sneaky.test/versions', undefined],
        ['DELETE', '/sites/sneaky.test', undefined],
        ['POST', '/tokens', { name: 'evil' }],
      ];
      const auths = [undefined, 'Bearer wrong-token', `Bearer ${token}x`, `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`, 'Bearer '];
      for (const [method, p, body] of calls) {
        for (const a of auths) {
          const r = await api(base, null, method, p, body, { headers: a ? { Authorization: a } : {} });
          const what = `${method} ${p} with ${a ?? 'no Authorization'}`;
          assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
          assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/, `${what}: WWW-Authenticate`);
          assert.equal(typeof r.json?.error, 'string', `${what}: body ${r.text}`);
        }
      }
      assert.ok(!(await siteNames()).includes('sneaky.test'), 'an unauthorized request created a site');
    });

    test('CLI with a wrong token fails with one "hearth: ..." line mentioning the token', T, async () => {
      const r = await cli(['versions', '--site', 'x.test', '--server', base, '--token', 'wrong']);
      assertCliError(r, /token/i, 'versions with a bad token');
      const d = await siteDir({ 'index.html': 'x' });
      const r2 = await cli(['deploy', d, '--site', 'badtoken.test', '--server', base, '--token', 'nope']);
      assertCliError(r2, /token/i, 'deploy with a bad token');
      assert.ok(!(await siteNames()).includes('badtoken.test'));
    });

    test('CLI against an unreachable server says "cannot reach the server"', T, async () => {
      const p = await deadPort();
      const r = await cli(['sites', '--server', `http://127.0.0.1:${p}`, '--token', token]);
      assertCliError(r, /cannot reach the server/, 'sites list, unreachable');
      const d = await siteDir({ 'index.html': 'x' });
      const r2 = await cli(['deploy', d, '--site', 'x.test', '--server', `http://127.0.0.1:${p}`, '--token', token]);
      assertCliError(r2, /cannot reach the server/, 'deploy, unreachable');
    });
  });

  describe('CLI flow: deploy, redeploy, versions, rollback, sites', () => {
    const v1 = {
      'index.html': '<!doctype html><h1>Blog v1</h1>\n',
      'about.html': '<h1>About v1</h1>\n',
      'style.css': 'body { color: #111; }\n',
      'docs/index.html': '<h1>Docs</h1>\n',
      'img/logo.png': Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), crypto.randomBytes(300)]),
      '.well-known/security.txt': 'Contact: mailto:sec@blog.test\n',
    };
    const hidden = {
      '.env': 'SECRET=hunter2\n',
      '.git/HEAD': 'ref: refs/heads/main\n',
      'docs/.secret.txt': 'hidden\n',
      '.cache/x.html': 'cached\n',
    };
    let dir;
    let ver1;
    let ver2;
    let ver3;
    const about2 = '<h1>About v2 — changed</h1>\n';
    const index3 = '<!doctype html><h1>Blog v3</h1>\n';
    const host = 'blog.test';

    test('hearth deploy DIR --site HOST uploads every file, skips dotfiles, prints version and URL', T, async () => {
      dir = await siteDir({ ...v1, ...hidden });
      const r = await cli(['deploy', dir, '--site', host, '-m', 'first', '--server', base, '--data', srv.dataDir]);
      assertCliOk(r, 'deploy v1');
      const out = parseDeployText(r.stdout);
      assert.equal(out.site, host);
      assert.equal(out.uploaded, 6);
      assert.equal(out.files, 6, 'dotfiles (except .well-known) must be skipped');
      assert.equal(out.url, `http://${host}:${port}/`);
      ver1 = out.version;
      assert.ok(ver1 >= 1);

      const idx = await get(base, host, '/');
      assert.equal(idx.status, 200);
      assert.equal(idx.text, v1['index.html']);
      assert.match(idx.headers['content-type'], /^text\/html/);
      const logo = await get(base, host, '/img/logo.png');
      assert.equal(logo.status, 200);
      assert.ok(logo.body.equals(v1['img/logo.png']));
      const wk = await get(base, host, '/.well-known/security.txt');
      assert.equal(wk.status, 200);
      assert.equal(wk.text, v1['.well-known/security.txt']);
      for (const p of Object.keys(hidden)) {
        const h = await get(base, host, `/${p}`);
        assert.equal(h.status, 404, `/${p} must not be deployed`);
        assert.ok(!h.text.includes(hidden[p].trim()), `/${p} leaked`);
      }
      // The URL the CLI prints works as-is when the name resolves here.
      const c = await curl(['--resolve', `${host}:${port}:127.0.0.1`, `${out.url}about`]);
      assert.equal(c.status, 200, c.stderr);
      assert.equal(c.text, v1['about.html']);
    });

    test('redeploying with one changed file uploads 1 file; unchanged files keep their ETag', T, async () => {
      const cssBefore = await get(base, host, '/style.css');
      await fsp.writeFile(path.join(dir, 'about.html'), about2);
      const r = await cli(['deploy', dir, '--site', host, '-m', 'second', '--server', base, '--data', srv.dataDir]);
      assertCliOk(r, 'deploy v2');
      const out = parseDeployText(r.stdout);
      assert.equal(out.uploaded, 1, r.stdout);
      assert.equal(out.files, 6);
      assert.match(r.stdout, /^uploaded 1 of 6 files/m);
      ver2 = out.version;
      assert.ok(ver2 > ver1);
      assert.equal((await get(base, host, '/about')).text, about2);
      const cssAfter = await get(base, host, '/style.css');
      assert.equal(cssAfter.headers.etag, cssBefore.headers.etag);
      assert.equal(cssAfter.headers.etag, etagOf(v1['style.css']));
    });

    test('deploy --json prints {site, version, url, files, uploaded, bytes, uploaded_bytes}', T, async () => {
      await fsp.writeFile(path.join(dir, 'index.html'), index3);
      const r = await cli(['deploy', dir, '--site', host, '-m', 'third', '--json', '--server', base, '--data', srv.dataDir]);
      assertCliOk(r, 'deploy v3 --json');
      const j = JSON.parse(r.stdout);
      ver3 = j.version;
      assert.ok(ver3 > ver2);
      const total = Object.entries({ ...v1, 'about.html': about2, 'index.html': index3 })
        .reduce((n, [, c]) => n + buf(c).length, 0);
      assertFields(j, {
        site: host, version: ver3, url: `http://${host}:${port}/`, files: 6, uploaded: 1,
        bytes: total, uploaded_bytes: Buffer.byteLength(index3),
      }, 'deploy --json');
      assert.equal((await get(base, host, '/')).text, index3);
    });

    test('hearth versions lists published versions newest first with the live one marked', T, async () => {
      const r = await cli(['versions', '--site', host, '--json'], env);
      assertCliOk(r, 'versions --json');
      const j = JSON.parse(r.stdout);
      assert.equal(j.site, host);
      assert.equal(j.live_version, ver3);
      assert.deepEqual(j.versions.map((v) => v.version), [ver3, ver2, ver1]);
      assert.deepEqual(j.versions.map((v) => v.live), [true, false, false]);
      assert.deepEqual(j.versions.map((v) => v.message), ['third', 'second', 'first']);
      for (const v of j.versions) {
        assert.equal(v.files, 6);
        assert.equal(typeof v.bytes, 'number');
        assert.equal(typeof v.created_at, 'number');
        assert.equal(typeof v.published_at, 'number');
      }
      const t = await cli(['versions', '--site', host], env);
      assertCliOk(t, 'versions');
      const lines = t.stdout.trim().split('\n');
      assert.match(lines[0], /VERSION/);
      assert.match(lines[1], new RegExp(`^${ver3}\\s+\\*`));
      assert.match(lines[1], /third/);
      assert.match(lines[3], new RegExp(`^${ver1}\\s`));
      assert.doesNotMatch(lines[3], /\*/);
    });

    test('hearth rollback goes to the previous version by default, and to --to N', T, async () => {
      const r = await cli(['rollback', '--site', host], env);
      assertCliOk(r, 'rollback');
      assert.equal(r.stdout.trim(), `${host} is now at version ${ver2}`);
      assert.equal((await get(base, host, '/')).text, v1['index.html']);
      assert.equal((await get(base, host, '/about')).text, about2);

      const r2 = await cli(['rollback', '--site', host, '--to', String(ver1), '--json'], env);
      assertCliOk(r2, 'rollback --to v1 --json');
      assertFields(JSON.parse(r2.stdout), { site: host, live_version: ver1, previous_version: ver2 }, 'rollback --json');
      assert.equal((await get(base, host, '/about')).text, v1['about.html']);
      const vs = JSON.parse((await cli(['versions', '--site', host, '--json'], env)).stdout);
      assert.equal(vs.live_version, ver1);
      assert.deepEqual(vs.versions.map((v) => v.live), [false, false, true]);

      // Nothing older than v1: refused, live version unchanged.
      const r3 = await cli(['rollback', '--site', host], env);
      assertCliError(r3, null, 'rollback past the oldest version');
      const api3 = await api(base, token, 'POST', `/sites/${host}/rollback`, {});
      assert.equal(api3.status, 409, api3.text);
      const r4 = await cli(['rollback', '--site', host, '--to', '99999999'], env);
      assertCliError(r4, null, 'rollback to an unknown version');
      assert.equal((await get(base, host, '/about')).text, v1['about.html']);

      const r5 = await cli(['rollback', '--site', host, '--to', String(ver3)], env);
      assertCliOk(r5, 'roll forward to v3');
      assert.equal(r5.stdout.trim(), `${host} is now at version ${ver3}`);
      assert.equal((await get(base, host, '/')).text, index3);
    });

    test('hearth sites lists, adds, sets and removes sites', T, async () => {
      const l = await cli(['sites'], env);
      assertCliOk(l, 'sites');
      assert.match(l.stdout, new RegExp(`^blog\\.test\\s+live ${ver3}\\s+blog\\.test\\s*$`, 'm'));

      const add = await cli(['sites', 'add', 'shop.test', '--host', 'www.shop.test', '--spa'], env);
      assertCliOk(add, 'sites add');
      assert.match(add.stdout, /shop\.test/);
      let j = JSON.parse((await cli(['sites', '--json'], env)).stdout);
      let shop = j.find((s) => s.name === 'shop.test');
      assert.ok(shop, JSON.stringify(j));
      assert.deepEqual([...shop.hosts].sort(), ['shop.test', 'www.shop.test']);
      assert.equal(shop.spa, true);
      assert.equal(shop.default, false);
      assert.equal(shop.live_version, null);
      assert.equal(typeof shop.created_at, 'number');
      const blog = j.find((s) => s.name === host);
      assert.equal(blog.live_version, ver3);

      // A site with nothing published answers 404 on all its hosts.
      for (const h of ['shop.test', 'www.shop.test']) {
        const r = await get(base, h, '/');
        assert.equal(r.status, 404, `${h}: ${r.status}`);
      }

      const set = await cli(['sites', 'set', 'shop.test', '--spa', 'false'], env);
      assertCliOk(set, 'sites set');
      j = JSON.parse((await cli(['sites', '--json'], env)).stdout);
      shop = j.find((s) => s.name === 'shop.test');
      assert.equal(shop.spa, false);

      const dup = await cli(['sites', 'add', 'shop.test'], env);
      assertCliError(dup, null, 'adding an existing site');
      const bad = await cli(['sites', 'add', 'bad host!'], env);
      assertCliError(bad, /invalid host name/, 'sites add with a bad host');
      const d = await siteDir({ 'index.html': 'x' });
      const bad2 = await cli(['deploy', d, '--site', 'a..b', '--server', base, '--token', token]);
      assertCliError(bad2, /invalid host name/, 'deploy to a bad host');

      const rm = await cli(['sites', 'rm', 'shop.test'], env);
      assertCliOk(rm, 'sites rm');
      assert.ok(!(await siteNames()).includes('shop.test'));
      const afterRm = await get(base, 'www.shop.test', '/');
      assert.equal(afterRm.status, welcome.status, 'a removed site\'s host falls back to the normal behaviour');
      assert.equal(afterRm.text, welcome.text);
      const rm2 = await cli(['sites', 'rm', 'shop.test'], env);
      assertCliError(rm2, null, 'removing an unknown site');
    });

    test('hearth sites list --json (the documented form) works', T, async () => {
      const r = await cli(['sites', 'list', '--json'], env);
      assertCliOk(r, 'sites list --json');
      assert.ok(JSON.parse(r.stdout).some((s) => s.name === host));
      const t = await cli(['sites', 'list'], env);
      assertCliOk(t, 'sites list');
      assert.match(t.stdout, /^blog\.test\s/m);
    });

    test('client options (--server, --token) are accepted after the verb: sites add/set/rm, token create', T, async () => {
      const opts = ['--server', base, '--token', token];
      assertCliOk(await cli(['sites', 'add', 'opts.test', ...opts]), 'sites add HOST --server --token');
      assertCliOk(await cli(['sites', 'set', 'opts.test', '--spa', 'true', ...opts]), 'sites set HOST --server --token');
      assertCliOk(await cli(['sites', 'rm', 'opts.test', ...opts]), 'sites rm HOST --server --token');
      assertCliOk(await cli(['token', 'create', '--name', 'x', ...opts]), 'token create --server --token');
    });
  });

  describe('serving', () => {
    const pngBytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), crypto.randomBytes(1000)]);
    const big = crypto.randomBytes(300 * 1024);
    const files = {
      'index.html': '<!doctype html><h1>Web home</h1>\n',
      'about.html': '<h1>About web</h1>\n',
      'team/index.html': '<h1>Team</h1>\n',
      'docs/guide.html': '<h1>Guide</h1>\n',
      '404.html': '<h1>Custom not found</h1>\n',
      'style.css': 'h1 { color: red; }\n',
      'app.1a2b3c4d.css': 'h1 { color: blue; }\n',
      'main-5d41402abc.js': 'console.log("fingerprinted");\n',
      'page.1a2b3c4d.html': '<h1>html is never immutable</h1>\n',
      'app.js': 'console.log(1);\n',
      'logo.png': pngBytes,
      'data.json': '{"ok":true}\n',
      'notes.txt': 'plain text\n',
      'big.bin': big,
    };
    const host = 'web.test';

    before(async () => {
      const d = await siteDir(files);
      const r = await cli(['deploy', d, '--site', host, '--server', base, '--data', srv.dataDir]);
      assertCliOk(r, 'deploy web.test');
    });

    test('"/" and "dir/" serve index.html; clean URLs map to .html and /index.html', T, async () => {
      const cases = [
        ['/', 'index.html'], ['/index.html', 'index.html'], ['/about', 'about.html'], ['/about.html', 'about.html'],
        ['/team', 'team/index.html'], ['/team/', 'team/index.html'], ['/team/index.html', 'team/index.html'],
        ['/docs/guide', 'docs/guide.html'], ['/about?x=1', 'about.html'],
      ];
      for (const [p, f] of cases) {
        const r = await get(base, host, p);
        assert.equal(r.status, 200, `${p}: ${r.status}`);
        assert.equal(r.text, files[f], `${p} should serve ${f}`);
        assert.match(r.headers['content-type'], /^text\/html/, p);
      }
      const withPort = await get(base, `${host}:${port}`, '/about');
      assert.equal(withPort.status, 200, 'Host with a port');
      assert.equal(withPort.text, files['about.html']);
    });

    test('unknown paths get the site\'s own 404.html with status 404', T, async () => {
      for (const p of ['/nope', '/nope.css', '/deep/er/path', '/team/missing', '/docs/']) {
        const r = await get(base, host, p);
        assert.equal(r.status, 404, p);
        assert.equal(r.text, files['404.html'], `${p} body`);
        assert.match(r.headers['content-type'], /^text\/html/);
      }
    });

    test('a site without 404.html answers a plain 404', T, async () => {
      const v = await apiDeploy(base, token, 'plain.test', { 'index.html': 'plain home' });
      assert.ok(v > 0);
      const r = await get(base, 'plain.test', '/missing');
      assert.equal(r.status, 404);
      assert.ok(!r.text.includes('Custom not found'));
      assert.equal((await get(base, 'plain.test', '/')).text, 'plain home');
    });

    test('Content-Type by extension', T, async () => {
      const expect = {
        '/style.css': /^text\/css/, '/app.js': /^(text|application)\/javascript/, '/logo.png': /^image\/png$/,
        '/data.json': /^application\/json/, '/notes.txt': /^text\/plain/, '/big.bin': /^application\/octet-stream$/,
      };
      for (const [p, re] of Object.entries(expect)) {
        const r = await get(base, host, p);
        assert.equal(r.status, 200, p);
        assert.match(r.headers['content-type'] ?? '', re, p);
        assert.ok(r.body.equals(buf(files[p.slice(1)])), `${p} bytes`);
      }
    });

    test('ETag is the quoted first 32 hex of the SHA-256; If-None-Match gives 304', T, async () => {
      for (const f of ['index.html', 'logo.png', 'big.bin']) {
        const r = await get(base, host, `/${f}`);
        assert.equal(r.headers.etag, etagOf(buf(files[f])), f);
        const nm = await get(base, host, `/${f}`, { headers: { 'If-None-Match': r.headers.etag } });
        assert.equal(nm.status, 304, f);
        assert.equal(nm.body.length, 0);
        assert.equal(nm.headers.etag, r.headers.etag);
        const other = await get(base, host, `/${f}`, { headers: { 'If-None-Match': '"0000000000000000"' } });
        assert.equal(other.status, 200, f);
      }
      const clean = await get(base, host, '/about', { headers: { 'If-None-Match': etagOf(files['about.html']) } });
      assert.equal(clean.status, 304, 'clean URL with a matching ETag');
    });

    test('Range requests give 206 with the right bytes', T, async () => {
      const r = await get(base, host, '/big.bin', { headers: { Range: 'bytes=100-1099' } });
      assert.equal(r.status, 206);
      assert.equal(r.headers['content-range'], `bytes 100-1099/${big.length}`);
      assert.ok(r.body.equals(big.subarray(100, 1100)));
      const s = await get(base, host, '/big.bin', { headers: { Range: 'bytes=-10' } });
      assert.equal(s.status, 206);
      assert.ok(s.body.equals(big.subarray(big.length - 10)));
      const o = await get(base, host, '/big.bin', { headers: { Range: `bytes=${big.length + 10}-` } });
      assert.equal(o.status, 416);
      const whole = await get(base, host, '/big.bin');
      assert.equal(whole.headers['accept-ranges'], 'bytes');
      assert.ok(whole.body.equals(big));
    });

    test('HEAD gives the headers of GET without a body', T, async () => {
      const g = await get(base, host, '/logo.png');
      const h = await get(base, host, '/logo.png', { method: 'HEAD' });
      assert.equal(h.status, 200);
      assert.equal(h.body.length, 0);
      assert.equal(Number(h.headers['content-length']), pngBytes.length);
      for (const k of ['content-type', 'etag', 'cache-control']) assert.equal(h.headers[k], g.headers[k], k);
    });

    test('Cache-Control: no-cache for html and plain names, immutable for fingerprinted names', T, async () => {
      const expect = {
        '/': 'no-cache', '/about': 'no-cache', '/style.css': 'no-cache', '/app.js': 'no-cache', '/data.json': 'no-cache',
        '/app.1a2b3c4d.css': IMMUTABLE, '/main-5d41402abc.js': IMMUTABLE, '/page.1a2b3c4d.html': 'no-cache',
      };
      for (const [p, cc] of Object.entries(expect)) {
        const r = await get(base, host, p);
        assert.equal(r.status, 200, p);
        assert.equal(r.headers['cache-control'], cc, p);
      }
    });

    test('POST, PUT and DELETE to a site get 405', T, async () => {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const r = await httpRequest(`${base}/about`, { method, headers: { Host: host, 'Content-Length': '2' }, body: 'hi' });
        assert.equal(r.status, 405, method);
        assert.match(r.headers.allow ?? '', /GET/);
      }
      assert.equal((await get(base, host, '/about')).text, files['about.html']);
    });

    test('SPA: unknown extension-less paths serve index.html when spa is on', T, async () => {
      const spa = { 'index.html': '<div id=app>SPA shell</div>\n', 'app.js': 'boot();\n', 'assets/logo.svg': '<svg/>' };
      await apiDeploy(base, token, 'spa.test', spa);
      assert.equal((await get(base, 'spa.test', '/dashboard')).status, 404, 'spa is off by default');
      assertCliOk(await cli(['sites', 'set', 'spa.test', '--spa', 'true'], env), 'sites set --spa true');
      for (const p of ['/dashboard', '/dashboard/settings', '/users/42/edit', '/']) {
        const r = await get(base, 'spa.test', p);
        assert.equal(r.status, 200, p);
        assert.equal(r.text, spa['index.html'], p);
      }
      assert.equal((await get(base, 'spa.test', '/missing.js')).status, 404);
      assert.equal((await get(base, 'spa.test', '/assets/nope.png')).status, 404);
      assert.equal((await get(base, 'spa.test', '/app.js')).text, spa['app.js']);
      assert.equal((await get(base, 'spa.test', '/assets/logo.svg')).text, spa['assets/logo.svg']);
      assertCliOk(await cli(['sites', 'set', 'spa.test', '--spa', 'false'], env), 'sites set --spa false');
      assert.equal((await get(base, 'spa.test', '/dashboard')).status, 404);
      // The API flag too.
      const p = await api(base, token, 'PATCH', '/sites/spa.test', { spa: true });
      assert.equal(p.status, 200, p.text);
      assert.equal((await get(base, 'spa.test', '/x/y')).text, spa['index.html']);
    });

    test('wildcard hosts answer for any subdomain but not the apex', T, async () => {
      assertCliOk(await cli(['sites', 'add', 'wildapp.test', '--host', '*.wild.test'], env), 'sites add --host *.wild.test');
      const d = await siteDir({ 'index.html': 'wild home', 'x.txt': 'wild x' });
      assertCliOk(await cli(['deploy', d, '--site', 'wildapp.test', '--server', base, '--data', srv.dataDir]), 'deploy wildapp');
      for (const h of ['wildapp.test', 'a.wild.test', 'deep.er.wild.test', `b.wild.test:${port}`]) {
        const r = await get(base, h, '/x.txt');
        assert.equal(r.status, 200, h);
        assert.equal(r.text, 'wild x', h);
      }
      const apex = await get(base, 'wild.test', '/');
      assert.equal(apex.status, welcome.status, 'the apex is not matched by *.wild.test');
      assert.equal(apex.text, welcome.text);
      const other = await get(base, 'a.notwild.test', '/');
      assert.equal(other.text, welcome.text);

      // A site named by a wildcard, deployed directly.
      const d2 = await siteDir({ 'index.html': 'pages home' });
      assertCliOk(await cli(['deploy', d2, '--site', '*.pages.test', '--server', base, '--data', srv.dataDir]), 'deploy *.pages.test');
      assert.equal((await get(base, 'alice.pages.test', '/')).text, 'pages home');
      assert.equal((await get(base, 'pages.test', '/')).text, welcome.text);
    });
  });

  describe('control API', () => {
    test('POST /sites: 201, 409 for an existing site or host, 400 for invalid host names', T, async () => {
      const c = await api(base, token, 'POST', '/sites', { name: 'api.test', hosts: ['alias.api.test'], spa: true });
      assert.equal(c.status, 201, c.text);
      const list = (await api(base, token, 'GET', '/sites')).json;
      const s = list.find((x) => x.name === 'api.test');
      assert.deepEqual([...s.hosts].sort(), ['alias.api.test', 'api.test']);
      assert.equal(s.spa, true);
      assert.equal(s.default, false);
      assert.equal(s.live_version, null);

      const dup = await api(base, token, 'POST', '/sites', { name: 'api.test' });
      assert.equal(dup.status, 409, dup.text);
      const hostTaken = await api(base, token, 'POST', '/sites', { name: 'other.api2.test', hosts: ['alias.api.test'] });
      assert.equal(hostTaken.status, 409, hostTaken.text);
      const nameIsHost = await api(base, token, 'POST', '/sites', { name: 'alias.api.test' });
      assert.equal(nameIsHost.status, 409, `a new site named like another site's host: ${nameIsHost.text}`);
      assert.ok(!(await siteNames()).includes('other.api2.test'), 'a refused POST /sites left a site behind');

      for (const bad of ['bad host!', 'a..b', '-x.com', '', 'x-.com', 'a b.com']) {
        const r = await api(base, token, 'POST', '/sites', { name: bad });
        assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
        assert.equal(typeof r.json?.error, 'string');
      }
      const badAlias = await api(base, token, 'POST', '/sites', { name: 'ok.test', hosts: ['bad host!'] });
      assert.equal(badAlias.status, 400);
      assert.ok(!(await siteNames()).includes('ok.test'));
    });

    test('PATCH and DELETE /sites/{name}: 200, 404 for unknown sites', T, async () => {
      const p = await api(base, token, 'PATCH', '/sites/api.test', { spa: false });
      assert.equal(p.status, 200, p.text);
      assert.equal((await api(base, token, 'GET', '/sites')).json.find((x) => x.name === 'api.test').spa, false);
      assert.equal((await api(base, token, 'PATCH', '/sites/nope.test', { spa: true })).status, 404);
      assert.equal((await api(base, token, 'DELETE', '/sites/nope.test')).status, 404);
      const d = await api(base, token, 'DELETE', '/sites/api.test');
      assert.equal(d.status, 200, d.text);
      assert.ok(!(await siteNames()).includes('api.test'));
      // Its host is free again.
      const again = await api(base, token, 'POST', '/sites', { name: 'alias.api.test' });
      assert.equal(again.status, 201, again.text);
    });

    test('every bad manifest is refused with 400 and a one-line error, creating nothing', T, async () => {
      const h = sha256('content');
      const f = (p, extra = {}) => ({ path: p, hash: h, size: 7, ...extra });
      const cases = {
        'path with ..': { files: [f('../etc/passwd')] },
        'path with .. inside': { files: [f('a/../b.html')] },
        'path that is ..': { files: [f('..')] },
        'absolute path': { files: [f('/x')] },
        backslash: { files: [f('a\\b.html')] },
        NUL: { files: [f('a\u0000b.html')] },
        'empty segment': { files: [f('a//b')] },
        'trailing slash': { files: [f('a/')] },
        'duplicate path': { files: [f('same.html'), f('same.html', { hash: sha256('other') })] },
        'upper-case hash': { files: [f('x.html', { hash: h.toUpperCase() })] },
        'short hash': { files: [f('x.html', { hash: h.slice(1) })] },
        'non-hex hash': { files: [f('x.html', { hash: 'g'.repeat(64) })] },
        'size over the max body size': { files: [f('x.html', { size: MAX_BODY + 1 })] },
        'not JSON': '{"files": [',
        'files not an array': { files: 'index.html' },
      };
      for (const [what, body] of Object.entries(cases)) {
        const r = await api(base, token, 'POST', '/sites/refused.test/deploys', body);
        assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
        assert.equal(typeof r.json?.error, 'string', `${what}: ${r.text}`);
        assert.ok(r.json.error.length > 0 && !r.json.error.includes('\n'), `${what}: error should be one line: ${JSON.stringify(r.json.error)}`);
      }
      assert.ok(!(await siteNames()).includes('refused.test'), 'a refused manifest created its site');
      // The limit itself is fine.
      const okMax = await api(base, token, 'POST', '/sites/refused.test/deploys', { files: [f('x.bin', { size: MAX_BODY })] });
      assert.equal(okMax.status, 201, okMax.text);
      assert.equal(okMax.json.site_created, true);
      assert.deepEqual(okMax.json.missing, [h]);
      const vs = await api(base, token, 'GET', '/sites/refused.test/versions');
      assert.equal(vs.status, 200);
      assert.deepEqual(vs.json.versions, [], 'a pending deploy is not listed');
      assert.equal(vs.json.live_version, null);
    });

    test('PUT /blobs: 201 for matching bytes, 400 for a mismatch or a malformed hash', T, async () => {
      const data = Buffer.from('blob body ' + crypto.randomBytes(8).toString('hex'));
      const h = sha256(data);
      const mismatch = await api(base, token, 'PUT', `/blobs/${h}`, Buffer.from('something else'));
      assert.equal(mismatch.status, 400, mismatch.text);
      assert.equal(typeof mismatch.json?.error, 'string');
      for (const bad of [h.toUpperCase(), h.slice(2), 'not-a-hash', `${h}00`]) {
        const r = await api(base, token, 'PUT', `/blobs/${bad}`, data);
        assert.equal(r.status, 400, `${bad}: ${r.text}`);
      }
      // The mismatched upload did not store anything under h.
      const m = await api(base, token, 'POST', '/sites/blobs.test/deploys', { files: [{ path: 'b.txt', hash: h, size: data.length }] });
      assert.equal(m.status, 201);
      assert.deepEqual(m.json.missing, [h]);
      const ok = await api(base, token, 'PUT', `/blobs/${h}`, data);
      assert.equal(ok.status, 201, ok.text);
      const pub = await api(base, token, 'POST', `/deploys/${m.json.version}/publish`, {});
      assert.equal(pub.status, 200, pub.text);
      assert.ok((await get(base, 'blobs.test', '/b.txt')).body.equals(data));
    });

    test('large blob uploads (16 MiB) complete promptly, one after another', { timeout: 200000 }, async () => {
      for (let i = 1; i <= 8; i++) {
        for (const small of [`small a ${i}`, `small b ${i}`]) {
          const r = await api(base, token, 'PUT', `/blobs/${sha256(small)}`, Buffer.from(small), { timeoutMs: 15000 });
          assert.equal(r.status, 201, r.text);
        }
        const data = crypto.randomBytes(16 * 1024 * 1024);
        const started = Date.now();
        let r;
        try {
          r = await api(base, token, 'PUT', `/blobs/${sha256(data)}`, data, { timeoutMs: 15000 });
        } catch (e) {
          assert.fail(`16 MiB upload #${i} did not finish within 15 s: ${e.message}`);
        }
        assert.equal(r.status, 201, `16 MiB upload #${i}: ${r.status} after ${Date.now() - started} ms: ${r.text}`);
      }
    });

    test('publish with missing blobs → 409 and the live version is untouched; publish twice → 409; unknown → 404', T, async () => {
      const v1files = { 'index.html': 'pub v1 index', 'keep.txt': 'kept' };
      const v1 = await apiDeploy(base, token, 'pub.test', v1files, 'v1');
      const v2files = { 'index.html': `pub v2 index ${crypto.randomBytes(4).toString('hex')}`, 'keep.txt': 'kept', 'new.txt': 'brand new' };
      const m = await api(base, token, 'POST', '/sites/pub.test/deploys', { files: manifestOf(v2files), message: 'v2' });
      assert.equal(m.status, 201, m.text);
      assert.equal(m.json.site, 'pub.test');
      assert.equal(m.json.site_created, false);
      assert.equal(m.json.files, 3);
      const expectMissing = [sha256(v2files['index.html']), sha256(v2files['new.txt'])].sort();
      assert.deepEqual([...m.json.missing].sort(), expectMissing);
      assert.equal(m.json.missing_bytes, Buffer.byteLength(v2files['index.html']) + Buffer.byteLength(v2files['new.txt']));
      assert.equal(m.json.bytes, Object.values(v2files).reduce((n, c) => n + Buffer.byteLength(c), 0));

      // Upload one of the two, then try to publish.
      const put = await api(base, token, 'PUT', `/blobs/${sha256(v2files['new.txt'])}`, Buffer.from(v2files['new.txt']));
      assert.equal(put.status, 201);
      const early = await api(base, token, 'POST', `/deploys/${m.json.version}/publish`, {});
      assert.equal(early.status, 409, early.text);
      assert.equal((await get(base, 'pub.test', '/')).text, v1files['index.html']);
      assert.equal((await get(base, 'pub.test', '/new.txt')).status, 404);
      let vs = (await api(base, token, 'GET', '/sites/pub.test/versions')).json;
      assert.equal(vs.live_version, v1);
      assert.deepEqual(vs.versions.map((v) => v.version), [v1]);

      // Rolling back to a pending version is refused too.
      const rbPending = await api(base, token, 'POST', '/sites/pub.test/rollback', { to: m.json.version });
      assert.ok(rbPending.status >= 400 && rbPending.status < 500, `rollback to a pending version: ${rbPending.status} ${rbPending.text}`);
      assert.equal((await get(base, 'pub.test', '/')).text, v1files['index.html']);

      const put2 = await api(base, token, 'PUT', `/blobs/${sha256(v2files['index.html'])}`, Buffer.from(v2files['index.html']));
      assert.equal(put2.status, 201);
      const pub = await api(base, token, 'POST', `/deploys/${m.json.version}/publish`, {});
      assert.equal(pub.status, 200, pub.text);
      assert.equal((await get(base, 'pub.test', '/')).text, v2files['index.html']);
      assert.equal((await get(base, 'pub.test', '/new.txt')).text, 'brand new');
      vs = (await api(base, token, 'GET', '/sites/pub.test/versions')).json;
      assert.equal(vs.live_version, m.json.version);
      assert.deepEqual(vs.versions.map((v) => [v.version, v.message, v.live]), [[m.json.version, 'v2', true], [v1, 'v1', false]]);

      const again = await api(base, token, 'POST', `/deploys/${m.json.version}/publish`, {});
      assert.equal(again.status, 409, again.text);
      const unknown = await api(base, token, 'POST', '/deploys/987654321/publish', {});
      assert.equal(unknown.status, 404, unknown.text);

      const rbUnknown = await api(base, token, 'POST', '/sites/pub.test/rollback', { to: 987654321 });
      assert.equal(rbUnknown.status, 404, rbUnknown.text);
      const rbOtherSite = await api(base, token, 'POST', '/sites/pub.test/rollback', { to: (await api(base, token, 'GET', '/sites/plain.test/versions')).json.live_version });
      assert.equal(rbOtherSite.status, 404, `rollback to another site's version: ${rbOtherSite.text}`);
      const rbNoSite = await api(base, token, 'POST', '/sites/nosuch.test/rollback', {});
      assert.equal(rbNoSite.status, 404);
      const rb = await api(base, token, 'POST', '/sites/pub.test/rollback', {});
      assert.equal(rb.status, 200, rb.text);
      assertFields(rb.json, { site: 'pub.test', live_version: v1, previous_version: m.json.version }, 'rollback');
      assert.equal((await get(base, 'pub.test', '/')).text, v1files['index.html']);
    });

    test('token create gives a new working token (CLI and API)', T, async () => {
      const r = await cli(['token', 'create', '--name', 'ci'], env);
      assertCliOk(r, 'token create');
      const t = r.stdout.trim();
      assert.ok(t.length >= 20 && !/\s/.test(t), `token output: ${JSON.stringify(r.stdout)}`);
      assert.notEqual(t, token);
      const ok = await api(base, t, 'GET', '/sites');
      assert.equal(ok.status, 200);
      const d = await siteDir({ 'index.html': 'deployed with a CI token' });
      const dep = await cli(['deploy', d, '--site', 'ci.test', '--server', base, '--token', t]);
      assertCliOk(dep, 'deploy with the new token');
      assert.equal((await get(base, 'ci.test', '/')).text, 'deployed with a CI token');
      const dep2 = await cli(['versions', '--site', 'ci.test'], { HEARTH_SERVER: base, HEARTH_TOKEN: t });
      assertCliOk(dep2, 'versions with HEARTH_TOKEN');

      const a = await api(base, token, 'POST', '/tokens', { name: 'api-made' });
      assert.equal(a.status, 201, a.text);
      assert.equal(a.json.name, 'api-made');
      assert.equal(typeof a.json.id, 'string');
      assert.equal(typeof a.json.token, 'string');
      assert.equal((await api(base, a.json.token, 'GET', '/sites')).status, 200);
      assert.equal((await api(base, `${a.json.token}x`, 'GET', '/sites')).status, 401);
    });
  });
});

// ---------------------------------------------------------------------------
// Default site (own server, so other hosts' fallback is not disturbed).

describe('default site', () => {
  test('a default site answers every unclaimed host; only one default; unset restores --root', T, async () => {
    const root = await siteDir({ 'index.html': 'ROOT FOLDER' });
    const s = await startHearth({ root });
    try {
      const token = await readToken(s.dataDir);
      const env = { HEARTH_SERVER: s.url, HEARTH_TOKEN: token };
      assert.equal((await get(s.url, 'random.example', '/')).text, 'ROOT FOLDER');
      await apiDeploy(s.url, token, 'main.test', { 'index.html': 'MAIN SITE' });
      await apiDeploy(s.url, token, 'named.test', { 'index.html': 'NAMED SITE' });
      assert.equal((await get(s.url, 'random.example', '/')).text, 'ROOT FOLDER', 'not default yet');

      assertCliOk(await cli(['sites', 'set', 'main.test', '--default', 'true'], env), 'sites set --default true');
      for (const h of ['random.example', '127.0.0.1', `127.0.0.1:${s.port}`, 'anything.at.all']) {
        assert.equal((await get(s.url, h, '/')).text, 'MAIN SITE', h);
      }
      assert.equal((await get(s.url, 'named.test', '/')).text, 'NAMED SITE', 'claimed hosts keep their site');
      let list = (await api(s.url, token, 'GET', '/sites')).json;
      assert.deepEqual(list.filter((x) => x.default).map((x) => x.name), ['main.test']);

      // A new default site takes over (the CLI flag on add).
      assertCliOk(await cli(['sites', 'add', 'second.test', '--default'], env), 'sites add --default');
      await apiDeploy(s.url, token, 'second.test', { 'index.html': 'SECOND SITE' });
      list = (await api(s.url, token, 'GET', '/sites')).json;
      assert.deepEqual(list.filter((x) => x.default).map((x) => x.name), ['second.test']);
      assert.equal((await get(s.url, 'random.example', '/')).text, 'SECOND SITE');
      assert.equal((await get(s.url, 'main.test', '/')).text, 'MAIN SITE');

      assertCliOk(await cli(['sites', 'set', 'second.test', '--default', 'false'], env), 'sites set --default false');
      assert.equal((await get(s.url, 'random.example', '/')).text, 'ROOT FOLDER');
    } finally {
      await s.stop('SIGKILL').catch(() => {});
    }
  });
});

// ---------------------------------------------------------------------------
// Durability: kill -9 in the middle of a deploy.

describe('durability', () => {
  test('kill -9 during a deploy (also mid-upload) leaves the live version intact; deploys still work', { timeout: 180000 }, async () => {
    const MB8 = 8 * 1024 * 1024;
    const v1 = {
      'index.html': '<h1>crash v1</h1>\n',
      'a.txt': 'alpha v1\n',
      'css/site.css': 'body{margin:0}\n',
      'sub/page.html': '<p>page v1</p>\n',
      'big.bin': crypto.randomBytes(MB8),
    };
    const host = 'crash.test';
    let s = await startHearth({ args: ['--workers', '2'] });
    const dataDir = s.dataDir;
    const token = await readToken(dataDir);
    try {
      const d1 = await siteDir(v1);
      const dep = await cli(['deploy', d1, '--site', host, '--json', '--server', s.url, '--token', token]);
      assertCliOk(dep, 'deploy v1');
      const ver1 = JSON.parse(dep.stdout).version;
      await assertServes(s.url, host, v1, 'before the crash');

      // Pending deploy #1: manifest, SOME blobs, then kill -9 before publish.
      const v2 = {
        'index.html': '<h1>crash v2</h1>\n', 'a.txt': 'alpha v2\n', 'css/site.css': 'body{margin:1px}\n',
        'sub/page.html': '<p>page v2</p>\n', 'big.bin': crypto.randomBytes(MB8), 'only-in-v2.txt': 'v2 only\n',
      };
      const m2 = await api(s.url, token, 'POST', `/sites/${host}/deploys`, { files: manifestOf(v2), message: 'never published' });
      assert.equal(m2.status, 201, m2.text);
      assert.equal(m2.json.missing.length, 6);
      for (const p of ['a.txt', 'css/site.css', 'big.bin']) {
        const put = await api(s.url, token, 'PUT', `/blobs/${sha256(v2[p])}`, buf(v2[p]), { timeoutMs: 45000 });
        assert.equal(put.status, 201, put.text);
      }
      s.proc.kill('SIGKILL');
      assert.equal((await s.waitExit(10000)).signal, 'SIGKILL');

      s = await startHearth({ dataDir, args: ['--workers', '2'] });
      await assertServes(s.url, host, v1, 'after kill -9 before publish');
      assert.equal((await get(s.url, host, '/only-in-v2.txt')).status, 404, 'a file of the pending deploy is visible');
      let vs = (await api(s.url, token, 'GET', `/sites/${host}/versions`)).json;
      assert.equal(vs.live_version, ver1);
      assert.deepEqual(vs.versions.map((v) => v.version), [ver1], 'the pending deploy is listed');
      assert.equal((await api(s.url, token, 'GET', '/sites')).json.find((x) => x.name === host).live_version, ver1);

      // Pending deploy #2: kill -9 while large uploads are in flight
      // (one half-sent on a raw socket, one complete request racing the kill).
      const v3 = {
        'index.html': '<h1>crash v3</h1>\n', 'big.bin': crypto.randomBytes(MB8), 'big2.bin': crypto.randomBytes(MB8 + 12345),
        'only-in-v3.txt': 'v3 only\n',
      };
      const m3 = await api(s.url, token, 'POST', `/sites/${host}/deploys`, { files: manifestOf(v3) });
      assert.equal(m3.status, 201, m3.text);
      const half = net.connect({ host: '127.0.0.1', port: s.port });
      half.on('error', () => {});
      await withTimeout(new Promise((r) => half.once('connect', r)), 5000, 'connect');
      const bigHash = sha256(v3['big.bin']);
      half.write(`PUT ${API}/blobs/${bigHash} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${v3['big.bin'].length}\r\n\r\n`);
      await withTimeout(new Promise((r) => half.write(v3['big.bin'].subarray(0, MB8 / 2), r)), 10000, 'half upload');
      const racing = api(s.url, token, 'PUT', `/blobs/${sha256(v3['big2.bin'])}`, v3['big2.bin']).catch((e) => e);
      await sleep(150);
      s.proc.kill('SIGKILL');
      assert.equal((await s.waitExit(10000)).signal, 'SIGKILL');
      half.destroy();
      await withTimeout(racing, 15000, 'racing upload to settle');

      s = await startHearth({ dataDir, args: ['--workers', '2'] });
      await assertServes(s.url, host, v1, 'after kill -9 mid-upload');
      for (const p of ['/only-in-v2.txt', '/only-in-v3.txt', '/big2.bin']) {
        assert.equal((await get(s.url, host, p)).status, 404, `${p} must not be visible`);
      }
      vs = (await api(s.url, token, 'GET', `/sites/${host}/versions`)).json;
      assert.equal(vs.live_version, ver1);
      assert.deepEqual(vs.versions.map((v) => v.version), [ver1]);

      // A fresh deploy still works and is served byte-for-byte — including the
      // blobs whose uploads were cut off.
      const v4 = { ...v3, 'a.txt': 'alpha v4\n', 'sub/page.html': '<p>page v4</p>\n' };
      delete v4['only-in-v3.txt'];
      const d4 = await siteDir(v4);
      const dep4 = await cli(['deploy', d4, '--site', host, '-m', 'after crashes', '--server', s.url, '--token', token]);
      assertCliOk(dep4, 'deploy after the crashes');
      const out4 = parseDeployText(dep4.stdout);
      assert.equal(out4.files, 5);
      assert.ok(out4.version > ver1);
      await assertServes(s.url, host, v4, 'fresh deploy after the crashes');
      assert.equal((await get(s.url, host, '/css/site.css')).status, 404, 'v4 has no css/site.css');
      vs = (await api(s.url, token, 'GET', `/sites/${host}/versions`)).json;
      assert.deepEqual(vs.versions.map((v) => v.version), [out4.version, ver1]);

      // And rolling back to v1 still serves v1 exactly.
      const rb = await cli(['rollback', '--site', host, '--to', String(ver1), '--server', s.url, '--token', token]);
      assertCliOk(rb, 'rollback to v1');
      await assertServes(s.url, host, v1, 'v1 after rollback');
    } finally {
      await s.stop('SIGKILL').catch(() => {});
    }
  });

  test('publishes are atomic under concurrent reads: never a mix, never truncated, never stale after publish returns', { timeout: 120000 }, async () => {
    const SIZE = 50 * 1024;
    const PUBLISHES = tier(6, 10);
    const host = 'atom.test';
    const content = (file, n) => {
      const line = `${file} version ${n}\n`;
      return Buffer.from(line.repeat(Math.ceil(SIZE / line.length)).slice(0, SIZE));
    };
    const versionsOf = { 'a.txt': new Map(), 'b.txt': new Map() };
    for (let n = 0; n <= PUBLISHES; n++) {
      for (const f of ['a.txt', 'b.txt']) versionsOf[f].set(sha256(content(f, n)), n);
    }
    const filesFor = (n) => ({ 'a.txt': content('a.txt', n), 'b.txt': content('b.txt', n) });

    const s = await startHearth({ args: ['--workers', '2'] });
    const token = await readToken(s.dataDir);
    const agents = [];
    try {
      await apiDeploy(s.url, token, host, filesFor(0), 'v0');
      await assertServes(s.url, host, filesFor(0), 'version 0');

      const problems = [];
      let published = 0; // highest N whose publish has returned
      let stop = false;
      let fetches = 0;
      let regressions = 0;
      const deadline = Date.now() + 15000; // hard bound on the read loops

      const fetchOnce = (agent, p) => withTimeout(new Promise((resolve, reject) => {
        const req = http.request(`${s.url}/${p}`, { agent, headers: { Host: host } }, (res) => {
          const chunks = [];
          res.on('data', (d) => chunks.push(d));
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), etag: res.headers.etag, complete: res.complete }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      }), 10000, `GET /${p}`);

      const loop = async (i) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        agents.push(agent);
        let last = -1;
        while (!stop && Date.now() < deadline) {
          for (const f of ['a.txt', 'b.txt']) {
            const floor = published;
            let r;
            try { r = await fetchOnce(agent, f); } catch (e) { problems.push(`loop ${i} /${f}: ${e.message}`); continue; }
            fetches++;
            if (r.status !== 200) { problems.push(`loop ${i} /${f}: status ${r.status}`); continue; }
            const n = versionsOf[f].get(sha256(r.body));
            if (n === undefined) {
              problems.push(`loop ${i} /${f}: body is no version's full content (${r.body.length} bytes, starts ${JSON.stringify(r.body.subarray(0, 20).toString())})`);
              continue;
            }
            if (r.etag !== etagOf(r.body)) problems.push(`loop ${i} /${f}: ETag ${r.etag} does not match the body (version ${n})`);
            if (n < floor) problems.push(`loop ${i} /${f}: got version ${n} after version ${floor}'s publish had returned`);
            if (n < last) regressions++;
            last = n;
          }
        }
      };
      const loops = [0, 1, 2, 3].map(loop);

      for (let n = 1; n <= PUBLISHES; n++) {
        await sleep(350);
        const files = filesFor(n);
        const m = await api(s.url, token, 'POST', `/sites/${host}/deploys`, { files: manifestOf(files), message: `v${n}` });
        assert.equal(m.status, 201, m.text);
        for (const h of m.json.missing) {
          const body = Object.values(files).find((c) => sha256(c) === h);
          assert.equal((await api(s.url, token, 'PUT', `/blobs/${h}`, body)).status, 201);
        }
        const pub = await api(s.url, token, 'POST', `/deploys/${m.json.version}/publish`, {});
        assert.equal(pub.status, 200, pub.text);
        published = n;
        // Fresh connections (either worker) must now see version n.
        for (let k = 0; k < 4; k++) {
          for (const f of ['a.txt', 'b.txt']) {
            const r = await get(s.url, host, `/${f}`);
            const got = versionsOf[f].get(sha256(r.body));
            if (got !== n) problems.push(`right after publishing ${n}: /${f} gave version ${got} (status ${r.status})`);
          }
        }
      }
      const doneAt = Date.now();
      while (Date.now() - doneAt < 500 && Date.now() < deadline) await sleep(50);
      stop = true;
      await withTimeout(Promise.all(loops), 20000, 'read loops');

      assert.ok(fetches >= 100, `only ${fetches} fetches happened during the publishes`);
      assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problem(s) in ${fetches} fetches`);
      const vs = (await api(s.url, token, 'GET', `/sites/${host}/versions`)).json;
      assert.equal(vs.versions.length, PUBLISHES + 1);
      assert.equal(vs.live_version, vs.versions[0].version);
      await assertServes(s.url, host, filesFor(PUBLISHES), 'final');
      if (regressions) console.log(`# note: ${regressions} read(s) went back to an older version while a publish was in progress`);
    } finally {
      for (const a of agents) a.destroy();
      await s.stop('SIGKILL').catch(() => {});
    }
  });
});
