// HTTP/1.1 protocol behaviour (RFC 9112) over raw sockets.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  startHearth, rawExchange, RawConn, splitResponses, firstStatus, curl, IMF_FIXDATE, sleep, httpRequest, makeTempDir, tier,
} from './helpers.mjs';

const T = { timeout: 20000 };
const BODY_LIMIT = 64 * 1024;
let srv;
let port;

before(async () => {
  srv = await startHearth({
    env: { HEARTH_TEST_ENDPOINTS: '1' },
    args: ['--max-body-size', '64KiB', '--workers', '2'],
  });
  port = srv.port;
});
after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

const H = () => `Host: 127.0.0.1:${port}\r\n`;

/** Sends raw bytes, expects one response with `status` and the connection closed by the server. */
async function expectRefusal(bytes, status, label) {
  const r = await rawExchange(port, bytes, { timeoutMs: 4000 });
  const got = firstStatus(r.text);
  assert.equal(got, status, `${label}: expected ${status}, got ${got}; response: ${JSON.stringify(r.text.slice(0, 300))}${r.error ? ` (socket error ${r.error.code})` : ''}`);
  assert.equal(r.timedOut, false, `${label}: the server should close the connection after an error response`);
  const { responses } = splitResponses(r.text);
  assert.equal(responses.filter((x) => x.status >= 200).length, 1, `${label}: exactly one final response expected`);
  return { ...r, response: responses[0] };
}

describe('keep-alive and pipelining', () => {
  test('two requests over the same socket are both answered (keep-alive)', T, async () => {
    const c = await RawConn.connect(port);
    try {
      await c.write(`GET / HTTP/1.1\r\n${H()}\r\n`);
      const r1 = await c.readResponse();
      assert.equal(r1.status, 200);
      assert.match(r1.body, /hearth/i);
      assert.equal(c.closed, false, 'connection should stay open after a 1.1 response');
      await c.write(`GET /_hearth/health HTTP/1.1\r\n${H()}\r\n`);
      const r2 = await c.readResponse();
      assert.equal(r2.status, 200);
      assert.equal(JSON.parse(r2.body).status, 'ok');
      assert.equal(c.closed, false);
    } finally { c.destroy(); }
  });

  test('three pipelined requests in one write are answered in order', T, async () => {
    const req =
      `GET /_hearth/health HTTP/1.1\r\n${H()}\r\n` +
      `GET /definitely-not-here HTTP/1.1\r\n${H()}\r\n` +
      `GET / HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`;
    const r = await rawExchange(port, req, { timeoutMs: 5000 });
    assert.equal(r.timedOut, false, 'server should close after the Connection: close request');
    const { responses, complete } = splitResponses(r.text);
    assert.ok(complete, `trailing garbage after responses: ${JSON.stringify(r.text.slice(-200))}`);
    assert.deepEqual(responses.map((x) => x.status), [200, 404, 200]);
    assert.match(responses[0].headers['content-type'], /application\/json/);
    assert.equal(JSON.parse(responses[0].body).status, 'ok');
    assert.match(responses[2].headers['content-type'], /text\/html/);
    assert.match(responses[2].body, /hearth/i);
  });

  test('pipelined POST with a body followed by a GET: body boundary respected', T, async () => {
    const req =
      `POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: 11\r\n\r\nhello world` +
      `GET /_hearth/health HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`;
    const r = await rawExchange(port, req);
    const { responses } = splitResponses(r.text);
    assert.deepEqual(responses.map((x) => x.status), [200, 200]);
    assert.equal(responses[0].body, 'hello world');
    assert.equal(JSON.parse(responses[1].body).status, 'ok');
  });

  test('many pipelined requests (50) in one write all answered in order', T, async () => {
    let req = '';
    for (let i = 0; i < 50; i++) {
      const body = `req-${i}`;
      req += `POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: ${body.length}\r\n${i === 49 ? 'Connection: close\r\n' : ''}\r\n${body}`;
    }
    const r = await rawExchange(port, req, { timeoutMs: 8000 });
    const { responses } = splitResponses(r.text);
    assert.equal(responses.length, 50);
    responses.forEach((x, i) => { assert.equal(x.status, 200); assert.equal(x.body, `req-${i}`); });
  });
});

