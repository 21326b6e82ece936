// The data API: a site's own app database, driven with the real pocketbase
// JavaScript SDK from npm (records: CRUD, lists with filter/sort/paging,
// getFullList, getFirstListItem, expand, validation, rules) and the control
// API's collection endpoints (create, change, delete, JSON Schema).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import PocketBase from 'pocketbase';
import { startHearth, httpRequest, runHearth, makeTempDir, controlApi as control, sdkRejects as rejects } from './helpers.mjs';

const T = { timeout: 60000 };


describe('data API with the pocketbase SDK', () => {
  let srv;
  let token;
  let pb; // anonymous client
  let admin; // client carrying the hearth token (a superuser)

  before(async () => {
    srv = await startHearth({ args: ['--workers', '2'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    // The default site answers any host, so the SDK's requests to 127.0.0.1 reach it.
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
    const authors = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'authors',
      fields: [{ name: 'name', type: 'text', required: true }],
      listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    });
    assert.equal(authors.status, 201, authors.text);
    const posts = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'posts',
      fields: [
        { name: 'title', type: 'text', required: true, max: 100 },
        { name: 'views', type: 'number', onlyInt: true, min: 0 },
        { name: 'published', type: 'bool' },
        { name: 'tags', type: 'select', values: ['news', 'tech', 'life'], maxSelect: 3 },
        { name: 'author', type: 'relation', collectionId: authors.json.id, maxSelect: 1 },
        { name: 'meta', type: 'json' },
        { name: 'contact', type: 'email' },
      ],
      listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    });
    assert.equal(posts.status, 201, posts.text);
    const secrets = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'secrets', fields: [{ name: 'value', type: 'text' }],
    });
    assert.equal(secrets.status, 201, secrets.text);
    const notes = await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'notes',
      fields: [{ name: 'text', type: 'text' }, { name: 'public', type: 'bool' }],
      listRule: 'public = true', viewRule: 'public = true', createRule: '@request.body.text != ""',
      updateRule: null, deleteRule: null,
    });
    assert.equal(notes.status, 201, notes.text);
    pb = new PocketBase(srv.url);
    pb.autoCancellation(false);
    admin = new PocketBase(srv.url);
    admin.autoCancellation(false);
    admin.authStore.save(token, null); // the SDK sends it as "Authorization: <token>"
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('create, getOne, update, delete', T, async () => {
    const created = await pb.collection('posts').create({ title: 'Hello', views: 3, tags: ['news', 'tech'], meta: { a: [1, 2] }, published: true });
    assert.match(created.id, /^[a-z0-9]{15}$/);
    assert.equal(created.collectionName, 'posts');
    assert.equal(created.title, 'Hello');
    assert.equal(created.views, 3);
    assert.equal(created.published, true);
    assert.deepEqual(created.tags, ['news', 'tech']);
    assert.deepEqual(created.meta, { a: [1, 2] });
    assert.match(created.created, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$/);
    const got = await pb.collection('posts').getOne(created.id);
    assert.deepEqual(got, created);
    const updated = await pb.collection('posts').update(created.id, { title: 'Hello again', views: 4 });
    assert.equal(updated.title, 'Hello again');
    assert.equal(updated.views, 4);
    assert.deepEqual(updated.tags, ['news', 'tech'], 'fields not sent are kept');
    assert.ok(updated.updated >= created.updated);
    assert.equal(await pb.collection('posts').delete(created.id), true);
    await rejects(pb.collection('posts').getOne(created.id), 404, 'getOne after delete');
    await rejects(pb.collection('posts').update(created.id, { title: 'x' }), 404, 'update after delete');
  });

  test('getList pages, filters and sorts; getFullList and getFirstListItem', T, async () => {
    for (let i = 0; i < 45; i++) {
      await pb.collection('posts').create({ title: `list ${i}`, views: i, tags: i % 2 ? ['life'] : ['news', 'life'] });
    }
    const page = await pb.collection('posts').getList(2, 20, { filter: 'title ~ "list" && views >= 10', sort: '-views' });
    assert.equal(page.page, 2);
    assert.equal(page.perPage, 20);
    assert.equal(page.totalItems, 35);
    assert.equal(page.totalPages, 2);
    assert.deepEqual(page.items.map((r) => r.views), [24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10]);
    const any = await pb.collection('posts').getList(1, 100, { filter: 'title ~ "list" && tags ?= "news"', fields: 'id,views' });
    assert.equal(any.totalItems, 23);
    assert.deepEqual(Object.keys(any.items[0]).sort(), ['id', 'views']);
    const full = await pb.collection('posts').getFullList({ filter: 'title ~ "list"', sort: 'views', batch: 10 });
    assert.equal(full.length, 45);
    assert.deepEqual(full.map((r) => r.views), [...Array(45).keys()]);
    const first = await pb.collection('posts').getFirstListItem('title = "list 7"');
    assert.equal(first.views, 7);
    await rejects(pb.collection('posts').getFirstListItem('title = "no such"'), 404, 'getFirstListItem, none');
    const grouped = await pb.collection('posts').getList(1, 5, { filter: '(views < 2 || views > 43) && title ~ "list"', sort: 'views' });
    assert.deepEqual(grouped.items.map((r) => r.views), [0, 1, 44]);
  });

  test('expand follows a relation; filters can go through it', T, async () => {
    const ann = await pb.collection('authors').create({ name: 'Ann' });
    const post = await pb.collection('posts').create({ title: 'by ann', author: ann.id });
    const got = await pb.collection('posts').getOne(post.id, { expand: 'author' });
    assert.equal(got.expand.author.name, 'Ann');
    const list = await pb.collection('posts').getList(1, 10, { filter: 'author.name = "Ann"', expand: 'author' });
    assert.equal(list.totalItems, 1);
    assert.equal(list.items[0].expand.author.id, ann.id);
    const bad = await rejects(pb.collection('posts').create({ title: 'ghost author', author: 'zzzzzzzzzzzzzzz' }), 400, 'relation to nothing');
    assert.equal(bad.data.author.code, 'validation_missing_rel_records');
  });

  test('invalid records get 400 with per-field errors and write nothing', T, async () => {
    const before = (await pb.collection('posts').getList(1, 1)).totalItems;
    const r = await rejects(pb.collection('posts').create({ views: 'many', tags: ['nope'], contact: 'not-an-email', extra: 1 }), 400, 'bad record');
    assert.equal(r.message, 'Failed to create record.');
    assert.equal(r.data.title.code, 'validation_required');
    assert.equal(r.data.views.code, 'validation_invalid_value');
    assert.equal(r.data.tags.code, 'validation_invalid_value');
    assert.equal(r.data.contact.code, 'validation_invalid_value');
    assert.equal(r.data.extra.code, 'validation_unknown_field');
    const long = await rejects(pb.collection('posts').create({ title: 'x'.repeat(101) }), 400, 'over max');
    assert.ok(long.data.title);
    await rejects(pb.collection('posts').create({ title: 'neg', views: -1 }), 400, 'below min');
    await rejects(pb.collection('posts').create({ title: 'frac', views: 1.5 }), 400, 'not an integer');
    assert.equal((await pb.collection('posts').getList(1, 1)).totalItems, before);
  });

  test('filters are parameters, never SQL: injections find nothing or get 400', T, async () => {
    const total = (await pb.collection('posts').getList(1, 1)).totalItems;
    const quoted = await pb.collection('posts').getList(1, 10, { filter: `title = "x' OR '1'='1"` });
    assert.equal(quoted.totalItems, 0);
    const escaped = await pb.collection('posts').getList(1, 10, { filter: `title = 'x\\' OR 1=1 --'` });
    assert.equal(escaped.totalItems, 0);
    for (const f of ['title = 1; DROP TABLE posts', 'title = "a" OR 1=1', '1=1) UNION SELECT * FROM secrets --', 'sqlite_master.name != ""', 'title = ', '((title = "a")']) {
      await rejects(pb.collection('posts').getList(1, 10, { filter: f }), 400, `filter ${f}`);
    }
    for (const s of ['nope', 'title; DROP TABLE posts', '-(select 1)']) {
      await rejects(pb.collection('posts').getList(1, 10, { sort: s }), 400, `sort ${s}`);
    }
    assert.equal((await pb.collection('posts').getList(1, 1)).totalItems, total, 'posts intact');
  });

  test('rules: none means superusers only; an empty rule everyone; expressions filter', T, async () => {
    await rejects(pb.collection('secrets').getList(1, 10), 403, 'anonymous list of a superusers-only collection');
    await rejects(pb.collection('secrets').create({ value: 'x' }), 403, 'anonymous create');
    const s = await admin.collection('secrets').create({ value: 'top' });
    assert.equal((await admin.collection('secrets').getList(1, 10)).totalItems, 1);
    await rejects(pb.collection('secrets').getOne(s.id), 403, 'anonymous view');
    // A wrong token is no superuser.
    const wrong = new PocketBase(srv.url);
    wrong.authStore.save('hth_wrong', null);
    await rejects(wrong.collection('secrets').getList(1, 10), 403, 'wrong token');

    await admin.collection('notes').create({ text: 'open', public: true });
    const hidden = await admin.collection('notes').create({ text: 'closed', public: false });
    const visible = await pb.collection('notes').getFullList();
    assert.deepEqual(visible.map((n) => n.text), ['open']);
    await rejects(pb.collection('notes').getOne(hidden.id), 404, 'view denied by the rule');
    await rejects(pb.collection('notes').create({ text: '' }), 400, 'create rule on @request.body');
    const ok = await pb.collection('notes').create({ text: 'from anyone', public: true });
    assert.equal(ok.text, 'from anyone');
    await rejects(pb.collection('notes').delete(ok.id), 403, 'delete with no rule');
  });

  test('collections change through the control API; the JSON Schema follows', T, async () => {
    let r = await control(srv, token, 'PATCH', '/sites/app.test/collections/authors', {
      fields: [{ name: 'name', type: 'text', required: true }, { name: 'bio', type: 'text', max: 500 }],
    });
    assert.equal(r.status, 200, r.text);
    const v1 = r.json.schemaVersion;
    const a = await pb.collection('authors').create({ name: 'Bo', bio: 'writes' });
    assert.equal(a.bio, 'writes');
    const schema = await httpRequest(`${srv.url}/api/collections/authors/schema`, { timeoutMs: 5000 });
    const js = JSON.parse(schema.text);
    assert.equal(js.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(js.properties.bio.maxLength, 500);
    assert.deepEqual(js.required, ['name']);
    assert.equal(js['x-schema-version'], v1);
    r = await control(srv, token, 'PATCH', '/sites/app.test/collections/authors', {
      fields: [{ name: 'name', type: 'number' }, { name: 'bio', type: 'text' }],
    });
    assert.equal(r.status, 400, 'a type change is refused');
    r = await control(srv, token, 'DELETE', '/sites/app.test/collections/authors');
    assert.equal(r.status, 409, 'posts relate to authors');
    for (const bad of [{ name: '1x' }, { name: 'x y' }, { name: 'sqlite_x' }, { name: 'posts' }, { name: 'ok', fields: [{ name: 'a', type: 'nope' }] },
      { name: 'ok', listRule: 'title = ' }, { name: 'ok', fields: [{ name: 'a', type: 'relation', collectionId: 'nothing' }] }]) {
      r = await control(srv, token, 'POST', '/sites/app.test/collections', bad);
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
      assert.equal(typeof r.json.error, 'string');
    }
    const list = await control(srv, token, 'GET', '/sites/app.test/collections');
    assert.deepEqual(list.json.items.map((c) => c.name), ['authors', 'notes', 'posts', 'secrets']);
    assert.ok(list.json.schemaVersion > v1 - 1);
    assert.equal((await control(srv, token, 'GET', '/sites/nosuch.test/collections')).status, 404);
    assert.equal((await control(srv, null, 'GET', '/sites/app.test/collections')).status, 401);
  });

  test("a site without an app database serves /api/ as files; another site's collections are not reachable", T, async () => {
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'other.test' })).status, 201);
    const r = await httpRequest(`${srv.url}/api/collections/posts/records`, { headers: { Host: 'other.test' }, timeoutMs: 5000 });
    assert.equal(r.status, 404);
    assert.ok(!r.text.includes('list '), 'no records of app.test');
    assert.equal((await control(srv, token, 'POST', '/sites/other.test/collections', { name: 'posts', fields: [{ name: 'x', type: 'text' }], listRule: '' })).status, 201);
    const other = await httpRequest(`${srv.url}/api/collections/posts/records`, { headers: { Host: 'other.test' }, timeoutMs: 5000 });
    assert.equal(JSON.parse(other.text).totalItems, 0, "other.test's own, empty posts");
    const unknown = await rejects(pb.collection('nope').getList(1, 1), 404, 'unknown collection');
    assert.equal(unknown.message, 'Missing collection context.');
  });

  test('batch: several writes in one transaction, all or nothing', T, async () => {
    const existing = await pb.collection('posts').create({ title: 'batch target' });
    const batch = pb.createBatch();
    batch.collection('posts').create({ title: 'batch one', views: 1 });
    batch.collection('posts').update(existing.id, { title: 'batch target, changed' });
    batch.collection('posts').upsert({ id: 'batchupsert0001', title: 'upserted' });
    batch.collection('authors').create({ name: 'Batch Author' });
    const results = await batch.send();
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(results[0].body.title, 'batch one');
    assert.equal(results[1].body.title, 'batch target, changed');
    assert.equal(results[2].body.id, 'batchupsert0001');
    const again = pb.createBatch();
    again.collection('posts').upsert({ id: 'batchupsert0001', title: 'upserted twice' });
    again.collection('posts').delete(existing.id);
    const r2 = await again.send();
    assert.deepEqual(r2.map((r) => r.status), [200, 204]);
    assert.equal((await pb.collection('posts').getOne('batchupsert0001')).title, 'upserted twice');
    await rejects(pb.collection('posts').getOne(existing.id), 404, 'deleted in the batch');

    // One bad request: nothing of the batch happens, and the error names it.
    const before = (await pb.collection('posts').getList(1, 1)).totalItems;
    const bad = pb.createBatch();
    bad.collection('posts').create({ title: 'never stored 1' });
    bad.collection('posts').create({ title: 'never stored 2' });
    bad.collection('posts').create({ views: 'not a number' });
    const err = await rejects(bad.send(), 400, 'a batch with an invalid record');
    assert.equal(err.data.requests['2'].code, 'batch_request_failed');
    const late = pb.createBatch();
    late.collection('posts').create({ title: 'never stored 3' });
    late.collection('posts').update('zzzzzzzzzzzzzzz', { title: 'no such record' });
    const err2 = await rejects(late.send(), 400, 'a batch failing inside the transaction');
    assert.equal(err2.data.requests['1'].response.status, 404);
    assert.equal((await pb.collection('posts').getList(1, 1)).totalItems, before, 'nothing of the failed batches was stored');
    const denied = pb.createBatch();
    denied.collection('secrets').create({ value: 'x' });
    await rejects(denied.send(), 400, 'a batch touching a superusers-only collection');
  });

  test('acknowledged writes survive kill -9', { timeout: 60000 }, async () => {
    const rec = await pb.collection('posts').create({ title: 'durable' });
    await srv.stop('SIGKILL');
    srv = await startHearth({ args: ['--workers', '2'], dataDir: srv.dataDir });
    const again = new PocketBase(srv.url);
    const got = await again.collection('posts').getOne(rec.id);
    assert.equal(got.title, 'durable');
  });
});

