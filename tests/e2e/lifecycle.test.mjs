// Health, metrics, timeouts, signals, access log, connection cap.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  startHearth, runHearth, makeTempDir, RawConn, httpRequest, curl, parseMetrics, metricValue,
  sleep, withTimeout, fetchMetrics, tier } from './helpers.mjs';

describe('health, logs and metrics', () => {
  let srv;
  before(async () => { srv = await startHearth({ args: ['--workers', '2'] }); });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('listening line reports addr and workers', { timeout: 10000 }, async () => {
    assert.match(srv.listening.addr, /^127\.0\.0\.1:\d+$/);
    assert.equal(srv.listening.workers, 2);
    assert.equal(srv.listening.level, 'info');
    assert.ok(typeof srv.listening.ts === 'string' && !Number.isNaN(Date.parse(srv.listening.ts)), `ts: ${srv.listening.ts}`);
  });

  test('GET / without --root is a 200 text/html welcome page mentioning hearth', { timeout: 10000 }, async () => {
    const r = await curl([`${srv.url}/`]);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^text\/html/);
    assert.match(r.text, /hearth/i);
  });

  test('GET /_hearth/health → 200 JSON {status:"ok"} and nothing more (it is public)', { timeout: 10000 }, async () => {
    const r = await curl([`${srv.url}/_hearth/health`]);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(r.text), { status: 'ok' });
  });

  test('every stderr line is a JSON object with ts, level, msg', { timeout: 10000 }, async () => {
    await curl([`${srv.url}/`]);
    const lines = srv.stderrLines();
    assert.ok(lines.length >= 1);
    for (const l of lines) {
      let j;
      assert.doesNotThrow(() => { j = JSON.parse(l); }, `not JSON: ${l}`);
      assert.ok(j.ts && j.level && j.msg, `missing ts/level/msg: ${l}`);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(j.level), l);
    }
  });

  test('metrics are Prometheus text with the documented names; counters increase', { timeout: 15000 }, async () => {
    const m1 = await fetchMetrics(srv);
    assert.equal(m1.status, 200);
    assert.match(m1.headers['content-type'] ?? '', /^text\/plain/);
    for (const name of ['hearth_requests_total{class="2xx"}', 'hearth_request_duration_seconds_bucket',
      'hearth_connections_open', 'hearth_bytes_received_total', 'hearth_bytes_sent_total']) {
      const bare = name.split('{')[0];
      assert.ok(m1.text.includes(bare), `metrics should include ${name}`);
    }
    const s1 = parseMetrics(m1.text);
    const ok1 = metricValue(s1, 'hearth_requests_total', { class: '2xx' });
    assert.ok(ok1 !== undefined, 'hearth_requests_total{class="2xx"} sample missing');
    const rx1 = metricValue(s1, 'hearth_bytes_received_total');
    const tx1 = metricValue(s1, 'hearth_bytes_sent_total');
    const open = metricValue(s1, 'hearth_connections_open');
    assert.ok(open >= 1, `hearth_connections_open should count the scraping connection, got ${open}`);
    assert.ok(s1.some((s) => s.name === 'hearth_request_duration_seconds_bucket' && s.labels.le === '+Inf'), 'needs a le="+Inf" bucket');

    for (let i = 0; i < 3; i++) assert.equal((await httpRequest(`${srv.url}/`)).status, 200);
    assert.equal((await httpRequest(`${srv.url}/no-such-page-for-metrics`)).status, 404);

    const s2 = parseMetrics((await fetchMetrics(srv)).text);
    const ok2 = metricValue(s2, 'hearth_requests_total', { class: '2xx' });
    assert.ok(ok2 >= ok1 + 3, `2xx counter should grow by >= 3: ${ok1} -> ${ok2}`);
    assert.ok(metricValue(s2, 'hearth_requests_total', { class: '4xx' }) >= 1, '4xx counter should count the 404');
    assert.ok(metricValue(s2, 'hearth_bytes_received_total') > rx1, 'bytes received should grow');
    assert.ok(metricValue(s2, 'hearth_bytes_sent_total') > tx1, 'bytes sent should grow');
    const inf = metricValue(s2, 'hearth_request_duration_seconds_bucket', { le: '+Inf' });
    const count = metricValue(s2, 'hearth_request_duration_seconds_count');
    assert.ok(inf >= 4, `+Inf bucket should count requests, got ${inf}`);
    if (count !== undefined) assert.equal(inf, count, '+Inf bucket equals _count');
  });
});

