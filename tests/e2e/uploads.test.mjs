// Streamed uploads: blob bodies go to the handler as they arrive (hashed and
// spooled), never whole in memory; a refused upload is refused at its head.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { startHearth, runHearth, makeTempDir, httpRequest, withTimeout, tier } from './helpers.mjs';

const API = '/_hearth/api';
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

/** Runs curl, printing only what -w asks for. */
function curlW(args) {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--noproxy', '*', '--max-time', '30', '-o', '/dev/null', ...args], { timeout: 40000 },
      (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? (err.code ?? 1) : 0 }));
  });
}

/** A deterministic pseudo-random block generator: `blocks` of 1 MiB. */
function* blocksOf(seed, blocks) {
  for (let i = 0; i < blocks; i++) yield crypto.createHash('sha512').update(`${seed}:${i}`).digest().toString('hex').repeat(8192).slice(0, 1 << 20);
}
function hashOf(seed, blocks) {
  const h = crypto.createHash('sha256');
  for (const b of blocksOf(seed, blocks)) h.update(b);
  return h.digest('hex');
}

/**
 * PUTs a body written block by block (chunked unless contentLength is given),
 * resolving with {status, json}; `abortAfter` destroys the socket after that
 * many blocks.
 */
function streamPut(base, token, p, seed, blocks, { contentLength, abortAfter, headers = {} } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const h = { 'Content-Type': 'application/octet-stream', ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (contentLength !== undefined) h['Content-Length'] = String(contentLength);
    const req = http.request(`${base}${API}${p}`, { method: 'PUT', headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', (e) => (abortAfter !== undefined ? resolve({ aborted: true }) : reject(e)));
    const it = blocksOf(seed, blocks);
    let sent = 0;
    const pump = () => {
      for (;;) {
        if (abortAfter !== undefined && sent === abortAfter) { req.destroy(); return resolve({ aborted: true }); }
        const next = it.next();
        if (next.done) { req.end(); return; }
        sent++;
        if (!req.write(next.value)) { req.once('drain', pump); return; }
      }
    };
    pump();
  }), 120000, `PUT ${p}`);
}

