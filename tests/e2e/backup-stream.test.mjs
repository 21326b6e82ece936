// The streaming backup on a running server (--backup-to): every commit goes
// up to the target within a second as L0 segments of a generation, with a
// snapshot of every database, in the layout docs/backup.md describes; a
// target that is down or refuses never fails a write, shows in the metrics
// and the health answer, and is caught up once it answers again.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startHearth, runHearth, makeTempDir, metricValue, sleep, httpRequest } from './helpers.mjs';
import { backupMetrics as metrics, caughtUp, setUpApp, createPost as create } from './backup-helpers.mjs';
import { startS3rver } from './s3rver.mjs';

const require = createRequire(import.meta.url);
const { ListObjectsV2Command } = require('@aws-sdk/client-s3');

const T = { timeout: 90000 };

// What a listing of keys says: the generations, their snapshots and the
// index ranges of their segments (checked to run without a hole).
function layout(keys) {
  const gens = new Map();
  for (const k of keys) {
    const m = /^generations\/(\d{8}T\d{6}Z-[0-9a-f]{16})\/(.*)$/.exec(k);
    if (!m) continue;
    if (!gens.has(m[1])) gens.set(m[1], { record: false, manifests: [], segments: [] });
    const g = gens.get(m[1]);
    if (m[2] === 'generation.json') g.record = true;
    const snap = /^snapshots\/([0-9a-f]{16})_[0-9a-f]{16}\/manifest\.json$/.exec(m[2]);
    if (snap) g.manifests.push(parseInt(snap[1], 16));
    const seg = /^segments\/L0\/([0-9a-f]{16})-([0-9a-f]{16})_[0-9a-f]{16}_[0-9a-f]{16}\.hseg\.zst$/.exec(m[2]);
    if (seg) g.segments.push([parseInt(seg[1], 16), parseInt(seg[2], 16)]);
  }
  for (const g of gens.values()) {
    g.segments.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < g.segments.length; i++) {
      assert.equal(g.segments[i][0], g.segments[i - 1][1] + 1, `segments run on: ${JSON.stringify(g.segments)}`);
    }
  }
  return gens;
}

async function walk(dir, base = dir) {
  const out = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await walk(p, base));
    else out.push(path.relative(base, p));
  }
  return out;
}

