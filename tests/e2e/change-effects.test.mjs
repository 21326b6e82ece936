// Effects come from committed changes, whoever made them: a copy of a data
// folder that applies the entries another server logged (--change-log, the
// debug apply endpoint: HEARTH_TEST_ENDPOINTS) shows what those writes cause,
// not only their rows: its realtime subscribers hear of the records, its
// collections follow, it routes the new sites' hosts, and it presents the
// new certificates.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startHearth, makeTempDir, controlApi as control, HEARTH_BIN, cleanEnv } from './helpers.mjs';

const T = { timeout: 90000 };
const ENV = { HEARTH_TEST_ENDPOINTS: '1' };
const APP = 'app.test';  // not the default site: B must route it by Host

/** The raw log, split into its entries (each says its length at byte 64). */
function entriesOf(data) {
  const r = spawnSync(HEARTH_BIN, ['log', 'dump', '--data', data, '--raw'],
    { env: cleanEnv(), timeout: 20000, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  const buf = r.stdout;
  const out = [];
  for (let at = 0; at < buf.length;) {
    const length = Number(buf.readBigUInt64LE(at + 64));
    assert.ok(length >= 88 && at + length <= buf.length, `entry at ${at} has length ${length}`);
    out.push(buf.subarray(at, at + length));
    at += length;
  }
  return out;
}

/** A request to `srv` with `host` as Host; resolves {status, body}. */
function request(srv, host, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(`${srv.url}${p}`, {
      method, agent: false, timeout: 10000,
      headers: { Host: host, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

/** A GET over HTTPS with `host` as SNI and Host (any certificate); resolves {status, body}. */
function httpsGet(port, host, p) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: p, servername: host, headers: { Host: host },
      rejectUnauthorized: false, agent: false, timeout: 10000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A guest's realtime stream on `host`, subscribed to `topics`; events() are the ones seen so far. */
async function subscribe(srv, host, topics) {
  const seen = [];
  let buffered = '';
  let res;
  const clientId = await new Promise((resolve, reject) => {
    const req = http.get(`${srv.url}/api/realtime`, { agent: false, headers: { Host: host } }, (r) => {
      res = r;
      r.setEncoding('utf8');
      r.on('data', (chunk) => {
        buffered += chunk;
        let end;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const event = /^event:(.*)$/m.exec(block)?.[1]?.trim();
          const data = /^data:(.*)$/m.exec(block)?.[1];
          if (event === 'PB_CONNECT') resolve(JSON.parse(data).clientId);
          else if (event) seen.push({ event, data: JSON.parse(data) });
        }
      });
    });
    req.on('error', reject);
    setTimeout(() => reject(new Error('no PB_CONNECT')), 5000);
  });
  const r = await request(srv, host, 'POST', '/api/realtime', { clientId, subscriptions: topics });
  assert.equal(r.status, 204, r.body);
  return { events: () => seen, close: () => res.destroy() };
}

/** The certificate a TLS handshake for `servername` gets (null: the handshake fails). */
function presented(port, servername) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      resolve(cert?.fingerprint256 ?? null);
    });
    s.on('error', () => resolve(null));
    s.setTimeout(5000, () => { s.destroy(); resolve(null); });
  });
}

async function waitFor(what, fn, ms, seen) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) assert.fail(`timed out waiting for ${what} ${seen()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('effects of applied changes', () => {
  test('a copy applying the logged entries shows their effects', T, async () => {
    // Folder A: a site with a collection; B is a copy of it as it is now.
    let a = await startHearth({ args: ['--change-log'], env: ENV });
    const dataA = a.dataDir;
    const token = (await fsp.readFile(path.join(dataA, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(a, token, 'POST', '/sites', { name: APP })).status, 201);
    const open = { listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' };
    assert.equal((await control(a, token, 'POST', `/sites/${APP}/collections`, {
      name: 'posts', fields: [{ name: 'title', type: 'text' }], ...open,
    })).status, 201);
    await a.stopExpect0();
    const dataB = path.join(await makeTempDir(), 'data');
    await fsp.cp(dataA, dataB, { recursive: true });
    await fsp.rm(path.join(dataB, 'log'), { recursive: true, force: true });

    // A goes on: a record, a new collection, a new site with a host, and a
    // certificate for that host.
    a = await startHearth({ args: ['--change-log'], env: ENV, dataDir: dataA });
    const made = await request(a, APP, 'POST', '/api/collections/posts/records', { title: 'hello' });
    assert.equal(made.status, 200, made.body);
    const record = JSON.parse(made.body);
    assert.equal((await control(a, token, 'POST', `/sites/${APP}/collections`, {
      name: 'notes', fields: [{ name: 'body', type: 'text' }], ...open,
    })).status, 201);
    assert.equal((await control(a, token, 'POST', '/sites', { name: 'new.test', hosts: ['new.test'] })).status, 201);
    const cert = await control(a, token, 'POST', '/certs', { self_signed: { hosts: ['new.test'] } });
    assert.equal(cert.status, 201, cert.text);
    const fingerprint = new crypto.X509Certificate(cert.json.cert_pem).fingerprint256;
    await a.stopExpect0();
    const entries = entriesOf(dataA);

    // B, serving HTTPS, before it applies anything.
    const b = await startHearth({ args: ['--https', '127.0.0.1:0'], env: ENV, dataDir: dataB });
    try {
      const guest = await subscribe(b, APP, ['posts/*']);
      assert.equal((await request(b, APP, 'GET', '/api/collections/notes/records')).status, 404);
      const unrouted = await request(b, 'new.test', 'GET', '/');
      assert.doesNotMatch(unrouted.body, /no published version/);
      assert.equal(await presented(b.httpsPort, 'new.test'), null);

      for (const [i, e] of entries.entries()) {
        const r = await fetch(`${b.url}/_hearth/debug/apply`, { method: 'POST', body: e });
        assert.equal(r.status, 204, `entry ${i}: ${await r.text()}`);
      }

      // The guest subscriber on B heard of A's create, with the record whole.
      const ev = await waitFor('the create event', () => guest.events().find((x) => x.event === 'posts/*'),
        15000, () => JSON.stringify(guest.events()));
      assert.equal(ev.data.action, 'create');
      assert.equal(ev.data.record.id, record.id);
      assert.equal(ev.data.record.title, 'hello');
      guest.close();
      // B's schema followed: the new collection is served, and takes writes.
      const notes = await request(b, APP, 'GET', '/api/collections/notes/records');
      assert.equal(notes.status, 200, notes.body);
      const wrote = await request(b, APP, 'POST', '/api/collections/notes/records', { body: 'on b' });
      assert.equal(wrote.status, 200, wrote.body);
      // B routes the new site's host (it has no deploy: its own 404), over
      // HTTPS, since B now has a certificate for it (plain HTTP redirects).
      let last;
      const routed = await waitFor('the new host routed', async () => {
        last = await httpsGet(b.httpsPort, 'new.test', '/');
        return /no published version/.test(last.body) ? last : null;
      }, 15000, () => JSON.stringify(last));
      assert.equal(routed.status, 404);
      assert.equal((await request(b, 'new.test', 'GET', '/')).status, 308);
      // B presents A's certificate for that host.
      assert.equal(await presented(b.httpsPort, 'new.test'), fingerprint);
      await b.stopExpect0();
    } finally {
      await b.stop('SIGKILL').catch(() => {});
    }
  });
});
