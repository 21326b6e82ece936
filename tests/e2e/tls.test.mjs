// HTTPS: hearth serve --https, certificates made or imported with `hearth cert`
// and kept in hearth.db, SNI choosing each site's certificate, HTTP -> HTTPS
// redirects, HSTS, a certificate replaced while connections stay open, and
// bad handshakes that close only their own connection.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { startHearth, runHearth, httpRequest, makeTempDir, parseMetrics, metricValue, fetchMetrics } from './helpers.mjs';

const T = { timeout: 60000 };
const exec = promisify(execFile);

/** GET over HTTPS to 127.0.0.1 with `host` as SNI and Host; resolves {status, headers, body, cert, protocol, alpn}. */
function httpsGet(port, host, p, { ca, agent, method = 'GET' } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: p, method, servername: host, headers: { Host: host }, ca, agent: agent ?? false,
      ALPNProtocols: ['http/1.1'],
      timeout: 10000,
    }, (res) => {
      const chunks = [];
      const socket = res.socket;  // a kept-alive one goes back to its agent at 'end'
      const cert = socket.getPeerCertificate(), protocol = socket.getProtocol(), alpn = socket.alpnProtocol;
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), cert, protocol, alpn, socket }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The error a TLS connection ends with (or null when the handshake succeeds). */
function handshakeError(port, servername, opts = {}) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...opts }, () => {
      s.end();
      resolve(null);
    });
    s.on('error', (e) => resolve(e));
    s.setTimeout(5000, () => { s.destroy(); resolve(new Error('timeout')); });
  });
}

