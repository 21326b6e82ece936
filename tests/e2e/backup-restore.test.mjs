// Restore from a streaming backup (hearth restore --from): the latest state,
// a point in time and an entry index; `hearth backups list`; and what a
// restore refuses: a hole in the entries, a damaged segment, a time outside
// the backup, a folder in use or not empty. RPO: a server killed with -9
// under writes, its data folder deleted, restored: every create it
// acknowledged more than a second before the kill is there.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  startHearth, runHearth, makeTempDir, controlApi as control, metricValue, sleep, tier, httpRequest,
} from './helpers.mjs';
import { caughtUp as caughtUpMetrics, setUpApp, createPost, deploy } from './backup-helpers.mjs';

// The last entry the target holds, once it holds them all.
const caughtUp = async (srv, ms) => metricValue(await caughtUpMetrics(srv, ms), 'hearth_backup_uploaded_index');
import { startS3rver } from './s3rver.mjs';

const T = { timeout: 180000 };

async function create(srv, title) {
  assert.equal(await createPost(srv, title), 200);
}

// The titles a data folder holds (a server started on it, read, stopped).
async function titlesIn(data) {
  const srv = await startHearth({ dataDir: data });
  try {
    const titles = [];
    for (let page = 1; ; page++) {  // 500 a page at most
      const r = await fetch(`${srv.url}/api/collections/posts/records?perPage=500&page=${page}&sort=title`);
      assert.equal(r.status, 200, await r.clone().text());
      const body = await r.json();
      titles.push(...body.items.map((i) => i.title));
      if (page >= body.totalPages) return titles;
    }
  } finally {
    await srv.stopExpect0();
  }
}

async function restore(args, opts) {
  return runHearth(['restore', ...args], { timeoutMs: 60000, ...opts });
}

async function segmentFiles(target) {
  const out = [];
  async function walk(d) {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (p.endsWith('.hseg.zst')) out.push(p);
    }
  }
  await walk(target);
  return out.sort();
}

/** A record with a file field, sent as multipart (PATCH replaces the file). */
async function upload(srv, fields, file, method = 'POST', id = '') {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append('att', new Blob([file.bytes]), file.name);
  const r = await fetch(`${srv.url}/api/collections/docs/records${id ? '/' + id : ''}`, { method, body: form });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
}

const range = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);