describe('realtime with the pocketbase SDK', () => {
  let srv;
  let token;
  let pb;
  let admin;
  before(async () => {
    const { EventSource } = await import('eventsource');
    globalThis.EventSource = EventSource; // Node has none; PocketBase's docs advise this package
    srv = await startHearth({ args: ['--workers', '2'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'rt.test', default: true })).status, 201);
    for (const def of [
      { name: 'posts', fields: [{ name: 'title', type: 'text' }], listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '' },
      { name: 'notes', fields: [{ name: 'text', type: 'text' }, { name: 'public', type: 'bool' }], listRule: 'public = true', viewRule: 'public = true', createRule: '' },
      { name: 'secrets', fields: [{ name: 'value', type: 'text' }] },
    ]) assert.equal((await control(srv, token, 'POST', '/sites/rt.test/collections', def)).status, 201);
    pb = new PocketBase(srv.url);
    pb.autoCancellation(false);
    admin = new PocketBase(srv.url);
    admin.autoCancellation(false);
    admin.authStore.save(token, null);
  });
  after(async () => {
    pb?.realtime.unsubscribe().catch(() => {});
    admin?.realtime.unsubscribe().catch(() => {});
    if (srv) await srv.stop('SIGKILL').catch(() => {});
  });

  /** Collects events; waitFor(n) resolves once n have arrived (or fails after ms). */
  function collector() {
    const events = [];
    let wake = () => {};
    return {
      events,
      push: (e) => { events.push(e); wake(); },
      async waitFor(n, ms = 5000) {
        const deadline = Date.now() + ms;
        while (events.length < n) {
          if (Date.now() > deadline) assert.fail(`only ${events.length} of ${n} events: ${JSON.stringify(events)}`);
          await new Promise((r) => { wake = r; setTimeout(r, 50); });
        }
        return events;
      },
    };
  }

  test('subscribe to a collection and to one record: create, update, delete arrive in order', T, async () => {
    const all = collector();
    const one = collector();
    const unsubAll = await pb.collection('posts').subscribe('*', all.push);
    const rec = await pb.collection('posts').create({ title: 'a' });
    await all.waitFor(1);
    const unsubOne = await pb.collection('posts').subscribe(rec.id, one.push);
    await pb.collection('posts').update(rec.id, { title: 'b' });
    await pb.collection('posts').delete(rec.id);
    await all.waitFor(3);
    await one.waitFor(2);
    assert.deepEqual(all.events.map((e) => e.action), ['create', 'update', 'delete']);
    assert.deepEqual(all.events.map((e) => e.record.title), ['a', 'b', 'b']);
    assert.equal(all.events[0].record.id, rec.id);
    assert.deepEqual(one.events.map((e) => e.action), ['update', 'delete']);
    await unsubOne();
    await unsubAll();
    const after = collector();
    await pb.collection('posts').create({ title: 'unseen' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(after.events.length, 0);
  });

  test('rules apply to every event and every subscriber', T, async () => {
    const anonNotes = collector();
    const anonSecrets = collector();
    const adminSecrets = collector();
    await pb.collection('notes').subscribe('*', anonNotes.push);
    await pb.collection('secrets').subscribe('*', anonSecrets.push);
    await admin.collection('secrets').subscribe('*', adminSecrets.push);
    await pb.collection('notes').create({ text: 'hidden', public: false });
    await pb.collection('notes').create({ text: 'shown', public: true });
    await admin.collection('secrets').create({ value: 'psst' });
    await anonNotes.waitFor(1);
    await adminSecrets.waitFor(1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(anonNotes.events.map((e) => e.record.text), ['shown']);
    assert.equal(anonSecrets.events.length, 0, 'a superusers-only collection sends nothing to others');
    assert.equal(adminSecrets.events[0].record.value, 'psst');
    await pb.collection('notes').unsubscribe();
    await pb.collection('secrets').unsubscribe();
    await admin.collection('secrets').unsubscribe();
  });

  test('a subscription with a filter gets only matching records', T, async () => {
    const matching = collector();
    const everything = collector();
    await pb.collection('posts').subscribe('*', matching.push, { filter: 'title ~ "keep"' });
    await admin.collection('posts').subscribe('*', everything.push, { filter: 'title != ""' });
    await pb.collection('posts').create({ title: 'drop this' });
    await pb.collection('posts').create({ title: 'keep this' });
    await matching.waitFor(1);
    await everything.waitFor(2);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(matching.events.map((e) => e.record.title), ['keep this']);
    assert.deepEqual(everything.events.map((e) => e.record.title), ['drop this', 'keep this']);
    await pb.collection('posts').unsubscribe();
    await admin.collection('posts').unsubscribe();
  });

  test('@schema subscribers receive the new JSON Schema and version when a collection changes', T, async () => {
    const changes = collector();
    await admin.realtime.subscribe('@schema', changes.push);
    const r = await control(srv, token, 'PATCH', '/sites/rt.test/collections/posts', {
      fields: [{ name: 'title', type: 'text' }, { name: 'body', type: 'text', max: 10 }],
    });
    assert.equal(r.status, 200, r.text);
    await changes.waitFor(1);
    const e = changes.events[0];
    assert.equal(e.action, 'update');
    assert.equal(e.collection, 'posts');
    assert.equal(e.schemaVersion, r.json.schemaVersion);
    assert.equal(e.schema.properties.body.maxLength, 10);
    await admin.realtime.unsubscribe('@schema');
  });

  test('a graceful stop does not wait for open event streams', { timeout: 60000 }, async () => {
    const other = await startHearth({ args: ['--workers', '2'] });
    try {
      const t = (await fsp.readFile(path.join(other.dataDir, 'admin.token'), 'utf8')).trim();
      assert.equal((await control(other, t, 'POST', '/sites', { name: 'stop.test', default: true })).status, 201);
      assert.equal((await control(other, t, 'POST', '/sites/stop.test/collections', { name: 'x', fields: [] })).status, 201);
      // An open event stream, as a browser tab with the SDK holds one.
      const { default: http } = await import('node:http');
      const ended = new Promise((resolve, reject) => {
        http.get(`${other.url}/api/realtime`, { agent: false }, (res) => {
          res.once('data', () => resolve({ done: new Promise((r) => { res.on('end', r); res.on('close', r); res.resume(); }) }));
        }).on('error', reject);
      });
      const streamEnd = await ended;
      const started = Date.now();
      const ex = await other.stop('SIGTERM', 20000);
      assert.equal(ex.code, 0, ex.stderr);
      assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms with an event stream open`);
      await streamEnd.done;
    } finally {
      await other.stop('SIGKILL').catch(() => {});
    }
  });

  test('many idle subscribers, and the SDK reconnects after the server restarts', { timeout: 90000 }, async () => {
    const clients = [];
    for (let i = 0; i < 50; i++) {
      const c = new PocketBase(srv.url);
      c.autoCancellation(false);
      await c.collection('posts').subscribe('*', () => {});
      clients.push(c);
    }
    const got = collector();
    await pb.collection('posts').subscribe('*', got.push);
    await pb.collection('posts').create({ title: 'to 51' });
    await got.waitFor(1);
    for (const c of clients) await c.realtime.unsubscribe();

    const port = srv.port;
    await srv.stop('SIGKILL');
    srv = await startHearth({ args: ['--workers', '2'], dataDir: srv.dataDir, http: `127.0.0.1:${port}` });
    // The SDK reconnects by itself and resubscribes; then events flow again.
    const deadline = Date.now() + 20000;
    let n = got.events.length;
    while (got.events.length === n && Date.now() < deadline) {
      await pb.collection('posts').create({ title: 'after restart' }).catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(got.events.length > n, 'no event after the restart');
    assert.equal(got.events.at(-1).record.title, 'after restart');
    await pb.collection('posts').unsubscribe();
  });
});

describe('auth collections with the pocketbase SDK', () => {
  let srv;
  let token;
  let admin;
  const pbFor = () => { const c = new PocketBase(srv.url); c.autoCancellation(false); return c; };
  before(async () => {
    srv = await startHearth({ args: ['--workers', '2'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'auth.test', default: true })).status, 201);
    const users = await control(srv, token, 'POST', '/sites/auth.test/collections', {
      name: 'users', type: 'auth', fields: [{ name: 'name', type: 'text' }],
      listRule: 'id = @request.auth.id', viewRule: 'id = @request.auth.id', createRule: '',
      updateRule: 'id = @request.auth.id', deleteRule: null,
    });
    assert.equal(users.status, 201, users.text);
    const posts = await control(srv, token, 'POST', '/sites/auth.test/collections', {
      name: 'posts',
      fields: [{ name: 'title', type: 'text' }, { name: 'owner', type: 'relation', collectionId: users.json.id }],
      listRule: 'owner = @request.auth.id', viewRule: 'owner = @request.auth.id',
      createRule: '@request.auth.id != "" && owner = @request.auth.id', updateRule: null, deleteRule: null,
    });
    assert.equal(posts.status, 201, posts.text);
    admin = pbFor();
    admin.authStore.save(token, null);
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('sign up, sign in, rules on @request.auth, refresh, and a new password ends old tokens', { timeout: 60000 }, async () => {
    const ann = pbFor();
    const bob = pbFor();
    const created = await ann.collection('users').create({ email: 'ann@example.com', password: 'correct horse', passwordConfirm: 'correct horse', name: 'Ann' });
    assert.equal(created.name, 'Ann');
    assert.equal(created.password, undefined);
    assert.equal(created.tokenKey, undefined);
    await bob.collection('users').create({ email: 'bob@example.com', password: 'battery staple', passwordConfirm: 'battery staple' });

    const auth = await ann.collection('users').authWithPassword('ann@example.com', 'correct horse');
    assert.ok(ann.authStore.isValid);
    assert.equal(auth.record.email, 'ann@example.com');
    assert.equal(auth.record.id, created.id);
    await rejects(pbFor().collection('users').authWithPassword('ann@example.com', 'wrong password'), 400, 'wrong password');
    await rejects(pbFor().collection('users').authWithPassword('nobody@example.com', 'whatever1'), 400, 'unknown user');
    await bob.collection('users').authWithPassword('bob@example.com', 'battery staple');

    const seen = await ann.collection('users').getFullList();
    assert.deepEqual(seen.map((u) => u.email), ['ann@example.com'], 'the list rule shows only yourself');
    assert.deepEqual(await pbFor().collection('users').getFullList(), [], 'a guest sees no one');

    const post = await ann.collection('posts').create({ title: 'mine', owner: ann.authStore.record.id });
    await rejects(ann.collection('posts').create({ title: 'as bob', owner: bob.authStore.record.id }), 400, 'create for someone else');
    await rejects(pbFor().collection('posts').create({ title: 'guest', owner: ann.authStore.record.id }), 400, 'guest create');
    assert.equal((await ann.collection('posts').getFullList()).length, 1);
    assert.equal((await bob.collection('posts').getFullList()).length, 0);
    await rejects(bob.collection('posts').getOne(post.id), 404, "bob viewing ann's post");

    const refreshed = await ann.collection('users').authRefresh();
    assert.ok(refreshed.token);
    assert.equal((await ann.collection('posts').getFullList()).length, 1, 'the refreshed token works');

    // A new password (here set by a superuser) draws a new tokenKey: the old token is a guest's now.
    const oldToken = ann.authStore.token;
    await admin.collection('users').update(created.id, { password: 'new password 1', passwordConfirm: 'new password 1' });
    const stale = pbFor();
    stale.authStore.save(oldToken, null);
    assert.equal((await stale.collection('posts').getFullList()).length, 0);
    await ann.collection('users').authWithPassword('ann@example.com', 'new password 1');
    assert.equal((await ann.collection('posts').getFullList()).length, 1);

    // Changing one's own password takes the old one.
    const me = ann.authStore.record.id;
    let r = await rejects(ann.collection('users').update(me, { password: 'another one 2', passwordConfirm: 'another one 2' }), 400, 'no oldPassword');
    assert.ok(r.data.oldPassword);
    r = await rejects(ann.collection('users').update(me, { oldPassword: 'wrong', password: 'another one 2', passwordConfirm: 'another one 2' }), 400, 'wrong oldPassword');
    assert.equal(r.data.oldPassword.code, 'validation_invalid_old_password');
    await ann.collection('users').update(me, { oldPassword: 'new password 1', password: 'another one 2', passwordConfirm: 'another one 2' });
    await ann.collection('users').authWithPassword('ann@example.com', 'another one 2');
    assert.equal((await ann.collection('posts').getFullList()).length, 1);
  });

  test('bad sign-ups get per-field errors', T, async () => {
    const c = pbFor();
    let r = await rejects(c.collection('users').create({ email: 'x@example.com', password: 'short', passwordConfirm: 'short' }), 400, 'short password');
    assert.ok(r.data.password);
    r = await rejects(c.collection('users').create({ email: 'y@example.com', password: 'long enough', passwordConfirm: 'different!' }), 400, 'mismatch');
    assert.ok(r.data.passwordConfirm);
    r = await rejects(c.collection('users').create({ email: 'not an email', password: 'long enough', passwordConfirm: 'long enough' }), 400, 'bad email');
    assert.ok(r.data.email);
    await c.collection('users').create({ email: 'dup@example.com', password: 'long enough', passwordConfirm: 'long enough' });
    r = await rejects(c.collection('users').create({ email: 'dup@example.com', password: 'long enough', passwordConfirm: 'long enough' }), 400, 'duplicate email');
    assert.equal(r.data.email.code, 'validation_not_unique');
    r = await rejects(c.collection('users').create({ email: 'v@example.com', password: 'long enough', passwordConfirm: 'long enough', verified: true }), 400, 'verified by a guest');
    assert.ok(r.data.verified);
    const forged = pbFor();
    forged.authStore.save('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImEiLCJ0eXBlIjoiYXV0aCJ9.c2lnbmF0dXJl', null);
    assert.deepEqual(await forged.collection('users').getFullList(), [], 'a forged token is a guest');
    await rejects(forged.collection('users').authRefresh(), 401, 'refresh with a forged token');
  });
});

describe('hearth collections (the CLI)', () => {
  let srv;
  let token;
  before(async () => {
    srv = await startHearth();
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'cli.test' })).status, 201);
  });
  after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

  test('create from a file, list, show, set, rm; bad input is one line and a non-zero exit', T, async () => {
    const dir = await makeTempDir('hearth-collections-');
    const cli = (args) => runHearth(['collections', '--site', 'cli.test', '--server', srv.url, '--token', token, ...args], { cwd: dir, timeoutMs: 15000 });
    await fsp.writeFile(path.join(dir, 'posts.json'), JSON.stringify({ name: 'posts', fields: [{ name: 'title', type: 'text' }], listRule: '' }));
    let r = await cli(['create', 'posts.json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^created collection posts \(schema version 1\)$/m);
    r = await cli(['list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^posts\s+base\s+title text$/m);
    r = await cli(['show', 'posts']);
    assert.equal(JSON.parse(r.stdout).schema.properties.title.type, 'string');
    await fsp.writeFile(path.join(dir, 'more.json'), JSON.stringify({ fields: [{ name: 'title', type: 'text' }, { name: 'n', type: 'number' }] }));
    r = await cli(['set', 'posts', 'more.json', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).schemaVersion, 2);
    for (const [args, re] of [
      [['create', 'missing.json'], /cannot read/],
      [['create', 'posts.json'], /already exists/],
      [['set', 'nope', 'more.json'], /no collection nope/],
      [['rm', 'nope'], /no collection nope/],
    ]) {
      r = await cli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^hearth: /);
      assert.match(lines[0], re);
    }
    await fsp.writeFile(path.join(dir, 'bad.json'), '{not json');
    r = await cli(['create', 'bad.json']);
    assert.match(r.stderr, /^hearth: bad.json is not a JSON object$/m);
    r = await runHearth(['collections', '--site', 'nosite.test', '--server', srv.url, '--token', token], { cwd: dir });
    assert.match(r.stderr, /no site named nosite.test/);
    r = await cli(['rm', 'posts']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli([]);
    assert.match(r.stdout, /no collections yet/);
  });
});
