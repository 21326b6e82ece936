// CLI: version, help, `hearth config` precedence, start-up errors.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runHearth, makeTempDir, startHearth, rawExchange, firstStatus } from './helpers.mjs';

const T = { timeout: 20000 };

/** Removes a TOML `# comment` that is not inside a quoted string. */
function stripComment(v) {
  let q = null;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (q) { if (ch === '\\' && q === '"') i++; else if (ch === q) q = null; }
    else if (ch === '"' || ch === "'") q = ch;
    else if (ch === '#') return v.slice(0, i);
  }
  return v;
}

/** Parses `name = value` lines (TOML) into {name: rawValueWithoutQuotes}. */
function parseConfigOutput(stdout) {
  const out = {};
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(line);
    assert.ok(m, `config output line is not "name = value": ${JSON.stringify(raw)}`);
    let v = stripComment(m[2]).trim();
    if (/^".*"$/.test(v) || /^'.*'$/.test(v)) v = v.slice(1, -1);
    out[m[1]] = v;
  }
  return out;
}

const SIZE_UNITS = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
function sizeBytes(v) {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(String(v).trim());
  if (!m) return NaN;
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  return unit === undefined ? NaN : Number(m[1]) * unit;
}
const DUR_UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000 };
function durationMs(v) {
  // Accepts "500ms", "2s", "1m30s"; a bare number is ambiguous and returned as NaN.
  const s = String(v).trim();
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h))+$/.test(s)) return NaN;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * DUR_UNITS[m[2]];
  return total;
}

async function writeToml(text) {
  const dir = await makeTempDir();
  const p = path.join(dir, 'hearth.toml');
  await fsp.writeFile(p, text);
  return p;
}

function assertOneLineErrorNaming(res, patterns, what) {
  assert.notEqual(res.code, 0, `${what}: expected a non-zero exit code, got ${res.code} (signal ${res.signal}); stderr: ${res.stderr}`);
  assert.equal(res.timedOut, false, `${what}: the process did not exit by itself`);
  const err = res.stderr.trim();
  assert.ok(err.length > 0, `${what}: expected an error on stderr`);
  assert.equal(err.split('\n').length, 1, `${what}: expected a one-line error on stderr, got:\n${res.stderr}`);
  assert.ok(patterns.some((p) => p.test(err)), `${what}: stderr should name the key (${patterns.join(' or ')}), got: ${err}`);
}

describe('hearth version / help', () => {
  test('`hearth version` prints "hearth <semver>" and exits 0', T, async () => {
    const r = await runHearth(['version']);
    assert.equal(r.code, 0, r.stderr);
    const first = r.stdout.split('\n')[0];
    assert.match(first, /^hearth \d+\.\d+\.\d+/);
    assert.match(first, /^hearth 0\.1\.0\b/);
  });

  test('`hearth --help` exits 0 and prints usage mentioning the commands', T, async () => {
    const r = await runHearth(['--help']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /usage/i);
    for (const cmd of ['serve', 'config', 'version']) assert.match(out, new RegExp(`\\b${cmd}\\b`), `help should mention ${cmd}`);
  });

  test('`hearth serve --help` exits 0, prints the serve flags, and does not start a server', T, async () => {
    const r = await runHearth(['serve', '--help'], { timeoutMs: 5000 });
    assert.equal(r.timedOut, false, 'serve --help should exit promptly instead of serving');
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout + r.stderr;
    for (const flag of ['--http', '--root', '--data', '--workers', '--config', '--max-body-size', '--header-timeout']) {
      assert.ok(out.includes(flag), `serve --help should mention ${flag}`);
    }
    assert.ok(!/"msg":"listening"/.test(out), 'serve --help must not start listening');
  });
});