describe('request bodies', () => {
  test('Content-Length body is echoed with X-Body-Length', T, async () => {
    const body = 'x'.repeat(1000) + 'END';
    const c = await RawConn.connect(port);
    try {
      await c.write(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-body-length'], String(body.length));
      assert.equal(r.body, body);
    } finally { c.destroy(); }
  });

  test('binary body (all 256 byte values, 48 KiB) round-trips exactly', T, async () => {
    const body = Buffer.alloc(48 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
    const c = await RawConn.connect(port);
    try {
      await c.write(Buffer.concat([Buffer.from(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: ${body.length}\r\n\r\n`), body]));
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-body-length'], String(body.length));
      assert.ok(r.bodyBuffer.equals(body), 'echoed bytes differ');
    } finally { c.destroy(); }
  });

  test('chunked request body is decoded and echoed', T, async () => {
    const c = await RawConn.connect(port);
    try {
      await c.write(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: chunked\r\n\r\n`);
      await c.write('7\r\nhello, \r\n');
      await sleep(50);
      await c.write('5\r\nworld\r\n');
      await sleep(50);
      await c.write('0\r\n\r\n');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello, world');
      assert.equal(r.headers['x-body-length'], '12');
      // The connection stays usable after a chunked body.
      await c.write(`GET /_hearth/health HTTP/1.1\r\n${H()}\r\n`);
      assert.equal((await c.readResponse()).status, 200);
    } finally { c.destroy(); }
  });

  test('chunked body with chunk extensions, upper-case hex and a trailer field', T, async () => {
    const req = `POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `A;name=value\r\n0123456789\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Checksum: abc\r\n\r\n`;
    const r = await rawExchange(port, req);
    const { responses } = splitResponses(r.text);
    assert.equal(responses[0]?.status, 200, r.text.slice(0, 200));
    assert.equal(responses[0].body, '0123456789abcdefghijklmnopqrstuvwxyz');
    assert.equal(responses[0].headers['x-body-length'], '36');
  });

  test('curl chunked upload via echo endpoint', T, async () => {
    const r = await curl(['-X', 'POST', '-H', 'Transfer-Encoding: chunked', '--data-binary', 'curl-chunked-body',
      `http://127.0.0.1:${port}/_hearth/debug/echo`]);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.text, 'curl-chunked-body');
    assert.equal(r.headers['x-body-length'], '17');
  });

  test('Expect: 100-continue gets "HTTP/1.1 100 Continue" before the body is sent', T, async () => {
    const c = await RawConn.connect(port);
    try {
      await c.write(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
      await c.waitFor((x) => x.text.includes('\r\n\r\n'), 3000, '100 Continue');
      assert.match(c.text, /^HTTP\/1\.1 100 Continue\r\n/);
      const interim = await c.readResponse();
      assert.equal(interim.status, 100);
      await c.write('hello');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello');
    } finally { c.destroy(); }
  });

  test('curl with Expect: 100-continue upload (large body) works', T, async () => {
    const body = 'y'.repeat(40000);
    const r = await curl(['-H', 'Expect: 100-continue', '--data-binary', body, `http://127.0.0.1:${port}/_hearth/debug/echo`]);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.blocks[0].statusLine.split(' ')[1], '100', 'curl should have seen 100 Continue first');
    assert.equal(r.text.length, 40000);
  });

  test('Expect: 100-continue with an oversized Content-Length gets a final 413', T, async () => {
    const r = await rawExchange(port, `POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: ${BODY_LIMIT * 4}\r\nExpect: 100-continue\r\n\r\n`, { timeoutMs: 4000 });
    const finals = splitResponses(r.text).responses.filter((x) => x.status >= 200);
    assert.equal(finals[0]?.status, 413, JSON.stringify(r.text.slice(0, 300)));
    assert.equal(r.timedOut, false, 'connection should be closed after 413');
  });
});

describe('methods, versions and headers', () => {
  test('HEAD returns the headers of GET and no body', T, async () => {
    const req = `HEAD / HTTP/1.1\r\n${H()}\r\nGET / HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`;
    const r = await rawExchange(port, req);
    const { responses, complete } = splitResponses(r.text, { methods: ['HEAD', 'GET'] });
    assert.ok(complete, 'HEAD response must not carry a body (framing broken)');
    assert.equal(responses.length, 2);
    const [head, get] = responses;
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(get.status, 200);
    assert.equal(head.headers['content-type'], get.headers['content-type']);
    if (head.headers['content-length'] !== undefined) {
      assert.equal(Number(head.headers['content-length']), get.bodyBuffer.length);
    }
  });

  test('HTTP/1.0 request (no Host) is answered and the connection is closed by default', T, async () => {
    const r = await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n', { timeoutMs: 4000 });
    assert.equal(firstStatus(r.text), 200, r.text.slice(0, 200));
    assert.equal(r.timedOut, false, 'HTTP/1.0 connection should be closed by the server');
    const { responses } = splitResponses(r.text);
    assert.match(responses[0].version, /^1\.[01]$/);
    assert.match(responses[0].body, /hearth/i);
    assert.ok(!/chunked/i.test(responses[0].headers['transfer-encoding'] ?? ''), 'no chunked encoding to a 1.0 client');
  });

  test('absolute-form request target is accepted', T, async () => {
    const req = `GET http://127.0.0.1:${port}/_hearth/health HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`;
    const r = await rawExchange(port, req);
    const { responses } = splitResponses(r.text);
    assert.equal(responses[0]?.status, 200, r.text.slice(0, 200));
    assert.equal(JSON.parse(responses[0].body).status, 'ok');
  });

  test('Connection: close — server closes after the response and ignores further pipelined requests', T, async () => {
    const req = `GET /_hearth/health HTTP/1.1\r\n${H()}Connection: close\r\n\r\nGET / HTTP/1.1\r\n${H()}\r\n`;
    const r = await rawExchange(port, req, { timeoutMs: 4000 });
    assert.equal(r.timedOut, false, 'server should close the connection');
    const { responses } = splitResponses(r.text);
    assert.equal(responses.length, 1, 'the request after Connection: close must not be answered');
    assert.equal(responses[0].status, 200);
  });

  test('Date header is present, IMF-fixdate and close to now', T, async () => {
    const r = await rawExchange(port, `GET / HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
    const { responses } = splitResponses(r.text);
    const date = responses[0].headers.date;
    assert.ok(date, 'Date header missing');
    assert.match(date, IMF_FIXDATE);
    assert.ok(Math.abs(Date.parse(date) - Date.now()) < 60000, `Date ${date} is not close to now`);
  });

  test('error responses carry a Date header too', T, async () => {
    const r = await rawExchange(port, `GET /nope-${Date.now()} HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
    const { responses } = splitResponses(r.text);
    assert.equal(responses[0].status, 404);
    assert.match(responses[0].headers.date ?? '', IMF_FIXDATE);
  });

  test('responses have correct Content-Length framing for curl keep-alive reuse', T, async () => {
    const u = `http://127.0.0.1:${port}`;
    const r = await curl(['-v', `${u}/`, '-o', '/dev/null', `${u}/_hearth/health`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.blocks.map((b) => b.statusLine.split(' ')[1]), ['200', '200']);
    assert.match(r.stderr, /Re-using existing connection|Reusing existing connection/i, 'curl should reuse the connection');
  });
});

describe('robustness', () => {
  test('a request sent one byte at a time is parsed correctly', T, async () => {
    const c = await RawConn.connect(port);
    try {
      const req = `POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: 4\r\n\r\nping`;
      for (const ch of req) { await c.write(ch); await sleep(2); }
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.body, 'ping');
    } finally { c.destroy(); }
  });

  test('HEAD of a missing path → 404 without a body', T, async () => {
    const req = `HEAD /missing-for-head HTTP/1.1\r\n${H()}\r\nGET /_hearth/health HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`;
    const r = await rawExchange(port, req);
    const { responses, complete } = splitResponses(r.text, { methods: ['HEAD', 'GET'] });
    assert.ok(complete);
    assert.deepEqual(responses.map((x) => x.status), [404, 200]);
    assert.equal(responses[0].body, '');
  });

  test('unknown /_hearth/ path → 404', T, async () => {
    const r = await curl([`http://127.0.0.1:${port}/_hearth/no-such-endpoint`]);
    assert.equal(r.status, 404);
  });

  test('100 concurrent clients are all answered', T, async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      rawExchange(port, `POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: ${String(i).length}\r\nConnection: close\r\n\r\n${i}`, { timeoutMs: 10000 })));
    results.forEach((r, i) => {
      const { responses } = splitResponses(r.text);
      assert.equal(responses[0]?.status, 200, `client ${i}: ${r.text.slice(0, 100)}`);
      assert.equal(responses[0].body, String(i));
    });
  });
});

describe('pipelining after a large response', () => {
  let big;
  before(async () => {
    big = await startHearth({ env: { HEARTH_TEST_ENDPOINTS: '1' }, args: ['--max-body-size', '1MiB', '--header-timeout', '3s'] });
  });
  after(async () => { if (big) await big.stop('SIGKILL').catch(() => {}); });

  test('a request pipelined behind a 300 KB echo response is answered (not 408)', T, async () => {
    const body = 'p'.repeat(300000);
    const req = `POST /_hearth/debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      'GET /_hearth/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const r = await rawExchange(big.port, req, { timeoutMs: 8000 });
    const { responses } = splitResponses(r.text);
    assert.deepEqual(responses.map((x) => x.status), [200, 200], `took ${r.ms} ms`);
    assert.equal(responses[0].body.length, body.length);
    assert.ok(r.ms < 2500, `second response should not wait for a timeout (took ${r.ms} ms)`);
  });
});

describe('custom limits from flags', () => {
  let small;
  before(async () => {
    small = await startHearth({
      env: { HEARTH_TEST_ENDPOINTS: '1' },
      args: ['--max-header-size', '1KiB', '--max-target-size', '256', '--max-body-size', '100'],
    });
  });
  after(async () => { if (small) await small.stop('SIGKILL').catch(() => {}); });

  const send = (bytes) => rawExchange(small.port, bytes, { timeoutMs: 4000 });

  test('--max-header-size 1KiB: 2KiB of headers → 431, 512 B → 200', T, async () => {
    const big = await send(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2048)}\r\n\r\n`);
    assert.equal(firstStatus(big.text), 431);
    const ok = await send(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(512)}\r\nConnection: close\r\n\r\n`);
    assert.equal(firstStatus(ok.text), 200);
  });

  test('--max-target-size 256: 300-byte target → 414, 200-byte target → 404', T, async () => {
    const big = await send(`GET /${'t'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(firstStatus(big.text), 414);
    const ok = await send(`GET /${'t'.repeat(200)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(firstStatus(ok.text), 404);
  });

  test('--max-body-size 100: 101 bytes → 413, 100 bytes → 200', T, async () => {
    const big = await send(`POST /_hearth/debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n${'b'.repeat(101)}`);
    assert.equal(firstStatus(big.text), 413);
    const ok = await send(`POST /_hearth/debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n${'b'.repeat(100)}`);
    assert.equal(firstStatus(ok.text), 200);
  });
});

describe('refusals', () => {
  test('Content-Length together with Transfer-Encoding → 400', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400, 'CL+TE');
  });

  test('conflicting Content-Length headers → 400', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400, 'two CLs');
  });

  test('conflicting Content-Length list in one header → 400', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: 5, 6\r\n\r\nhello!`, 400, 'CL list');
  });

  test('non-numeric Content-Length → 400', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: +5\r\n\r\nhello`, 400, 'CL +5');
  });

  test('invalid character in a header name → 400', T, async () => {
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}X-Bad@Name: 1\r\n\r\n`, 400, 'header name with @');
  });

  test('whitespace between header name and colon → 400', T, async () => {
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}X-Name : 1\r\n\r\n`, 400, 'space before colon');
  });

  test('invalid character (control byte) in a header value → 400', T, async () => {
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}X-Value: a\x01b\r\n\r\n`, 400, 'CTL in value');
  });

  test('NUL in a header value → 400', T, async () => {
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}X-Value: a\x00b\r\n\r\n`, 400, 'NUL in value');
  });

  test('obs-fold (continuation line) → 400', T, async () => {
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}X-Folded: a\r\n  b\r\n\r\n`, 400, 'obs-fold');
  });

  test('bad chunk size → 400', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400, 'chunk size zz');
  });

  test('chunk data longer than its size → 400', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`, 400, 'chunk overrun');
  });

  test('huge chunk size (overflow) → 400 or 413', T, async () => {
    const r = await rawExchange(port, `POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nhello\r\n0\r\n\r\n`, { timeoutMs: 4000 });
    assert.ok([400, 413].includes(firstStatus(r.text)), `got ${JSON.stringify(r.text.slice(0, 100))}`);
    assert.equal(r.timedOut, false);
  });

  test('missing Host on HTTP/1.1 → 400', T, async () => {
    await expectRefusal('GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n', 400, 'no Host');
  });

  test('two Host headers → 400', T, async () => {
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}Host: other\r\n\r\n`, 400, 'two Hosts');
  });

  test('headers larger than the default max-header-size (16KiB) → 431', T, async () => {
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}X-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431, 'big header');
  });

  test('many headers adding up over 16KiB → 431', T, async () => {
    let hs = '';
    for (let i = 0; i < 200; i++) hs += `X-H${i}: ${'b'.repeat(100)}\r\n`;
    await expectRefusal(`GET / HTTP/1.1\r\n${H()}${hs}\r\n`, 431, 'many headers');
  });

  test('headers just under the limit are accepted', T, async () => {
    const r = await rawExchange(port, `GET /_hearth/health HTTP/1.1\r\n${H()}X-Big: ${'a'.repeat(12 * 1024)}\r\nConnection: close\r\n\r\n`);
    assert.equal(firstStatus(r.text), 200);
  });

  test('request target longer than max-target-size (8KiB) → 414', T, async () => {
    await expectRefusal(`GET /${'a'.repeat(9 * 1024)} HTTP/1.1\r\n${H()}\r\n`, 414, 'long target');
  });

  test('body over --max-body-size (Content-Length) → 413', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: ${BODY_LIMIT + 1}\r\n\r\n`, 413, 'CL over limit');
  });

  test('body at exactly --max-body-size is accepted', T, async () => {
    const body = 'z'.repeat(BODY_LIMIT);
    const c = await RawConn.connect(port);
    try {
      await c.write(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Content-Length: ${body.length}\r\n\r\n${body}`);
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-body-length'], String(BODY_LIMIT));
    } finally { c.destroy(); }
  });

  test('chunked body growing over --max-body-size → 413', T, async () => {
    const c = await RawConn.connect(port);
    try {
      await c.write(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: chunked\r\n\r\n`);
      const chunk = `4000\r\n${'c'.repeat(0x4000)}\r\n`; // 16 KiB per chunk
      for (let i = 0; i < 6 && !c.closed && !c.text.length; i++) {
        await c.write(chunk);
        await sleep(20);
      }
      await c.waitFor((x) => x.text.includes('\r\n\r\n'), 4000, '413 response');
      assert.equal(firstStatus(c.text), 413);
      assert.ok(await c.waitClose(3000), 'connection should be closed after 413');
    } finally { c.destroy(); }
  });

  test('Transfer-Encoding: gzip → 501', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: gzip\r\n\r\nhello`, 501, 'TE gzip');
  });

  test('Transfer-Encoding: gzip, chunked → 501', T, async () => {
    await expectRefusal(`POST /_hearth/debug/echo HTTP/1.1\r\n${H()}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 501, 'TE gzip, chunked');
  });

  test('HTTP/2.0 request line over HTTP/1 → 505', T, async () => {
    await expectRefusal(`GET / HTTP/2.0\r\n${H()}\r\n`, 505, 'HTTP/2.0');
  });

  test('garbage request line → 400', T, async () => {
    await expectRefusal('HELLO THERE\r\n\r\n', 400, 'garbage request line');
  });

  test('after a refusal the connection is closed even with more pipelined requests', T, async () => {
    const req = `GET / HTTP/1.1\r\nX-Bad@Name: 1\r\n${H()}\r\nGET / HTTP/1.1\r\n${H()}\r\n`;
    const r = await expectRefusal(req, 400, 'pipelined after error');
    assert.equal(splitResponses(r.text).responses.length, 1);
  });

  test('server keeps serving normally after all those refusals', T, async () => {
    const r = await curl([`http://127.0.0.1:${port}/_hearth/health`]);
    assert.equal(r.status, 200);
    assert.ok(srv.alive());
  });
});

