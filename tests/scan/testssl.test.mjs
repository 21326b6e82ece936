// testssl.sh against hearth's HTTPS: no HIGH or CRITICAL finding, only TLS
// 1.2 and 1.3, HTTP/2 by ALPN, no known vulnerability. Run once per `make
// test` (with the release binary): the scan takes about a minute and looks at
// the TLS settings, which a sanitizer build does not change.
//
// The certificate is a CA-signed one valid 90 days with a CRL URL, imported
// with `hearth cert import` as a user would; the scan trusts the CA
// (--add-ca). testssl's exit code does not reflect findings, so its JSON is
// read here.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHearth, runHearth, makeTempDir } from '../e2e/helpers.mjs';

const exec = promisify(execFile);

describe('testssl.sh', () => {
  let srv;
  let work;
  before(async () => {
    work = await makeTempDir('hearth-testssl-');
    const f = (n) => path.join(work, n);
    await fsp.writeFile(f('ext.cnf'), 'subjectAltName=DNS:testssl.test\nextendedKeyUsage=serverAuth\n' +
      'keyUsage=critical,digitalSignature\ncrlDistributionPoints=URI:http://127.0.0.1:9/ca.crl\n');
    await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '400', '-subj', '/CN=hearth test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await exec('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=testssl.test']);
    await exec('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f('leaf.pem'), '-days', '90', '-extfile', f('ext.cnf')]);
    await fsp.writeFile(f('chain.pem'), (await fsp.readFile(f('leaf.pem'), 'utf8')) + (await fsp.readFile(f('ca.pem'), 'utf8')));
    srv = await startHearth({ args: ['--https', '127.0.0.1:0'] });
    const token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    const cli = (args) => runHearth([...args, '--server', srv.url, '--token', token], { timeoutMs: 20000 });
    const imp = await cli(['cert', 'import', '--cert', f('chain.pem'), '--key', f('leaf.key')]);
    assert.equal(imp.code, 0, imp.stderr);
    assert.equal((await cli(['sites', 'add', 'testssl.test'])).code, 0);
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('no HIGH or CRITICAL finding; TLS 1.2 and 1.3 only; h2 by ALPN', { timeout: 300000 }, async () => {
    const json = path.join(work, 'testssl.json');
    // Protocols, cipher categories, forward secrecy, server preference and
    // defaults, vulnerabilities.
    await exec('testssl', ['--quiet', '--warnings', 'off', '--color', '0', '--add-ca', path.join(work, 'ca.pem'),
      '--ip', '127.0.0.1', '-p', '-s', '-f', '-P', '-S', '-U', '--jsonfile', json, `https://testssl.test:${srv.httpsPort}/`],
    { timeout: 280000, maxBuffer: 16 << 20 });
    const findings = JSON.parse(await fsp.readFile(json, 'utf8'));
    const byId = new Map(findings.map((x) => [x.id, x]));
    assert.ok(findings.length > 50, `testssl found too little to have scanned: ${JSON.stringify(findings).slice(0, 2000)}`);
    const bad = findings.filter((x) => ['HIGH', 'CRITICAL', 'FATAL'].includes(x.severity));
    assert.deepEqual(bad, [], 'HIGH or CRITICAL findings');
    for (const old of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) assert.equal(byId.get(old)?.finding, 'not offered', old);
    assert.equal(byId.get('TLS1_2')?.finding, 'offered');
    assert.match(byId.get('TLS1_3')?.finding ?? '', /^offered/);
    assert.equal(byId.get('ALPN_HTTP2')?.finding, 'h2');
    assert.match(byId.get('heartbleed')?.finding ?? '', /^not vulnerable/);
    assert.equal(srv.proc.exitCode, null, 'hearth is still running');
  });
});
