// `make run` (scripts/run-demo.sh): the platform on the first run — the demo
// deployed as a site, a collection with records, the console and its token —
// and a second run on the same data folder that duplicates nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HEARTH_BIN, REPO_ROOT, cleanEnv, makeTempDir, httpRequest, controlApi, withTimeout } from './helpers.mjs';

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// Runs the script until its banner, and returns what it printed and a stop().
async function runDemo(data, port) {
  const proc = spawn('bash', [path.join(REPO_ROOT, 'scripts', 'run-demo.sh')], {
    env: cleanEnv({ HEARTH_BIN, HEARTH_DATA: data, HEARTH_HTTP: `127.0.0.1:${port}` }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,  // its own process group: a failed test kills the script and hearth together
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const killGroup = () => { try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', killGroup);
  try {
    await withTimeout(new Promise((resolve, reject) => {
      const check = () => { if (/admin token\s+hth_/.test(out)) resolve(); };
      proc.stdout.on('data', check);
      exited.then((e) => reject(new Error(`run-demo.sh exited ${JSON.stringify(e)}: ${err}`)));
      check();
    }), 30000, 'run-demo.sh banner');
  } catch (e) {
    killGroup();
    throw e;
  }
  return {
    out: () => out,
    async stop() {
      proc.kill('SIGINT');  // what Ctrl-C sends the script
      const e = await withTimeout(exited, 15000, 'run-demo.sh exit').catch((x) => { killGroup(); throw x; });
      return e;
    },
  };
}

test('make run serves the platform: the demo site, a collection with records, the console; a second run duplicates nothing', async () => {
  const data = path.join(await makeTempDir(), 'data');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;

  const check = async (run) => {
    const token = fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim();
    assert.match(run.out(), new RegExp(`admin token\\s+${token}`), 'the banner shows the admin token');
    assert.match(run.out(), new RegExp(`admin console\\s+${base}/_hearth/`));
    assert.match(run.out(), new RegExp(`demo site\\s+http://localhost:${port}/`));

    const page = await httpRequest(`${base}/`, { headers: { Host: 'localhost' } });
    assert.equal(page.status, 200);
    assert.match(page.text, /Served by hearth/);
    for (const link of ['/_hearth/', '/api/collections/notes/records', '/docs/']) assert.ok(page.text.includes(link), link);
    const doc = await httpRequest(`${base}/docs/data.md`, { headers: { Host: 'localhost' } });
    assert.equal(doc.status, 200);
    assert.match(doc.text, /# The data API/);

    const list = await httpRequest(`${base}/api/collections/notes/records?perPage=50`, { headers: { Host: 'localhost' } });
    assert.equal(list.status, 200);
    const records = JSON.parse(list.text);
    assert.equal(records.totalItems, 4);
    assert.deepEqual(new Set(records.items.map((r) => r.title)).size, 4);

    const console_ = await httpRequest(`${base}/_hearth/`);
    assert.ok([200, 303].includes(console_.status), `console: ${console_.status}`);

    const srv = { url: base, port };
    const versions = await controlApi(srv, token, 'GET', '/sites/localhost/versions');
    assert.equal(versions.status, 200);
    assert.equal(versions.json.versions.length, 1, 'one version, however many runs');
    const collections = await controlApi(srv, token, 'GET', '/sites/localhost/collections');
    assert.deepEqual(collections.json.items.map((c) => c.name), ['notes']);
    return token;
  };

  const first = await runDemo(data, port);
  const token1 = await check(first);
  assert.deepEqual(await first.stop(), { code: 0, signal: null });

  const second = await runDemo(data, port);
  const token2 = await check(second);
  assert.equal(token2, token1);
  assert.deepEqual(await second.stop(), { code: 0, signal: null });
});