describe('streamed blob uploads', () => {
  let srv;
  let token;
  before(async () => {
    srv = await startHearth({ args: ['--workers', '2', '--max-body-size', '128MiB'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  const api = async (method, p, body) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { Authorization: `Bearer ${token}` };
    if (data) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = String(data.length); }
    const r = await httpRequest(`${srv.url}${API}${p}`, { method, headers, body: data, timeoutMs: 30000 });
    return { ...r, json: JSON.parse(r.text) };
  };

  // Big data: 24 MiB is past every in-memory bound; the soak tier sends 100.
  const blocks = tier(24, 100);
  test(`a ${blocks} MiB chunked upload is stored, published, and served back byte for byte`, { timeout: 180000 }, async () => {
    const hash = hashOf('big', blocks);
    const m = await api('POST', '/sites/big.test/deploys', { files: [{ path: 'big.bin', hash, size: blocks << 20 }] });
    assert.equal(m.status, 201, m.text);
    assert.deepEqual(m.json.missing, [hash]);
    const put = await streamPut(srv.url, token, `/blobs/${hash}`, 'big', blocks);
    assert.equal(put.status, 201, put.text);
    assert.equal(put.json.size, blocks << 20);
    const pub = await api('POST', `/deploys/${m.json.version}/publish`, {});
    assert.equal(pub.status, 200, pub.text);
    // Served back whole, with its length, and the same bytes.
    const got = await withTimeout(new Promise((resolve, reject) => {
      http.get(`${srv.url}/big.bin`, { headers: { Host: 'big.test' }, agent: false }, (res) => {
        const h = crypto.createHash('sha256');
        let n = 0;
        res.on('data', (d) => { h.update(d); n += d.length; });
        res.on('end', () => resolve({ status: res.statusCode, length: res.headers['content-length'], n, hash: h.digest('hex') }));
        res.on('error', reject);
      }).on('error', reject);
    }), 60000, 'GET big.bin');
    assert.equal(got.status, 200);
    assert.equal(got.length, String(blocks << 20));
    assert.equal(got.n, blocks << 20);
    assert.equal(got.hash, hash);
  });

  test('a Content-Length upload in pieces and an upload of a blob already stored both answer 201', { timeout: 60000 }, async () => {
    const hash = hashOf('cl', 3);
    const a = await streamPut(srv.url, token, `/blobs/${hash}`, 'cl', 3, { contentLength: 3 << 20 });
    assert.equal(a.status, 201, a.text);
    const b = await streamPut(srv.url, token, `/blobs/${hash}`, 'cl', 3, { contentLength: 3 << 20 });
    assert.equal(b.status, 201, b.text);
    assert.equal(b.json.size, 3 << 20);
  });

  test('bytes that do not match the hash → 400, and nothing is stored', { timeout: 60000 }, async () => {
    const hash = hashOf('real', 2);
    const r = await streamPut(srv.url, token, `/blobs/${hash}`, 'forged', 2);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /do not match/);
    const m = await api('POST', '/sites/mismatch.test/deploys', { files: [{ path: 'x.bin', hash, size: 2 << 20 }] });
    assert.deepEqual(m.json.missing, [hash], 'the forged upload stored nothing');
  });

  test('a chunked upload past --max-body-size → 413 with a reason, seen by curl mid-upload; the server goes on', { timeout: 60000 }, async () => {
    const dir = await makeTempDir('hearth-upload-');
    const file = path.join(dir, 'huge.bin');
    const fh = await fsp.open(file, 'w');
    for (const b of blocksOf('huge', 140)) await fh.write(b);
    await fh.close();
    const r = await curlW(['-w', '%{http_code}', '-T', file, '-H', 'Transfer-Encoding: chunked',
      '-H', `Authorization: Bearer ${token}`, `${srv.url}${API}/blobs/${hashOf('huge', 140)}`]);
    assert.equal(r.stdout.trim(), '413', r.stdout + r.stderr);
    await fsp.rm(file);
    const ok = await streamPut(srv.url, token, `/blobs/${hashOf('after', 1)}`, 'after', 1);
    assert.equal(ok.status, 201, ok.text);
  });

  test('a declared length past the limit, or no token, is refused before the body is sent (curl, Expect: 100-continue)', { timeout: 60000 }, async () => {
    const dir = await makeTempDir('hearth-upload-');
    const file = path.join(dir, 'ten.bin');
    await fsp.writeFile(file, crypto.randomBytes(10 << 20));
    const hash = sha256(await fsp.readFile(file));
    const url = `${srv.url}${API}/blobs/${hash}`;
    const noToken = await curlW(['-w', '%{http_code} %{size_upload}', '-T', file,
      '-H', 'Expect: 100-continue', '--expect100-timeout', '10', url]);
    const [status, uploaded] = noToken.stdout.trim().split(' ');
    assert.equal(status, '401', noToken.stdout + noToken.stderr);
    assert.ok(Number(uploaded) < (1 << 20), `a refused upload sent ${uploaded} bytes`);
    const ok = await curlW(['-w', '%{http_code} %{size_upload}', '-T', file,
      '-H', `Authorization: Bearer ${token}`, '-H', 'Expect: 100-continue', '--expect100-timeout', '10', url]);
    assert.equal(ok.stdout.trim(), `201 ${10 << 20}`, ok.stdout + ok.stderr);
    const tooBig = await httpRequest(url, {
      method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Length': String(200 << 20) }, timeoutMs: 10000,
    });
    assert.equal(tooBig.status, 413, tooBig.text);
    assert.equal(tooBig.headers.connection, 'close');
  });

  test('an upload cut off half-way stores nothing and leaves no file behind', { timeout: 60000 }, async () => {
    const hash = hashOf('cut', 20);
    const r = await streamPut(srv.url, token, `/blobs/${hash}`, 'cut', 20, { contentLength: 20 << 20, abortAfter: 8 });
    assert.ok(r.aborted);
    const m = await api('POST', '/sites/cut.test/deploys', { files: [{ path: 'c.bin', hash, size: 20 << 20 }] });
    assert.deepEqual(m.json.missing, [hash]);
    const files = (await fsp.readdir(srv.dataDir)).filter((f) => !/^(hearth\.db(-wal|-shm)?|hearth\.lock|admin\.token)$/.test(f));
    assert.deepEqual(files, [], 'only the database, its lock and the token are in the data folder');
    const again = await streamPut(srv.url, token, `/blobs/${hash}`, 'cut', 20);
    assert.equal(again.status, 201, again.text);
  });

  test('hearth deploy streams a large file from disk', { timeout: 120000 }, async () => {
    const dir = await makeTempDir('hearth-deploy-big-');
    const data = crypto.randomBytes(tier(12, 40) << 20);
    await fsp.writeFile(path.join(dir, 'video.bin'), data);
    await fsp.writeFile(path.join(dir, 'index.html'), '<h1>big</h1>');
    const r = await runHearth(['deploy', dir, '--site', 'cli-big.test', '--server', srv.url, '--token', token, '--json'],
      { timeoutMs: 100000, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.uploaded, 2);
    assert.equal(out.uploaded_bytes, data.length + 12);
    const got = await httpRequest(`${srv.url}/video.bin`, { headers: { Host: 'cli-big.test' }, timeoutMs: 30000 });
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(data));
  });

  test('large files stream from the store: Range, HEAD, a compressed variant, and a download the client stops reading', { timeout: 120000 }, async () => {
    const dir = await makeTempDir('hearth-deploy-large-');
    const bin = crypto.randomBytes(5 << 20);
    // A text file over the streaming threshold, so its brotli variant streams too.
    const lines = [];
    for (let i = 0; i < 120000; i++) lines.push(`line ${i} ${i % 7 === 0 ? 'seven' : 'other'} ${(i * 2654435761) % 1000}`);
    const js = Buffer.from(lines.join('\n'));
    assert.ok(js.length > (1 << 20));
    await fsp.writeFile(path.join(dir, 'data.bin'), bin);
    await fsp.writeFile(path.join(dir, 'app.js'), js);
    const r = await runHearth(['deploy', dir, '--site', 'large.test', '--server', srv.url, '--token', token], { timeoutMs: 60000, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const get = (p, headers = {}, method = 'GET') =>
      httpRequest(`${srv.url}${p}`, { method, headers: { Host: 'large.test', ...headers }, timeoutMs: 30000 });

    const range = await get('/data.bin', { Range: 'bytes=3000000-3999999' });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], `bytes 3000000-3999999/${bin.length}`);
    assert.ok(range.body.equals(bin.subarray(3000000, 4000000)), 'the range bytes');
    const tail = await get('/data.bin', { Range: 'bytes=-10' });
    assert.ok(tail.body.equals(bin.subarray(bin.length - 10)));
    const head = await get('/data.bin', {}, 'HEAD');
    assert.equal(head.headers['content-length'], String(bin.length));
    assert.equal(head.body.length, 0);
    const etag = head.headers.etag;
    assert.equal((await get('/data.bin', { 'If-None-Match': etag })).status, 304);

    // The brotli variant (made at deploy, in the background) comes once it exists.
    let br;
    for (let i = 0; i < 100; i++) {
      br = await get('/app.js', { 'Accept-Encoding': 'br' });
      if (br.headers['content-encoding'] === 'br') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(br.headers['content-encoding'], 'br');
    const zlib = await import('node:zlib');
    assert.ok(zlib.brotliDecompressSync(br.body).equals(js), 'the brotli variant decodes to the file');
    assert.equal(br.headers['content-length'], String(br.body.length));

    // A client that reads a little and stops does not stop the server.
    const sock = (await import('node:net')).connect(srv.port, '127.0.0.1');
    await new Promise((res) => sock.once('connect', res));
    sock.write('GET /data.bin HTTP/1.1\r\nHost: large.test\r\n\r\n');
    await new Promise((res) => sock.once('data', res));
    sock.pause();
    const again = await get('/data.bin');
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(bin));
    sock.destroy();
  });
});
