// The change stream's promise, through the real binary: the entries one data
// folder's server logged (--change-log), applied by another server to a copy
// of where the first started, give the same databases (logical digests), and
// applying them again changes nothing. (Debug endpoints: HEARTH_TEST_ENDPOINTS.)
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startHearth, makeTempDir, controlApi as control, HEARTH_BIN, cleanEnv, httpRequest } from './helpers.mjs';
import { deploy } from './backup-helpers.mjs';

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

/** A record with a file field, sent as multipart (PATCH replaces the file). */
async function upload(srv, collection, fields, file, method = 'POST', id = '') {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append('att', new Blob([file.bytes]), file.name);
  const r = await fetch(`${srv.url}/api/collections/${collection}/records${id ? '/' + id : ''}`, { method, body: form });
  const text = await r.text();
  assert.equal(r.status, 200, `${method} ${collection}: ${text}`);
  return JSON.parse(text);
}

/** Every entry of `entries` applied by `srv`, the bytes read from data folder `from`. */
async function applyAll(srv, entries, from) {
  for (const [i, e] of entries.entries()) {
    const r = await fetch(`${srv.url}/_hearth/debug/apply?bytes-from=${encodeURIComponent(from)}`, { method: 'POST', body: e });
    assert.equal(r.status, 204, `entry ${i}: ${await r.text()}`);
  }
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

  test('deploys, record files, a dropped collection and a new app database travel with their bytes', T, async () => {
    let a = await startHearth({ args: ['--change-log'], env: ENV });
    const dataA = a.dataDir;
    const token = (await fsp.readFile(path.join(dataA, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(a, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
    assert.equal((await control(a, token, 'POST', '/sites', { name: 'www.test' })).status, 201);
    const open = { listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' };
    for (const name of ['docs', 'scraps']) {
      const r = await control(a, token, 'POST', '/sites/app.test/collections', {
        name, fields: [{ name: 'title', type: 'text' }, { name: 'att', type: 'file', maxSelect: 1 }], ...open,
      });
      assert.equal(r.status, 201, r.text);
    }
    await a.stopExpect0();
    const dataB = path.join(await makeTempDir(), 'data');
    await fsp.cp(dataA, dataB, { recursive: true });
    await fsp.rm(path.join(dataB, 'log'), { recursive: true, force: true });

    // B follows A as a replica would: after each step, A's new entries are
    // applied to B with the bytes read from A's folder (blobs from its
    // hearth.db, read-only; record files), while A still holds them.
    a = await startHearth({ args: ['--change-log'], env: ENV, dataDir: dataA });
    let b = await startHearth({ env: ENV, dataDir: dataB });
    let applied = 0;
    const sync = async () => {
      const all = await entriesOf(dataA);
      await applyAll(b, all.slice(applied), dataA);
      applied = all.length;
    };
    // A deploy (its text files get compressed variants: blob-put ops of both).
    const page = Buffer.from('<!doctype html><h1>hello from A</h1>\n' + 'x'.repeat(2000));
    await deploy(a, token, 'www.test', { 'index.html': page, 'logo.bin': crypto.randomBytes(3000) });
    await sync();
    // A site deployed and deleted: its blobs are collected (blob-delete ops).
    assert.equal((await control(a, token, 'POST', '/sites', { name: 'gone.test' })).status, 201);
    await deploy(a, token, 'gone.test', { 'only.txt': Buffer.from('collected soon ' + 'y'.repeat(500)) });
    await sync();
    assert.equal((await control(a, token, 'DELETE', '/sites/gone.test')).status, 200);
    await sync();
    // Record files: kept, replaced, deleted with their record, dropped with their collection.
    const kept = crypto.randomBytes(5000);
    const r1 = await upload(a, 'docs', { title: 'kept' }, { bytes: kept, name: 'kept.bin' });
    await sync();
    const r2 = await upload(a, 'docs', { title: 'replaced' }, { bytes: Buffer.from('first'), name: 'v1.txt' });
    await sync();
    const r2b = await upload(a, 'docs', {}, { bytes: Buffer.from('second'), name: 'v2.txt' }, 'PATCH', r2.id);
    assert.notEqual(r2b.att, r2.att);
    await sync();
    const r3 = await upload(a, 'docs', { title: 'deleted' }, { bytes: Buffer.from('gone'), name: 'gone.txt' });
    await sync();
    assert.equal((await fetch(`${a.url}/api/collections/docs/records/${r3.id}`, { method: 'DELETE' })).status, 204);
    await sync();
    await upload(a, 'scraps', { title: 's' }, { bytes: Buffer.from('scrap'), name: 's.txt' });
    await sync();
    assert.equal((await control(a, token, 'DELETE', '/sites/app.test/collections/scraps')).status, 204);
    // Its folder goes in the background: waited for, so A's digest is final.
    for (let i = 0; i < 100 && (await fsp.readdir(path.join(dataA, 'files', 'app.test'))).length > 1; i++)
      await new Promise((r) => setTimeout(r, 50));
    // An app database made after start: announced whole, then written to.
    assert.equal((await control(a, token, 'POST', '/sites', { name: 'new.test' })).status, 201);
    assert.equal((await control(a, token, 'POST', '/sites/new.test/collections', {
      name: 'things', fields: [{ name: 'title', type: 'text' }], ...open,
    })).status, 201);
    await sync();
    const want = await digests(a);
    assert.ok(want['apps/new.test.db'] && want['files/app.test'], JSON.stringify(want));
    await a.stopExpect0();
    const entries = await entriesOf(dataA);
    assert.equal(entries.length, applied);

    // B holds the same databases, blob bytes (in hearth.db's digest) and
    // record files.
    assert.deepEqual(await digests(b), want);
    await applyAll(b, entries, dataA);  // again: nothing changes
    assert.deepEqual(await digests(b), want);
    const left = await fsp.readdir(path.join(dataB, 'files', 'app.test'));
    assert.equal(left.length, 1, `only docs' folder is left: ${left}`);
    // (Routing and schema follow applied changes once effects come from
    // them; until then B is restarted to serve what it now holds.)
    await b.stopExpect0();
    b = await startHearth({ env: ENV, dataDir: dataB });
    const served = await httpRequest(`${b.url}/`, { headers: { Host: 'www.test' } });
    assert.equal(served.status, 200);
    assert.equal(served.text, page.toString());
    const file = await fetch(`${b.url}/api/files/docs/${r1.id}/${r1.att}`);
    assert.equal(file.status, 200);
    assert.ok(Buffer.from(await file.arrayBuffer()).equals(kept));
    assert.equal((await fetch(`${b.url}/api/files/docs/${r2.id}/${r2.att}`)).status, 404);
    await b.stopExpect0();
  });
});
