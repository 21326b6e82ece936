// Guard: rate limits (global and per site) with 429 + Retry-After, deny and
// allow lists, per-address connection caps, client addresses through trusted
// proxies, idle connections closed first when room runs out, and slowhttptest
// (slowloris and slow bodies, hundreds of connections) while a normal client
// keeps being served. Other clients use their own loopback addresses
// (127.0.0.x) so that per-address limits tell them apart.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startHearth, runHearth, withTimeout, sleep, parseMetrics, metricValue, httpRequest, fetchMetrics } from './helpers.mjs';

const T = { timeout: 90000 };

/** One request from a chosen local address; resolves {status, headers, text} or {error}. */
function request(port, { path: p = '/', host = 'localhost', localAddress = '127.0.0.1', headers = {}, method = 'GET', body } = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, localAddress, agent: false, headers: { Host: host, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      res.on('error', (error) => resolve({ error }));
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error }));
    if (body) req.write(body);
    req.end();
  });
}

async function metrics(srv) {
  return parseMetrics((await fetchMetrics(srv)).text);
}

const servers = [];
after(async () => { for (const s of servers) if (s.alive()) await s.stop(); });

async function start(args) {
  const srv = await startHearth({ args });
  servers.push(srv);
  return srv;
}

describe('guard', () => {
  test('a burst over the rate limit gets 429 with Retry-After, then normal service', T, async () => {
    const srv = await start(['--rate-limit', '5', '--rate-burst', '10']);
    const results = await Promise.all(Array.from({ length: 30 }, () => request(srv.port)));
    const ok = results.filter((r) => r.status === 200).length;
    const limited = results.filter((r) => r.status === 429);
    assert.ok(ok >= 10 && ok <= 13, `${ok} of 30 got through a burst of 10 at 5/s`);
    assert.equal(ok + limited.length, 30);
    for (const r of limited) {
      assert.ok(Number(r.headers['retry-after']) >= 1, JSON.stringify(r.headers));
      assert.match(r.text, /^429 Too Many Requests\n.*slow down/);
    }
    // Another address has its own bucket.
    assert.equal((await request(srv.port, { localAddress: '127.0.0.2' })).status, 200);
    // hearth's own routes are never limited (health checks get through).
    assert.equal((await request(srv.port, { path: '/_hearth/health' })).status, 200);
    await sleep(Number(limited[0].headers['retry-after']) * 1000 + 200);
    assert.equal((await request(srv.port)).status, 200);
    const m = await metrics(srv);
    assert.equal(metricValue(m, 'hearth_guard_refusals_total', { reason: 'rate_limit' }), limited.length);
    await srv.waitForLog((j) => j.msg === 'guard: refused' && j.reason === 'rate_limit');
  });

  test('a site\'s own rate limit leaves other sites alone', T, async () => {
    const srv = await start([]);
    const c = ['--server', srv.url, '--data', srv.dataDir];
    assert.equal((await runHearth(['sites', 'add', 'limited.test', '--rate-limit', '1', '--rate-burst', '2', ...c])).code, 0);
    assert.equal((await runHearth(['sites', 'add', 'free.test', ...c])).code, 0);
    const limited = [];
    for (let i = 0; i < 4; i++) limited.push((await request(srv.port, { host: 'limited.test' })).status);
    assert.deepEqual(limited, [404, 404, 429, 429]);  // no version yet: 404 is the site's answer
    for (let i = 0; i < 4; i++) assert.equal((await request(srv.port, { host: 'free.test' })).status, 404);
    const list = JSON.parse((await runHearth(['sites', '--json', ...c])).stdout);
    assert.equal(list.find((s) => s.name === 'limited.test').rate_limit, 1);
  });

  test('deny and allow lists refuse at connect, and a reload changes them', T, async () => {
    const dir = await fsp.mkdtemp('/tmp/hearth-guard-');
    const config = path.join(dir, 'hearth.toml');
    await fsp.writeFile(config, 'deny = "127.0.0.5"\n');
    const srv = await start(['--config', config]);
    const denied = await request(srv.port, { localAddress: '127.0.0.5' });
    assert.ok(denied.error, 'a denied address gets no answer');
    assert.equal((await request(srv.port)).status, 200);
    await fsp.writeFile(config, 'allow = "127.0.0.1/32, 127.0.0.5"\n');
    srv.proc.kill('SIGHUP');
    await srv.waitForLog((j) => j.msg === 'reloaded');
    assert.equal((await request(srv.port, { localAddress: '127.0.0.5' })).status, 200);
    assert.ok((await request(srv.port, { localAddress: '127.0.0.6' })).error, 'not on the allow list');
    const m = await metrics(srv);
    assert.equal(metricValue(m, 'hearth_guard_refusals_total', { reason: 'denied' }), 1);
    assert.equal(metricValue(m, 'hearth_guard_refusals_total', { reason: 'not_allowed' }), 1);
  });

  test('a bad list is refused at start with one line', T, async () => {
    const r = await runHearth(['serve', '--deny', '10.0.0.0/33', '--data', '/tmp/hearth-guard-never']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /deny.*prefix longer than the address/);
  });

  test('through a trusted proxy each client has its own bucket; others cannot spoof one', T, async () => {
    const srv = await start(['--rate-limit', '1', '--rate-burst', '2', '--trusted-proxies', '127.0.0.1']);
    const as = (ip, localAddress = '127.0.0.1') => request(srv.port, { localAddress, headers: { 'X-Forwarded-For': ip } });
    assert.deepEqual([(await as('203.0.113.1')).status, (await as('203.0.113.1')).status, (await as('203.0.113.1')).status], [200, 200, 429]);
    assert.equal((await as('203.0.113.2')).status, 200);  // another client behind the same proxy
    // Not a trusted peer: the field is ignored, the peer's own address counts.
    const spoof = [];
    for (let i = 0; i < 3; i++) spoof.push((await as(`198.51.100.${i}`, '127.0.0.9')).status);
    assert.deepEqual(spoof, [200, 200, 429]);
  });

  test('connections per address are capped; other addresses still get in', T, async () => {
    const srv = await start(['--max-connections-per-ip', '5']);
    const sockets = [];
    for (let i = 0; i < 5; i++) {
      const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.3' });
      await new Promise((r) => s.once('connect', r));
      sockets.push(s);
    }
    await sleep(100);
    const sixth = await request(srv.port, { localAddress: '127.0.0.3' });
    assert.ok(sixth.error, 'the sixth connection from one address is refused');
    assert.equal((await request(srv.port, { localAddress: '127.0.0.4' })).status, 200);
    sockets[0].destroy();
    await sleep(200);
    assert.equal((await request(srv.port, { localAddress: '127.0.0.3' })).status, 200);
    for (const s of sockets) s.destroy();
    const m = await metrics(srv);
    assert.ok(metricValue(m, 'hearth_guard_refusals_total', { reason: 'per_ip_connections' }) >= 1);
  });

  test('when room runs out, idle keep-alive connections are closed first', T, async () => {
    const srv = await start(['--max-connections', '12', '--workers', '1']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    // Twelve kept-alive connections, each idle after one answer.
    await Promise.all(Array.from({ length: 12 }, () => new Promise((resolve, reject) => {
      http.get({ port: srv.port, host: '127.0.0.1', agent, localAddress: '127.0.0.7' }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    })));
    const r = await request(srv.port, { localAddress: '127.0.0.8' });
    assert.equal(r.status, 200);
    const m = await metrics(srv);
    assert.ok(metricValue(m, 'hearth_guard_refusals_total', { reason: 'idle_closed_for_room' }) >= 1);
    agent.destroy();
  });

  test('the admission queue: waits its turn, answers 503 past its bounds, recovers; static hits never wait', T, async () => {
    const srv = await start(['--workers', '1', '--admission-max', '2', '--admission-queue', '2', '--admission-wait', '2s']);
    const held = [];
    const up = http.createServer((req, res) => {
      let len = 0;
      req.on('data', (d) => { len += d.length; });
      req.on('end', () => {
        if (req.url.startsWith('/hold')) held.push(res);
        else res.end(JSON.stringify({ len }));
      });
    });
    await new Promise((r) => up.listen(0, '127.0.0.1', r));
    const c = ['--server', srv.url, '--data', srv.dataDir];
    assert.equal((await runHearth(['sites', 'add', 'q.test', '--proxy', `http://127.0.0.1:${up.address().port}`, ...c])).code, 0);
    const waitHeld = async (n) => {
      const until = Date.now() + 5000;
      while (held.length < n && Date.now() < until) await sleep(20);
      assert.equal(held.length, n);
    };
    const go = (p, opts = {}) => request(srv.port, { host: 'q.test', path: p, ...opts });
    try {
      // Two in flight, one waiting with a 1 MiB body: admitted when a slot frees, its body intact.
      const first = [go('/hold/1'), go('/hold/2')];
      await waitHeld(2);
      const upload = go('/echo', { method: 'PUT', body: Buffer.alloc(1 << 20, 7) });
      await sleep(300);
      held.shift().end('done');
      const up1 = await upload;
      assert.equal(up1.status, 200, JSON.stringify(up1));
      assert.equal(JSON.parse(up1.text).len, 1 << 20);
      // Full: two in flight, two waiting; the next is refused at once.
      const more = [go('/hold/3'), go('/hold/4'), go('/hold/5')];
      await waitHeld(2);
      await sleep(200);
      const started = Date.now();
      const refused = await go('/hold/6');
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['retry-after'], '1');
      assert.ok(Date.now() - started < 1000);
      // A cheap hit (the welcome page) does not wait behind them.
      assert.equal((await request(srv.port, { host: 'static.test' })).status, 200);
      // The waiting ones give up after admission-wait, with 503.
      const waited = await Promise.all(more.slice(1));
      assert.deepEqual(waited.map((r) => r.status), [503, 503]);
      for (const res of held.splice(0)) res.end('done');
      const done = await Promise.all([...first, more[0]]);
      assert.deepEqual(done.map((r) => r.status), [200, 200, 200]);
      // And it recovers.
      assert.equal((await go('/echo')).status, 200);
      const m = await metrics(srv);
      assert.equal(metricValue(m, 'hearth_guard_refusals_total', { reason: 'admission' }), 3);
    } finally {
      for (const res of held) res.end();
      up.close();
    }
  });

  test('slowloris and slow bodies (slowhttptest) do not stop a normal client', { timeout: 120000 }, async () => {
    const srv = await start(['--header-timeout', '3s', '--max-connections-per-ip', '150', '--min-body-rate', '1KiB']);
    const run = (args) => {
      const p = spawn('slowhttptest', [...args, '-u', `http://127.0.0.1:${srv.port}/`, '-l', '14', '-r', '200', '-p', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { out += d; });
      return { proc: p, done: new Promise((r) => p.on('exit', (code) => r({ code, out }))) };
    };
    const loris = run(['-H', '-c', '300', '-i', '2', '-x', '24', '-t', 'GET']);
    const body = run(['-B', '-c', '300', '-i', '2', '-s', '65536', '-x', '10', '-t', 'POST']);
    await sleep(1500);  // let them open their connections
    let served = 0;
    const failures = [];
    const until = Date.now() + 12000;
    while (Date.now() < until) {
      const r = await request(srv.port, { localAddress: '127.0.0.20' });
      if (r.status === 200) served++;
      else failures.push(r.error?.message ?? r.status);
      await sleep(50);
    }
    const [a, b] = await Promise.all([withTimeout(loris.done, 30000, 'slowloris'), withTimeout(body.done, 30000, 'slow body')]);
    assert.deepEqual(failures, [], 'every normal request is answered');
    assert.ok(served > 50, `${served} normal requests`);
    assert.ok(srv.alive());
    const m = await metrics(srv);
    assert.ok(metricValue(m, 'hearth_guard_refusals_total', { reason: 'per_ip_connections' }) > 0, a.out.slice(-500));
    assert.ok(metricValue(m, 'hearth_timeouts_total', { kind: 'header' }) > 0, 'slowloris heads time out');
    assert.ok(metricValue(m, 'hearth_guard_refusals_total', { reason: 'slow_body' }) > 0, b.out.slice(-500));
  });
});