describe('restore from a streaming backup', () => {
  test('latest, --at a time, --index; backups list; refusals', T, async () => {
    const target = await makeTempDir('hearth-target-');
    const url = `file://${target}`;
    const srv = await startHearth({ args: ['--backup-to', url, '--backup-upload-every', '100ms'] });
    await setUpApp(srv);
    for (const t of range('a', 10)) await create(srv, t);
    const afterFirst = await caughtUp(srv);
    await sleep(1100);
    const middle = new Date().toISOString();
    await sleep(1100);
    for (const t of range('b', 10)) await create(srv, t);
    await caughtUp(srv);
    await srv.stopExpect0();

    const list = await runHearth(['backups', 'list', '--from', url]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^generation \d{8}T\d{6}Z-[0-9a-f]{16}\n  restorable: /);
    assert.ok(!list.stdout.includes('MISSING'), list.stdout);
    const json = JSON.parse((await runHearth(['backups', 'list', '--from', url, '--json'])).stdout);
    assert.equal(json.generations.length, 1);

    const base = await makeTempDir('hearth-restored-');
    let r = await restore(['--from', url, '--data', path.join(base, 'latest')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^restored .* entry \d+/);
    assert.deepEqual(await titlesIn(path.join(base, 'latest')), [...range('a', 10), ...range('b', 10)]);

    r = await restore(['--from', url, '--at', middle, '--data', path.join(base, 'at')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await titlesIn(path.join(base, 'at')), range('a', 10));

    r = await restore(['--from', url, '--index', String(afterFirst), '--data', path.join(base, 'index')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await titlesIn(path.join(base, 'index')), range('a', 10));

    // Outside the backup: refused with the range that exists.
    r = await restore(['--from', url, '--at', '2001-01-01T00:00:00Z', '--data', path.join(base, 'early')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no backup covers 2001-01-01T00:00:00Z: generation \S+ covers \S+ – \S+ \(entries \d+–\d+\)/);
    await assert.rejects(fsp.access(path.join(base, 'early')));
    r = await restore(['--at', middle, '--data', path.join(base, 'bad')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--at, --index and --force go with --from/);
    r = await restore(['--from', url, '--at', 'yesterday', '--data', path.join(base, 'bad')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /expected a UTC time/);

    // A folder with something in it: refused, unless --force moves it aside.
    r = await restore(['--from', url, '--data', path.join(base, 'latest')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not empty/);
    r = await restore(['--from', url, '--data', path.join(base, 'latest'), '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /before-restore-/);
    // An empty folder is fine (and "dir/" is dir).
    await fsp.mkdir(path.join(base, 'empty'));
    r = await restore(['--from', url, '--data', path.join(base, 'empty') + '/']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await titlesIn(path.join(base, 'empty')), [...range('a', 10), ...range('b', 10)]);
    // A folder a server runs on: refused, whatever the flags.
    const running = await startHearth({ dataDir: path.join(base, 'latest') });
    r = await restore(['--from', url, '--data', path.join(base, 'latest'), '--force']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /in use by another hearth/);
    await running.stopExpect0();

    // A damaged segment is named; a missing one is a hole, named by its range.
    const segs = await segmentFiles(target);
    assert.ok(segs.length >= 3, segs.join('\n'));
    const last = segs.at(-1);
    const bytes = await fsp.readFile(last);
    const saved = Buffer.from(bytes);
    bytes[bytes.length >> 1] ^= 0x40;
    await fsp.writeFile(last, bytes);
    r = await restore(['--from', url, '--data', path.join(base, 'corrupt')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`segment \\S*${path.basename(last).replace(/\./g, '\\.')} is corrupt`));
    await fsp.writeFile(last, saved);
    await fsp.rm(segs.at(-2));
    r = await restore(['--from', url, '--data', path.join(base, 'gap')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /entries \d+(–\d+)? are missing from generation \S+ \(between /);
    await assert.rejects(fsp.access(path.join(base, 'gap')));
    await assert.rejects(fsp.access(path.join(base, 'gap.restoring')));
  });

  test('deploys and record files come back with their bytes', T, async () => {
    const target = await makeTempDir('hearth-target-');
    const url = `file://${target}`;
    const srv = await startHearth({ args: ['--backup-to', url, '--backup-upload-every', '100ms'] });
    const token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'www.test' })).status, 201);
    assert.equal((await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'docs', fields: [{ name: 'title', type: 'text' }, { name: 'att', type: 'file', maxSelect: 1 }],
      listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    })).status, 201);
    const early = crypto.randomBytes(4000);
    const r1 = await upload(srv, { title: 'early' }, { bytes: early, name: 'early.bin' });
    await caughtUp(srv);  // its file is in the snapshot
    const page = Buffer.from('<!doctype html><h1>restored</h1>\n' + 'x'.repeat(3000));
    await deploy(srv, token, 'www.test', { 'index.html': page, 'logo.bin': crypto.randomBytes(2000) });
    const late = crypto.randomBytes(6000);
    const r2 = await upload(srv, { title: 'late' }, { bytes: Buffer.from('first'), name: 'v1.txt' });
    const r2b = await upload(srv, {}, { bytes: late, name: 'v2.bin' }, 'PATCH', r2.id);
    await caughtUp(srv);
    await srv.stopExpect0();

    const data = path.join(await makeTempDir('hearth-restored-'), 'd');
    const r = await restore(['--from', url, '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    const back = await startHearth({ dataDir: data });
    try {
      const served = await httpRequest(`${back.url}/`, { headers: { Host: 'www.test' } });
      assert.equal(served.status, 200);
      assert.equal(served.text, page.toString());
      const f1 = await fetch(`${back.url}/api/files/docs/${r1.id}/${r1.att}`);
      assert.equal(f1.status, 200);
      assert.ok(Buffer.from(await f1.arrayBuffer()).equals(early));
      const f2 = await fetch(`${back.url}/api/files/docs/${r2.id}/${r2b.att}`);
      assert.equal(f2.status, 200);
      assert.ok(Buffer.from(await f2.arrayBuffer()).equals(late));
      assert.equal((await fetch(`${back.url}/api/files/docs/${r2.id}/${r2.att}`)).status, 404);
    } finally {
      await back.stopExpect0();
    }
  });

  test('from S3; a wrong secret exits non-zero with S3\'s code', T, async () => {
    const s3 = await startS3rver();
    try {
      const env = { HEARTH_BACKUP_KEY_ID: s3.keyId, HEARTH_BACKUP_SECRET: s3.secret, HEARTH_BACKUP_ENDPOINT: s3.endpoint };
      const url = 's3://backups/prod';
      const srv = await startHearth({ args: ['--backup-to', url, '--backup-upload-every', '100ms'], env });
      await setUpApp(srv);
      for (const t of range('s', 5)) await create(srv, t);
      await caughtUp(srv);
      await srv.stopExpect0();
      const base = await makeTempDir('hearth-restored-');
      let r = await restore(['--from', url, '--data', path.join(base, 'd')], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await titlesIn(path.join(base, 'd')), range('s', 5));
      r = await restore(['--from', url, '--data', path.join(base, 'e')], { env: { ...env, HEARTH_BACKUP_SECRET: 'wrong-secret-7f3a' } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /SignatureDoesNotMatch/);
      assert.ok(!r.stderr.includes('wrong-secret-7f3a'), 'the secret is never printed');
      await assert.rejects(fsp.access(path.join(base, 'e')));
    } finally {
      await s3.stop();
    }
  });

  test('RPO: kill -9 under writes, data folder gone, restore: every create acknowledged > 1 s before is there', T, async () => {
    for (let trial = 0; trial < tier(2, 20); trial++) {
      const target = await makeTempDir('hearth-target-');
      const url = `file://${target}`;
      const srv = await startHearth({ args: ['--backup-to', url] });  // the default pace: 500 ms
      await setUpApp(srv);
      const acked = [];  // [title, when]
      let stop = false;
      let n = 0;
      const writers = Array.from({ length: 3 }, async () => {
        while (!stop) {
          const title = `t${trial}-${n++}`;
          try {
            const r = await fetch(`${srv.url}/api/collections/posts/records`, {
              method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title }),
            });
            if (r.status === 200) acked.push([title, Date.now()]);
          } catch { /* the kill */ }
        }
      });
      await sleep(1500 + Math.floor(Math.random() * 1500));
      const killedAt = Date.now();
      srv.proc.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await fsp.rm(srv.dataDir, { recursive: true, force: true });
      const r = await restore(['--from', url, '--data', srv.dataDir]);
      assert.equal(r.code, 0, r.stderr);
      const have = new Set(await titlesIn(srv.dataDir));
      const due = acked.filter(([, when]) => when < killedAt - 1000);
      assert.ok(due.length > 0, 'writes were acknowledged early enough to count');
      const lost = due.filter(([title]) => !have.has(title));
      assert.deepEqual(lost, [], `trial ${trial}: ${lost.length} of ${due.length} lost`);
    }
  });
});