describe('hearth config', () => {
  const KEYS = ['http', 'workers', 'log-level', 'access-log', 'max-connections', 'max-header-size',
    'max-target-size', 'max-body-size', 'header-timeout', 'body-timeout', 'keepalive-timeout',
    'write-timeout', 'shutdown-timeout'];

  test('prints every setting as `name = value` with the documented defaults', T, async () => {
    const r = await runHearth(['config']);
    assert.equal(r.code, 0, r.stderr);
    const cfg = parseConfigOutput(r.stdout);
    for (const k of KEYS) assert.ok(k in cfg, `config output should contain ${k}; got:\n${r.stdout}`);
    assert.equal(sizeBytes(cfg['max-header-size']), 16 * 1024, `default max-header-size is 16KiB, got ${cfg['max-header-size']}`);
    assert.equal(sizeBytes(cfg['max-target-size']), 8 * 1024, `default max-target-size is 8KiB, got ${cfg['max-target-size']}`);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(cfg['log-level']), `log-level is one of the levels, got ${cfg['log-level']}`);
  });

  test('precedence: default < TOML < env < flag', T, async () => {
    const toml = await writeToml([
      'log-level = "warn"',
      'workers = 3',
      'header-timeout = "3s"',
      'max-body-size = "3MiB"',
      '',
    ].join('\n'));

    const base = parseConfigOutput((await runHearth(['config'])).stdout);

    // TOML over defaults.
    const r1 = await runHearth(['config', '--config', toml]);
    assert.equal(r1.code, 0, r1.stderr);
    const c1 = parseConfigOutput(r1.stdout);
    assert.equal(c1['log-level'], 'warn');
    assert.equal(c1.workers, '3');
    assert.equal(durationMs(c1['header-timeout']), 3000, `header-timeout from TOML, got ${c1['header-timeout']}`);
    assert.equal(sizeBytes(c1['max-body-size']), 3 * 1024 * 1024, `max-body-size from TOML, got ${c1['max-body-size']}`);
    // A key not in TOML keeps its default.
    assert.equal(c1['keepalive-timeout'], base['keepalive-timeout']);

    // env over TOML.
    const env = { HEARTH_LOG_LEVEL: 'error', HEARTH_WORKERS: '5', HEARTH_MAX_BODY_SIZE: '2MiB' };
    const r2 = await runHearth(['config', '--config', toml], { env });
    assert.equal(r2.code, 0, r2.stderr);
    const c2 = parseConfigOutput(r2.stdout);
    assert.equal(c2['log-level'], 'error');
    assert.equal(c2.workers, '5');
    assert.equal(sizeBytes(c2['max-body-size']), 2 * 1024 * 1024);
    assert.equal(durationMs(c2['header-timeout']), 3000, 'TOML value stays when env does not set it');

    // flags over env.
    const r3 = await runHearth(['config', '--config', toml, '--log-level', 'debug', '--workers', '7', '--header-timeout', '750ms'], { env });
    assert.equal(r3.code, 0, r3.stderr);
    const c3 = parseConfigOutput(r3.stdout);
    assert.equal(c3['log-level'], 'debug');
    assert.equal(c3.workers, '7');
    assert.equal(durationMs(c3['header-timeout']), 750, `header-timeout from flag, got ${c3['header-timeout']}`);
    assert.equal(sizeBytes(c3['max-body-size']), 2 * 1024 * 1024, 'env value stays when no flag sets it');
  });

  test('the config output is itself a valid config file (round trip)', T, async () => {
    const r1 = await runHearth(['config', '--workers', '2', '--log-level', 'warn', '--max-body-size', '5MiB']);
    assert.equal(r1.code, 0, r1.stderr);
    const toml = await writeToml(r1.stdout);
    const r2 = await runHearth(['config', '--config', toml]);
    assert.equal(r2.code, 0, `feeding config output back as --config failed: ${r2.stderr}`);
    assert.deepEqual(parseConfigOutput(r2.stdout), parseConfigOutput(r1.stdout));
  });

  test('HEARTH_TEST_ENDPOINTS is not treated as an unknown setting', T, async () => {
    const r = await runHearth(['config'], { env: { HEARTH_TEST_ENDPOINTS: '1' } });
    assert.equal(r.code, 0, r.stderr);
  });

  test('serve uses the same precedence (listening line reports workers from the flag)', T, async () => {
    const srv = await startHearth({ config: 'workers = 1\n', env: { HEARTH_WORKERS: '3' }, args: ['--workers', '2'] });
    assert.equal(srv.listening.workers, 2);
    await srv.stop();
    const srv2 = await startHearth({ config: 'workers = 1\n', env: { HEARTH_WORKERS: '3' } });
    assert.equal(srv2.listening.workers, 3);
    await srv2.stop();
  });
});

