// The streaming backup survives kill -9 at its worst moments: the uploader
// is stopped at a named point (HEARTH_TEST_PAUSE_AT=POINT:N, test endpoints
// on) and the server killed there; restarted on the same data folder it
// redoes what was half done, and a restore of the target equals the source
// (logical digests of every database and record file). Points: "segment"
// (the bytes a segment names are up, the segment is not), "cursor" (the
// segment is up, the cursor not moved) and "snapshot" (every database copy
// is up, the manifest is not). The 30 s outage: S3
// stopped under steady writes costs no write, the health answer and the lag
// show it, and all is caught up and restorable once S3 is back.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startHearth, runHearth, makeTempDir, controlApi as control, metricValue, sleep, tier } from './helpers.mjs';
import { backupMetrics, caughtUp, setUpApp, createPost, deploy } from './backup-helpers.mjs';
import { startS3rver } from './s3rver.mjs';

const T = { timeout: 180000 };
const ENV = { HEARTH_TEST_ENDPOINTS: '1' };

// Every database's and record folder's digest, read by a server started on
// `data` without a backup (the same start-up for the source and the copy).
async function digestOf(data) {
  const srv = await startHearth({ dataDir: data, env: ENV });
  try {
    const r = await fetch(`${srv.url}/_hearth/debug/digest`);
    assert.equal(r.status, 200);
    return await r.json();
  } finally {
    await srv.stopExpect0();
  }
}

async function create(srv, title) {
  assert.equal(await createPost(srv, title), 200);
}

const token = async (srv) => (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();

// Writes (a create, and every fifth a deploy, whose blobs go up as bytes
// objects before the segment naming them) until the uploader says it
// paused, or fails after `ms`.
async function writeUntilPaused(srv, tag, ms = 30000) {
  const paused = srv.waitForLog((j) => j.msg === 'backup: test pause', ms, 'the test pause');
  let done = false;
  paused.then(() => { done = true; }, () => { done = true; });
  const t = await token(srv);
  for (let i = 0; !done; i++) {
    await create(srv, `${tag}${i}`);
    if (i % 5 === 4) {
      await deploy(srv, t, 'www.test', { 'index.html': Buffer.from(`<h1>${tag}${i}</h1>`), 'r.bin': crypto.randomBytes(1500) });
    }
    await sleep(120);
  }
  return paused;
}

async function restoreInto(url, env, refused) {
  const data = path.join(await makeTempDir('hearth-restored-'), 'd');
  const r = await runHearth(['restore', '--from', url, '--data', data], { timeoutMs: 60000, env });
  if (refused) {
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, refused);
    await assert.rejects(fsp.access(data));
    return null;
  }
  assert.equal(r.code, 0, r.stderr);
  return data;
}

async function listSane(url, env) {
  const r = await runHearth(['backups', 'list', '--from', url], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^generation \d{8}T\d{6}Z-[0-9a-f]{16}\n  restorable: /);
  assert.ok(!r.stdout.includes('MISSING'), r.stdout);
  const json = JSON.parse((await runHearth(['backups', 'list', '--from', url, '--json'], { env })).stdout);
  assert.ok(json.generations.length >= 1);
  return json;
}

// One crash case: writes, the pause, more writes the log holds but the
// target does not, kill -9; restart, more writes, a clean stop; restore.
// `refused`: what a restore before the restart says (null: it works).
async function crashAt(point, target, refused = null) {
  const { url, args, env } = target;
  const backup = ['--backup-to', url, '--backup-upload-every', '100ms', '--backup-snapshot-every', '1s', ...args];
  let srv = await startHearth({ args: backup, env: { ...ENV, ...env, HEARTH_TEST_PAUSE_AT: point } });
  const data = srv.dataDir;
  await setUpApp(srv);
  assert.equal((await control(srv, await token(srv), 'POST', '/sites', { name: 'www.test' })).status, 201);
  const pause = await writeUntilPaused(srv, 'a');
  assert.equal(pause.point, point.split(':')[0]);
  for (let i = 0; i < 5; i++) await create(srv, `b${i}`);  // in the log, not at the target
  srv.proc.kill('SIGKILL');
  await srv.waitExit();

  // What the target holds now restores (a snapshot without its manifest
  // does not count; a segment not put is simply not there yet).
  if (refused === 'auto') refused = (await manifests(url)).length ? null : NO_SNAPSHOT;
  const early = await restoreInto(url, env, refused);
  if (early) assert.ok((await digestOf(early))['apps/app.test.db'], 'the app database came back');

  srv = await startHearth({ dataDir: data, args: backup, env: { ...ENV, ...env } });
  for (let i = 0; i < 5; i++) await create(srv, `c${i}`);
  await deploy(srv, await token(srv), 'www.test', { 'index.html': Buffer.from('<h1>after</h1>') });
  await caughtUp(srv, 40000);
  await srv.stopExpect0();

  await listSane(url, env);
  const restored = await restoreInto(url, env);
  assert.deepEqual(await digestOf(restored), await digestOf(data));
}

// What a restore says of a generation whose first snapshot has no manifest.
const NO_SNAPSHOT = /the newest generation, \S+, has no complete snapshot yet/;

// The manifests in a file:// target.
async function manifests(url) {
  const out = [];
  async function walk(d) {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else if (e.name === 'manifest.json') out.push(path.join(d, e.name));
    }
  }
  await walk(new URL(url).pathname);
  return out;
}

