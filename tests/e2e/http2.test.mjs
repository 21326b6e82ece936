// HTTP/2: h2 over TLS (ALPN) and h2c with prior knowledge, driven with
// Node's http2 client, curl and nghttp: sites, many streams on one
// connection, the data API (deferred writes, an event stream), limits, and a
// rapid-reset attack that gets GOAWAY while other clients are served.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http2 from 'node:http2';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHearth, runHearth, httpRequest, makeTempDir, parseMetrics, metricValue, sleep, fetchMetrics } from './helpers.mjs';

const T = { timeout: 60000 };
const exec = promisify(execFile);

/** One request on an http2 session; resolves {status, headers, body}. */
function h2(session, headers, body) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const chunks = [];
    let head;
    req.on('response', (h) => { head = h; });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve({ status: head?.[':status'], headers: head, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.setTimeout(10000, () => req.close(http2.constants.NGHTTP2_CANCEL));
    if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2', () => {
  let srv;
  let token;
  let work;
  let ca;
  let big;
  const cli = (args) => runHearth([...args, '--server', srv.url, '--token', token], { timeoutMs: 20000 });

  before(async () => {
    work = await makeTempDir('hearth-h2-');
    srv = await startHearth({ args: ['--https', '127.0.0.1:0', '--workers', '2', '--max-body-size', '1500KiB'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal((await cli(['sites', 'add', 'h2.test', '--default'])).code, 0);
    const dir = path.join(work, 'site');
    await fsp.mkdir(dir);
    big = crypto.randomBytes(1 << 20);
    await fsp.writeFile(path.join(dir, 'index.html'), '<h1>over h2</h1>');
    await fsp.writeFile(path.join(dir, 'big.bin'), big);
    assert.equal((await cli(['deploy', dir, '--site', 'h2.test'])).code, 0);
    const c = await cli(['cert', 'self-signed', '--host', 'h2.test', '--out', path.join(work, 'ca.pem')]);
    assert.equal(c.code, 0, c.stderr);
    ca = await fsp.readFile(path.join(work, 'ca.pem'));
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  const tlsSession = () => http2.connect(`https://h2.test:${srv.httpsPort}`, {
    ca, servername: 'h2.test', lookup: (h, o, cb) => cb(null, o?.all ? [{ address: '127.0.0.1', family: 4 }] : '127.0.0.1', 4),
  });

  test('h2 over TLS (ALPN) and h2c with prior knowledge serve the site', T, async () => {
    const s = tlsSession();
    try {
      const r = await h2(s, { ':path': '/' });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), '<h1>over h2</h1>');
      assert.equal(s.alpnProtocol, 'h2');
      const b = await h2(s, { ':path': '/big.bin' });
      assert.equal(b.headers['content-length'], String(big.length));
      assert.ok(b.body.equals(big), 'a 1 MiB file arrives whole');
      const missing = await h2(s, { ':path': '/nope' });
      assert.equal(missing.status, 404);
      const head = await h2(s, { ':path': '/', ':method': 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
    } finally { s.close(); }
    const c = http2.connect(srv.url);
    try {
      // h2.test has a certificate: over plain HTTP/2 it redirects, like HTTP/1.
      const r = await h2(c, { ':path': '/x', host: 'h2.test' });
      assert.equal(r.status, 308);
      assert.equal(r.headers.location, `https://h2.test:${srv.httpsPort}/x`);
      // Another name the default site answers is served.
      const plain = await h2(c, { ':path': '/', host: 'plain.example' });
      assert.equal(plain.status, 200);
      assert.equal(plain.body.toString(), '<h1>over h2</h1>');
    } finally { c.close(); }
    // curl and nghttp agree.
    const { stdout } = await exec('curl', ['-sS', '--http2', '--cacert', path.join(work, 'ca.pem'), '--resolve',
      `h2.test:${srv.httpsPort}:127.0.0.1`, '-w', ' %{http_version}', `https://h2.test:${srv.httpsPort}/`]);
    assert.equal(stdout, '<h1>over h2</h1> 2');
    const n = await exec('nghttp', ['-nv', `${srv.url}/`]);
    assert.match(n.stdout, /recv \(stream_id=\d+\) :status: 200/);
    assert.match(n.stdout, /recv SETTINGS frame/);
  });

  test('many streams on one connection at once', T, async () => {
    const s = tlsSession();
    try {
      const all = await Promise.all(Array.from({ length: 100 }, (_, i) => h2(s, { ':path': i % 2 ? '/' : '/big.bin' })));
      for (const [i, r] of all.entries()) {
        assert.equal(r.status, 200);
        assert.equal(r.body.length, i % 2 ? 16 : big.length);
      }
    } finally { s.close(); }
  });

  test('the data API over HTTP/2: deferred writes, reads, and an event stream', T, async () => {
    const col = await httpRequest(`${srv.url}/_hearth/api/sites/h2.test/collections`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: 'notes', fields: [{ name: 'text', type: 'text' }], listRule: '', viewRule: '', createRule: '' }),
    });
    assert.equal(col.status, 201, col.text);
    const s = tlsSession();
    try {
      const events = s.request({ ':path': '/api/realtime' });
      const first = await new Promise((resolve, reject) => {
        let text = '';
        events.on('data', (d) => { text += d; if (text.includes('\n\n')) resolve(text); });
        events.on('error', reject);
      });
      assert.match(first, /event:PB_CONNECT/);
      const created = await Promise.all(['a', 'b', 'c'].map((t) => h2(s, {
        ':method': 'POST', ':path': '/api/collections/notes/records', 'content-type': 'application/json',
      }, JSON.stringify({ text: t }))));
      for (const r of created) assert.equal(r.status, 200, r.body.toString());
      const list = await h2(s, { ':path': '/api/collections/notes/records?sort=text' });
      assert.deepEqual(JSON.parse(list.body).items.map((n) => n.text), ['a', 'b', 'c']);
      events.close();
      // A body over --max-body-size is refused with 413; the connection goes on.
      const tooBig = await h2(s, { ':method': 'POST', ':path': '/api/collections/notes/records' }, Buffer.alloc(2 * 1024 * 1024));
      assert.equal(tooBig.status, 413);
      assert.equal((await h2(s, { ':path': '/' })).status, 200);
    } finally { s.close(); }
  });

  test('rapid reset (CVE-2023-44487) gets GOAWAY; other clients are served', T, async () => {
    const attacker = http2.connect(srv.url);
    attacker.on('error', () => {});
    const goaway = new Promise((resolve) => attacker.on('goaway', (code) => resolve(code)));
    let opened = 0;
    for (let i = 0; i < 600 && !attacker.destroyed && !attacker.closed; i++) {
      try {
        const r = attacker.request({ ':path': '/', host: 'plain.example' });
        r.on('error', () => {});
        r.close(http2.constants.NGHTTP2_CANCEL);
        opened++;
      } catch { break; }
      if (i % 50 === 49) await sleep(1);
    }
    const code = await Promise.race([goaway, sleep(5000).then(() => 'none')]);
    assert.equal(code, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, `GOAWAY after ${opened} resets`);
    attacker.destroy();
    const s = tlsSession();
    try { assert.equal((await h2(s, { ':path': '/' })).status, 200); } finally { s.close(); }
    const m = parseMetrics((await fetchMetrics(srv)).text);
    assert.ok(metricValue(m, 'hearth_http2_abuse_total') >= 1);
  });

  test('a graceful stop ends idle and streaming HTTP/2 connections promptly', T, async () => {
    const s = tlsSession();
    s.on('error', () => {});
    const events = s.request({ ':path': '/api/realtime' });
    events.on('error', () => {});
    await new Promise((resolve) => events.once('data', resolve));
    const idle = http2.connect(srv.url);
    idle.on('error', () => {});
    await h2(idle, { ':path': '/', host: 'plain.example' });
    const t0 = Date.now();
    const ex = await srv.stop('SIGTERM', 15000);
    assert.equal(ex.code, 0, ex.stderr);
    assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
    srv = null;
  });
});