describe('serve honours settings from every layer', () => {
  test('max-body-size from env / TOML / flag is enforced by serve', T, async () => {
    const echo = (port, n) => rawExchange(port,
      `POST /_hearth/debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n${'e'.repeat(n)}`, { timeoutMs: 4000 });

    const a = await startHearth({ env: { HEARTH_TEST_ENDPOINTS: '1', HEARTH_MAX_BODY_SIZE: '100' } });
    try {
      assert.equal(firstStatus((await echo(a.port, 101)).text), 413, 'env HEARTH_MAX_BODY_SIZE=100 should refuse 101 bytes');
      assert.equal(firstStatus((await echo(a.port, 100)).text), 200);
    } finally { await a.stop(); }

    const b = await startHearth({ env: { HEARTH_TEST_ENDPOINTS: '1' }, config: 'max-body-size = "50"\n', args: ['--max-body-size', '200'] });
    try {
      assert.equal(firstStatus((await echo(b.port, 150)).text), 200, 'flag 200 should win over TOML 50');
      assert.equal(firstStatus((await echo(b.port, 201)).text), 413);
    } finally { await b.stop(); }
  });

  test('an address already in use (by another program) stops serve with a non-zero exit', T, async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = blocker.address().port;
    try {
      const dir = await makeTempDir();
      const r = await runHearth(['serve', '--http', `127.0.0.1:${busy}`, '--data', path.join(dir, 'data')], { timeoutMs: 5000 });
      assert.equal(r.timedOut, false, 'serve should not keep running on a busy port');
      assert.notEqual(r.code, 0);
      assert.ok(r.stderr.trim().length > 0, 'an error should be printed');
    } finally { blocker.close(); }
  });

  test('a second hearth on the port of a running hearth fails instead of sharing the port', T, async () => {
    const a = await startHearth();
    try {
      const dir = await makeTempDir();
      const r = await runHearth(['serve', '--http', `127.0.0.1:${a.port}`, '--data', path.join(dir, 'data')], { timeoutMs: 4000 });
      assert.equal(r.timedOut, false, 'second hearth kept running and listening on the same port (SO_REUSEPORT?): requests would be split between two servers');
      assert.notEqual(r.code, 0);
      assert.ok(a.alive(), 'first server unaffected');
    } finally { await a.stop(); }
  });
});

describe('start-up errors', () => {
  test('unknown TOML key: non-zero exit, one-line error naming the key', T, async () => {
    const toml = await writeToml('workers = 2\nno-such-key = 1\n');
    const r = await runHearth(['config', '--config', toml]);
    assertOneLineErrorNaming(r, [/no-such-key/], 'config with unknown TOML key');
    const s = await runHearth(['serve', '--http', '127.0.0.1:0', '--data', path.join(path.dirname(toml), 'data'), '--config', toml], { timeoutMs: 5000 });
    assertOneLineErrorNaming(s, [/no-such-key/], 'serve with unknown TOML key');
  });

  test('unknown HEARTH_* variable: non-zero exit, one-line error naming it', T, async () => {
    const r = await runHearth(['config'], { env: { HEARTH_NO_SUCH_SETTING: '1' } });
    assertOneLineErrorNaming(r, [/HEARTH_NO_SUCH_SETTING/, /no-such-setting/i], 'config with unknown env var');
    const dir = await makeTempDir();
    const s = await runHearth(['serve', '--http', '127.0.0.1:0', '--data', path.join(dir, 'data')],
      { env: { HEARTH_NO_SUCH_SETTING: '1' }, timeoutMs: 5000 });
    assertOneLineErrorNaming(s, [/HEARTH_NO_SUCH_SETTING/, /no-such-setting/i], 'serve with unknown env var');
  });

  test('bad flag value (--workers abc) names the key', T, async () => {
    const r = await runHearth(['config', '--workers', 'abc']);
    assertOneLineErrorNaming(r, [/workers/i], '--workers abc');
  });

  test('bad duration flag (--header-timeout soon) names the key', T, async () => {
    const r = await runHearth(['config', '--header-timeout', 'soon']);
    assertOneLineErrorNaming(r, [/header-timeout/i, /HEADER_TIMEOUT/], '--header-timeout soon');
  });

  test('bad env value (HEARTH_LOG_LEVEL=loud) names the key', T, async () => {
    const r = await runHearth(['config'], { env: { HEARTH_LOG_LEVEL: 'loud' } });
    assertOneLineErrorNaming(r, [/log-level/i, /HEARTH_LOG_LEVEL/], 'HEARTH_LOG_LEVEL=loud');
  });

  test('bad TOML value (max-body-size = "lots") names the key', T, async () => {
    const toml = await writeToml('max-body-size = "lots"\n');
    const r = await runHearth(['config', '--config', toml]);
    assertOneLineErrorNaming(r, [/max-body-size/], 'max-body-size = "lots"');
  });

  test('bad size in env (HEARTH_MAX_HEADER_SIZE=12 parsecs) stops serve', T, async () => {
    const dir = await makeTempDir();
    const s = await runHearth(['serve', '--http', '127.0.0.1:0', '--data', path.join(dir, 'data')],
      { env: { HEARTH_MAX_HEADER_SIZE: '12 parsecs' }, timeoutMs: 5000 });
    assertOneLineErrorNaming(s, [/max-header-size/i, /HEARTH_MAX_HEADER_SIZE/], 'HEARTH_MAX_HEADER_SIZE=12 parsecs');
  });
});

