// What the change-stream and backup tests share: waiting for the streaming
// backup to catch up, a small app to write to, and a deploy through the
// control API.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { controlApi as control, fetchMetrics, parseMetrics, metricValue, sleep, httpRequest } from './helpers.mjs';

export async function backupMetrics(srv) {
  const r = await fetchMetrics(srv);
  assert.equal(r.status, 200);
  return parseMetrics(r.text);
}

/** Waits (bounded) until the target holds every entry the log holds and a snapshot; the metrics then. */
export async function caughtUp(srv, ms = 20000) {
  const end = Date.now() + ms;
  let m;
  while (Date.now() < end) {
    m = await backupMetrics(srv);
    if (metricValue(m, 'hearth_backup_lag_entries') === 0 && metricValue(m, 'hearth_backup_uploaded_index') > 0 &&
        metricValue(m, 'hearth_backup_snapshots_total') >= 1) return m;
    await sleep(100);
  }
  assert.fail(`the backup did not catch up: ${JSON.stringify(m?.filter((s) => s.name.startsWith('hearth_backup')))}`);
}

/** Site app.test (the default) with an open collection `posts` {title}. */
export async function setUpApp(srv) {
  const token = (await fsp.readFile(path.join(srv.dataDir, 'admin.token'), 'utf8')).trim();
  assert.equal((await control(srv, token, 'POST', '/sites', { name: 'app.test', default: true })).status, 201);
  assert.equal((await control(srv, token, 'POST', '/sites/app.test/collections', {
    name: 'posts', fields: [{ name: 'title', type: 'text' }], createRule: '', listRule: '',
  })).status, 201);
}

/** Creates a post; resolves its HTTP status. */
export async function createPost(srv, title) {
  const r = await fetch(`${srv.url}/api/collections/posts/records`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title }),
  });
  await r.arrayBuffer();
  return r.status;
}

export const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

/** A deploy through the control API: manifest, the blobs it lacks, publish. */
export async function deploy(srv, token, site, files) {
  const manifest = Object.entries(files).map(([p, c]) => ({ path: p, hash: sha256(c), size: c.length }));
  const m = await control(srv, token, 'POST', `/sites/${site}/deploys`, { files: manifest });
  assert.equal(m.status, 201, m.text);
  for (const h of m.json.missing) {
    const bytes = Object.values(files).find((c) => sha256(c) === h);
    const r = await httpRequest(`${srv.url}/_hearth/api/blobs/${h}`, {
      method: 'PUT', body: bytes, timeoutMs: 15000,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) },
    });
    assert.equal(r.status, 201, r.text);
  }
  const pub = await control(srv, token, 'POST', `/deploys/${m.json.version}/publish`, {});
  assert.equal(pub.status, 200, pub.text);
}
