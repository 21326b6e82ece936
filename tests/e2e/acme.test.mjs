// Automatic certificates (ACME) against pebble, Let's Encrypt's test CA,
// started here on loopback with pebble-challtestsrv as its DNS (every name
// is 127.0.0.1): a site gets a certificate by HTTP-01 without anyone asking,
// it is served over HTTPS and verifies against pebble's root, and it is
// renewed when two thirds of its (short) life have passed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHearth, runHearth, httpRequest, makeTempDir, sleep } from './helpers.mjs';

const exec = promisify(execFile);
const T = { timeout: 120000 };

// `n` distinct free ports: all held open until each is known, so two of
// them cannot be the same port handed out twice.
async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function get(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

function httpsGet(port, host, ca) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', servername: host, headers: { Host: host }, ca, agent: false }, (res) => {
      let body = '';
      const cert = res.socket.getPeerCertificate();
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, cert }));
    });
    req.on('error', reject);
    req.end();
  });
}

// pebble and its DNS (every name is 127.0.0.1) on loopback. HTTP-01 is
// checked on `httpPort`, TLS-ALPN-01 on `tlsPort`.
async function startPebble(work, { httpPort, tlsPort, dirPort, mgmtPort, dnsPort, dnsMgmt }) {
  const procs = [];
  const pebbleCa = path.join(work, 'pebble.pem');
  const key = path.join(work, 'pebble.key');
  await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', pebbleCa, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  const config = path.join(work, 'pebble.json');
  await fsp.writeFile(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${dirPort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: pebbleCa, privateKey: key, httpPort, tlsPort, ocspResponderURL: '',
      externalAccountBindingRequired: false, certificateValidityPeriod: 45,
    },
  }));
  const start = (cmd, args, env = {}) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    p.log = '';
    p.stdout.on('data', (d) => { p.log += d; });
    p.stderr.on('data', (d) => { p.log += d; });
    procs.push(p);
    return p;
  };
  start('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`,
    '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsMgmt}`]);
  const pebble = start('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'],
    { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' });
  const ca = await fsp.readFile(pebbleCa);
  for (let i = 0; ; i++) {
    try {
      if ((await get(`https://127.0.0.1:${dirPort}/dir`, ca)).status === 200) break;
    } catch { /* not yet */ }
    if (i > 50) {
      for (const p of procs) p.kill('SIGKILL');
      throw new Error(`pebble did not start: ${pebble.log}`);
    }
    await sleep(100);
  }
  const root = (await get(`https://127.0.0.1:${mgmtPort}/roots/0`, ca)).body;
  return {
    directory: `https://127.0.0.1:${dirPort}/dir`, pebbleCa, root, pebble,
    stop() { for (const p of procs) p.kill('SIGKILL'); },
  };
}

describe('ACME with pebble', () => {
  let srv;
  let work;
  let peb;
  let token;
  let firstFingerprint;

  before(async () => {
    work = await makeTempDir('hearth-acme-');
    const [httpPort, tlsPort, dirPort, mgmtPort, dnsPort, dnsMgmt] = await freePorts(6);
    peb = await startPebble(work, { httpPort, tlsPort, dirPort, mgmtPort, dnsPort, dnsMgmt });
    srv = await startHearth({
      http: `127.0.0.1:${httpPort}`,
      args: ['--https', '127.0.0.1:0', '--acme-email', 'ops@shop.test', '--acme-directory', peb.directory,
        '--acme-ca-root', peb.pebbleCa],
    });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
  });
  after(async () => {
    if (srv) await srv.stop('SIGKILL').catch(() => {});
    peb?.stop();
  });

  const cli = (args) => runHearth([...args, '--server', srv.url, '--token', token], { timeoutMs: 20000 });
  async function acmeCerts(host) {
    const r = await cli(['cert', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).items.filter((c) => c.source === 'acme' && c.hosts.includes(host));
  }

  test('a new site gets a certificate by HTTP-01 and serves HTTPS with it', T, async () => {
    const dir = path.join(work, 'site');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'index.html'), '<h1>shop</h1>');
    assert.equal((await cli(['sites', 'add', 'shop.test'])).code, 0);
    assert.equal((await cli(['deploy', dir, '--site', 'shop.test'])).code, 0);
    let certs = [];
    for (let i = 0; i < 120 && certs.length === 0; i++) {
      certs = await acmeCerts('shop.test');
      if (!certs.length) await sleep(500);
    }
    assert.equal(certs.length, 1, `no ACME certificate; hearth log:\n${srv.stderrLines().join('\n')}`);
    assert.match(certs[0].issuer, /Pebble/);
    const got = await httpsGet(srv.httpsPort, 'shop.test', peb.root);
    assert.equal(got.status, 200);
    assert.equal(got.body, '<h1>shop</h1>');
    firstFingerprint = got.cert.fingerprint256;
    // Plain HTTP now redirects to HTTPS.
    const r = await httpRequest(`${srv.url}/`, { headers: { Host: 'shop.test' } });
    assert.equal(r.status, 308);
  });

  test('the certificate is renewed after two thirds of its life', T, async () => {
    const first = (await acmeCerts('shop.test'))[0];
    let certs = [first];
    for (let i = 0; i < 100 && certs[0]?.id === first.id; i++) {
      await sleep(1000);
      certs = await acmeCerts('shop.test');
    }
    assert.equal(certs.length, 1, 'the renewed certificate replaces the old one');
    const newest = certs[0];
    assert.ok(newest.id > first.id, `not renewed; hearth log:\n${srv.stderrLines().join('\n')}`);
    assert.ok(newest.not_after > first.not_after);
    const got = await httpsGet(srv.httpsPort, 'shop.test', peb.root);
    assert.equal(got.status, 200);
    assert.notEqual(got.cert.fingerprint256, firstFingerprint, 'new connections get the renewed certificate');
  });

  test('without --acme-ask, a name no site has is refused at once: no wait, no order', T, async () => {
    const started = Date.now();
    await assert.rejects(httpsGet(srv.httpsPort, 'stranger.test', peb.root), /alert|unrecognized|socket|ECONNRESET/i);
    assert.ok(Date.now() - started < 1000, `the handshake waited ${Date.now() - started} ms`);
    // Decided in the handshake itself: the ACME loop never heard of the name.
    assert.ok(!srv.stderrLines().some((l) => l.includes('stranger.test')), 'no order, no refusal logged by the loop');
  });
});

