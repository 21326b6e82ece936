// File fields of the data API, driven with the real pocketbase SDK: uploads
// on create and update (replace, append, remove), files served back byte for
// byte at the SDK's URLs, size and type limits, protected files behind file
// tokens, files gone with their record, and uploads that survive kill -9.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import PocketBase from 'pocketbase';
import { startHearth, httpRequest, sleep, controlApi as control, sdkRejects as rejects } from './helpers.mjs';

const T = { timeout: 60000 };


const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), crypto.randomBytes(2000)]);
const file = (bytes, name, type = 'application/octet-stream') => new File([bytes], name, { type });

async function fetchBytes(url) {
  const r = await fetch(url);
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

/** Every file under DATA/files (relative paths). */
function filesOnDisk(dataDir) {
  const root = path.join(dataDir, 'files');
  if (!fs.existsSync(root)) return [];
  // Files may go while we look (a dropped collection's are removed in the background).
  let names = [];
  try { names = fs.readdirSync(root, { recursive: true }); } catch { return filesOnDisk(dataDir); }
  return names.filter((p) => { try { return fs.statSync(path.join(root, p)).isFile(); } catch { return false; } });
}

describe('record files with the pocketbase SDK', () => {
  let srv;
  let token;
  let pb;
  let admin;

  before(async () => {
    srv = await startHearth({ args: ['--workers', '2'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
    const docs = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'docs',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'cover', type: 'file', maxSelect: 1, maxSize: 100000, mimeTypes: ['image/png', 'image/jpeg'] },
        { name: 'attachments', type: 'file', maxSelect: 3 },
        { name: 'secret', type: 'file', protected: true },
      ],
      listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    });
    assert.equal(docs.status, 201, docs.text);
    const users = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'users', type: 'auth', fields: [], createRule: '', viewRule: 'id = @request.auth.id',
    });
    assert.equal(users.status, 201, users.text);
    pb = new PocketBase(srv.url);
    admin = new PocketBase(srv.url);
    admin.authStore.save(token, null);
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('a file uploaded on create is served back byte for byte', T, async () => {
    const rec = await pb.collection('docs').create({ title: 'one', cover: file(PNG, 'My Cover.PNG', 'image/png') });
    assert.match(rec.cover, /^my_cover_[a-z0-9]{10}\.png$/);
    const got = await fetchBytes(pb.files.getURL(rec, rec.cover));
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'image/png');
    assert.ok(got.body.equals(PNG), 'the same bytes');
    assert.match(got.headers.get('content-security-policy'), /sandbox/);
    const dl = await fetchBytes(pb.files.getURL(rec, rec.cover, { download: 1 }));
    assert.match(dl.headers.get('content-disposition'), /^attachment/);
    // The JSON schema and the definition show the field's options.
    const def = await control(srv, token, 'GET', '/sites/app.test/collections/docs');
    const cover = def.json.fields.find((f) => f.name === 'cover');
    assert.equal(cover.type, 'file');
    assert.equal(cover.maxSize, 100000);
  });

  test('multi-file fields: replace, append, remove; dropped files are deleted', T, async () => {
    const a = Buffer.from('first file'), b = Buffer.from('second'), c = Buffer.from('third one');
    const rec = await pb.collection('docs').create({ attachments: [file(a, 'a.txt'), file(b, 'b.txt')] });
    assert.equal(rec.attachments.length, 2);
    const before = filesOnDisk(srv.dataDir).length;
    const appended = await pb.collection('docs').update(rec.id, { 'attachments+': file(c, 'c.txt') });
    assert.equal(appended.attachments.length, 3);
    assert.deepEqual(appended.attachments.slice(0, 2), rec.attachments);
    assert.equal(filesOnDisk(srv.dataDir).length, before + 1);
    const third = await fetchBytes(pb.files.getURL(appended, appended.attachments[2]));
    assert.equal(third.body.toString(), 'third one');
    assert.equal(third.headers.get('content-type'), 'text/plain');
    // A fourth does not fit maxSelect 3: refused, nothing changes.
    const err = await rejects(pb.collection('docs').update(rec.id, { 'attachments+': file(a, 'd.txt') }), 400, 'too many');
    assert.equal(err.data.attachments.code, 'validation_too_many_files');
    assert.equal(filesOnDisk(srv.dataDir).length, before + 1, 'the refused upload is not left behind');
    const removed = await pb.collection('docs').update(rec.id, { 'attachments-': [rec.attachments[0]] });
    assert.deepEqual(removed.attachments, [rec.attachments[1], appended.attachments[2]]);
    assert.equal((await fetchBytes(pb.files.getURL(rec, rec.attachments[0]))).status, 404);
    assert.equal(filesOnDisk(srv.dataDir).length, before);
    // Sending files under the field's name replaces them all.
    const replaced = await pb.collection('docs').update(rec.id, { attachments: [file(c, 'new.txt')] });
    assert.equal(replaced.attachments.length, 1);
    assert.match(replaced.attachments[0], /^new_[a-z0-9]{10}\.txt$/);
    assert.equal(filesOnDisk(srv.dataDir).length, before - 1);
    // Clearing with an empty value.
    const cleared = await pb.collection('docs').update(rec.id, { attachments: [] });
    assert.deepEqual(cleared.attachments, []);
    assert.equal(filesOnDisk(srv.dataDir).length, before - 2);
  });

  test('size, type and name checks; nothing written on refusal', T, async () => {
    const n = filesOnDisk(srv.dataDir).length;
    const big = await rejects(
      pb.collection('docs').create({ cover: file(Buffer.concat([PNG, Buffer.alloc(200000)]), 'big.png') }), 400, 'too big');
    assert.equal(big.data.cover.code, 'validation_file_size_limit');
    const wrong = await rejects(pb.collection('docs').create({ cover: file(Buffer.from('<html>'), 'x.png') }), 400, 'not png');
    assert.equal(wrong.data.cover.code, 'validation_invalid_mime_type');
    const unknown = await rejects(pb.collection('docs').create({ title: file(Buffer.from('x'), 'x.txt') }), 400, 'not a file field');
    assert.ok(unknown.data.title);
    // A client cannot point a file field at a name of its own choosing.
    const rec = await pb.collection('docs').create({ title: 'names' });
    const forged = await rejects(pb.collection('docs').update(rec.id, { cover: '../../../hearth.db' }), 400, 'forged name');
    assert.equal(forged.data.cover.code, 'validation_invalid_value');
    assert.equal(filesOnDisk(srv.dataDir).length, n);
    // Paths that try to leave the folder, or name files the record does not hold.
    for (const p of [`/api/files/docs/${rec.id}/..%2F..%2Fhearth.db`, `/api/files/docs/${rec.id}/hearth.db`,
      '/api/files/docs/../../hearth.db', `/api/files/nope/${rec.id}/x.png`]) {
      const r = await httpRequest(`${srv.url}${p}`);
      // An encoded '/' is refused before any route sees it (400).
      assert.equal(r.status, p.includes('%2F') ? 400 : 404, p);
    }
  });

  test('a protected file needs a file token whose holder may view the record', T, async () => {
    const vault = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'vault', fields: [{ name: 'doc', type: 'file', protected: true }],
      viewRule: '@request.auth.id != ""',
    });
    assert.equal(vault.status, 201, vault.text);
    const rec = await admin.collection('vault').create({ doc: file(Buffer.from('top secret'), 'plan.txt') });
    const url = admin.files.getURL(rec, rec.doc);
    assert.equal((await fetchBytes(url)).status, 404, 'no token');
    const adminToken = await admin.files.getToken();
    const ok = await fetchBytes(admin.files.getURL(rec, rec.doc, { token: adminToken }));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'top secret');
    assert.equal(ok.headers.get('cache-control'), 'private, no-store');
    // A signed-in user may view the record, so its file token works.
    const user = new PocketBase(srv.url);
    await user.collection('users').create({ email: 'f@example.com', password: 'password123', passwordConfirm: 'password123' });
    await user.collection('users').authWithPassword('f@example.com', 'password123');
    const userToken = await user.files.getToken();
    assert.equal((await fetchBytes(user.files.getURL(rec, rec.doc, { token: userToken }))).status, 200);
    assert.equal((await fetchBytes(user.files.getURL(rec, rec.doc, { token: userToken.slice(0, -2) + 'xx' }))).status, 404);
    // An auth token is not a file token.
    assert.equal((await fetchBytes(user.files.getURL(rec, rec.doc, { token: user.authStore.token }))).status, 404);
    await rejects(pb.files.getToken(), 401, 'a guest gets no file token');
    // In a collection everyone may view, a protected file needs no token (as in PocketBase).
    const open = await admin.collection('docs').create({ secret: file(Buffer.from('not so secret'), 'memo.txt') });
    assert.equal((await fetchBytes(pb.files.getURL(open, open.secret))).status, 200);
  });

  test('deleting a record deletes its files; deleting the collection deletes the rest', T, async () => {
    const rec = await pb.collection('docs').create({ attachments: [file(Buffer.from('bye'), 'bye.txt')] });
    const url = pb.files.getURL(rec, rec.attachments[0]);
    assert.equal((await fetchBytes(url)).status, 200);
    const n = filesOnDisk(srv.dataDir).length;
    await pb.collection('docs').delete(rec.id);
    assert.equal((await fetchBytes(url)).status, 404);
    assert.equal(filesOnDisk(srv.dataDir).length, n - 1);
    const tmp = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'scratch', fields: [{ name: 'f', type: 'file' }], createRule: '', viewRule: '',
    });
    assert.equal(tmp.status, 201, tmp.text);
    const s = await pb.collection('scratch').create({ f: file(Buffer.from('tmp'), 'tmp.txt') });
    assert.equal(filesOnDisk(srv.dataDir).length, n);
    assert.equal((await control(srv, token, 'DELETE', '/sites/app.test/collections/scratch')).status, 204);
    // Removed in the background, right after the drop commits.
    const folder = path.join(srv.dataDir, 'files', 'app.test', tmp.json.id);
    for (let i = 0; i < 100 && (filesOnDisk(srv.dataDir).length !== n - 1 || fs.existsSync(folder)); i++) await sleep(100);
    assert.equal(filesOnDisk(srv.dataDir).length, n - 1);
    assert.ok(!fs.existsSync(folder), `${folder} (record ${s.id}) is still there`);
  });

  test('an acknowledged upload survives kill -9', T, async () => {
    const bytes = crypto.randomBytes(50000);
    const rec = await pb.collection('docs').create({ attachments: [file(bytes, 'keep.bin')] });
    await srv.stop('SIGKILL');
    srv = await startHearth({ args: ['--workers', '2'], dataDir: srv.dataDir });
    const again = new PocketBase(srv.url);
    pb = again;
    const got = await again.collection('docs').getOne(rec.id);
    assert.deepEqual(got.attachments, rec.attachments);
    const served = await fetchBytes(again.files.getURL(got, got.attachments[0]));
    assert.ok(served.body.equals(bytes));
  });

  test('files in a batch are refused with a clear message', T, async () => {
    const batch = pb.createBatch();
    batch.collection('docs').create({ attachments: [file(Buffer.from('x'), 'x.txt')] });
    const err = await rejects(batch.send(), 400, 'batch upload');
    assert.match(err.message, /single create or update/);
    const rec = await pb.collection('docs').create({ attachments: [file(Buffer.from('keep'), 'keep.txt')] });
    const clear = pb.createBatch();
    clear.collection('docs').update(rec.id, { attachments: [] });
    const err2 = await rejects(clear.send(), 400, 'batch file field');
    assert.match(JSON.stringify(err2), /single create or update/);
    assert.deepEqual((await pb.collection('docs').getOne(rec.id)).attachments, rec.attachments);
  });

  test('an upload for a record the client may not change writes nothing', T, async () => {
    const locked = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'locked', fields: [{ name: 'f', type: 'file' }], createRule: '', viewRule: '', updateRule: 'id = "nope"',
    });
    assert.equal(locked.status, 201, locked.text);
    const rec = await pb.collection('locked').create({});
    const n = filesOnDisk(srv.dataDir).length;
    await rejects(pb.collection('locked').update(rec.id, { f: file(Buffer.alloc(1000), 'x.bin') }), 404, 'not allowed');
    await rejects(pb.collection('locked').update('nosuchrecord12', { f: file(Buffer.alloc(10), 'x.bin') }), 404, 'no record');
    assert.equal(filesOnDisk(srv.dataDir).length, n);
    assert.ok(!fs.existsSync(path.join(srv.dataDir, 'files', 'app.test', locked.json.id, 'nosuchrecord12')));
  });
});
