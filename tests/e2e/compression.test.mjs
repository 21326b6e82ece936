// Sites: precompressed variants made at deploy, chosen by Accept-Encoding.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { startHearth, runHearth, makeTempDir, httpRequest } from './helpers.mjs';

describe('compressed variants', () => {
  test('text files are served brotli or gzip by Accept-Encoding, with Vary and distinct ETags', { timeout: 60000 }, async () => {
    const work = await makeTempDir();
    const site = path.join(work, 'site');
    await fsp.mkdir(site);
    const html = '<!doctype html><title>z</title>' + '<p>hearth serves precompressed text</p>\n'.repeat(300);
    await fsp.writeFile(path.join(site, 'index.html'), html);
    const png = Buffer.alloc(4000, 7);
    png.write('\x89PNG', 0, 'latin1');
    await fsp.writeFile(path.join(site, 'logo.png'), png);
    const srv = await startHearth();
    try {
      const d = await runHearth(['deploy', site, '--site', 'z.localhost', '--server', srv.url, '--data', srv.dataDir]);
      assert.equal(d.code, 0, d.stderr);
      const get = (p, ae) => httpRequest(`${srv.url}${p}`, { headers: { Host: 'z.localhost', 'Accept-Encoding': ae } });

      const br = await get('/', 'gzip, deflate, br');
      assert.equal(br.status, 200);
      assert.equal(br.headers['content-encoding'], 'br');
      assert.equal(br.headers.vary, 'Accept-Encoding');
      assert.ok(br.body.length < html.length / 4, `brotli body is ${br.body.length} bytes`);
      assert.equal(zlib.brotliDecompressSync(br.body).toString(), html);

      const gz = await get('/', 'gzip');
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.equal(zlib.gunzipSync(gz.body).toString(), html);

      const plain = await get('/', '');
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(plain.headers.vary, 'Accept-Encoding');
      assert.equal(plain.text, html);

      const refused = await get('/', 'br;q=0, gzip;q=0');
      assert.equal(refused.headers['content-encoding'], undefined);

      assert.notEqual(br.headers.etag, gz.headers.etag);
      assert.notEqual(br.headers.etag, plain.headers.etag);
      const revalidated = await httpRequest(`${srv.url}/`, {
        headers: { Host: 'z.localhost', 'Accept-Encoding': 'br', 'If-None-Match': br.headers.etag } });
      assert.equal(revalidated.status, 304);

      // Images are not compressed again.
      const img = await get('/logo.png', 'gzip, br');
      assert.equal(img.headers['content-encoding'], undefined);
      assert.equal(img.headers.vary, undefined);
      assert.deepEqual(img.body, png);
    } finally { await srv.stop(); }
  });
});

describe('preview deploys', () => {
  test('--preview is served at N.preview.HOST, leaves the live version alone, and expires', { timeout: 60000 }, async () => {
    const work = await makeTempDir();
    const site = path.join(work, 'site');
    await fsp.mkdir(site);
    await fsp.writeFile(path.join(site, 'index.html'), 'live version');
    const srv = await startHearth();
    try {
      const common = ['--server', srv.url, '--data', srv.dataDir, '--json'];
      const live = await runHearth(['deploy', site, '--site', 'pv.localhost', ...common]);
      assert.equal(live.code, 0, live.stderr);
      await fsp.writeFile(path.join(site, 'index.html'), 'preview version');
      const pr = await runHearth(['deploy', site, '--site', 'pv.localhost', '--preview', '--preview-ttl', '3s', ...common]);
      assert.equal(pr.code, 0, pr.stderr);
      const out = JSON.parse(pr.stdout);
      assert.equal(out.preview, true);
      const previewHost = `${out.version}.preview.pv.localhost`;
      assert.match(out.url, new RegExp(`^http://${previewHost.replace(/\./g, '\\.')}:\\d+/$`));
      const get = (host) => httpRequest(`${srv.url}/`, { headers: { Host: host } });
      assert.equal((await get('pv.localhost')).text, 'live version');
      assert.equal((await get(previewHost)).text, 'preview version');
      assert.equal((await get(`${out.version + 100}.preview.pv.localhost`)).status, 404);
      await new Promise((r) => setTimeout(r, 3300));
      const expired = await get(previewHost);
      assert.equal(expired.status, 404);
      assert.match(expired.text, /expired/);
      assert.equal((await get('pv.localhost')).text, 'live version');
    } finally { await srv.stop(); }
  });
});