describe('large request bodies', () => {
  test('16 MiB bodies arrive whole, every time (no stall when a read turn is cut short)', { timeout: 60000 }, async () => {
    const srv = await startHearth({ args: ['--workers', '1'], env: { HEARTH_TEST_ENDPOINTS: '1' } });
    try {
      const body = Buffer.alloc(16 << 20, 0x61);
      for (let i = 0; i < tier(2, 4); i++) {
        const r = await httpRequest(`${srv.url}/_hearth/debug/echo`, { method: 'POST', body, timeoutMs: 8000 });
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-body-length'], String(body.length));
        assert.equal(r.body.length, body.length);
      }
      // curl fills the socket faster than the server reads: the case where a
      // connection must be driven again without a new epoll edge.
      const dir = await makeTempDir();
      const file = path.join(dir, 'big.bin');
      await fsp.writeFile(file, body);
      for (let i = 0; i < tier(6, 12); i++) {
        const out = await new Promise((resolve) => {
          execFile('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_upload}', '--max-time', '5',
            '-X', 'POST', '-H', 'Expect:', '--data-binary', `@${file}`, `${srv.url}/_hearth/debug/echo`],
          (err, stdout) => resolve(stdout));
        });
        assert.equal(out.trim(), `200 ${body.length}`, `upload ${i} stalled or failed`);
      }
    } finally { await srv.stop(); }
  });
});