describe('HTTPS', () => {
  let srv;
  let token;
  let work;
  const cli = (args) => runHearth([...args, '--server', srv.url, '--token', token], { timeoutMs: 20000 });

  async function deploy(site, files) {
    const dir = path.join(work, site);
    await fsp.mkdir(dir, { recursive: true });
    for (const [name, content] of Object.entries(files)) await fsp.writeFile(path.join(dir, name), content);
    const r = await cli(['deploy', dir, '--site', site]);
    assert.equal(r.code, 0, r.stderr);
  }

  before(async () => {
    work = await makeTempDir('hearth-tls-');
    srv = await startHearth({ args: ['--https', '127.0.0.1:0', '--workers', '2'] });
    assert.ok(srv.httpsPort > 0, 'the listening line names the HTTPS address');
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    for (const site of ['a.test', 'b.test']) {
      const r = await cli(['sites', 'add', site]);
      assert.equal(r.code, 0, r.stderr);
    }
    await deploy('a.test', { 'index.html': '<h1>site a</h1>', 'big.bin': crypto.randomBytes(300000) });
    await deploy('b.test', { 'index.html': '<h1>site b</h1>' });
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('hearth cert self-signed: each site is served with its own certificate (SNI)', T, async () => {
    for (const site of ['a.test', 'b.test']) {
      const r = await cli(['cert', 'self-signed', '--host', site, '--out', path.join(work, `${site}.pem`)]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`serving \\d+ +${site.replace('.', '\\.')} +self-signed`));
    }
    const caA = await fsp.readFile(path.join(work, 'a.test.pem'));
    const caB = await fsp.readFile(path.join(work, 'b.test.pem'));
    const a = await httpsGet(srv.httpsPort, 'a.test', '/', { ca: caA });
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), '<h1>site a</h1>');
    assert.equal(a.alpn, 'http/1.1');
    assert.match(a.protocol, /^TLSv1\.[23]$/);
    const b = await httpsGet(srv.httpsPort, 'b.test', '/', { ca: caB });
    assert.equal(b.body.toString(), '<h1>site b</h1>');
    assert.notEqual(a.cert.fingerprint256, b.cert.fingerprint256);
    // b's certificate is not a's: trusting only a's, b.test does not verify.
    await assert.rejects(httpsGet(srv.httpsPort, 'b.test', '/', { ca: caA }), /self.signed|unable to verify|certificate/i);
    // A larger file comes through whole (many TLS records).
    const big = await httpsGet(srv.httpsPort, 'a.test', '/big.bin', { ca: caA });
    assert.equal(big.status, 200);
    assert.equal(big.body.length, 300000);
    // curl agrees.
    const { stdout } = await exec('curl', ['-sS', '--cacert', path.join(work, 'a.test.pem'), '--resolve',
      `a.test:${srv.httpsPort}:127.0.0.1`, `https://a.test:${srv.httpsPort}/`]);
    assert.equal(stdout, '<h1>site a</h1>');
    const list = await cli(['cert', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /a\.test +self-signed +expires \d{4}-\d{2}-\d{2} \(\d+ days\)/);
  });

  test('HTTP redirects to HTTPS for a site with a certificate, except ACME challenges', T, async () => {
    const r = await httpRequest(`${srv.url}/page?x=1`, { headers: { Host: 'a.test' } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://a.test:${srv.httpsPort}/page?x=1`);
    const acme = await httpRequest(`${srv.url}/.well-known/acme-challenge/abc`, { headers: { Host: 'a.test' } });
    assert.notEqual(acme.status, 308);
    // A site without a certificate stays on HTTP.
    const add = await cli(['sites', 'add', 'plain.test']);
    assert.equal(add.code, 0, add.stderr);
    const plain = await httpRequest(`${srv.url}/`, { headers: { Host: 'plain.test' } });
    assert.notEqual(plain.status, 308);
  });

  test('HSTS is a per-site setting, sent over HTTPS only', T, async () => {
    const ca = await fsp.readFile(path.join(work, 'a.test.pem'));
    assert.equal((await httpsGet(srv.httpsPort, 'a.test', '/', { ca })).headers['strict-transport-security'], undefined);
    const r = await cli(['sites', 'set', 'a.test', '--hsts', 'true']);
    assert.equal(r.code, 0, r.stderr);
    const on = await httpsGet(srv.httpsPort, 'a.test', '/', { ca });
    assert.match(on.headers['strict-transport-security'], /max-age=31536000/);
    const http = await httpRequest(`${srv.url}/`, { headers: { Host: 'a.test' } });
    assert.equal(http.headers['strict-transport-security'], undefined);
  });

  test('a new certificate is used by new connections at once; open ones go on', T, async () => {
    const caOld = await fsp.readFile(path.join(work, 'b.test.pem'));
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await httpsGet(srv.httpsPort, 'b.test', '/', { ca: caOld, agent });
    const r = await cli(['cert', 'self-signed', '--host', 'b.test', '--out', path.join(work, 'b2.pem')]);
    assert.equal(r.code, 0, r.stderr);
    // The kept-alive connection still serves, with the certificate it began with.
    const again = await httpsGet(srv.httpsPort, 'b.test', '/', { ca: caOld, agent });
    assert.equal(again.status, 200);
    assert.equal(again.socket, first.socket, 'the same connection');
    agent.destroy();
    const caNew = await fsp.readFile(path.join(work, 'b2.pem'));
    const fresh = await httpsGet(srv.httpsPort, 'b.test', '/', { ca: caNew });
    assert.equal(fresh.status, 200);
    assert.notEqual(fresh.cert.fingerprint256, first.cert.fingerprint256);
  });

  test('import: a certificate and key from files; bad input gets a one-line error', T, async () => {
    const key = path.join(work, 'imp.key'), crt = path.join(work, 'imp.crt');
    await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '30',
      '-subj', '/CN=imp.test', '-addext', 'subjectAltName=DNS:imp.test,DNS:www.imp.test']);
    const ok = await cli(['cert', 'import', '--cert', crt, '--key', key]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /imp\.test,www\.imp\.test +imported/);
    const add = await cli(['sites', 'add', 'imp.test', '--host', 'www.imp.test']);
    assert.equal(add.code, 0, add.stderr);
    const served = await httpsGet(srv.httpsPort, 'www.imp.test', '/', { ca: await fsp.readFile(crt) });
    assert.equal(served.cert.subject.CN, 'imp.test');
    // The key of another certificate.
    const other = path.join(work, 'other.key');
    await exec('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', other]);
    const mismatch = await cli(['cert', 'import', '--cert', crt, '--key', other]);
    assert.notEqual(mismatch.code, 0);
    assert.equal(mismatch.stderr.trim(), 'hearth: the key does not match the certificate');
    const garbage = path.join(work, 'garbage.pem');
    await fsp.writeFile(garbage, 'not a certificate');
    const bad = await cli(['cert', 'import', '--cert', garbage, '--key', key]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^hearth: the certificate is not a PEM certificate/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const noHost = await cli(['cert', 'self-signed', '--host', 'bad host!']);
    assert.notEqual(noHost.code, 0);
    assert.match(noHost.stderr, /not a host name/);
  });

  test('unknown names, old protocols and garbage end only their own connection', T, async () => {
    const unknown = await handshakeError(srv.httpsPort, 'nobody.test');
    assert.ok(unknown, 'no certificate for an unknown name');
    assert.match(String(unknown.message), /unrecognized name|alert/i);
    const old = await handshakeError(srv.httpsPort, 'a.test', { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
    assert.ok(old, 'TLS 1.1 is refused');
    // Bytes that are not TLS at all.
    await new Promise((resolve) => {
      const s = net.connect(srv.httpsPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'));
      s.on('data', () => {});
      s.on('close', resolve);
      s.on('error', resolve);
      s.setTimeout(5000, () => s.destroy());
    });
    // A half handshake that stops: the server goes on serving others meanwhile.
    const stalled = net.connect(srv.httpsPort, '127.0.0.1', () => stalled.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
    stalled.on('error', () => {});
    const ca = await fsp.readFile(path.join(work, 'a.test.pem'));
    assert.equal((await httpsGet(srv.httpsPort, 'a.test', '/', { ca })).status, 200);
    stalled.destroy();
    const metrics = parseMetrics((await fetchMetrics(srv)).text);
    assert.ok(metricValue(metrics, 'hearth_tls_handshake_failures_total') >= 3);
    assert.ok(metricValue(metrics, 'hearth_tls_handshakes_total') >= 5);
  });

  test('TLS 1.3 sessions resume again and again: each resumption hands out a fresh ticket', T, async () => {
    const before = metricValue(parseMetrics((await fetchMetrics(srv)).text), 'hearth_tls_resumptions_total');
    const outcomes = [];
    let sessIn = null;
    for (let i = 0; i < 4; i++) {
      const sessOut = path.join(work, `session-${i}.pem`);
      const args = ['s_client', '-connect', `127.0.0.1:${srv.httpsPort}`, '-servername', 'a.test', '-tls1_3', '-ign_eof', '-sess_out', sessOut];
      if (sessIn) args.push('-sess_in', sessIn);
      const out = await new Promise((resolve) => {
        const p = execFile('openssl', args, { timeout: 10000 }, (err, stdout) => resolve(stdout));
        // A whole exchange, so the ticket (sent after the handshake) is read.
        p.stdin.end('GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
      });
      outcomes.push((out.match(/^(New|Reused), TLSv1\.3/m) || [])[1]);
      assert.match(out, /site a/);
      sessIn = sessOut;
    }
    assert.deepEqual(outcomes, ['New', 'Reused', 'Reused', 'Reused']);
    const after = metricValue(parseMetrics((await fetchMetrics(srv)).text), 'hearth_tls_resumptions_total');
    assert.ok(after - before >= 3, `resumptions counted: ${after - before}`);
  });

  test('hearth cert local-ca: *.localhost hosts get certificates it signs, during the handshake', T, async () => {
    const caFile = path.join(work, 'local-ca.pem');
    const r = await cli(['cert', 'local-ca', '--out', caFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /created a local CA/);
    assert.match(r.stdout, /update-ca-certificates/);
    const ca = await fsp.readFile(caFile);
    const add = await cli(['sites', 'add', 'app.localhost']);
    assert.equal(add.code, 0, add.stderr);
    await deploy('app.localhost', { 'index.html': '<h1>dev</h1>' });
    const got = await httpsGet(srv.httpsPort, 'app.localhost', '/', { ca });
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), '<h1>dev</h1>');
    assert.equal(got.cert.issuer.CN, 'hearth local CA');
    assert.deepEqual(got.cert.subjectaltname, 'DNS:app.localhost');
    // HTTP redirects there too; other names still get no certificate.
    const redirect = await httpRequest(`${srv.url}/`, { headers: { Host: 'app.localhost' } });
    assert.equal(redirect.status, 308);
    assert.ok(await handshakeError(srv.httpsPort, 'app.example'));
    // Asking again keeps the same CA: what was trusted stays trusted.
    const again = await cli(['cert', 'local-ca', '--out', path.join(work, 'local-ca-2.pem')]);
    assert.match(again.stdout, /already has a local CA/);
    assert.equal(await fsp.readFile(path.join(work, 'local-ca-2.pem'), 'utf8'), ca.toString());
  });

  test('cert rm stops serving it; certificates live in hearth.db and survive a restart', T, async () => {
    const list = JSON.parse((await cli(['cert', 'list', '--json'])).stdout);
    const imp = list.items.find((c) => c.hosts.includes('imp.test'));
    const rm = await cli(['cert', 'rm', String(imp.id)]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.ok(await handshakeError(srv.httpsPort, 'imp.test'));
    const missing = await cli(['cert', 'rm', '9999']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no certificate 9999/);
    await srv.stop('SIGKILL');
    srv = await startHearth({ args: ['--https', '127.0.0.1:0'], dataDir: srv.dataDir });
    const ca = await fsp.readFile(path.join(work, 'a.test.pem'));
    const again = await httpsGet(srv.httpsPort, 'a.test', '/', { ca });
    assert.equal(again.body.toString(), '<h1>site a</h1>');
    const dev = await httpsGet(srv.httpsPort, 'app.localhost', '/', { ca: await fsp.readFile(path.join(work, 'local-ca.pem')) });
    assert.equal(dev.body.toString(), '<h1>dev</h1>');
  });
});

// OCSP stapling: the CA's answer is made by `openssl ocsp` (from its index
// file) and served by a responder on loopback; a certificate whose leaf
// names the responder gets the answer stapled to handshakes that ask
// (status_request); one that names none gets none.
describe('OCSP stapling', () => {
  let srv;
  let token;
  let work;
  let responder;
  let answer;
  let asked = 0;
  const cli = (args) => runHearth([...args, '--server', srv.url, '--token', token], { timeoutMs: 20000 });

  /** `openssl s_client -status` output for a handshake with `host`. */
  async function status(host) {
    const r = await new Promise((resolve) => {
      const p = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${srv.httpsPort}`, '-servername', host, '-status'],
        { timeout: 10000 }, (err, stdout, stderr) => resolve({ stdout, stderr }));
      p.stdin.end();
    });
    return r.stdout + r.stderr;
  }

  before(async () => {
    work = await makeTempDir('hearth-ocsp-');
    responder = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        asked++;
        res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(answer);
      });
    });
    await new Promise((r) => responder.listen(0, '127.0.0.1', r));
    const port = responder.address().port;
    const f = (n) => path.join(work, n);
    await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '30', '-subj', '/CN=Test OCSP CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await exec('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=ocsp.test']);
    await fsp.writeFile(f('ext.cnf'), `subjectAltName=DNS:ocsp.test\nauthorityInfoAccess=OCSP;URI:http://127.0.0.1:${port}\n` +
      'extendedKeyUsage=serverAuth\n');
    await exec('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f('leaf.pem'), '-days', '20', '-extfile', f('ext.cnf')]);
    await fsp.writeFile(f('chain.pem'), (await fsp.readFile(f('leaf.pem'), 'utf8')) + (await fsp.readFile(f('ca.pem'), 'utf8')));
    const serial = (await exec('openssl', ['x509', '-in', f('leaf.pem'), '-noout', '-serial'])).stdout.trim().split('=')[1];
    await fsp.writeFile(f('index.txt'), `V\t301231235959Z\t\t${serial}\tunknown\t/CN=ocsp.test\n`);
    await exec('openssl', ['ocsp', '-issuer', f('ca.pem'), '-cert', f('leaf.pem'), '-no_nonce', '-reqout', f('req.der')]);
    await exec('openssl', ['ocsp', '-index', f('index.txt'), '-rsigner', f('ca.pem'), '-rkey', f('ca.key'), '-CA', f('ca.pem'),
      '-ndays', '1', '-reqin', f('req.der'), '-respout', f('resp.der')]);
    answer = await fsp.readFile(f('resp.der'));
    srv = await startHearth({ args: ['--https', '127.0.0.1:0'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
  });
  after(async () => {
    if (srv) await srv.stop('SIGKILL').catch(() => {});
    responder?.close();
  });

  test('a certificate naming a responder gets a "good" answer stapled; one naming none gets none', T, async () => {
    const imp = await cli(['cert', 'import', '--cert', path.join(work, 'chain.pem'), '--key', path.join(work, 'leaf.key')]);
    assert.equal(imp.code, 0, imp.stderr);
    assert.equal((await cli(['cert', 'self-signed', '--host', 'plain.test'])).code, 0);
    let out = '';
    for (let i = 0; i < 50; i++) {
      out = await status('ocsp.test');
      if (out.includes('OCSP Response Status: successful')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(out, /OCSP Response Status: successful/, `no staple; hearth log:\n${srv.stderrLines().join('\n')}`);
    assert.match(out, /Cert Status: good/);
    assert.match(out, /Next Update:/);
    // TLS 1.2 too (the answer travels in a different message there).
    const t12 = await new Promise((resolve) => {
      const p = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${srv.httpsPort}`, '-servername', 'ocsp.test', '-status',
        '-tls1_2'], { timeout: 10000 }, (err, stdout) => resolve(stdout));
      p.stdin.end();
    });
    assert.match(t12, /Cert Status: good/);
    const none = await status('plain.test');
    assert.match(none, /OCSP response: no response sent/);
    // Fetched once in the background, not once per handshake.
    assert.equal(asked, 1);
  });
});