// TLS-ALPN-01 only (pebble's HTTP-01 port has nobody behind it), and
// certificates made during the handshake: for a site's own new name without
// asking, for other names (under a site's wildcard too) only when the
// --acme-ask URL approves them, and never for one it refuses.
describe('ACME: TLS-ALPN-01 and on-demand certificates', () => {
  let srv;
  let work;
  let peb;
  let token;
  let asker;
  const asked = [];

  before(async () => {
    work = await makeTempDir('hearth-acme-alpn-');
    const [httpPort, tlsPort, dirPort, mgmtPort, dnsPort, dnsMgmt] = await freePorts(6);
    peb = await startPebble(work, { httpPort, tlsPort, dirPort, mgmtPort, dnsPort, dnsMgmt });
    asker = http.createServer((req, res) => {
      const domain = new URL(req.url, 'http://x').searchParams.get('domain');
      asked.push(domain);
      res.writeHead(domain?.startsWith('ok.') ? 200 : 403).end();
    });
    await new Promise((r) => asker.listen(0, '127.0.0.1', r));
    srv = await startHearth({
      args: ['--https', `127.0.0.1:${tlsPort}`, '--acme-email', 'ops@shop.test', '--acme-directory', peb.directory,
        '--acme-ca-root', peb.pebbleCa, '--acme-challenges', 'tls-alpn-01',
        '--acme-ask', `http://127.0.0.1:${asker.address().port}/ask`],
    });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
  });
  after(async () => {
    if (srv) await srv.stop('SIGKILL').catch(() => {});
    peb?.stop();
    asker?.close();
  });

  const cli = (args) => runHearth([...args, '--server', srv.url, '--token', token], { timeoutMs: 20000 });
  async function acmeHosts() {
    const r = await cli(['cert', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).items.filter((c) => c.source === 'acme').flatMap((c) => c.hosts);
  }
  const log = () => srv.stderrLines().join('\n');

  test('a site gets its certificate by TLS-ALPN-01 on the HTTPS port', T, async () => {
    const dir = path.join(work, 'alpn-site');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'index.html'), 'alpn');
    assert.equal((await cli(['sites', 'add', 'alpn.test'])).code, 0);
    assert.equal((await cli(['deploy', dir, '--site', 'alpn.test'])).code, 0);
    for (let i = 0; i < 120 && !(await acmeHosts()).includes('alpn.test'); i++) await sleep(500);
    assert.ok((await acmeHosts()).includes('alpn.test'), `no certificate; hearth log:\n${log()}`);
    assert.ok(srv.stderrLines().some((l) => l.includes('"challenge":"tls-alpn-01"')), 'ordered with TLS-ALPN-01');
    const got = await httpsGet(srv.httpsPort, 'alpn.test', peb.root);
    assert.equal(got.status, 200);
    assert.equal(got.body, 'alpn');
  });

  test('a site\'s new name gets its certificate during its first handshake, without asking', T, async () => {
    const dir = path.join(work, 'fresh-site');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'index.html'), 'fresh');
    assert.equal((await cli(['sites', 'add', 'fresh.test'])).code, 0);
    assert.equal((await cli(['deploy', dir, '--site', 'fresh.test'])).code, 0);
    // The handshake itself waits for the certificate: no retry here.
    const got = await httpsGet(srv.httpsPort, 'fresh.test', peb.root);
    assert.equal(got.status, 200);
    assert.equal(got.body, 'fresh');
    assert.equal(got.cert.subjectaltname, 'DNS:fresh.test');
    assert.ok(!asked.includes('fresh.test'), 'a site\'s own names need no asking');
  });

  test('a name under a site\'s wildcard needs the ask URL too', T, async () => {
    const dir = path.join(work, 'apps-site');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'index.html'), 'apps');
    assert.equal((await cli(['sites', 'add', 'apps', '--host', '*.apps.test'])).code, 0);
    assert.equal((await cli(['deploy', dir, '--site', 'apps'])).code, 0);
    // Refused by the ask URL: an alert, and no order.
    await assert.rejects(httpsGet(srv.httpsPort, 'one.apps.test', peb.root), /alert|unrecognized|socket|ECONNRESET/i);
    assert.ok(asked.includes('one.apps.test'), 'the ask URL was asked');
    assert.ok(!(await acmeHosts()).includes('one.apps.test'));
    // Approved: certified during the handshake, and served by the wildcard site.
    const got = await httpsGet(srv.httpsPort, 'ok.apps.test', peb.root);
    assert.equal(got.status, 200);
    assert.equal(got.body, 'apps');
    assert.equal(got.cert.subjectaltname, 'DNS:ok.apps.test');
    assert.ok((await acmeHosts()).includes('ok.apps.test'));
  });

  test('a name the ask URL approves gets one; a refused name gets an alert and no order', T, async () => {
    const okHost = 'ok.customer.test';
    const noHost = 'no.customer.test';
    // No site's: only the ask URL can allow them.
    await assert.rejects(httpsGet(srv.httpsPort, noHost, peb.root), /alert|unrecognized|socket|ECONNRESET/i);
    assert.ok(asked.includes(noHost), 'the ask URL was asked');
    assert.ok(!(await acmeHosts()).includes(noHost));
    assert.ok(!srv.stderrLines().some((l) => l.includes('ordering a certificate') && l.includes(noHost)), 'no order for a refused name');
    // Approved: the handshake gets a certificate (no site serves the name, but it is answered over HTTPS).
    const got = await httpsGet(srv.httpsPort, okHost, peb.root);
    assert.equal(got.cert.subjectaltname, `DNS:${okHost}`);
    assert.ok(asked.includes(okHost));
    assert.ok((await acmeHosts()).includes(okHost));
    // The refusal is remembered: a second handshake does not ask again at once.
    const before = asked.filter((d) => d === noHost).length;
    await assert.rejects(httpsGet(srv.httpsPort, noHost, peb.root));
    assert.equal(asked.filter((d) => d === noHost).length, before);
  });
});
