// The change stream on a running server (--change-log): every committed
// write of hearth.db and of each site's app database is an entry in DATA/log,
// numbered from one sequence with no gaps, and what the server acknowledged
// is in the log even after kill -9.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startHearth, runHearth, controlApi as control, tier } from './helpers.mjs';

const T = { timeout: 90000 };

async function dump(data) {
  const r = await runHearth(['log', 'dump', '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => {
    const [index, time, database, kind, ...ops] = l.split(' ');
    return { index: Number(index), time, database, kind, ops };
  });
}

function assertGapFree(entries) {
  entries.forEach((e, i) => assert.equal(e.index, i + 1, `entry ${i} has index ${e.index}`));
  for (let i = 1; i < entries.length; i++) assert.ok(entries[i].time >= entries[i - 1].time, 'times go forward');
}

describe('change log', () => {
  test('writes to hearth.db and an app database are numbered entries, across restarts', T, async () => {
    let srv = await startHearth({ args: ['--change-log'] });
    const data = srv.dataDir;
    const token = (await fsp.readFile(path.join(data, 'admin.token'), 'utf8')).trim();
    assert.equal((await control(srv, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
    assert.equal((await control(srv, token, 'POST', '/sites/app.test/collections', {
      name: 'posts', fields: [{ name: 'title', type: 'text' }],
      listRule: '', viewRule: '', createRule: '', updateRule: '', deleteRule: '',
    })).status, 201);
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${srv.url}/api/collections/posts/records`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: `p${i}` }),
      });
      assert.equal(r.status, 200);
    }
    await srv.stopExpect0();
    let entries = await dump(data);
    assertGapFree(entries);
    assert.ok(entries.some((e) => e.database === 'hearth.db'), 'hearth.db writes are entries');
    const app = entries.filter((e) => e.database === 'apps/app.test.db');
    // The collection (its DDL between changesets), then one entry per create.
    assert.ok(app.some((e) => e.ops.some((o) => o.startsWith('ddl:'))), JSON.stringify(app));
    assert.ok(app.filter((e) => e.ops.every((o) => o.startsWith('changeset:'))).length >= 5);
    const before = entries.length;

    // A restart continues the sequence where it was.
    srv = await startHearth({ args: ['--change-log'], dataDir: data });
    const r = await fetch(`${srv.url}/api/collections/posts/records`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'after' }),
    });
    assert.equal(r.status, 200);
    await srv.stopExpect0();
    entries = await dump(data);
    assertGapFree(entries);
    assert.ok(entries.length > before);
  });

  test('kill -9 under writes: every acknowledged create is in the log, and it goes on with no gap', T, async () => {
    for (let trial = 0; trial < tier(2, 10); trial++) {
      let srv = await startHearth({ args: ['--change-log'] });
      const data = srv.dataDir;
      const token = (await fsp.readFile(path.join(data, 'admin.token'), 'utf8')).trim();
      assert.equal((await control(srv, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
      assert.equal((await control(srv, token, 'POST', '/sites/app.test/collections', {
        name: 'posts', fields: [{ name: 'title', type: 'text' }], createRule: '', listRule: '',
      })).status, 201);
      let acked = 0;
      let stop = false;
      const writers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          try {
            const r = await fetch(`${srv.url}/api/collections/posts/records`, {
              method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'x' }),
            });
            if (r.status === 200) acked++;
            await r.arrayBuffer();
          } catch { return; }
        }
      });
      await new Promise((r) => setTimeout(r, 300 + trial * 50));
      const ackedAtKill = acked;
      srv.proc.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await srv.waitExit();
      const entries = await dump(data);
      assertGapFree(entries);
      // The databases and the log agree after the kill: no database holds an
      // index the log lacks (that would start a new generation), so every
      // committed write, and so every acknowledged one, is an entry.
      srv = await startHearth({ args: ['--change-log'], dataDir: data });
      const open = srv.logs().find((l) => l.msg === 'change log open');
      assert.ok(open, 'the change log opened');
      assert.equal(open.new_generation, false, JSON.stringify(srv.logs()));
      // The last entry may have been cut (its COMMIT never happened).
      assert.ok(open.next_index >= entries.length, `${open.next_index} after ${entries.length} entries`);
      const list = await fetch(`${srv.url}/api/collections/posts/records?perPage=1`).then((r) => r.json());
      assert.ok(list.totalItems >= ackedAtKill, `${list.totalItems} records, ${ackedAtKill} acknowledged`);
      const r = await fetch(`${srv.url}/api/collections/posts/records`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'after' }),
      });
      assert.equal(r.status, 200);
      await srv.stopExpect0();
      assertGapFree(await dump(data));
    }
  });
});
