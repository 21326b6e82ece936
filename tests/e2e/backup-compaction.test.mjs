// Compaction of the streaming backup (docs/backup.md, "Compaction and
// retention"): with its windows shrunk to seconds (HEARTH_TEST_BACKUP_UPKEEP,
// read only with the test endpoints on), the L0 segments of a server's
// writes become L1s, then L2s, the L0s and L1s that held them are deleted,
// and restores of the compacted backup — latest, --at a moment, --index — are
// exact. Retention (a window of seconds) deletes older snapshots while
// writes go on, and a moment inside the window still restores exactly.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startHearth, runHearth, makeTempDir, metricValue, sleep } from './helpers.mjs';
import { backupMetrics, caughtUp, setUpApp, createPost } from './backup-helpers.mjs';

const T = { timeout: 180000 };

// Every segment in the target: its level and entries, from its name.
async function segments(target) {
  const out = [];
  async function walk(d) {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      const m = /\/segments\/L(\d)\/([0-9a-f]{16})-([0-9a-f]{16})_/.exec(p);
      if (m) out.push({ level: Number(m[1]), first: parseInt(m[2], 16), last: parseInt(m[3], 16) });
    }
  }
  await walk(path.join(target, 'generations'));
  return out;
}

// The titles a data folder holds (a server started on it, read, stopped).
async function titlesIn(data) {
  const srv = await startHearth({ dataDir: data });
  try {
    const r = await fetch(`${srv.url}/api/collections/posts/records?perPage=500&sort=title`);
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()).items.map((i) => i.title);
  } finally {
    await srv.stopExpect0();
  }
}

const range = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);

describe('compaction of the streaming backup', () => {
  test('L0s become L1s and L2s, the sources go, restores are exact', T, async () => {
    const target = await makeTempDir('hearth-target-');
    const url = `file://${target}`;
    const srv = await startHearth({
      args: ['--backup-to', url, '--backup-upload-every', '100ms'],
      // L1 windows of 2 s, L2 windows of 6 s, a 300 ms grace.
      env: { HEARTH_TEST_ENDPOINTS: '1', HEARTH_TEST_BACKUP_UPKEEP: '2s,6s,300ms' },
    });
    let stopped = false;
    try {
      await setUpApp(srv);
      // Writes over about three seconds: L0s in several windows.
      for (const t of range('a', 10)) {
        assert.equal(await createPost(srv, t), 200);
        await sleep(150);
      }
      const afterA = metricValue(await caughtUp(srv), 'hearth_backup_uploaded_index');
      await sleep(1100);
      const middle = new Date().toISOString();
      await sleep(1100);
      for (const t of range('b', 10)) {
        assert.equal(await createPost(srv, t), 200);
        await sleep(150);
      }
      const last = metricValue(await caughtUp(srv), 'hearth_backup_uploaded_index');

      // Wait (bounded) until the L0s and L1s holding the writes are gone.
      let segs = [];
      const end = Date.now() + 30000;
      for (;;) {
        segs = await segments(target);
        const l2 = segs.filter((s) => s.level === 2);
        const lower = segs.filter((s) => s.level < 2 && s.first <= last);
        if (l2.length > 0 && l2.some((s) => s.last >= last) && lower.length === 0) break;
        if (Date.now() > end) assert.fail(`not compacted: ${JSON.stringify(segs)} (last ${last})`);
        await sleep(200);
      }
      // The L2s hold every entry from the first up to `last`, without a gap.
      const l2 = segs.filter((s) => s.level === 2).sort((a, b) => a.first - b.first);
      for (let i = 1; i < l2.length; i++) assert.equal(l2[i].first, l2[i - 1].last + 1, JSON.stringify(l2));
      const m = await backupMetrics(srv);
      assert.ok(metricValue(m, 'hearth_backup_compactions_total', { level: '1' }) >= 2);
      assert.ok(metricValue(m, 'hearth_backup_compactions_total', { level: '2' }) >= 1);
      assert.ok(metricValue(m, 'hearth_backup_deleted_objects_total', { kind: 'segment' }) >= 3);
      assert.equal(metricValue(m, 'hearth_backup_compaction_holes_total'), 0);
      await srv.stopExpect0();
      stopped = true;

      const list = await runHearth(['backups', 'list', '--from', url]);
      assert.equal(list.code, 0, list.stderr);
      assert.ok(!list.stdout.includes('MISSING'), list.stdout);

      const base = await makeTempDir('hearth-restored-');
      let r = await runHearth(['restore', '--from', url, '--data', path.join(base, 'latest')], { timeoutMs: 60000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await titlesIn(path.join(base, 'latest')), [...range('a', 10), ...range('b', 10)]);
      r = await runHearth(['restore', '--from', url, '--at', middle, '--data', path.join(base, 'at')], { timeoutMs: 60000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await titlesIn(path.join(base, 'at')), range('a', 10));
      r = await runHearth(['restore', '--from', url, '--index', String(afterA), '--data', path.join(base, 'index')], { timeoutMs: 60000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await titlesIn(path.join(base, 'index')), range('a', 10));
    } finally {
      if (!stopped) await srv.stopExpect0();
    }
  });

  test('retention deletes what is older than the window; the window stays restorable', T, async () => {
    const target = await makeTempDir('hearth-target-');
    const url = `file://${target}`;
    const srv = await startHearth({
      args: ['--backup-to', url, '--backup-upload-every', '100ms', '--backup-snapshot-every', '1s',
        '--backup-retention', '8s'],
      // Retention every 500 ms.
      env: { HEARTH_TEST_ENDPOINTS: '1', HEARTH_TEST_BACKUP_UPKEEP: '2s,6s,300ms,500ms' },
    });
    let stopped = false;
    try {
      await setUpApp(srv);
      const start = new Date().toISOString();
      // Writes for about 14 s: a snapshot a second, the oldest soon older
      // than the window.
      const titles = [];
      let inside = null;
      let acked = 0;
      const end = Date.now() + 14000;
      for (let i = 0; Date.now() < end; i++) {
        const t = `p${String(i).padStart(3, '0')}`;
        assert.equal(await createPost(srv, t), 200);
        titles.push(t);
        await sleep(200);
        if (inside === null && end - Date.now() < 1500) {
          inside = new Date().toISOString();  // between two acknowledged writes
          acked = titles.length;
        }
      }
      await caughtUp(srv);
      const m = await backupMetrics(srv);
      assert.ok(metricValue(m, 'hearth_backup_deleted_objects_total', { kind: 'snapshot' }) > 0);
      await srv.stopExpect0();
      stopped = true;

      const base = await makeTempDir('hearth-restored-');
      let r = await runHearth(['restore', '--from', url, '--data', path.join(base, 'latest')], { timeoutMs: 60000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await titlesIn(path.join(base, 'latest')), titles);
      r = await runHearth(['restore', '--from', url, '--at', inside, '--data', path.join(base, 'at')], { timeoutMs: 60000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await titlesIn(path.join(base, 'at')), titles.slice(0, acked));
      // The start is older than the window: gone.
      r = await runHearth(['restore', '--from', url, '--at', start, '--data', path.join(base, 'old')], { timeoutMs: 60000 });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no backup covers/);
    } finally {
      if (!stopped) await srv.stopExpect0();
    }
  });
});