describe('streaming backup', () => {
  test('to a local folder: marker, generation, snapshot and segments up to the last commit', T, async () => {
    const target = await makeTempDir('hearth-target-');
    // Snapshots every second: the first one may be taken before the app
    // exists (it is then in the entries), a later one holds it.
    const srv = await startHearth({
      args: ['--backup-to', `file://${target}`, '--backup-upload-every', '100ms', '--backup-snapshot-every', '1s'],
    });
    await setUpApp(srv);
    for (let i = 0; i < 10; i++) assert.equal(await create(srv, `p${i}`), 200);
    let m = await caughtUp(srv);
    let keys = [];
    for (let i = 0; i < 100; i++) {
      keys = await walk(target);
      const last = keys.filter((k) => k.endsWith('manifest.json')).sort().at(-1);
      if (last && (await fsp.readFile(path.join(target, last), 'utf8')).includes('apps/app.test.db')) break;
      await sleep(100);
    }
    m = await caughtUp(srv);
    const health = await (await fetch(`${srv.url}/_hearth/health`)).json();
    assert.deepEqual(health, { status: 'ok', backup: 'ok' });
    keys = await walk(target);
    assert.ok(keys.includes('hearth-backup.json'), keys.join('\n'));
    const gens = layout(keys);
    assert.equal(gens.size, 1);
    const [g] = gens.values();
    assert.ok(g.record, 'generation.json');
    assert.ok(g.manifests.length >= 1, 'a complete snapshot');
    assert.ok(g.segments.length >= 1);
    assert.equal(g.segments.at(-1)[1], metricValue(m, 'hearth_backup_uploaded_index'));
    // The snapshot's databases: hearth.db and the app's.
    const snapDir = keys.filter((k) => k.endsWith('manifest.json')).sort().at(-1);
    const manifest = JSON.parse(await fsp.readFile(path.join(target, snapDir), 'utf8'));
    assert.deepEqual(manifest.databases.map((d) => d.name).sort(), ['apps/app.test.db', 'hearth.db']);
    for (const d of manifest.databases) assert.ok(keys.includes(d.key), d.key);
    // The local log keeps only what is not uploaded (and the file in use).
    const wal = await fsp.readdir(path.join(srv.dataDir, 'log', 'wal'));
    assert.ok(wal.length <= 1, wal.join(' '));
    await srv.stopExpect0();
  });

  test('to S3: the layout as the AWS SDK lists it; S3 down costs no write and is caught up', T, async () => {
    const s3 = await startS3rver();
    try {
      const srv = await startHearth({
        args: ['--backup-to', 's3://backups/prod/site', '--backup-endpoint', s3.endpoint,
          '--backup-upload-every', '100ms'],
        env: { HEARTH_BACKUP_KEY_ID: s3.keyId, HEARTH_BACKUP_SECRET: s3.secret },
      });
      await setUpApp(srv);
      for (let i = 0; i < 5; i++) assert.equal(await create(srv, `a${i}`), 200);
      await caughtUp(srv);
      const list = async () => {
        const out = await s3.sdk().send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: 'prod/site/' }));
        return (out.Contents || []).map((o) => o.Key.slice('prod/site/'.length));
      };
      let keys = await list();
      assert.ok(keys.includes('hearth-backup.json'), keys.join('\n'));
      const [g] = layout(keys).values();
      assert.ok(g.record && g.manifests.length >= 1 && g.segments.length >= 1, keys.join('\n'));

      // S3 unreachable: every write still succeeds at once.
      s3.setDown(true);
      const started = Date.now();
      for (let i = 0; i < 20; i++) assert.equal(await create(srv, `down${i}`), 200);
      assert.ok(Date.now() - started < 5000, 'writes did not wait for S3');
      const end = Date.now() + 15000;
      let m;
      do {
        await sleep(200);
        m = await metrics(srv);
      } while (Date.now() < end && !(metricValue(m, 'hearth_backup_failures_total') > 0));
      assert.ok(metricValue(m, 'hearth_backup_failures_total') > 0, 'the failures show');
      assert.ok(metricValue(m, 'hearth_backup_lag_entries') > 0, 'the lag shows');
      s3.setDown(false);
      m = await caughtUp(srv, 40000);
      keys = await list();
      const [g2] = layout(keys).values();
      assert.equal(g2.segments.at(-1)[1], metricValue(m, 'hearth_backup_uploaded_index'));
      await srv.stopExpect0();
    } finally {
      await s3.stop();
    }
  });

  test('a wrong secret: the server serves, writes succeed, one log line says why', T, async () => {
    const s3 = await startS3rver();
    try {
      const srv = await startHearth({
        args: ['--backup-to', 's3://backups/x', '--backup-endpoint', s3.endpoint, '--backup-upload-every', '100ms'],
        env: { HEARTH_BACKUP_KEY_ID: s3.keyId, HEARTH_BACKUP_SECRET: 'not-the-secret' },
      });
      await setUpApp(srv);
      for (let i = 0; i < 3; i++) assert.equal(await create(srv, `w${i}`), 200);
      await sleep(2500);  // many passes, every one refused
      const m = await metrics(srv);
      assert.ok(metricValue(m, 'hearth_backup_failures_total') >= 3);
      assert.equal(metricValue(m, 'hearth_backup_uploaded_index'), 0);
      await srv.stopExpect0();
      const lines = srv.stderrLines().filter((l) => l.includes('backup: upload failed'));
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /SignatureDoesNotMatch/);
      assert.ok(!srv.stderrLines().join('\n').includes('not-the-secret'), 'the secret is never logged');
    } finally {
      await s3.stop();
    }
  });

  test('the console overview shows the backup: target, generation, uploaded, lag, snapshot, error; never the secret', T, async () => {
    // The overview's Backup region, by its cells (data-backup="Name").
    async function region(srv, cookie) {
      const r = await httpRequest(`${srv.url}/_hearth/`, { headers: { Cookie: cookie } });
      assert.equal(r.status, 200);
      const cells = {};
      for (const m of r.text.matchAll(/data-backup="([^"]+)">([^<]*)</g)) cells[m[1]] = m[2];
      return { text: r.text, cells };
    }
    async function login(srv) {
      const token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
      const r = await httpRequest(`${srv.url}/_hearth/login`, {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(token)}`,
      });
      assert.equal(r.status, 303, r.text);
      return r.headers['set-cookie'][0].split(';')[0];
    }
    const s3 = await startS3rver();
    try {
      const srv = await startHearth({
        args: ['--backup-to', 's3://backups/console', '--backup-endpoint', s3.endpoint, '--backup-upload-every', '100ms'],
        env: { HEARTH_BACKUP_KEY_ID: s3.keyId, HEARTH_BACKUP_SECRET: s3.secret },
      });
      const cookie = await login(srv);
      await setUpApp(srv);
      for (let i = 0; i < 3; i++) assert.equal(await create(srv, `c${i}`), 200);
      const m = await caughtUp(srv);
      let { text, cells } = await region(srv, cookie);
      assert.match(text, /<h2 id="backup">Backup<\/h2><div data-region="backup">/);
      assert.equal(cells.State, 'ok');
      assert.equal(cells.Target, 's3://backups/console');
      assert.match(cells.Generation, /^\d{8}T\d{6}Z-[0-9a-f]{16}$/);
      const uploaded = /^entry (\d+), committed \d{4}-\d\d-\d\d \d\d:\d\d UTC$/.exec(cells.Uploaded);
      assert.ok(uploaded && Number(uploaded[1]) >= metricValue(m, 'hearth_backup_uploaded_index'), cells.Uploaded);
      assert.equal(cells.Lag, '0 entries, 0.0 s');
      assert.match(cells['Last snapshot'], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
      assert.equal(cells['Last error'], 'none');
      assert.ok(!text.includes(s3.secret), 'the secret is not in the page');

      // S3 gone: the lag and the error show.
      s3.setDown(true);
      for (let i = 0; i < 3; i++) assert.equal(await create(srv, `d${i}`), 200);
      const end = Date.now() + 20000;
      do {
        await sleep(200);
        ({ text, cells } = await region(srv, cookie));
      } while (Date.now() < end && cells['Last error'] === 'none');
      assert.notEqual(cells['Last error'], 'none');
      assert.match(cells.Lag, /^[1-9]\d* entries, /);
      assert.ok(!text.includes(s3.secret), 'the secret is not in the page');
      s3.setDown(false);
      await caughtUp(srv, 40000);
      await srv.stopExpect0();
    } finally {
      await s3.stop();
    }
    // Without a backup: off.
    const plain = await startHearth();
    const { text } = await region(plain, await login(plain));
    assert.match(text, /<div data-region="backup"><p class="muted">Off: no streaming backup/);
    await plain.stopExpect0();
  });

  test('bad settings are refused at start, the secret is never printed', T, async () => {
    let r = await runHearth(['serve', '--data', await makeTempDir(), '--backup-to', 'ftp://x/y']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /backup-to/);
    r = await runHearth(['serve', '--data', await makeTempDir(), '--backup-to', 's3://bucket/p']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /needs --backup-key-id and --backup-secret/);
    // A bare number is seconds: 30 meant as days is refused, not obeyed.
    const target = `file://${await makeTempDir('hearth-target-')}`;
    r = await runHearth(['serve', '--data', await makeTempDir(), '--backup-to', target, '--backup-retention', '30']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--backup-retention 30s is less than an hour: give a unit \(e\.g\. 30d\), or 0 to keep everything/);
    r = await runHearth(['config', '--backup-secret', 'hunter2-secret']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backup-secret = "\*\*\*"/m);
    assert.ok(!r.stdout.includes('hunter2-secret'));
    r = await runHearth(['config', '--json', '--backup-secret', 'hunter2-secret']);
    assert.ok(!r.stdout.includes('hunter2-secret'));
  });
});