const fileTarget = async () => ({ url: `file://${await makeTempDir('hearth-target-')}`, args: [], env: {} });

describe('streaming backup: kill -9 mid-upload', () => {
  test('at a segment (its bytes up, the segment not), to a folder', T, async () => {
    await crashAt('segment:6', await fileTarget());
  });

  test('at a segment, the Nth of several (more under HEARTH_SOAK), to a folder', T, async () => {
    // The first ones come before the generation's first snapshot is complete.
    for (const n of tier([2], [1, 2, 3, 9, 14])) await crashAt(`segment:${n}`, await fileTarget(), 'auto');
  });

  test('after a segment, before the cursor moved (the restart puts an overlapping one), to a folder', T, async () => {
    for (const n of tier([4], [1, 4, 7, 12])) await crashAt(`cursor:${n}`, await fileTarget(), 'auto');
  });

  test('at a snapshot (the copies up, the manifest not), to a folder', T, async () => {
    await crashAt('snapshot:2', await fileTarget());
    for (const n of tier([], [3, 4])) await crashAt(`snapshot:${n}`, await fileTarget());
  });

  test('at the generation\'s first snapshot: a restore refuses until the restart made one', T, async () => {
    await crashAt('snapshot:1', await fileTarget(), NO_SNAPSHOT);
  });

  test('at a segment and at a snapshot, to S3', T, async () => {
    const s3 = await startS3rver();
    try {
      for (const [point, prefix] of [['segment:6', 'seg'], ['snapshot:2', 'snap']]) {
        await crashAt(point, {
          url: `s3://backups/${prefix}`, args: [],
          env: { HEARTH_BACKUP_KEY_ID: s3.keyId, HEARTH_BACKUP_SECRET: s3.secret, HEARTH_BACKUP_ENDPOINT: s3.endpoint },
        });
      }
    } finally {
      await s3.stop();
    }
  });

  test('at a compaction (the L1 up, the L0s it holds not deleted: the restart finishes it), to a folder', T, async () => {
    // Windows of 2 s (L1) and 6 s (L2), compacted 1 s after they close.
    const t = await fileTarget();
    t.env = { HEARTH_TEST_BACKUP_UPKEEP: '2s,6s,1s' };
    await crashAt('compaction:1', t, 'auto');
  });
});

async function health(srv) {
  const r = await fetch(`${srv.url}/_hearth/health`);
  assert.equal(r.status, 200);
  return (await r.json()).backup;
}

describe('streaming backup: S3 down for 30 s', () => {
  test('under steady writes: no write fails, health says behind then ok, the lag returns to 0, restore is exact', { timeout: 240000 }, async () => {
    for (let trial = 0; trial < tier(1, 3); trial++) {
      const s3 = await startS3rver();
      try {
        const env = { ...ENV, HEARTH_BACKUP_KEY_ID: s3.keyId, HEARTH_BACKUP_SECRET: s3.secret };
        const url = `s3://backups/outage${trial}`;
        const srv = await startHearth({
          args: ['--backup-to', url, '--backup-endpoint', s3.endpoint, '--backup-upload-every', '200ms'], env,
        });
        await setUpApp(srv);
        for (let i = 0; i < 5; i++) await create(srv, `before${i}`);
        await caughtUp(srv);
        assert.equal(await health(srv), 'ok');

        s3.setDown(true);
        const downAt = Date.now();
        const seen = new Set();
        let lagMax = 0;
        let n = 0;
        // A bounded loop: a create every ~100 ms for 30 s, every one answered 200.
        while (Date.now() - downAt < 30000 && n < 1000) {
          const started = Date.now();
          assert.equal(await createPost(srv, `down${n}`), 200, `write ${n} during the outage`);
          assert.ok(Date.now() - started < 5000, `write ${n} waited for S3`);
          n++;
          if (n % 10 === 0) {
            seen.add(await health(srv));
            lagMax = Math.max(lagMax, metricValue(await backupMetrics(srv), 'hearth_backup_lag_entries'));
          }
          await sleep(100);
        }
        const m = await backupMetrics(srv);
        assert.ok(n >= 100, `${n} writes`);
        assert.ok(metricValue(m, 'hearth_backup_failures_total') > 0, 'the failures show');
        assert.ok(lagMax > 0 && metricValue(m, 'hearth_backup_lag_entries') > 0, 'the lag shows');
        assert.ok(metricValue(m, 'hearth_backup_lag_seconds') > 10, `lag ${metricValue(m, 'hearth_backup_lag_seconds')} s`);
        assert.ok(seen.has('behind'), `health said ${[...seen]}`);
        assert.ok(!seen.has('failing'), 'failing only after 60 s without a working pass');

        s3.setDown(false);
        const back = await caughtUp(srv, 60000);
        assert.equal(metricValue(back, 'hearth_backup_lag_entries'), 0);
        assert.equal(metricValue(back, 'hearth_backup_lag_seconds'), 0);
        assert.equal(await health(srv), 'ok');
        await srv.stopExpect0();

        const restored = await restoreInto(url, { ...env, HEARTH_BACKUP_ENDPOINT: s3.endpoint });
        assert.deepEqual(await digestOf(restored), await digestOf(srv.dataDir));
      } finally {
        await s3.stop();
      }
    }
  });
});
