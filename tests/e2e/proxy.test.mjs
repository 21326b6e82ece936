// Reverse proxy: sites that forward to upstreams the test starts (small node
// HTTP servers on loopback). Covers each balancing policy, passive ejection
// and retries, active health checks, 502/504, streamed 100 MB bodies both
// ways, event streams passing through unbuffered, path-prefix mode beside a
// deployed site, keep-alive reuse, HTTP/2 clients, and bad settings.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import {
  startHearth, runHearth, makeTempDir, httpRequest, controlApi, withTimeout, sleep, parseMetrics, metricValue, curl,
  fetchMetrics, tier,
} from './helpers.mjs';

const T = { timeout: 60000 };
const SLOW = process.env.HEARTH_SLOW === '1';

/** A node HTTP server on a free loopback port; `handler(req, res, self)`. */
async function upstream(handler, { keepAliveTimeout } = {}) {
  const self = { hits: 0, connections: 0, sockets: new Set() };
  const server = http.createServer((req, res) => {
    self.hits++;
    handler(req, res, self);
  });
  if (keepAliveTimeout !== undefined) server.keepAliveTimeout = keepAliveTimeout;
  server.on('connection', (s) => {
    self.connections++;
    self.sockets.add(s);
    s.on('close', () => self.sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  self.port = server.address().port;
  self.url = `http://127.0.0.1:${self.port}`;
  self.server = server;
  self.close = () => new Promise((r) => {
    server.close(r);
    for (const s of self.sockets) s.destroy();
  });
  return self;
}

/** Answers JSON describing the request, after reading its body. */
function echo(name) {
  return (req, res) => {
    const hash = crypto.createHash('sha256');
    let len = 0;
    req.on('data', (d) => { len += d.length; hash.update(d); });
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('X-Upstream', name);
      res.end(JSON.stringify({ name, method: req.method, url: req.url, len, sha: hash.digest('hex'), headers: req.headers }));
    });
  };
}

/** A free port nobody listens on (a dead upstream). */
async function deadPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

let srv;
let token;
const cleanups = [];

async function addSite(name, proxy, extra = {}) {
  const r = await controlApi(srv, token, 'POST', '/sites', { name, proxy, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/** GET through hearth with a Host; returns httpRequest's result and the parsed JSON. */
async function get(host, p = '/', opts = {}) {
  const r = await httpRequest(`${srv.url}${p}`, { ...opts, headers: { Host: host, ...(opts.headers || {}) }, timeoutMs: opts.timeoutMs ?? 15000 });
  let json = null;
  try { json = JSON.parse(r.text); } catch { /* not JSON */ }
  return { ...r, json };
}

// One server for the whole file; its own after() runs before helpers' killAll.
describe('reverse proxy', () => {
  before(async () => {
    // A short write timeout: a slow upstream must be bounded by the proxy's
    // own first-byte timeout, not by this.
    srv = await startHearth({ args: ['--workers', '2', '--write-timeout', '2s'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
  });

  after(async () => {
    for (const c of cleanups) await c();
    if (srv) await srv.stopExpect0();
  });

  describe('forwarding', () => {
    test('round robin spreads requests; Host, path and query pass through; X-Forwarded-* are set', T, async () => {
      const a = await upstream(echo('a'));
      const b = await upstream(echo('b'));
      cleanups.push(a.close, b.close);
      await addSite('rr.test', { upstreams: [a.url, b.url] });
      const seen = [];
      for (let i = 0; i < 6; i++) {
        const r = await get('rr.test', `/path/${i}?q=${i}`);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.url, `/path/${i}?q=${i}`);
        assert.equal(r.json.headers.host, 'rr.test');
        assert.equal(r.json.headers['x-forwarded-for'], '127.0.0.1');
        assert.equal(r.json.headers['x-forwarded-proto'], 'http');
        assert.equal(r.json.headers['x-forwarded-host'], 'rr.test');
        assert.equal(r.headers['x-upstream'], r.json.name);
        assert.equal(r.headers.server, 'hearth');
        seen.push(r.json.name);
      }
      assert.equal(seen.filter((n) => n === 'a').length, 3, seen.join(','));
      assert.equal(seen.filter((n) => n === 'b').length, 3, seen.join(','));
    });

    test('hop-by-hop fields are removed both ways; a spoofed X-Forwarded-For is replaced', T, async () => {
      const a = await upstream((req, res) => {
        res.setHeader('Connection', 'keep-alive, X-Up-Secret');
        res.setHeader('X-Up-Secret', 'hidden');
        res.setHeader('Keep-Alive', 'timeout=5');
        res.setHeader('X-Up-Public', 'shown');
        res.end(JSON.stringify(req.headers));
      });
      cleanups.push(a.close);
      await addSite('hop.test', { upstreams: [a.url] });
      const r = await get('hop.test', '/', {
        headers: { Connection: 'keep-alive, X-Client-Secret', 'X-Client-Secret': 'x', 'Keep-Alive': 'timeout=1', 'X-Forwarded-For': '6.6.6.6', 'X-Plain': 'kept' },
      });
      const h = JSON.parse(r.text);
      assert.equal(h['x-client-secret'], undefined);
      assert.equal(h['keep-alive'], undefined);
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-plain'], 'kept');
      assert.equal(r.headers['x-up-secret'], undefined);
      assert.equal(r.headers['keep-alive'], undefined);
      assert.equal(r.headers['x-up-public'], 'shown');
    });

    test('upstream keep-alive connections are reused, and a stale one never fails a request', T, async () => {
      // This upstream closes idle connections after 150 ms, under hearth's pool timeout.
      const a = await upstream(echo('a'), { keepAliveTimeout: 150 });
      cleanups.push(a.close);
      await addSite('pool.test', { upstreams: [a.url] });
      for (let i = 0; i < 20; i++) assert.equal((await get('pool.test', `/${i}`)).status, 200);
      assert.ok(a.connections <= 4, `20 sequential requests used ${a.connections} upstream connections`);
      for (let i = 0; i < 6; i++) {
        await sleep(120 + (i % 3) * 20);  // around the upstream's idle close
        const r = await get('pool.test', `/late/${i}`);
        assert.equal(r.status, 200, r.text);
      }
    });

    test('HTTP/2 clients are proxied to HTTP/1.1 upstreams', T, async () => {
      const a = await upstream(echo('a'));
      cleanups.push(a.close);
      await addSite('h2.test', { upstreams: [a.url] });
      const client = http2.connect(`http://127.0.0.1:${srv.port}`);
      try {
        const results = await Promise.all([1, 2, 3].map((i) => new Promise((resolve, reject) => {
          const req = client.request({ ':path': `/h2/${i}`, ':authority': 'h2.test', ':method': 'POST', cookie: ['a=1', 'b=2'] });
          let text = '';
          let status = 0;
          req.on('response', (h) => { status = h[':status']; });
          req.setEncoding('utf8');
          req.on('data', (d) => { text += d; });
          req.on('end', () => resolve({ status, json: JSON.parse(text) }));
          req.on('error', reject);
          req.end(`body-${i}`);
        })));
        for (const [i, r] of results.entries()) {
          assert.equal(r.status, 200);
          assert.equal(r.json.url, `/h2/${i + 1}`);
          assert.equal(r.json.len, `body-${i + 1}`.length);
          assert.equal(r.json.headers.host, 'h2.test');
          assert.equal(r.json.headers.cookie, 'a=1; b=2');
        }
      } finally {
        client.close();
      }
    });
    test('HTTP/2 uploads stream through: past max-body-size, and one its upstream holds back arrives whole', { timeout: 120000 }, async () => {
      const a = await upstream(echo('fast'));
      // Reads nothing for 1.5 s, then everything.
      const slow = await upstream((req, res) => {
        req.pause();
        setTimeout(() => {
          echo('slow')(req, res);
          req.resume();
        }, 1500);
      });
      cleanups.push(a.close, slow.close);
      await addSite('h2up.test', { upstreams: [a.url] });
      await addSite('h2slow.test', { upstreams: [slow.url] });
      const client = http2.connect(`http://127.0.0.1:${srv.port}`);
      const upload = (host, size) => new Promise((resolve, reject) => {
        const body = crypto.randomBytes(size);
        const req = client.request({ ':path': '/up', ':authority': host, ':method': 'PUT', 'content-length': String(size) });
        let text = '';
        let status = 0;
        req.on('response', (h) => { status = h[':status']; });
        req.setEncoding('utf8');
        req.on('data', (d) => { text += d; });
        req.on('end', () => resolve({ status, text, sha: crypto.createHash('sha256').update(body).digest('hex'), done: Date.now() }));
        req.on('error', reject);
        // In 1 MiB pieces, as a client streaming a file would.
        let off = 0;
        const pump = () => {
          while (off < size) {
            const piece = body.subarray(off, off + (1 << 20));
            off += piece.length;
            if (!req.write(piece)) return req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      try {
        const started = Date.now();
        // 80 MiB: more than --max-body-size (64 MiB), which a body read whole could not be.
        const [held, big] = await Promise.all([upload('h2slow.test', 4 << 20), upload('h2up.test', 80 << 20)]);
        assert.equal(big.status, 200, big.text);
        const bj = JSON.parse(big.text);
        assert.equal(bj.len, 80 << 20);
        assert.equal(bj.sha, big.sha);
        assert.equal(held.status, 200, held.text);
        const hj = JSON.parse(held.text);
        assert.equal(hj.len, 4 << 20);
        assert.equal(hj.sha, held.sha);
        assert.ok(held.done - started >= 1400, 'the held upload waited for its upstream');
      } finally {
        client.close();
      }
    });
  });

  describe('policies', () => {
    test('least_conn sends new requests away from a busy upstream', T, async () => {
      const held = [];
      const slow = await upstream((req, res, self) => { held.push(res); });
      const fast = await upstream(echo('fast'));
      cleanups.push(slow.close, fast.close);
      await addSite('lc.test', { upstreams: [slow.url, fast.url], policy: 'least_conn' });
      // Two requests wait on `slow`...
      const pending = [get('lc.test', '/hold1', { timeoutMs: 20000 }), get('lc.test', '/hold2', { timeoutMs: 20000 })];
      const deadline = Date.now() + 5000;
      while (held.length < 1 && Date.now() < deadline) await sleep(20);
      assert.equal(held.length, 1, 'the first request should reach the slow upstream');
      // ...so every new one goes to `fast`.
      for (let i = 0; i < 6; i++) {
        const r = await get('lc.test', `/n${i}`);
        assert.equal(r.json?.name, 'fast', `request ${i} went to ${r.text}`);
      }
      for (const res of held) res.end('{"name":"slow"}');
      while (held.length < 2 && Date.now() < deadline) await sleep(20);
      for (const res of held) if (!res.writableEnded) res.end('{"name":"slow"}');
      await Promise.all(pending);
    });

    test('ip_hash keeps a client on one upstream', T, async () => {
      const ups = await Promise.all(['a', 'b', 'c'].map((n) => upstream(echo(n))));
      cleanups.push(...ups.map((u) => u.close));
      await addSite('ih.test', { upstreams: ups.map((u) => u.url), policy: 'ip_hash' });
      const names = new Set();
      for (let i = 0; i < 9; i++) names.add((await get('ih.test', `/${i}`)).json.name);
      assert.equal(names.size, 1, [...names].join(','));
    });

    test('random_two uses every upstream', T, async () => {
      const ups = await Promise.all(['a', 'b', 'c'].map((n) => upstream(echo(n))));
      cleanups.push(...ups.map((u) => u.close));
      await addSite('p2c.test', { upstreams: ups.map((u) => u.url), policy: 'random_two' });
      const names = new Set();
      for (let i = 0; i < 40; i++) names.add((await get('p2c.test', `/${i}`)).json.name);
      assert.deepEqual([...names].sort(), ['a', 'b', 'c']);
    });
  });

  describe('failures', () => {
    test('a dead upstream costs no request: connects are retried elsewhere, then it is ejected', T, async () => {
      const a = await upstream(echo('alive'));
      cleanups.push(a.close);
      const dead = await deadPort();
      await addSite('retry.test', { upstreams: [`http://127.0.0.1:${dead}`, a.url], max_fails: 2, fail_timeout_ms: 60000 });
      for (let i = 0; i < 8; i++) {
        const method = i % 2 ? 'POST' : 'GET';
        const r = await get('retry.test', `/${i}`, { method, body: method === 'POST' ? 'x' : undefined });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.name, 'alive');
      }
      await srv.waitForLog((j) => j.msg === 'proxy: upstream failing, taken out for a while' && j.upstream.endsWith(`:${dead}`), 5000);
    });

    test('no upstream at all: 502 with a short clear body', T, async () => {
      const dead = await deadPort();
      await addSite('dead.test', { upstreams: [`http://127.0.0.1:${dead}`] });
      const r = await get('dead.test', '/');
      assert.equal(r.status, 502);
      assert.match(r.text, /^502 Bad Gateway\n.*refused/);
    });

    test('an upstream that does not answer in time: 504', T, async () => {
      const silent = await upstream(() => { /* never answers */ });
      cleanups.push(silent.close);
      await addSite('slow.test', { upstreams: [silent.url], first_byte_timeout_ms: 300 });
      const started = Date.now();
      const r = await get('slow.test', '/');
      assert.equal(r.status, 504);
      assert.match(r.text, /did not answer in time/);
      assert.ok(Date.now() - started < 5000);
    });

    test('metrics count forwarded requests, retries and answers hearth gave for want of an upstream', T, async () => {
      const m = parseMetrics((await fetchMetrics(srv)).text);
      assert.ok(metricValue(m, 'hearth_proxy_requests_total') >= 10);
      assert.ok(metricValue(m, 'hearth_proxy_retries_total') >= 1);
      assert.ok(metricValue(m, 'hearth_proxy_errors_total', { status: '502' }) >= 1);
      assert.ok(metricValue(m, 'hearth_proxy_errors_total', { status: '504' }) >= 1);
      assert.ok(metricValue(m, 'hearth_proxy_upstream_connections_total') >= 1);
    });

    test('an upstream slower than the write timeout still answers (the first-byte timeout governs)', T, async () => {
      const a = await upstream((req, res) => setTimeout(() => res.end('late but fine'), 3000));
      cleanups.push(a.close);
      await addSite('late.test', { upstreams: [a.url] });
      const r = await get('late.test', '/');
      assert.equal(r.status, 200);
      assert.equal(r.text, 'late but fine');
    });

    test('an early answer during an upload is delivered whole', T, async () => {
      // Refuses at the head, its body in a second segment, without reading the upload.
      const raw = net.createServer((s) => s.once('data', () => {
        s.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 25\r\nConnection: close\r\n\r\n');
        setTimeout(() => s.end('this upload is too large\n'), 100);
      }));
      await new Promise((r) => raw.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise((r) => raw.close(r)));
      await addSite('early.test', { upstreams: [`http://127.0.0.1:${raw.address().port}`] });
      const got = await withTimeout(new Promise((resolve, reject) => {
        const req = http.request(`${srv.url}/upload`, { method: 'PUT', headers: { Host: 'early.test', 'Content-Length': 8 << 20 }, agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => { body += d; });
          res.on('end', () => resolve({ status: res.statusCode, body }));
          res.on('error', reject);
        });
        req.on('error', () => { /* the server stops reading the upload: expected */ });
        const chunk = Buffer.alloc(64 * 1024, 1);
        let sent = 0;
        const pump = () => {
          while (sent < (8 << 20)) {
            sent += chunk.length;
            if (!req.write(chunk)) return req.once('drain', pump);
          }
          req.end();
        };
        pump();
      }), 20000, 'early answer');
      assert.equal(got.status, 413);
      assert.equal(got.body, 'this upload is too large\n');
    });

    test('a reset during a body that runs to the close is not passed off as complete', T, async () => {
      const raw = net.createServer((s) => s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial');
        setTimeout(() => s.resetAndDestroy(), 100);
      }));
      await new Promise((r) => raw.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise((r) => raw.close(r)));
      await addSite('reset.test', { upstreams: [`http://127.0.0.1:${raw.address().port}`] });
      const outcome = await new Promise((resolve) => {
        const req = http.request(`${srv.url}/`, { headers: { Host: 'reset.test' }, agent: false }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve({ complete: res.complete }));
          res.on('aborted', () => resolve({ complete: false }));
          res.on('error', () => resolve({ complete: false }));
        });
        req.on('error', () => resolve({ complete: false }));
        req.end();
      });
      assert.equal(outcome.complete, false);
    });

    test('a malformed upstream answer is a 502, not a crash', T, async () => {
      const raw = net.createServer((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!')));
      await new Promise((r) => raw.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise((r) => raw.close(r)));
      await addSite('bad.test', { upstreams: [`http://127.0.0.1:${raw.address().port}`] });
      const r = await get('bad.test', '/');
      assert.equal(r.status, 502);
      assert.match(r.text, /Content-Length/);
    });

    test('an upstream that dies mid-body: the client sees a cut body, never a whole one', T, async () => {
      const raw = net.createServer((s) => s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => s.destroy(), 100);
      }));
      await new Promise((r) => raw.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise((r) => raw.close(r)));
      await addSite('cut.test', { upstreams: [`http://127.0.0.1:${raw.address().port}`] });
      const outcome = await new Promise((resolve) => {
        const req = http.request(`${srv.url}/`, { headers: { Host: 'cut.test' }, agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => { body += d; });
          res.on('end', () => resolve({ complete: res.complete, body }));
          res.on('aborted', () => resolve({ complete: false, body }));
          res.on('error', () => resolve({ complete: false, body }));
        });
        req.on('error', () => resolve({ complete: false, body: '' }));
        req.end();
      });
      assert.equal(outcome.complete, false, `body ${JSON.stringify(outcome.body)} was presented as complete`);
    });
  });

  describe('health checks', () => {
    test('an upstream failing its checks gets no requests, and returns when healthy', T, async () => {
      let healthy = true;
      const a = await upstream((req, res) => {
        if (req.url === '/healthz') { res.statusCode = healthy ? 200 : 503; res.end(); return; }
        echo('a')(req, res);
      });
      const b = await upstream((req, res) => {
        if (req.url === '/healthz') { res.end('ok'); return; }
        echo('b')(req, res);
      });
      cleanups.push(a.close, b.close);
      await addSite('hc.test', { upstreams: [a.url, b.url], health_path: '/healthz', health_interval_ms: 100, health_fails: 2, health_passes: 2 });
      await get('hc.test', '/warm');  // the set (and its checks) start with the first request
      healthy = false;
      await srv.waitForLog((j) => j.msg === 'proxy: upstream failed its health checks' && j.upstream === a.url, 5000);
      for (let i = 0; i < 6; i++) assert.equal((await get('hc.test', `/${i}`)).json.name, 'b');
      healthy = true;
      await srv.waitForLog((j) => j.msg === 'proxy: upstream healthy again' && j.upstream === a.url, 5000);
      const names = new Set();
      for (let i = 0; i < 6; i++) names.add((await get('hc.test', `/${i}`)).json.name);
      assert.deepEqual([...names].sort(), ['a', 'b']);
    });
  });

  describe('streaming', () => {
    const SIZE = (SLOW ? 30 : tier(40, 100)) * 1024 * 1024;

    test(`a ${SIZE >> 20} MB upload streams through intact`, T, async () => {
      const a = await upstream(echo('a'));
      cleanups.push(a.close);
      await addSite('up.test', { upstreams: [a.url] });
      const hash = crypto.createHash('sha256');
      const r = await withTimeout(new Promise((resolve, reject) => {
        const req = http.request(`${srv.url}/upload`, { method: 'PUT', headers: { Host: 'up.test', 'Content-Length': SIZE }, agent: false }, (res) => {
          let text = '';
          res.on('data', (d) => { text += d; });
          res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
        });
        req.on('error', reject);
        const chunk = crypto.randomBytes(1 << 20);
        let sent = 0;
        const pump = () => {
          while (sent < SIZE) {
            hash.update(chunk);
            sent += chunk.length;
            if (!req.write(chunk)) return req.once('drain', pump);
          }
          req.end();
        };
        pump();
      }), 50000, 'upload');
      assert.equal(r.status, 200);
      assert.equal(r.json.len, SIZE);
      assert.equal(r.json.sha, hash.digest('hex'));
    });

    test(`a ${SIZE >> 20} MB download streams through intact`, T, async () => {
      const chunk = crypto.randomBytes(1 << 20);
      const a = await upstream((req, res) => {
        res.setHeader('Content-Length', SIZE);
        let n = 0;
        const pump = () => {
          while (n < SIZE) {
            n += chunk.length;
            if (!res.write(chunk)) return res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
      cleanups.push(a.close);
      await addSite('down.test', { upstreams: [a.url] });
      const expect = crypto.createHash('sha256');
      for (let n = 0; n < SIZE; n += chunk.length) expect.update(chunk);
      const got = await withTimeout(new Promise((resolve, reject) => {
        http.get(`${srv.url}/file`, { headers: { Host: 'down.test' }, agent: false }, (res) => {
          const hash = crypto.createHash('sha256');
          let len = 0;
          res.on('data', (d) => { len += d.length; hash.update(d); });
          res.on('end', () => resolve({ len, sha: hash.digest('hex'), cl: res.headers['content-length'] }));
        }).on('error', reject);
      }), 50000, 'download');
      assert.equal(got.cl, String(SIZE));
      assert.equal(got.len, SIZE);
      assert.equal(got.sha, expect.digest('hex'));
    });

    test('an event stream passes through unbuffered', T, async () => {
      let second;
      const a = await upstream((req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.write('data: one\n\n');
        second = () => { res.write('data: two\n\n'); res.end(); };
      });
      cleanups.push(a.close);
      await addSite('sse.test', { upstreams: [a.url] });
      const events = [];
      await withTimeout(new Promise((resolve, reject) => {
        http.get(`${srv.url}/events`, { headers: { Host: 'sse.test', Accept: 'text/event-stream' }, agent: false }, (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream');
          res.setEncoding('utf8');
          res.on('data', (d) => {
            events.push(d);
            // The first event arrived while the upstream still holds the second.
            if (events.length === 1) { assert.match(d, /data: one/); second(); }
          });
          res.on('end', resolve);
        }).on('error', reject);
      }), 10000, 'event stream');
      assert.match(events.join(''), /data: one\n\n[\s\S]*data: two\n\n/);
    });
  });

  describe('websocket', () => {
    test('a WebSocket upgrade passes through: echo both ways, binary and text, then a clean close', T, async () => {
      const a = await upstream((req, res) => { res.statusCode = 426; res.end('upgrade required'); });
      const wss = new WebSocketServer({ noServer: true });
      a.server.on('upgrade', (req, socket, head) => {
        wss.handleUpgrade(req, socket, head, (ws) => {
          ws.send(`hello ${req.headers['x-forwarded-for']} ${req.url}`);
          ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
        });
      });
      cleanups.push(a.close, () => new Promise((r) => wss.close(r)));
      await addSite('ws.test', { upstreams: [a.url] });
      const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/chat?room=1`, { headers: { Host: 'ws.test' } });
      const messages = [];
      const waitFor = (n) => withTimeout(new Promise((resolve) => {
        const check = () => (messages.length >= n ? resolve() : setTimeout(check, 10));
        check();
      }), 10000, `${n} messages`);
      ws.on('message', (data, isBinary) => messages.push(isBinary ? Buffer.from(data) : data.toString()));
      await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 10000, 'open');
      await waitFor(1);
      assert.equal(messages[0], 'hello 127.0.0.1 /chat?room=1');
      ws.send('ping 1');
      const big = crypto.randomBytes(300 * 1024);  // larger than the proxy's buffers
      ws.send(big);
      ws.send('ping 2');
      await waitFor(4);
      assert.equal(messages[1], 'ping 1');
      assert.ok(Buffer.isBuffer(messages[2]) && messages[2].equals(big), 'the binary message came back intact');
      assert.equal(messages[3], 'ping 2');
      const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
      ws.close(1000, 'bye');
      assert.equal(await withTimeout(closed, 10000, 'close'), 1000);
      // A plain request to the same site still gets the upstream's answer.
      assert.equal((await get('ws.test', '/')).status, 426);
    });

    test('a graceful stop ends open WebSocket tunnels at once (clients reconnect)', T, async () => {
      const a = await upstream((req, res) => { res.statusCode = 426; res.end(); });
      const wss = new WebSocketServer({ noServer: true });
      a.server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
      cleanups.push(a.close, () => new Promise((r) => wss.close(r)));
      const own = await startHearth({ args: ['--config', '/dev/null'] });
      const token = (await fsp.readFile(path.join(own.dataDir, 'admin.token'), 'utf8')).trim();
      const made = await controlApi(own, token, 'POST', '/sites', { name: 'ws-stop.test', proxy: { upstreams: [a.url] } });
      assert.equal(made.status, 201, made.text);
      const ws = new WebSocket(`ws://127.0.0.1:${own.port}/`, { headers: { Host: 'ws-stop.test' } });
      await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 10000, 'open');
      const closed = new Promise((resolve) => ws.once('close', resolve));
      const started = Date.now();
      await own.stopExpect0();
      assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms with a tunnel open`);
      await withTimeout(closed, 5000, 'the client sees the close');
    });
  });

  describe('paths and fields the upstream must not be fooled by', () => {
    const SECRET = 'TOP-SECRET-outside-the-prefix-7c1e';
    /** The path an app or a file server would act on: decoded, '\' as '/', ";params" dropped (as
     * Java servers do), dot-segments removed. */
    const resolved = (url) => {
      let p = url.split('?')[0];
      try { p = decodeURIComponent(p); } catch { /* kept as sent */ }
      p = p.replace(/\\/g, '/').split('/').map((s) => s.split(';')[0]).join('/');
      return path.posix.normalize(p);
    };
    const inside = (p) => p === '/app' || p.startsWith('/app/');
    // Each names /secret.txt (or /) once resolved as above: outside the /app/ prefix.
    const escapes = [
      '/app/../secret.txt', '/app/./../secret.txt', '/app/x/../../secret.txt', '/app//../secret.txt',
      '/app/%2e%2e/secret.txt', '/app/%2E%2E/secret.txt', '/app/.%2e/secret.txt', '/app/%2e./secret.txt',
      '/app/..%2fsecret.txt', '/app/..%2Fsecret.txt', '/app/%2e%2e%2fsecret.txt', '/app/%2e%2e%2Fsecret.txt',
      '/app/..\\secret.txt', '/app/..%5csecret.txt', '/app/..%5Csecret.txt', '/app/%2e%2e%5csecret.txt',
      '/app/.%2e\\secret.txt', '/app/..;/secret.txt', '/app/%2e%2e;x/secret.txt', '/app/..',
    ];
    let up;
    before(async () => {
      up = await upstream((req, res) => {
        up.seen.push(req.url);
        if (resolved(req.url) === '/secret.txt') return res.end(SECRET);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ url: req.url, headers: req.headers }));
      });
      up.seen = [];
      cleanups.push(up.close);
      await addSite('prefix.test', { upstreams: [up.url], path: '/app/' });
    });

    for (const proto of ['HTTP/1.1', 'HTTP/2']) {
      const flags = proto === 'HTTP/2' ? ['--http2-prior-knowledge'] : ['--http1.1'];
      test(`dot-segments and encoded separators never leave a proxied prefix (${proto})`, T, async () => {
        up.seen.length = 0;
        for (const p of escapes) {
          const r = await curl([...flags, '--path-as-is', '-H', 'Host: prefix.test', `${srv.url}${p}`]);
          if (proto === 'HTTP/2') assert.match(r.blocks.at(-1)?.statusLine ?? '', /^HTTP\/2 /, 'spoken over HTTP/2');
          assert.ok(!r.text.includes(SECRET), `${p}: the upstream's /secret.txt leaked`);
          // Refused, or normalised to a path outside the prefix: the site's own (it has no files).
          assert.ok([400, 404].includes(r.status), `${p}: ${r.status} ${r.text.slice(0, 200)}`);
        }
        for (const u of up.seen) assert.ok(inside(resolved(u)), `the upstream was asked for ${u}`);
        assert.deepEqual(up.seen, [], 'nothing outside /app/ went upstream');
        // Inside the prefix: forwarded, in the normal form the prefix was tested on.
        const within = [
          ['/app/x/../y?q=1', '/app/y?q=1'], ['/app/%2e/y', '/app/y'], ['/app//y', '/app/y'],
          ['/app/a/b/%2e%2e/c', '/app/a/c'], ['/app/.', '/app/'], ['/app/a%20b', '/app/a%20b'],
        ];
        for (const [p, want] of within) {
          const r = await curl([...flags, '--path-as-is', '-H', 'Host: prefix.test', `${srv.url}${p}`]);
          assert.equal(r.status, 200, `${p}: ${r.text}`);
          assert.equal(JSON.parse(r.text).url, want, p);
        }
      });
    }

    test('a path that climbs out of /_hearth/ meets the checks of the path it names', T, async () => {
      // The global rate limit spares hearth's own /_hearth/ routes; "/_hearth/../x" is no such route.
      const own = await startHearth({ args: ['--rate-limit', '1', '--rate-burst', '2'] });
      cleanups.push(() => own.stopExpect0());
      const ownToken = (await fsp.readFile(path.join(own.dataDir, 'admin.token'), 'utf8')).trim();
      const made = await controlApi(own, ownToken, 'POST', '/sites', { name: 'limited.test', proxy: { upstreams: [up.url] } });
      assert.equal(made.status, 201, made.text);
      up.seen.length = 0;
      const statuses = [];
      for (const p of ['/_hearth/../x', '/_hearth/%2e%2e/x', '/_hearth/api/../../x', '/_hearth//../x']) {
        const r = await curl(['--path-as-is', '-H', 'Host: limited.test', `${own.url}${p}`]);
        statuses.push(r.status);
      }
      assert.deepEqual(statuses, [200, 200, 429, 429]);
      assert.deepEqual(up.seen, ['/x', '/x']);
      assert.equal((await curl([`${own.url}/_hearth/health`])).status, 200, 'hearth\'s own routes stay unlimited');
    });

    for (const proto of ['HTTP/1.1', 'HTTP/2']) {
      test(`header names with '_' are not forwarded; X-Forwarded-For is hearth's own (${proto})`, T, async () => {
        const spoof = {
          X_Forwarded_For: '1.2.3.4', 'X-Forwarded_For': '1.2.3.4', X_Real_IP: '1.2.3.4', Client_IP: '1.2.3.4',
          X_Forwarded_Proto: 'https', X_Forwarded_Host: 'evil.example', Remote_Addr: '1.2.3.4',
        };
        let headers;
        if (proto === 'HTTP/1.1') {
          const r = await get('prefix.test', '/app/h', { headers: { ...spoof, 'X-Plain': 'kept' } });
          assert.equal(r.status, 200, r.text);
          headers = r.json.headers;
        } else {
          const client = http2.connect(`http://127.0.0.1:${srv.port}`);
          try {
            headers = await new Promise((resolve, reject) => {
              const lower = Object.fromEntries(Object.entries(spoof).map(([k, v]) => [k.toLowerCase(), v]));
              const req = client.request({ ':path': '/app/h', ':authority': 'prefix.test', ...lower, 'x-plain': 'kept' });
              let text = '';
              req.setEncoding('utf8');
              req.on('data', (d) => { text += d; });
              req.on('end', () => { try { resolve(JSON.parse(text).headers); } catch (e) { reject(new Error(text)); } });
              req.on('error', reject);
              req.end();
            });
          } finally {
            client.close();
          }
        }
        for (const name of Object.keys(headers)) assert.ok(!name.includes('_'), `the upstream saw ${name}`);
        assert.equal(headers['x-forwarded-for'], '127.0.0.1');
        assert.equal(headers['x-forwarded-proto'], 'http');
        assert.equal(headers['x-forwarded-host'], 'prefix.test');
        assert.equal(headers['x-plain'], 'kept');
      });
    }
  });

  describe('sites', () => {
    test('path-prefix mode: /app/ goes upstream, the rest is the deployed site', T, async () => {
      const a = await upstream(echo('app'));
      cleanups.push(a.close);
      const dir = await makeTempDir('hearth-proxy-site-');
      await fsp.writeFile(path.join(dir, 'index.html'), '<h1>static home</h1>');
      const dep = await runHearth(['deploy', dir, '--site', 'mix.test', '--server', srv.url, '--data', srv.dataDir]);
      assert.equal(dep.code, 0, dep.stderr);
      const set = await runHearth(['sites', 'set', 'mix.test', '--proxy', a.url, '--proxy-path', '/app/', '--server', srv.url, '--data', srv.dataDir]);
      assert.equal(set.code, 0, set.stderr);
      const home = await get('mix.test', '/');
      assert.equal(home.text, '<h1>static home</h1>');
      const app = await get('mix.test', '/app/x?y=1');
      assert.equal(app.json.name, 'app');
      assert.equal(app.json.url, '/app/x?y=1');
      assert.equal((await get('mix.test', '/apple')).status, 404);
      const list = await runHearth(['sites', '--server', srv.url, '--data', srv.dataDir]);
      assert.match(list.stdout, /mix\.test .*proxy \/app\/ -> http:\/\/127\.0\.0\.1:\d+/);
      const off = await runHearth(['sites', 'set', 'mix.test', '--no-proxy', '--server', srv.url, '--data', srv.dataDir]);
      assert.equal(off.code, 0, off.stderr);
      assert.equal((await get('mix.test', '/app/x')).status, 404);
    });

    test('the control API keeps its request bodies when the default site proxies everything', T, async () => {
      const a = await upstream(echo('default'));
      cleanups.push(a.close);
      await addSite('catchall.test', { upstreams: [a.url] }, { default: true });
      assert.equal((await get('unclaimed.example', '/x')).json.name, 'default');
      const r = await controlApi(srv, token, 'POST', '/sites', { name: 'after-default.test' });
      assert.equal(r.status, 201, r.text);
      const off = await controlApi(srv, token, 'PATCH', '/sites/catchall.test', { default: false });
      assert.equal(off.status, 200, off.text);
    });

    test('proxied sites declared in the config file, applied at start and on SIGHUP', T, async () => {
      const a = await upstream(echo('a'));
      const b = await upstream(echo('b'));
      cleanups.push(a.close, b.close);
      const dir = await makeTempDir('hearth-proxy-config-');
      const config = path.join(dir, 'hearth.toml');
      const write = (url) => fsp.writeFile(config, [
        'log-level = "info"',
        '[sites."cfg.test"]',
        `proxy = ["${url}"]`,
        'hosts = ["www.cfg.test"]',
        'policy = "least_conn"',
        'health_interval = "2s"',
        '',
      ].join('\n'));
      await write(a.url);
      const own = await startHearth({ args: ['--config', config] });
      try {
        const via = async (host) => {
          const r = await httpRequest(`${own.url}/x`, { headers: { Host: host } });
          return JSON.parse(r.text).name;
        };
        assert.equal(await via('cfg.test'), 'a');
        assert.equal(await via('www.cfg.test'), 'a');
        await write(b.url);
        own.proc.kill('SIGHUP');
        await own.waitForLog((j) => j.msg === 'reloaded');
        assert.equal(await via('cfg.test'), 'b');
      } finally {
        await own.stopExpect0();
      }
      await fsp.writeFile(config, '[sites."bad.test"]\nproxy = ["http://127.0.0.1:1"]\nretries = 3\n');
      const bad = await runHearth(['serve', '--config', config, '--data', path.join(dir, 'data2')]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /sites\."bad\.test": unknown key "retries"/);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    });

    test('bad proxy settings are refused with a one-line reason', T, async () => {
      const bad = [
        [{ upstreams: [] }, /upstreams/],
        [{ upstreams: ['https://127.0.0.1:1'] }, /only http:\/\//],
        [{ upstreams: ['http://127.0.0.1:99999'] }, /invalid port/],
        [{ upstreams: ['http://127.0.0.1:1'], policy: 'fastest' }, /policy must be/],
        [{ upstreams: ['http://127.0.0.1:1'], retries: 3 }, /unknown proxy setting "retries"/],
        [{ upstreams: ['http://127.0.0.1:1'], path: 'app' }, /path must be/],
      ];
      for (const [proxy, why] of bad) {
        const r = await controlApi(srv, token, 'POST', '/sites', { name: 'bad-config.test', proxy });
        assert.equal(r.status, 400, `${JSON.stringify(proxy)}: ${r.text}`);
        assert.match(r.json.error ?? r.text, why);
      }
      const cli = await runHearth(['sites', 'add', 'cli-bad.test', '--policy', 'least_conn', '--server', srv.url, '--data', srv.dataDir]);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, /need at least one --proxy/);
      assert.equal(cli.stderr.trim().split('\n').length, 1);
    });
  });
});
