// Backups (hearth backup / restore / --backup-every) and version retention.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startHearth, runHearth, makeTempDir, httpRequest, sleep } from './helpers.mjs';

const T = { timeout: 60000 };

async function deploy(srv, dir, site, extra = []) {
  const r = await runHearth(['deploy', dir, '--site', site, '--server', srv.url, '--data', srv.dataDir, '--json', ...extra]);
  assert.equal(r.code, 0, `deploy failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function get(srv, host, p = '/') {
  return httpRequest(`${srv.url}${p}`, { headers: { Host: host } });
}

describe('backup and restore', () => {
  test('a backup taken while serving restores the site as it was', T, async () => {
    const work = await makeTempDir();
    const site = path.join(work, 'site');
    await fsp.mkdir(site);
    await fsp.writeFile(path.join(site, 'index.html'), '<h1>before the backup</h1>');
    const srv = await startHearth();
    const backupFile = path.join(work, 'hearth-backup.db');
    try {
      await deploy(srv, site, 'b.localhost');
      const b = await runHearth(['backup', '--out', backupFile, '--data', srv.dataDir]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stdout, /backup written/);
      await fsp.writeFile(path.join(site, 'index.html'), '<h1>after the backup</h1>');
      await deploy(srv, site, 'b.localhost');
      assert.equal((await get(srv, 'b.localhost')).text, '<h1>after the backup</h1>');
      // Restoring under a running server is refused, and changes nothing.
      const refused = await runHearth(['restore', backupFile, '--data', srv.dataDir]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr.trim(), /^hearth: .*in use/);
      assert.equal(refused.stderr.trim().split('\n').length, 1);
    } finally {
      await srv.stop();
    }
    const r = await runHearth(['restore', backupFile, '--data', srv.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    const again = await startHearth({ dataDir: srv.dataDir });
    try {
      assert.equal((await get(again, 'b.localhost')).text, '<h1>before the backup</h1>');
    } finally { await again.stop(); }
  });

  test("a backup carries the sites' app databases; restore brings their records back as they were", T, async () => {
    const work = await makeTempDir('hearth-backup-apps-');
    const backupFile = path.join(work, 'with-apps.db');
    const srv = await startHearth();
    const token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    const call = async (method, url, body, headers = {}) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const h = { 'Content-Type': 'application/json', ...headers };
      if (data) h['Content-Length'] = String(data.length);
      const r = await httpRequest(`${srv.url}${url}`, { method, headers: h, body: data, timeoutMs: 10000 });
      return { status: r.status, json: r.text ? JSON.parse(r.text) : null };
    };
    const auth = { Authorization: `Bearer ${token}` };
    try {
      assert.equal((await call('POST', '/_hearth/api/sites', { name: 'data.test', default: true }, auth)).status, 201);
      assert.equal((await call('POST', '/_hearth/api/sites/data.test/collections',
        { name: 'notes', fields: [{ name: 'text', type: 'text' }], listRule: '', createRule: '' }, auth)).status, 201);
      for (const text of ['one', 'two']) assert.equal((await call('POST', '/api/collections/notes/records', { text })).status, 200);
      const b = await runHearth(['backup', '--out', backupFile, '--data', srv.dataDir]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal((await call('POST', '/api/collections/notes/records', { text: 'after the backup' })).status, 200);
    } finally {
      await srv.stop('SIGTERM');
    }
    const r = await runHearth(['restore', backupFile, '--data', srv.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    const again = await startHearth({ dataDir: srv.dataDir });
    try {
      const list = await httpRequest(`${again.url}/api/collections/notes/records?sort=text`, { timeoutMs: 10000 });
      assert.deepEqual(JSON.parse(list.text).items.map((n) => n.text), ['one', 'two']);
    } finally {
      await again.stop('SIGTERM');
    }
  });

  test("a backup carries records' files; restored into a new data folder they are served again", T, async () => {
    const work = await makeTempDir('hearth-backup-files-');
    const backupFile = path.join(work, 'with-files.db');
    const srv = await startHearth();
    const token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
    const auth = { Authorization: `Bearer ${token}` };
    const bytes = Buffer.from('a file kept by the backup\n'.repeat(1000));
    let rec;
    try {
      const site = await httpRequest(`${srv.url}/_hearth/api/sites`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'files.test', default: true }) });
      assert.equal(site.status, 201, site.text);
      const col = await httpRequest(`${srv.url}/_hearth/api/sites/files.test/collections`, {
        method: 'POST', headers: auth,
        body: JSON.stringify({ name: 'docs', fields: [{ name: 'doc', type: 'file' }], createRule: '', viewRule: '' }),
      });
      assert.equal(col.status, 201, col.text);
      const form = new FormData();
      form.append('doc', new File([bytes], 'kept.txt'));
      const created = await fetch(`${srv.url}/api/collections/docs/records`, { method: 'POST', body: form });
      assert.equal(created.status, 200);
      rec = await created.json();
      const b = await runHearth(['backup', '--out', backupFile, '--data', srv.dataDir]);
      assert.equal(b.code, 0, b.stderr);
    } finally {
      await srv.stop('SIGTERM');
    }
    const fresh = await makeTempDir('hearth-restore-files-');
    const r = await runHearth(['restore', backupFile, '--data', fresh]);
    assert.equal(r.code, 0, r.stderr);
    const again = await startHearth({ dataDir: fresh });
    try {
      const got = await httpRequest(`${again.url}/api/files/docs/${rec.id}/${rec.doc}`, { timeoutMs: 10000 });
      assert.equal(got.status, 200);
      assert.equal(got.text, bytes.toString());
    } finally {
      await again.stop('SIGTERM');
    }
  });

  test('restore refuses a file that is not a hearth backup, before touching the data folder', T, async () => {
    const work = await makeTempDir();
    const bogus = path.join(work, 'bogus.db');
    await fsp.writeFile(bogus, 'this is not a database at all, just some text that is long enough'.repeat(20));
    const srv = await startHearth();
    const dataDir = srv.dataDir;
    await srv.stop();
    const before = await fsp.readFile(path.join(dataDir, 'hearth.db'));
    const r = await runHearth(['restore', bogus, '--data', dataDir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a SQLite database|integrity/);
    assert.deepEqual(await fsp.readFile(path.join(dataDir, 'hearth.db')), before);
    const missing = await runHearth(['restore', path.join(work, 'nope.db'), '--data', dataDir]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no backup file/);
  });

  test('--backup-every writes periodic backups and keeps --backup-keep of them', T, async () => {
    const srv = await startHearth({ args: ['--backup-every', '1s', '--backup-keep', '2'] });
    try {
      const dir = path.join(srv.dataDir, 'backups');
      let files = [];
      for (let i = 0; i < 60 && files.length < 2; i++) {
        await sleep(250);
        files = (await fsp.readdir(dir).catch(() => [])).filter((f) => f.endsWith('.db'));
      }
      assert.ok(files.length >= 2, `expected periodic backups, found ${files}`);
      await sleep(2500);
      files = (await fsp.readdir(dir)).filter((f) => f.endsWith('.db'));
      assert.ok(files.length <= 2, `backup-keep 2 but found ${files.length}: ${files}`);
      const check = await runHearth(['restore', path.join(dir, files[0]), '--data', srv.dataDir]);
      assert.match(check.stderr, /in use/, 'the backup passes its checks (only the lock refuses it)');
    } finally { await srv.stop(); }
  });
});

describe('version retention', () => {
  test('--keep-versions bounds the versions kept; rollback reaches only kept ones', T, async () => {
    const work = await makeTempDir();
    const site = path.join(work, 'site');
    await fsp.mkdir(site);
    const srv = await startHearth({ args: ['--keep-versions', '3'] });
    try {
      let last;
      for (let i = 1; i <= 5; i++) {
        await fsp.writeFile(path.join(site, 'index.html'), `<h1>v${i}</h1>`);
        last = await deploy(srv, site, 'k.localhost');
      }
      const v = await runHearth(['versions', '--site', 'k.localhost', '--server', srv.url, '--data', srv.dataDir, '--json']);
      assert.equal(v.code, 0, v.stderr);
      const versions = JSON.parse(v.stdout).versions.map((x) => x.version);
      assert.deepEqual(versions, [last.version, last.version - 1, last.version - 2]);
      const old = await runHearth(['rollback', '--site', 'k.localhost', '--to', String(last.version - 4),
        '--server', srv.url, '--data', srv.dataDir]);
      assert.notEqual(old.code, 0);
      assert.match(old.stderr, /no published version/);
      const ok = await runHearth(['rollback', '--site', 'k.localhost', '--server', srv.url, '--data', srv.dataDir]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((await get(srv, 'k.localhost')).text, '<h1>v4</h1>');
    } finally { await srv.stop(); }
  });
});
