// Automatic certificates (ACME) against pebble, Let's Encrypt's test CA,
// started here on loopback with pebble-challtestsrv as its DNS (every name
// is 127.0.0.1): a site gets a certificate by HTTP-01 without anyone asking,
// it is served over HTTPS and verifies against pebble's root, and it is
// renewed when two thirds of its (short) life have passed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHearth, runHearth, httpRequest, makeTempDir, sleep } from './helpers.mjs';

const exec = promisify(execFile);
const T = { timeout: 120000 };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
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

describe('ACME with pebble', () => {
  const procs = [];
  let srv;
  let work;
  let pebbleCa;
  let root;
  let token;
  let mgmtPort;
  let firstFingerprint;

  before(async () => {
    work = await makeTempDir('hearth-acme-');
    const httpPort = await freePort();
    const dirPort = await freePort();
    mgmtPort = await freePort();
    const dnsPort = await freePort();
    const dnsMgmt = await freePort();
    const tlsPort = await freePort();
    pebbleCa = path.join(work, 'pebble.pem');
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
      if (i > 50) throw new Error(`pebble did not start: ${pebble.log}`);
      await sleep(100);
    }
    srv = await startHearth({
      http: `127.0.0.1:${httpPort}`,
      args: ['--https', '127.0.0.1:0', '--acme-email', 'ops@shop.test', '--acme-directory', `https://127.0.0.1:${dirPort}/dir`,
        '--acme-ca-root', pebbleCa],
    });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    root = (await get(`https://127.0.0.1:${mgmtPort}/roots/0`, ca)).body;
  });
  after(async () => {
    if (srv) await srv.stop('SIGKILL').catch(() => {});
    for (const p of procs) p.kill('SIGKILL');
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
    const got = await httpsGet(srv.httpsPort, 'shop.test', root + '\n' + (await fsp.readFile(pebbleCa, 'utf8')));
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
    const got = await httpsGet(srv.httpsPort, 'shop.test', root);
    assert.equal(got.status, 200);
    assert.notEqual(got.cert.fingerprint256, firstFingerprint, 'new connections get the renewed certificate');
  });
});
