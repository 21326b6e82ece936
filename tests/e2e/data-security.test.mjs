// The data API under attack: each test is one finding of the security review
// (issue 16), driven as the attacker drove it, and fails on the code before
// its fix. Rules that hide something must hide it on every path: list, view,
// expand, filter, sort, realtime, batch, create/update answers, sign-in.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import PocketBase from 'pocketbase';
import { startHearth, httpRequest, controlApi as control, sdkRejects as rejects, sleep } from './helpers.mjs';

const T = { timeout: 90000 };

/** A JSON request to the app API; `from` picks the client address (127.0.0.x). */
async function api(srv, method, p, body, { token, from, headers = {}, raw } = {}) {
  const { default: http } = await import('node:http');
  const data = raw !== undefined ? Buffer.from(raw) : body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const h = { ...headers };
  if (data) { h['Content-Type'] ??= 'application/json'; h['Content-Length'] = String(data.length); }
  if (token) h.Authorization = token;
  return new Promise((resolve, reject) => {
    const req = http.request(`${srv.url}${p}`, { method, headers: h, agent: false, localAddress: from }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* empty */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const nested = (n) => '['.repeat(n) + ']'.repeat(n);

describe('data API security', () => {
  let srv;
  let token;
  let admin;
  let annToken;
  let ann;
  let bob;
  const ids = {};

  before(async () => {
    const { EventSource } = await import('eventsource');
    globalThis.EventSource = EventSource;
    srv = await startHearth({ args: ['--workers', '2'] });
    token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'sec.test', default: true })).status, 201);
    const mk = async (def) => {
      const r = await control(srv, token, 'POST', '/sites/sec.test/collections', def);
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const users = await mk({
      name: 'users', type: 'auth', fields: [{ name: 'name', type: 'text' }],
      listRule: '', viewRule: '', createRule: '', updateRule: 'id = @request.auth.id', deleteRule: null,
    });
    const secrets = await mk({
      name: 'secrets', fields: [{ name: 'value', type: 'text' }, { name: 'visibility', type: 'text' }],
      listRule: 'visibility != "private"', viewRule: 'visibility != "private"', createRule: null,
    });
    const vault = await mk({ name: 'vault', fields: [{ name: 'value', type: 'text' }] });
    await mk({
      name: 'posts',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'secret', type: 'relation', collectionId: secrets.id },
        { name: 'locked', type: 'relation', collectionId: vault.id },
        { name: 'author', type: 'relation', collectionId: users.id },
        { name: 'data', type: 'json' },
      ],
      listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    });
    await mk({
      name: 'notes', fields: [{ name: 'text', type: 'text' }, { name: 'owner', type: 'relation', collectionId: users.id }],
      listRule: 'owner = @request.auth.id', viewRule: 'owner = @request.auth.id', createRule: '', updateRule: '',
    });
    await mk({
      name: 'gated', fields: [{ name: 'text', type: 'text' }],
      listRule: '', viewRule: '', createRule: '@request.body.text != ""', updateRule: '',
    });
    admin = new PocketBase(srv.url);
    admin.autoCancellation(false);
    admin.authStore.save(token, null);
    // Sign-ups: emails hidden (emailVisibility false), one shown.
    const guest = new PocketBase(srv.url);
    guest.autoCancellation(false);
    for (const [name, email] of [['zed', 'zed@example.com'], ['ann', 'ann@example.com'], ['bob', 'bob@example.com']]) {
      const u = await guest.collection('users').create({ email, password: 'correct horse', passwordConfirm: 'correct horse', name });
      ids[name] = u.id;
      assert.equal(u.email, undefined, 'a guest does not see a hidden email, even its own sign-up\'s');
    }
    await guest.collection('users').create({ email: 'shown@example.com', emailVisibility: true, password: 'correct horse', passwordConfirm: 'correct horse', name: 'shown' });
    ann = new PocketBase(srv.url);
    ann.autoCancellation(false);
    await ann.collection('users').authWithPassword('ann@example.com', 'correct horse');
    annToken = ann.authStore.token;
    bob = new PocketBase(srv.url);
    bob.autoCancellation(false);
    await bob.collection('users').authWithPassword('bob@example.com', 'correct horse');
    ids.hidden = (await admin.collection('secrets').create({ value: 'the private value', visibility: 'private' })).id;
    ids.open = (await admin.collection('secrets').create({ value: 'public value', visibility: 'public' })).id;
    ids.locked = (await admin.collection('vault').create({ value: 'vault value' })).id;
    ids.post = (await admin.collection('posts').create({ title: 'public post', secret: ids.hidden, locked: ids.locked, author: ids.ann })).id;
    ids.post2 = (await admin.collection('posts').create({ title: 'second post', secret: ids.open })).id;
  });
  after(async () => {
    for (const c of [ann, bob, admin]) c?.realtime.unsubscribe().catch(() => {});
    if (srv) await srv.stop('SIGKILL').catch(() => {});
  });

  async function alive() {
    const h = await api(srv, 'GET', '/api/health');
    assert.equal(h.status, 200, 'the server still answers');
  }

  // F1: deep JSON crashed a worker (stack overflow) through every path that copied or dumped it.
  test('F1: deeply nested JSON is refused with 400 on every path, and the server lives', T, async () => {
    const deep = nested(150000);
    let r = await api(srv, 'POST', '/api/batch', undefined, {
      raw: `{"requests":[{"method":"POST","url":"/api/collections/posts/records","body":{"title":"x","data":${deep}}}]}`,
    });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, /nested deeper than 64/);
    await alive();
    r = await api(srv, 'POST', '/api/collections/posts/records', undefined, { raw: `{"title":"x","data":${deep}}` });
    assert.equal(r.status, 400, r.text);
    await alive();
    const boundary = 'XyZ';
    const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="@jsonPayload"\r\n\r\n{"title":"x","data":${deep}}\r\n--${boundary}--\r\n`;
    r = await api(srv, 'POST', '/api/collections/posts/records', undefined, {
      raw: multipart, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    });
    assert.equal(r.status, 400, r.text);
    await alive();
    // A rule that reads @request.body.X (gated's create rule).
    r = await api(srv, 'POST', '/api/collections/gated/records', undefined, { raw: `{"text":${deep}}` });
    assert.equal(r.status, 400, r.text);
    // The realtime subscription body.
    r = await api(srv, 'POST', '/api/realtime', undefined, { raw: `{"clientId":"x","subscriptions":${deep}}` });
    assert.equal(r.status, 400, r.text);
    // A token's payload (base64url of deep JSON) is a guest, not a crash.
    const b64 = (s) => Buffer.from(s).toString('base64url');
    const jwt = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(`{"a":${nested(3000)}}`)}.sig`;
    r = await api(srv, 'GET', '/api/collections/posts/records', undefined, { token: jwt });
    assert.equal(r.status, 200, r.text);
    // Wide, not deep: more values than the budget.
    r = await api(srv, 'POST', '/api/collections/posts/records', undefined, { raw: `{"title":"x","data":[${'1,'.repeat(250000)}1]}` });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, /more than 200000 values/);
    await alive();
    // Within the bounds: stored and read back.
    const ok = await admin.collection('posts').create({ title: 'deep enough', data: JSON.parse(nested(60)) });
    assert.equal(JSON.stringify(ok.data), nested(60));
  });

  // F10: a 16 MiB JSON array cost ~280 MB; JSON bodies have their own, smaller limit.
  test('F10: a JSON body over api-max-json-size is 413; a multipart @jsonPayload over it is refused', T, async () => {
    const big = `{"title":"x","data":"${'a'.repeat(5 << 20)}"}`;
    let r = await api(srv, 'POST', '/api/collections/posts/records', undefined, { raw: big });
    assert.equal(r.status, 413, r.text);
    r = await api(srv, 'POST', '/api/batch', undefined, { raw: big });
    assert.equal(r.status, 413, r.text);
    const boundary = 'b0';
    r = await api(srv, 'POST', '/api/collections/posts/records', undefined, {
      raw: `--${boundary}\r\nContent-Disposition: form-data; name="@jsonPayload"\r\n\r\n${big}\r\n--${boundary}--\r\n`,
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, /@jsonPayload is larger than/);
    // Any Content-Type: only a record's create or update takes files.
    r = await api(srv, 'POST', '/api/realtime', undefined, { raw: big, headers: { 'Content-Type': 'multipart/form-data; boundary=x' } });
    assert.equal(r.status, 413, r.text);
    r = await api(srv, 'POST', '/api/collections/users/auth-with-password', undefined, { raw: big, headers: { 'Content-Type': 'multipart/form-data; boundary=x' } });
    assert.equal(r.status, 413, r.text);
    await alive();
  });

  // F2: expand ran the target's view rule with its values unbound (NULL): `visibility != "private"` passed.
  test('F2: expand never shows a related record its view rule hides', T, async () => {
    const list = await api(srv, 'GET', `/api/collections/posts/records?expand=secret&filter=${encodeURIComponent(`id="${ids.post}"`)}`);
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.items.length, 1);
    assert.equal(list.json.items[0].expand?.secret, undefined, JSON.stringify(list.json.items[0]));
    assert.doesNotMatch(list.text, /the private value/);
    const one = await api(srv, 'GET', `/api/collections/posts/records/${ids.post}?expand=secret,locked`);
    assert.equal(one.status, 200);
    assert.doesNotMatch(one.text, /the private value|vault value/);
    // What the rule lets through still expands.
    const open = await api(srv, 'GET', `/api/collections/posts/records/${ids.post2}?expand=secret`);
    assert.equal(open.json.expand.secret.value, 'public value');
    // A superuser sees it all.
    const su = await admin.collection('posts').getOne(ids.post, { expand: 'secret,locked' });
    assert.equal(su.expand.secret.value, 'the private value');
    assert.equal(su.expand.locked.value, 'vault value');
  });

  // F3: filters and sorts read what rules and emailVisibility hide.
  test('F3: a hidden email cannot be filtered or sorted on; a related record only through its view rule', T, async () => {
    const list = (q, t) => api(srv, 'GET', `/api/collections/users/records?${q}`, undefined, { token: t });
    const f = (s) => `filter=${encodeURIComponent(s)}`;
    // The attacker's oracle: one character at a time with >= and <.
    assert.equal((await list(f('email = "ann@example.com"'))).json.totalItems, 0);
    assert.equal((await list(f('email >= "a" && name = "ann"'))).json.totalItems, 0);
    assert.equal((await list(f('email ~ "ann"'))).json.totalItems, 0);
    // The shown email is filterable by anyone; one's own by oneself.
    assert.equal((await list(f('email = "shown@example.com"'))).json.totalItems, 1);
    assert.equal((await list(f('email = "ann@example.com"'), annToken)).json.totalItems, 1);
    assert.equal((await list(f('email = "bob@example.com"'), annToken)).json.totalItems, 0);
    // Sorting by a hidden email keeps the records in creation order for a guest.
    const asc = (await list('sort=email&perPage=10')).json.items.map((u) => u.name);
    const desc = (await list('sort=-email&perPage=10')).json.items.map((u) => u.name);
    assert.deepEqual(asc.filter((n) => n !== 'shown'), ['zed', 'ann', 'bob']);
    assert.deepEqual(desc.filter((n) => n !== 'shown'), ['zed', 'ann', 'bob']);
    // A superuser sorts by every email.
    const su = await admin.collection('users').getFullList({ sort: 'email' });
    assert.deepEqual(su.map((u) => u.name), ['ann', 'bob', 'shown', 'zed']);
    // Through a relation: the target's view rule applies to each step.
    const posts = (q) => api(srv, 'GET', `/api/collections/posts/records?${q}`);
    assert.equal((await posts(f('secret.value = "the private value"'))).json.totalItems, 0);
    assert.equal((await posts(f('secret.value ~ "private"'))).json.totalItems, 0);
    assert.equal((await posts(f('secret.value = "public value"'))).json.totalItems, 1);
    assert.equal((await posts(f('author.email = "ann@example.com"'))).json.totalItems, 0);
    const sorted = await posts(`sort=secret.value&${f('secret != ""')}`);
    assert.equal(sorted.status, 200);
    // A target only superusers may view refuses the path.
    const locked = await posts(f('locked.value = "vault value"'));
    assert.equal(locked.status, 400, locked.text);
    assert.equal((await posts('sort=locked.value')).status, 400);
    assert.equal((await admin.collection('posts').getList(1, 10, { filter: 'locked.value = "vault value"' })).totalItems, 1);
    // Hidden columns are no fields at all.
    assert.equal((await list(f('password != ""'))).status, 400);
    assert.equal((await list(f('tokenKey != ""'))).status, 400);
  });

  // F13: ~ escapes _ and % as PocketBase does.
  test('F13: ~ matches _ and % literally unless the value is a pattern of its own', T, async () => {
    for (const title of ['abc', 'xa_cx', '100% sure', '100x sure']) await admin.collection('posts').create({ title });
    const titles = async (filter) => (await admin.collection('posts').getFullList({ filter })).map((p) => p.title).sort();
    assert.deepEqual(await titles('title ~ "a_c"'), ['xa_cx']);
    assert.deepEqual(await titles('title ~ "100\\\\% sure"'), ['100% sure']);
    assert.deepEqual(await titles('title ~ "100% sure"'), ['100% sure', '100x sure']);  // the value is a pattern
    assert.deepEqual(await titles('title !~ "a_c" && title ~ "bc"'), ['abc']);
  });

  // F4: realtime sent one rendering (the superuser's) to every subscriber.
  test('F4: a realtime event carries only what its subscriber may see', T, async () => {
    const guest = new PocketBase(srv.url);
    guest.autoCancellation(false);
    const seen = [];
    const mine = [];
    const byEmail = [];
    await guest.collection('users').subscribe('*', (e) => seen.push(e));
    await guest.collection('users').subscribe('*', (e) => byEmail.push(e), { filter: 'email = "ann@example.com"' });
    await ann.collection('users').subscribe(ids.ann, (e) => mine.push(e));
    await ann.collection('users').update(ids.ann, { name: 'ann2' });
    const deadline = Date.now() + 5000;
    while ((seen.length < 1 || mine.length < 1) && Date.now() < deadline) await sleep(50);
    assert.equal(seen.length, 1, 'the guest got the event');
    assert.equal(seen[0].record.name, 'ann2');
    assert.equal(seen[0].record.email, undefined, `a guest's event hides the email: ${JSON.stringify(seen[0])}`);
    assert.equal(mine[0].record.email, 'ann@example.com', 'the record itself sees its email');
    await sleep(300);
    assert.equal(byEmail.length, 0, 'a filter on a hidden email matches nothing');
    await guest.realtime.unsubscribe();
    await ann.realtime.unsubscribe();
  });

  // F9: caps on realtime subscriptions are visible, not silent, and per identity.
  test('F9: more than 32 distinct filters per account is refused with 429; guests have a budget per network', T, async () => {
    const topics = Array.from({ length: 33 }, (_, i) => `posts/*?options=${encodeURIComponent(JSON.stringify({ query: { filter: `title = "${i}"` } }))}`);
    const { EventSource } = await import('eventsource');
    const es = new EventSource(`${srv.url}/api/realtime`);
    const clientId = await new Promise((resolve, reject) => {
      es.addEventListener('PB_CONNECT', (e) => resolve(JSON.parse(e.data).clientId));
      es.onerror = reject;
    });
    try {
      let r = await api(srv, 'POST', '/api/realtime', { clientId, subscriptions: topics }, { token: annToken });
      assert.equal(r.status, 429, r.text);
      assert.match(r.json.message, /At most 32 distinct realtime filters per account/);
      r = await api(srv, 'POST', '/api/realtime', { clientId, subscriptions: topics.slice(0, 32) }, { token: annToken });
      assert.equal(r.status, 204, r.text);
      // A guest behind the same address as others is not held to an account's budget.
      r = await api(srv, 'POST', '/api/realtime', { clientId, subscriptions: topics }, { from: '127.0.0.5' });
      assert.equal(r.status, 204, r.text);
      const many = Array.from({ length: 257 }, (_, i) => `posts/*?options=${encodeURIComponent(JSON.stringify({ query: { filter: `title = "g${i}"` } }))}`);
      r = await api(srv, 'POST', '/api/realtime', { clientId, subscriptions: many }, { from: '127.0.0.5' });
      assert.equal(r.status, 429, r.text);
    } finally {
      es.close();
    }
  });

  // F5: /api/batch changed a password without oldPassword.
  test('F5: a batch changes a password only with the old one, as a single update does', T, async () => {
    const change = (extra) => api(srv, 'POST', '/api/batch', {
      requests: [{ method: 'PATCH', url: `/api/collections/users/records/${ids.bob}`, body: { password: 'stolen token!', passwordConfirm: 'stolen token!', ...extra } }],
    }, { token: bob.authStore.token });
    let r = await change({});
    assert.equal(r.status, 400, r.text);
    assert.ok(r.json.data.requests['0'].response.data.oldPassword, r.text);
    r = await change({ oldPassword: 'wrong guess' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.data.requests['0'].response.data.oldPassword.code, 'validation_invalid_old_password');
    // An upsert of an existing record is an update: the same rule.
    r = await api(srv, 'POST', '/api/batch', {
      requests: [{ method: 'PUT', url: '/api/collections/users/records', body: { id: ids.bob, password: 'stolen token!', passwordConfirm: 'stolen token!' } }],
    }, { token: bob.authStore.token });
    assert.equal(r.status, 400, r.text);
    // The password did not change; with the old one it does.
    const check = new PocketBase(srv.url);
    await check.collection('users').authWithPassword('bob@example.com', 'correct horse');
    r = await change({ oldPassword: 'correct horse' });
    assert.equal(r.status, 200, r.text);
    await check.collection('users').authWithPassword('bob@example.com', 'stolen token!');
  });

  // F7: an update answered with the whole record although the view rule hides it.
  test('F7: an update is answered as a view would be; hidden: 204 with no body', T, async () => {
    const note = await ann.collection('notes').create({ text: 'ann private note', owner: ids.ann });
    assert.equal(note.text, 'ann private note');
    // bob may update (updateRule "") but not view (viewRule owner = me).
    const r = await api(srv, 'PATCH', `/api/collections/notes/records/${note.id}`, { owner: ids.ann }, { token: bob.authStore.token });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const b = await api(srv, 'POST', '/api/batch', {
      requests: [{ method: 'PATCH', url: `/api/collections/notes/records/${note.id}`, body: {} }],
    }, { token: bob.authStore.token });
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json[0].status, 204);
    assert.equal(b.json[0].body, null);
    assert.doesNotMatch(b.text, /ann private note/);
    // Its owner gets the record.
    const own = await ann.collection('notes').update(note.id, { text: 'still mine' });
    assert.equal(own.text, 'still mine');
    // An update of a user by itself shows its own email; to others, hidden fields stay hidden.
    const me = await ann.collection('users').update(ids.ann, { name: 'ann3' });
    assert.equal(me.email, 'ann@example.com');
  });

  // Review: a subscriber is who it is now, not who it was when it subscribed.
  test('realtime: a changed role, a new password and a revoked token stop events at once', T, async () => {
    const r = await control(srv, token, 'POST', '/sites/sec.test/collections', {
      name: 'tickets', fields: [{ name: 'title', type: 'text' }],
      listRule: '@request.auth.name = "staff"', viewRule: '@request.auth.name = "staff"', createRule: null,
    });
    assert.equal(r.status, 201, r.text);
    const guest = new PocketBase(srv.url);
    const carl = await guest.collection('users').create({ email: 'carl@example.com', password: 'correct horse', passwordConfirm: 'correct horse', name: 'staff' });
    const c = new PocketBase(srv.url);
    c.autoCancellation(false);
    await c.collection('users').authWithPassword('carl@example.com', 'correct horse');
    const got = [];
    await c.collection('tickets').subscribe('*', (e) => got.push(e.record.title));
    // A superuser through a token that is then revoked.
    const made = await control(srv, token, 'POST', '/tokens', { name: 'short-lived', scope: 'admin' });
    assert.equal(made.status, 201, made.text);
    const su = new PocketBase(srv.url);
    su.autoCancellation(false);
    su.authStore.save(made.json.token, null);
    const suGot = [];
    await su.collection('tickets').subscribe('*', (e) => suGot.push(e.record.title));
    const wait = async (pred) => { const end = Date.now() + 5000; while (!pred() && Date.now() < end) await sleep(50); };
    await admin.collection('tickets').create({ title: 'one' });
    await wait(() => got.length === 1 && suGot.length === 1);
    assert.deepEqual(got, ['one']);
    assert.deepEqual(suGot, ['one']);
    // Demoted: no more tickets, although the subscription still holds the old record.
    await admin.collection('users').update(carl.id, { name: 'former' });
    assert.equal((await control(srv, token, 'DELETE', `/tokens/${made.json.id}`)).status, 200);
    await sleep(1100);  // the stream checks a superuser's token at most once a second
    await admin.collection('tickets').create({ title: 'two' });
    await sleep(800);
    assert.deepEqual(got, ['one'], 'a demoted subscriber gets nothing more');
    assert.deepEqual(suGot, ['one'], 'a revoked token gets nothing more');
    await c.realtime.unsubscribe().catch(() => {});
    su.realtime.unsubscribe().catch(() => {});
  });

  test('realtime: a subscriber whose password changed is disconnected, and reconnects as who it now is', T, async () => {
    const guest = new PocketBase(srv.url);
    await guest.collection('users').create({ email: 'dora@example.com', password: 'correct horse', passwordConfirm: 'correct horse', name: 'dora' });
    const d = new PocketBase(srv.url);
    d.autoCancellation(false);
    await d.collection('users').authWithPassword('dora@example.com', 'correct horse');
    const oldToken = d.authStore.token;
    const { EventSource } = await import('eventsource');
    const es = new EventSource(`${srv.url}/api/realtime`);
    let closed = false;
    const clientId = await new Promise((resolve, reject) => {
      es.addEventListener('PB_CONNECT', (e) => resolve(JSON.parse(e.data).clientId));
      es.onerror = () => { closed = true; };
      setTimeout(() => reject(new Error('no PB_CONNECT')), 5000);
    });
    const r = await api(srv, 'POST', '/api/realtime', { clientId, subscriptions: ['posts/*'] }, { token: oldToken });
    assert.equal(r.status, 204, r.text);
    const seen = [];
    es.addEventListener('posts/*', (e) => seen.push(JSON.parse(e.data).record.title));
    await admin.collection('posts').create({ title: 'before' });
    const until = async (pred) => { const end = Date.now() + 5000; while (!pred() && Date.now() < end) await sleep(50); };
    await until(() => seen.length === 1);
    assert.deepEqual(seen, ['before']);
    await d.collection('users').update(d.authStore.record.id, { password: 'new horse!', passwordConfirm: 'new horse!', oldPassword: 'correct horse' });
    await admin.collection('posts').create({ title: 'after' });
    await until(() => closed);
    assert.ok(closed, 'the stream of a subscriber whose token no longer counts is ended');
    assert.deepEqual(seen, ['before']);
    es.close();
  });

  // F8: auth-with-password had no throttle and an unbounded queue.
  test('F8: password guessing is throttled per client network (429) without locking out others', T, async () => {
    const guess = (from, password = 'wrong password') => api(srv, 'POST', '/api/collections/users/auth-with-password',
      { identity: 'zed@example.com', password }, { from });
    const answers = await Promise.all(Array.from({ length: 40 }, () => guess('127.0.0.1')));
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.filter((s) => s === 400).length <= 5, statuses.join(','));
    assert.ok(statuses.filter((s) => s === 429).length >= 35, statuses.join(','));
    const limited = answers.find((a) => a.status === 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    // Even the right password waits out the throttle from that network...
    assert.equal((await guess('127.0.0.1', 'correct horse')).status, 429);
    // ...but a sign-in from elsewhere goes through at once.
    const started = Date.now();
    const ok = await guess('127.0.0.2', 'correct horse');
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Date.now() - started < 3000);
    // A success between guesses does not reset the count (a sprayer with an account of its own).
    const sprayed = [];
    for (let round = 0; round < 4; round++) {
      sprayed.push((await guess('127.0.0.4')).status, (await guess('127.0.0.4')).status);
      sprayed.push((await api(srv, 'POST', '/api/collections/users/auth-with-password',
        { identity: 'bob@example.com', password: 'stolen token!' }, { from: '127.0.0.4' })).status);
    }
    assert.ok(sprayed.includes(429), sprayed.join(','));
    // A password longer than any that can be set is refused without hashing it.
    const long = await guess('127.0.0.3', 'x'.repeat(100000));
    assert.equal(long.status, 400);
  });

  // Bad JSON anywhere is a 400 with a message, never a 500.
  test('hostile bodies get clear 4xx answers', T, async () => {
    for (const raw of ['{', '[1]', '"x"', '{"title":', '\u0000', '{"title":"a"}garbage']) {
      const r = await api(srv, 'POST', '/api/collections/posts/records', undefined, { raw });
      assert.equal(r.status, 400, `${JSON.stringify(raw)}: ${r.text}`);
    }
    const r = await api(srv, 'POST', '/api/batch', undefined, { raw: '{"requests":[{"method":"PATCH","url":"/api/collections/users/records/x","body":[]}]}' });
    assert.equal(r.status, 400, r.text);
    await alive();
  });
});
