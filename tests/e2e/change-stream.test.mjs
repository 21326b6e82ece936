// The change stream's promise, through the real binary: the entries one data
// folder's server logged (--change-log), applied by another server to a copy
// of where the first started, give the same databases (logical digests), and
// applying them again changes nothing. (Debug endpoints: HEARTH_TEST_ENDPOINTS.)
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startHearth, makeTempDir, controlApi as control, HEARTH_BIN, cleanEnv } from './helpers.mjs';

const T = { timeout: 90000 };
const ENV = { HEARTH_TEST_ENDPOINTS: '1' };

/** The raw log, split into its entries (each says its length at byte 64). */
async function entriesOf(data) {
  const r = spawnSync(HEARTH_BIN, ['log', 'dump', '--data', data, '--raw'],
    { env: cleanEnv(), timeout: 20000, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  const buf = r.stdout;
  const out = [];
  for (let at = 0; at < buf.length;) {
    const length = Number(buf.readBigUInt64LE(at + 64));
    assert.ok(length >= 88 && at + length <= buf.length, `entry at ${at} has length ${length}`);
    out.push(buf.subarray(at, at + length));
    at += length;
  }
  return out;
}

async function digests(srv) {
  const r = await fetch(`${srv.url}/_hearth/debug/digest`);
  assert.equal(r.status, 200);
  return r.json();
}

async function post(srv, collection, body, method = 'POST', id = '') {
  const r = await fetch(`${srv.url}/api/collections/${collection}/records${id ? '/' + id : ''}`, {
    method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  assert.ok(r.status === 200 || r.status === 204, `${method} ${collection}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

describe('change stream', () => {
  test('a copy that applies the logged entries is the same data', T, async () => {
    // Folder A: a site and two collections; then a copy B of it as it is now.
    let a = await startHearth({ args: ['--change-log'], env: ENV });
    const dataA = a.dataDir;
    const token = (await fsp.readFile(path.join(dataA, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(a, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
    const open = { listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' };
    assert.equal((await control(a, token, 'POST', '/sites/app.test/collections', {
      name: 'posts', fields: [{ name: 'title', type: 'text' }], ...open,
    })).status, 201);
    assert.equal((await control(a, token, 'POST', '/sites/app.test/collections', {
      name: 'notes', fields: [{ name: 'body', type: 'text' }], ...open,
    })).status, 201);
    await a.stopExpect0();
    const dataB = path.join(await makeTempDir(), 'data');
    await fsp.cp(dataA, dataB, { recursive: true });
    await fsp.rm(path.join(dataB, 'log'), { recursive: true, force: true });

    // A goes on: creates, an update, a delete, a new field and rows that use
    // it, a dropped collection, another site.
    a = await startHearth({ args: ['--change-log'], env: ENV, dataDir: dataA });
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await post(a, 'posts', { title: `p${i}` }));
    await post(a, 'notes', { body: 'n' });
    await post(a, 'posts', { title: 'changed' }, 'PATCH', made[1].id);
    await post(a, 'posts', null, 'DELETE', made[2].id);
    assert.equal((await control(a, token, 'PATCH', '/sites/app.test/collections/posts', {
      fields: [{ name: 'title', type: 'text' }, { name: 'score', type: 'number' }],
    })).status, 200);
    await post(a, 'posts', { title: 'scored', score: 7 });
    await post(a, 'posts', { score: 3 }, 'PATCH', made[0].id);
    assert.equal((await control(a, token, 'DELETE', '/sites/app.test/collections/notes')).status, 204);
    assert.equal((await control(a, token, 'POST', '/sites', { name: 'other.test' })).status, 201);
    const want = await digests(a);
    await a.stopExpect0();
    const entries = await entriesOf(dataA);
    assert.ok(entries.length >= 10, `${entries.length} entries`);

    // B applies every entry (the ones it already holds are no-ops).
    const b = await startHearth({ env: ENV, dataDir: dataB });
    assert.notDeepEqual(await digests(b), want);
    for (const [i, e] of entries.entries()) {
      const r = await fetch(`${b.url}/_hearth/debug/apply`, { method: 'POST', body: e });
      assert.equal(r.status, 204, `entry ${i}: ${await r.text()}`);
    }
    assert.deepEqual(await digests(b), want);
    // B serves what A wrote.
    const list = await fetch(`${b.url}/api/collections/posts/records?sort=title`).then((r) => r.json());
    assert.deepEqual(list.items.map((p) => p.title).sort(), ['changed', 'p0', 'p3', 'p4', 'scored']);
    // (B's served schema follows once effects come from applied changes:
    // the data is there, the digest says so.)
    // Again: nothing changes.
    for (const e of entries) {
      const r = await fetch(`${b.url}/_hearth/debug/apply`, { method: 'POST', body: e });
      assert.equal(r.status, 204);
    }
    assert.deepEqual(await digests(b), want);
    // Garbage is refused, not applied.
    const bad = await fetch(`${b.url}/_hearth/debug/apply`, { method: 'POST', body: 'not an entry' });
    assert.equal(bad.status, 409);
    await b.stopExpect0();
  });
});