describe('connection gauge', () => {
  test('hearth_connections_open follows open and closed connections', { timeout: 15000 }, async () => {
    const srv = await startHearth();
    const conns = [];
    try {
      const gauge = async () => metricValue(parseMetrics((await fetchMetrics(srv)).text), 'hearth_connections_open');
      const before = await gauge();
      for (let i = 0; i < 5; i++) {
        const c = await RawConn.connect(srv.port);
        await c.write('GET /_hearth/health HTTP/1.1\r\nHost: x\r\n\r\n');
        await c.readResponse();
        conns.push(c);
      }
      const during = await gauge();
      assert.ok(during >= before + 5, `gauge should grow by 5 open connections: ${before} -> ${during}`);
      for (const c of conns) c.destroy();
      let after = during;
      const t0 = Date.now();
      while (Date.now() - t0 < 3000) {
        after = await gauge();
        if (after <= before) break;
        await sleep(100);
      }
      assert.ok(after <= before, `gauge should drop back after closing: ${before} -> ${during} -> ${after}`);
    } finally { conns.forEach((c) => c.destroy()); await srv.stop(); }
  });
});

describe('test endpoints', () => {
  test('POST /_hearth/debug/echo is not available without HEARTH_TEST_ENDPOINTS=1', { timeout: 10000 }, async () => {
    const srv = await startHearth();
    try {
      const r = await curl(['--data-binary', 'hello', `${srv.url}/_hearth/debug/echo`]);
      assert.ok(r.status >= 400 && r.status < 500, `expected 4xx, got ${r.status}`);
      assert.notEqual(r.text, 'hello');
    } finally { await srv.stop(); }
  });
});

describe('data folder', () => {
  test('--data creates a missing nested directory', { timeout: 15000 }, async () => {
    const tmp = await makeTempDir();
    const dataDir = path.join(tmp, 'a', 'b', 'data');
    const srv = await startHearth({ dataDir });
    try {
      assert.ok(fs.statSync(dataDir).isDirectory());
    } finally { await srv.stop(); }
  });
});