describe('a failed start', () => {
  // Each step of the start that can fail after others have run (services in
  // order: data folder, listeners, store, TLS, ACME, ...) ends the process
  // with one line and a non-zero code; the unit test server_start_test.cpp
  // checks that no descriptor or thread stays behind.
  const held = [];
  async function takenPort() {
    const srv = net.createServer();
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    held.push(srv);
    return srv.address().port;
  }
  after(() => { for (const s of held) s.close(); });

  test('a taken HTTP port', T, async () => {
    const dir = await makeTempDir();
    const port = await takenPort();
    const r = await runHearth(['serve', '--http', `127.0.0.1:${port}`, '--data', path.join(dir, 'data')], { timeoutMs: 5000 });
    assertOneLineErrorNaming(r, [new RegExp(`${port}: Address already in use`)], 'a taken HTTP port');
    assert.equal(fs.existsSync(path.join(dir, 'data', 'hearth.db')), false, 'nothing written before the ports are taken');
  });

  test('a taken HTTPS port, after the HTTP listeners were bound', T, async () => {
    const dir = await makeTempDir();
    const port = await takenPort();
    const r = await runHearth(['serve', '--http', '127.0.0.1:0', '--https', `127.0.0.1:${port}`, '--data', path.join(dir, 'data')], { timeoutMs: 5000 });
    assertOneLineErrorNaming(r, [/https: .*in use/], 'a taken HTTPS port');
  });

  test('an ACME CA root that is no certificate', T, async () => {
    const dir = await makeTempDir();
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, 'not a certificate\n');
    const r = await runHearth(['serve', '--http', '127.0.0.1:0', '--https', '127.0.0.1:0', '--acme-email', 'a@example.com',
      '--acme-ca-root', ca, '--data', path.join(dir, 'data')], { timeoutMs: 5000 });
    assertOneLineErrorNaming(r, [/acme-ca-root: .* holds no PEM certificate/], 'a bad --acme-ca-root');
  });

  test('a data folder that is a file', T, async () => {
    const dir = await makeTempDir();
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'x');
    const r = await runHearth(['serve', '--http', '127.0.0.1:0', '--data', file], { timeoutMs: 5000 });
    assertOneLineErrorNaming(r, [/data folder/], 'a data folder that is a file');
  });
});

describe('data folder', () => {
  test('a data folder written by a newer hearth is refused with a clear one-line error', T, async () => {
    const first = await startHearth();
    const dbPath = path.join(first.dataDir, 'hearth.db');
    await first.stop();
    // SQLite keeps PRAGMA user_version as a big-endian integer at offset 60 of the header.
    const fh = await fsp.open(dbPath, 'r+');
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(999, 0);
    await fh.write(buf, 0, 4, 60);
    await fh.close();
    const r = await runHearth(['serve', '--http', '127.0.0.1:0', '--data', first.dataDir], { timeoutMs: 5000 });
    assertOneLineErrorNaming(r, [/newer hearth/], 'serve on a newer data folder');
    assert.match(r.stderr, /999/);
  });

  test('two servers cannot share one data folder', T, async () => {
    const a = await startHearth();
    try {
      const r = await runHearth(['serve', '--http', '127.0.0.1:0', '--data', a.dataDir], { timeoutMs: 5000 });
      assertOneLineErrorNaming(r, [/in use by another hearth/], 'second server on the same data folder');
      assert.ok(a.alive(), 'first server unaffected');
    } finally { await a.stop(); }
  });
});