describe('timeouts', () => {
  let srv;
  before(async () => {
    srv = await startHearth({
      env: { HEARTH_TEST_ENDPOINTS: '1' },
      args: ['--header-timeout', '1s', '--keepalive-timeout', '1s', '--body-timeout', '1s'],
    });
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('a stalled partial header is cut off after --header-timeout while others are served', { timeout: 15000 }, async () => {
    const slow = await RawConn.connect(srv.port);
    const t0 = Date.now();
    await slow.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: yes`);
    const latencies = [];
    while (Date.now() - t0 < 1600 && !slow.closed) {
      const r = await httpRequest(`${srv.url}/_hearth/health`, { timeoutMs: 2000 });
      assert.equal(r.status, 200);
      latencies.push(r.ms);
      await sleep(150);
    }
    assert.ok(latencies.length >= 3, `other clients should be served during the stall (${latencies.length} requests)`);
    assert.ok(Math.max(...latencies) < 900, `other clients were slow during the stall: ${latencies}`);
    assert.ok(await slow.waitClose(4000), 'stalled client was not disconnected');
    const elapsed = slow.closedAt - t0;
    assert.ok(elapsed >= 700 && elapsed <= 4000, `cut off after ${elapsed} ms (header-timeout 1s)`);
    if (slow.text.length) assert.match(slow.text, /^HTTP\/1\.1 408 /);
  });

  test('a client trickling header bytes (slowloris) is still cut off by --header-timeout', { timeout: 15000 }, async () => {
    const slow = await RawConn.connect(srv.port);
    const t0 = Date.now();
    await slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    while (!slow.closed && Date.now() - t0 < 6000) {
      await slow.write('a');
      await sleep(150);
    }
    assert.ok(slow.closed, 'slowloris client never disconnected');
    const elapsed = slow.closedAt - t0;
    assert.ok(elapsed <= 4000, `trickling client cut off only after ${elapsed} ms`);
  });

  test('a stalled request body is cut off after --body-timeout', { timeout: 15000 }, async () => {
    const c = await RawConn.connect(srv.port);
    const t0 = Date.now();
    await c.write(`POST /_hearth/debug/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nabc`);
    assert.ok(await c.waitClose(5000), 'stalled body was not cut off');
    const elapsed = c.closedAt - t0;
    assert.ok(elapsed >= 700 && elapsed <= 4000, `cut off after ${elapsed} ms (body-timeout 1s)`);
    if (c.text.length) assert.match(c.text, /^HTTP\/1\.1 408 /);
  });

  test('an idle keep-alive connection is closed after --keepalive-timeout', { timeout: 15000 }, async () => {
    const c = await RawConn.connect(srv.port);
    await c.write('GET /_hearth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    const t1 = Date.now();
    assert.ok(await c.waitClose(5000), 'idle connection was not closed');
    const elapsed = c.closedAt - t1;
    assert.ok(elapsed >= 700 && elapsed <= 4000, `closed after ${elapsed} ms idle (keepalive-timeout 1s)`);
    assert.equal(c.text, '', 'no bytes expected on an idle close');
  });

  test('a keep-alive connection that keeps making requests is not cut off', { timeout: 15000 }, async () => {
    const c = await RawConn.connect(srv.port);
    try {
      const t0 = Date.now();
      while (Date.now() - t0 < 2500) {
        await c.write('GET /_hearth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        assert.equal((await c.readResponse()).status, 200);
        await sleep(400);
      }
      assert.equal(c.closed, false);
    } finally { c.destroy(); }
  });
});

async function makeBigRoot(sizeMiB) {
  const tmp = await makeTempDir('hearth-big-');
  const www = path.join(tmp, 'www');
  await fsp.mkdir(www);
  const hash = crypto.createHash('sha256');
  const fh = await fsp.open(path.join(www, 'big.bin'), 'w');
  for (let i = 0; i < sizeMiB; i++) {
    const chunk = crypto.randomBytes(1024 * 1024);
    hash.update(chunk);
    await fh.write(chunk);
  }
  await fh.close();
  return { www, size: sizeMiB * 1024 * 1024, sha256: hash.digest('hex') };
}

/** Starts GET /big.bin on a raw socket and stops reading right after the headers arrive. */
async function stalledDownload(port) {
  const c = await RawConn.connect(port);
  await c.write('GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await c.waitFor((x) => x.text.includes('\r\n\r\n'), 5000, 'response headers');
  c.sock.pause();
  return c;
}

describe('write and shutdown timeouts', () => {
  let big;
  before(async () => { big = await makeBigRoot(32); });

  test('a client that stops reading is disconnected after --write-timeout; others are served', { timeout: 30000 }, async () => {
    const srv = await startHearth({ root: big.www, args: ['--write-timeout', '1s'] });
    try {
      const c = await stalledDownload(srv.port);
      assert.equal((await httpRequest(`${srv.url}/_hearth/health`)).status, 200);
      await sleep(4000);
      c.sock.resume();
      await c.waitClose(10000);
      assert.ok(c.closed, 'stalled reader should have been disconnected');
      assert.ok(c.length < big.size, `the full file should not have been delivered (${c.length} bytes)`);
      assert.equal((await httpRequest(`${srv.url}/_hearth/health`)).status, 200);
    } finally { await srv.stop(); }
  });

  test('SIGTERM with a stalled download exits 0 within about --shutdown-timeout', { timeout: 30000 }, async () => {
    const srv = await startHearth({ root: big.www, args: ['--shutdown-timeout', '1s', '--write-timeout', '60s'] });
    const c = await stalledDownload(srv.port);
    try {
      const t0 = Date.now();
      srv.proc.kill('SIGTERM');
      const ex = await srv.waitExit(10000);
      const took = Date.now() - t0;
      assert.equal(ex.code, 0, `exit ${JSON.stringify(ex)}; stderr:\n${srv.stderrLines().join('\n')}`);
      assert.ok(took >= 500 && took <= 4000, `took ${took} ms with --shutdown-timeout 1s`);
    } finally { c.destroy(); }
  });
});

describe('signals', () => {
  const cycles = tier(8, 20);
  test(`${cycles} start / request / SIGTERM cycles all exit 0 (no crash on shutdown)`, { timeout: 60000 }, async () => {
    for (let i = 0; i < cycles; i++) {
      const srv = await startHearth();
      assert.equal((await httpRequest(`${srv.url}/_hearth/health`)).status, 200);
      const ex = await srv.stop('SIGTERM', 10000);
      assert.equal(ex.code, 0, `cycle ${i}: exit code=${ex.code} signal=${ex.signal}; stderr:\n${ex.stderr}`);
    }
  });


  test('SIGTERM during a large download lets it finish, refuses new work, exits 0', { timeout: 90000 }, async () => {
    const { www, size: SIZE, sha256: expectedHash } = await makeBigRoot(64);
    const srv = await startHearth({ root: www, args: ['--shutdown-timeout', '60s'] });
    let received = 0;
    const gotHash = crypto.createHash('sha256');
    let signalled = false;
    const download = new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: srv.port, path: '/big.bin', agent: false }, (res) => {
        if (res.statusCode !== 200) { reject(new Error(`status ${res.statusCode}`)); res.resume(); return; }
        let n = 0;
        res.on('data', (d) => {
          received += d.length;
          gotHash.update(d);
          if (!signalled && received > 1024 * 1024) {
            signalled = true;
            srv.proc.kill('SIGTERM');
          }
          // Read slowly-ish: pause now and then.
          if (++n % 8 === 0) { res.pause(); setTimeout(() => res.resume(), 5); }
        });
        res.on('end', () => resolve({ headers: res.headers, complete: res.complete }));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error(`download aborted after ${received} bytes`)));
      });
      req.on('error', (e) => reject(new Error(`download failed after ${received} bytes: ${e.message}`)));
    });

    // Once SIGTERM is sent, new connections must not be served.
    await withTimeout((async () => { while (!signalled) await sleep(10); })(), 30000, 'start of download');
    await sleep(300);
    const newConn = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: srv.port });
      let data = '';
      const done = (how) => { s.destroy(); resolve({ how, data }); };
      const timer = setTimeout(() => done('timeout'), 1500);
      s.on('connect', () => s.write('GET /_hearth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      s.on('data', (d) => { data += d; });
      s.on('error', (e) => { clearTimeout(timer); done(e.code); });
      s.on('close', () => { clearTimeout(timer); done('closed'); });
    });
    assert.ok(!/^HTTP\/1\.1 200/.test(newConn.data), `a new connection after SIGTERM was served: ${newConn.how} ${newConn.data.slice(0, 80)}`);

    const res = await withTimeout(download, 60000, 'download');
    assert.equal(received, SIZE, `received ${received} of ${SIZE} bytes`);
    assert.equal(res.complete, true);
    assert.equal(gotHash.digest('hex'), expectedHash, 'downloaded bytes differ from the file');
    const ex = await srv.waitExit(15000);
    assert.equal(ex.code, 0, `exit ${JSON.stringify(ex)}; stderr:\n${srv.stderrLines().join('\n')}`);
  });

  test('SIGINT on an idle server exits 0 promptly', { timeout: 15000 }, async () => {
    const srv = await startHearth();
    assert.equal((await httpRequest(`${srv.url}/_hearth/health`)).status, 200);
    const t0 = Date.now();
    const ex = await srv.stop('SIGINT', 5000);
    assert.equal(ex.code, 0, `exit ${JSON.stringify({ code: ex.code, signal: ex.signal })}; stderr:\n${ex.stderr}`);
    assert.ok(Date.now() - t0 < 5000);
  });

  test('SIGTERM exits 0 promptly even with an idle keep-alive client connected', { timeout: 15000 }, async () => {
    const srv = await startHearth({ args: ['--shutdown-timeout', '3s', '--keepalive-timeout', '60s'] });
    const c = await RawConn.connect(srv.port);
    await c.write('GET /_hearth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal((await c.readResponse()).status, 200);
    const t0 = Date.now();
    const ex = await srv.stop('SIGTERM', 8000);
    assert.equal(ex.code, 0, `exit ${JSON.stringify({ code: ex.code, signal: ex.signal })}; stderr:\n${ex.stderr}`);
    assert.ok(Date.now() - t0 < 4500, `took ${Date.now() - t0} ms`);
    c.destroy();
  });

  test('SIGHUP reloads log-level from the TOML config', { timeout: 20000 }, async () => {
    const srv = await startHearth({ config: 'log-level = "info"\n' });
    await curl([`${srv.url}/`]);
    await sleep(200);
    assert.ok(!srv.logs().some((j) => j.level === 'debug'), 'no debug lines expected at info level');
    await fsp.writeFile(srv.configPath, 'log-level = "debug"\n');
    const pid = srv.proc.pid;
    srv.proc.kill('SIGHUP');
    const poke = setInterval(() => { httpRequest(`${srv.url}/`).catch(() => {}); }, 200);
    try {
      const line = await srv.waitForLog((j) => j.level === 'debug' || (/reload/i.test(j.msg) && !/fail/i.test(j.msg) && j.level !== 'error'), 5000, 'debug or reloaded line');
      assert.ok(line);
      assert.ok(!srv.logs().some((j) => /fail/i.test(j.msg)), 'reload should not fail');
    } finally { clearInterval(poke); }
    assert.ok(srv.alive(), 'server must keep running after SIGHUP');
    assert.equal(srv.proc.pid, pid);
    assert.equal((await httpRequest(`${srv.url}/_hearth/health`)).status, 200);
    await srv.stop();
  });

  test('SIGHUP reload changes a live timeout (keepalive-timeout 30s → 1s) without restart', { timeout: 25000 }, async () => {
    const srv = await startHearth({ config: 'keepalive-timeout = "30s"\n' });
    const c1 = await RawConn.connect(srv.port);
    await c1.write('GET /_hearth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal((await c1.readResponse()).status, 200);
    assert.equal(await c1.waitClose(1800), false, 'with 30s keep-alive the connection should stay open');
    c1.destroy();

    await fsp.writeFile(srv.configPath, 'keepalive-timeout = "1s"\n');
    srv.proc.kill('SIGHUP');
    await sleep(700);
    assert.ok(srv.alive());
    const c2 = await RawConn.connect(srv.port);
    await c2.write('GET /_hearth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal((await c2.readResponse()).status, 200);
    const t1 = Date.now();
    assert.ok(await c2.waitClose(5000), 'after reload the idle connection should close after ~1s');
    assert.ok(c2.closedAt - t1 <= 4000);
    await srv.stop();
  });

  test('SIGHUP reload changes max-body-size without restart', { timeout: 15000 }, async () => {
    const srv = await startHearth({ config: 'max-body-size = "1KiB"\n', env: { HEARTH_TEST_ENDPOINTS: '1' } });
    const body = 'q'.repeat(2048);
    const post = () => httpRequest(`${srv.url}/_hearth/debug/echo`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } })
      .catch((e) => ({ status: `error ${e.code}` }));
    assert.equal((await post()).status, 413);
    await fsp.writeFile(srv.configPath, 'max-body-size = "1MiB"\n');
    srv.proc.kill('SIGHUP');
    await srv.waitForLog((j) => /reload/i.test(j.msg), 5000, 'reload log line');
    await sleep(200);
    const r = await post();
    assert.equal(r.status, 200);
    assert.equal(r.text, body);
    await srv.stop();
  });

  test('SIGHUP with an invalid config keeps the server running', { timeout: 15000 }, async () => {
    const srv = await startHearth({ config: 'log-level = "info"\n' });
    await fsp.writeFile(srv.configPath, 'log-level = "shouting"\n');
    srv.proc.kill('SIGHUP');
    await sleep(700);
    assert.ok(srv.alive(), 'a bad reload must not kill the server');
    assert.equal((await httpRequest(`${srv.url}/_hearth/health`)).status, 200);
    await srv.stop();
  });
});

describe('access log', () => {
  test('--access-log PATH writes one NDJSON line per request', { timeout: 20000 }, async () => {
    const tmp = await makeTempDir();
    const logPath = path.join(tmp, 'access.ndjson');
    const srv = await startHearth({ args: ['--access-log', logPath] });
    assert.equal((await httpRequest(`${srv.url}/`)).status, 200);
    assert.equal((await httpRequest(`${srv.url}/missing-page?x=1`)).status, 404);
    assert.equal((await httpRequest(`${srv.url}/_hearth/health`, { method: 'HEAD' })).status, 200);
    await srv.stop(); // exit status is covered by the signal tests

    const text = await fsp.readFile(logPath, 'utf8');
    const lines = text.split('\n').filter((l) => l.trim());
    assert.equal(lines.length, 3, `expected 3 lines:\n${text}`);
    const entries = lines.map((l) => JSON.parse(l));
    for (const e of entries) {
      for (const f of ['method', 'path', 'status', 'bytes']) assert.ok(f in e, `field ${f} missing in ${JSON.stringify(e)}`);
      assert.equal(typeof e.status, 'number');
      assert.equal(typeof e.bytes, 'number');
    }
    // Each worker writes its own lines, so requests served by different
    // workers may come out in another order: compare them by path.
    const byPath = (p) => entries.find((e) => (p instanceof RegExp ? p.test(e.path) : e.path === p));
    const home = byPath('/');
    const missing = byPath(/^\/missing-page/);
    const health = byPath('/_hearth/health');
    assert.ok(home && missing && health, JSON.stringify(entries));
    assert.deepEqual([home, missing, health].map((e) => [e.method, e.status]), [['GET', 200], ['GET', 404], ['HEAD', 200]]);
    assert.ok(home.bytes > 0, 'bytes of the welcome page should be > 0');
  });

  test('--access-log off writes nothing; stderr gets no access lines', { timeout: 15000 }, async () => {
    const srv = await startHearth({ args: ['--access-log', 'off'] });
    await httpRequest(`${srv.url}/`);
    await srv.stop();
    assert.ok(!srv.logs().some((j) => j.method && j.status), 'no access entries expected');
  });

  test('--access-log stderr writes access entries among the logs', { timeout: 15000 }, async () => {
    const srv = await startHearth({ args: ['--access-log', 'stderr'] });
    await httpRequest(`${srv.url}/no-such-thing`);
    const e = await srv.waitForLog((j) => j.path === '/no-such-thing', 5000, 'access log line on stderr');
    assert.equal(e.status, 404);
    assert.equal(e.method, 'GET');
    await srv.stop();
  });
});

describe('connection cap', () => {
  test('--max-connections 2: a third connection waits until a busy one closes (idle ones would make room)', { timeout: 20000 }, async () => {
    const srv = await startHearth({ args: ['--workers', '1', '--max-connections', '2', '--keepalive-timeout', '30s'] });
    const req = 'GET /_hearth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const a = await RawConn.connect(srv.port);
    const b = await RawConn.connect(srv.port);
    try {
      // Both busy (a request head on its way), so neither may be closed for room.
      await a.write('GET /_hearth/health HTTP/1.1\r\n');
      await b.write('GET /_hearth/health HTTP/1.1\r\n');

      const c = await RawConn.connect(srv.port);
      try {
        await c.write(req);
        await sleep(1000);
        assert.equal(c.text, '', 'third connection should not be served while 2 are open');
        assert.equal(c.closed, false, 'third connection should wait, not be dropped');
        a.destroy();
        const r = await c.readResponse({ timeoutMs: 4000 });
        assert.equal(r.status, 200);
      } finally { c.destroy(); }
    } finally { a.destroy(); b.destroy(); await srv.stop(); }
  });
});

describe('writes through the store', () => {
  test('acknowledged writes survive kill -9 (deferred responses answered after commit)', { timeout: 60000 }, async () => {
    const srv = await startHearth({ args: ['--workers', '2'], env: { HEARTH_TEST_ENDPOINTS: '1' } });
    const N = 200;
    // Concurrent PUTs: each is answered only once its write is committed (group commit).
    const puts = [];
    for (let i = 0; i < N; i++) {
      puts.push(httpRequest(`${srv.url}/_hearth/debug/kv/k${i}`, { method: 'PUT', body: `value-${i}` }));
    }
    const results = await Promise.all(puts);
    for (const r of results) assert.equal(r.status, 204);
    const got = await httpRequest(`${srv.url}/_hearth/debug/kv/k7`);
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'value-7');
    assert.equal((await httpRequest(`${srv.url}/_hearth/debug/kv/missing`)).status, 404);
    const dataDir = srv.dataDir;
    srv.proc.kill('SIGKILL');
    await srv.waitExit(5000).catch(() => {});
    const again = await startHearth({ dataDir, env: { HEARTH_TEST_ENDPOINTS: '1' } });
    try {
      for (const i of [0, 57, 123, N - 1]) {
        const r = await httpRequest(`${again.url}/_hearth/debug/kv/k${i}`);
        assert.equal(r.status, 200, `k${i} lost after kill -9`);
        assert.equal(r.body.toString(), `value-${i}`);
      }
    } finally { await again.stop(); }
  });
});
