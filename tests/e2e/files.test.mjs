// --root DIR: static file serving.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  startHearth, makeTempDir, rawExchange, splitResponses, firstStatus, curl, IMF_FIXDATE, RawConn,
} from './helpers.mjs';

const T = { timeout: 20000 };
const SECRET = 'TOPSECRET-6b1f0c-do-not-serve';
const SECRET2 = 'OUTSIDE-DIR-SECRET-91ab';
const INDEX = '<!doctype html><title>root index</title><h1>Root index page</h1>\n';
const SUB_INDEX = '<!doctype html><h1>Sub index</h1>\n';
const CSS = 'body { color: #333; }\n';
const JS = 'console.log("hi");\n';
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), crypto.randomBytes(200)]);
const DATA = Buffer.alloc(1000);
for (let i = 0; i < DATA.length; i++) DATA[i] = (i * 31 + 7) & 0xff;
const BIG = crypto.randomBytes(3 * 1024 * 1024 + 123);
const FIXED_MTIME = new Date('2024-01-02T03:04:05Z');

let srv;
let base;
let port;

before(async () => {
  const tmp = await makeTempDir('hearth-files-');
  const www = path.join(tmp, 'www');
  await fsp.mkdir(path.join(www, 'sub'), { recursive: true });
  await fsp.mkdir(path.join(tmp, 'outside'), { recursive: true });
  await fsp.writeFile(path.join(tmp, 'secret.txt'), SECRET);
  await fsp.writeFile(path.join(tmp, 'secret'), SECRET);
  await fsp.writeFile(path.join(tmp, 'outside', 'secret2.txt'), SECRET2);
  await fsp.writeFile(path.join(www, 'index.html'), INDEX);
  await fsp.writeFile(path.join(www, 'style.css'), CSS);
  await fsp.writeFile(path.join(www, 'app.js'), JS);
  await fsp.writeFile(path.join(www, 'img.png'), PNG);
  await fsp.writeFile(path.join(www, 'data.bin'), DATA);
  await fsp.writeFile(path.join(www, 'big.bin'), BIG);
  await fsp.writeFile(path.join(www, 'hello world.txt'), 'spaces in name\n');
  await fsp.writeFile(path.join(www, 'sub', 'index.html'), SUB_INDEX);
  // A folder named like a host: "//evil.example" must not redirect to it.
  await fsp.mkdir(path.join(www, 'evil.example'));
  await fsp.writeFile(path.join(www, 'evil.example', 'index.html'), SUB_INDEX);
  await fsp.utimes(path.join(www, 'data.bin'), FIXED_MTIME, FIXED_MTIME);
  await fsp.symlink('index.html', path.join(www, 'link-inside.html'));
  await fsp.symlink(path.join(tmp, 'secret.txt'), path.join(www, 'link-outside.txt'));
  await fsp.symlink('../secret.txt', path.join(www, 'link-outside-rel.txt'));
  await fsp.symlink(path.join(tmp, 'outside'), path.join(www, 'linkdir'));
  srv = await startHearth({ root: www });
  port = srv.port;
  base = srv.url;
});
after(async () => { if (srv) await srv.stop('SIGKILL').catch(() => {}); });

const norm = (ct) => (ct ?? '').toLowerCase().replace(/\s+/g, '');
const H = () => `Host: 127.0.0.1:${port}\r\n`;

describe('basic serving', () => {
  test('GET / serves index.html as text/html; charset=utf-8 (curl)', T, async () => {
    const r = await curl([`${base}/`]);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(norm(r.headers['content-type']), 'text/html;charset=utf-8');
    assert.equal(r.text, INDEX);
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(INDEX));
  });

  test('GET /index.html serves the same file', T, async () => {
    const r = await curl([`${base}/index.html`]);
    assert.ok([200, 301, 308].includes(r.status));
    if (r.status === 200) assert.equal(r.text, INDEX);
  });

  test('Content-Type by extension: css, js, png', T, async () => {
    const css = await curl([`${base}/style.css`]);
    assert.equal(css.status, 200);
    assert.equal(norm(css.headers['content-type']), 'text/css;charset=utf-8');
    assert.equal(css.text, CSS);

    const js = await curl([`${base}/app.js`]);
    assert.equal(js.status, 200);
    assert.match(js.headers['content-type'] ?? '', /^(application|text)\/javascript/);
    assert.equal(js.text, JS);

    const png = await curl([`${base}/img.png`]);
    assert.equal(png.status, 200);
    assert.equal(norm(png.headers['content-type']), 'image/png');
    assert.ok(png.body.equals(PNG), 'png bytes differ');
  });

  test('query string is ignored for file lookup', T, async () => {
    const r = await curl([`${base}/style.css?v=123`]);
    assert.equal(r.status, 200);
    assert.equal(r.text, CSS);
  });

  test('percent-encoded file name (/hello%20world.txt) is served', T, async () => {
    const r = await curl([`${base}/hello%20world.txt`]);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'spaces in name\n');
  });

  test('percent-encoded unreserved characters are decoded (/d%61ta.bin)', T, async () => {
    const r = await curl([`${base}/d%61ta.bin`]);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(DATA));
  });

  test('invalid percent-encoding (/%zz) → 400', T, async () => {
    const r = await rawExchange(port, `GET /%zz HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
    assert.equal(firstStatus(r.text), 400);
  });

  test('pipelined GETs of large files come back complete and in order', { timeout: 30000 }, async () => {
    const req = `GET /big.bin HTTP/1.1\r\n${H()}\r\nGET /data.bin HTTP/1.1\r\n${H()}\r\n` +
      `GET /big.bin HTTP/1.1\r\n${H()}\r\nGET /style.css HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`;
    const r = await rawExchange(port, req, { timeoutMs: 20000 });
    assert.equal(r.timedOut, false);
    const { responses, complete } = splitResponses(r.text);
    assert.ok(complete);
    assert.deepEqual(responses.map((x) => x.status), [200, 200, 200, 200]);
    assert.ok(responses[0].bodyBuffer.equals(BIG));
    assert.ok(responses[1].bodyBuffer.equals(DATA));
    assert.ok(responses[2].bodyBuffer.equals(BIG));
    assert.equal(responses[3].body, CSS);
  });

  test('keep-alive: a request after a large file response on the same socket is answered', T, async () => {
    const c = await RawConn.connect(port);
    try {
      await c.write(`GET /big.bin HTTP/1.1\r\n${H()}\r\n`);
      const r1 = await c.readResponse({ timeoutMs: 10000 });
      assert.equal(r1.status, 200);
      assert.ok(r1.bodyBuffer.equals(BIG));
      await c.write(`GET /data.bin HTTP/1.1\r\n${H()}\r\n`);
      const r2 = await c.readResponse();
      assert.equal(r2.status, 200);
      assert.ok(r2.bodyBuffer.equals(DATA));
    } finally { c.destroy(); }
  });

  test('a 3 MiB binary file is served byte-exact', T, async () => {
    const r = await curl([`${base}/big.bin`]);
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers['content-length']), BIG.length);
    assert.ok(r.body.equals(BIG), 'big.bin bytes differ');
  });

  test('directory without trailing slash → 301 to add it; with slash → index.html', T, async () => {
    const r = await curl([`${base}/sub`]);
    assert.equal(r.status, 301);
    const loc = r.headers.location ?? '';
    assert.ok(loc === '/sub/' || loc.endsWith('/sub/'), `Location should add the slash, got ${loc}`);
    const r2 = await curl(['-L', `${base}/sub`]);
    assert.equal(r2.status, 200);
    assert.equal(r2.text, SUB_INDEX);
    const r3 = await curl([`${base}/sub/`]);
    assert.equal(r3.status, 200);
    assert.equal(norm(r3.headers['content-type']), 'text/html;charset=utf-8');
  });

  test('missing file → 404 with a small body', T, async () => {
    const r = await curl([`${base}/no/such/file.txt`]);
    assert.equal(r.status, 404);
    assert.ok(r.body.length > 0 && r.body.length < 4096, `404 body length ${r.body.length}`);
  });

  test('HEAD returns headers (length, type, ETag) but no body', T, async () => {
    const req = `HEAD /data.bin HTTP/1.1\r\n${H()}\r\nGET /data.bin HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`;
    const r = await rawExchange(port, req);
    const { responses, complete } = splitResponses(r.text, { methods: ['HEAD', 'GET'] });
    assert.ok(complete, 'HEAD must not send a body');
    const [head, get] = responses;
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '1000');
    assert.equal(head.body, '');
    assert.equal(head.headers.etag, get.headers.etag);
    assert.equal(head.headers['last-modified'], get.headers['last-modified']);
    assert.ok(get.bodyBuffer.equals(DATA));
  });

  test('curl -I (HEAD) works', T, async () => {
    const r = await curl(['-I', `${base}/style.css`]);
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers['content-length']), CSS.length);
    assert.equal(norm(r.headers['content-type']), 'text/css;charset=utf-8');
    // With -I curl writes the headers to the output file: no body bytes after them.
    assert.ok(!r.body.toString('latin1').includes(CSS), 'HEAD must not send the body');
  });

  test('POST with a body to a static file → 405 with Allow: GET, HEAD', T, async () => {
    const r = await curl(['-X', 'POST', '--data-binary', 'x=1', `${base}/index.html`]);
    assert.equal(r.status, 405);
    const allow = (r.headers.allow ?? '').split(',').map((s) => s.trim().toUpperCase());
    assert.ok(allow.includes('GET') && allow.includes('HEAD'), `Allow header: ${r.headers.allow}`);
  });
});

describe('conditional requests', () => {
  test('ETag + If-None-Match → 304 without body (curl)', T, async () => {
    const r = await curl([`${base}/data.bin`]);
    const etag = r.headers.etag;
    assert.ok(etag, 'ETag header missing');
    assert.match(etag, /^(W\/)?"[^"]*"$/, `ETag must be a quoted string: ${etag}`);
    const r2 = await curl(['-H', `If-None-Match: ${etag}`, `${base}/data.bin`]);
    assert.equal(r2.status, 304);
    assert.equal(r2.body.length, 0);
    assert.equal(r2.headers.etag, etag);
    const r3 = await curl(['-H', 'If-None-Match: "something-else", "another"', `${base}/data.bin`]);
    assert.equal(r3.status, 200);
    assert.ok(r3.body.equals(DATA));
    const r4 = await curl(['-H', `If-None-Match: "x", ${etag}`, `${base}/data.bin`]);
    assert.equal(r4.status, 304, 'a matching entry in a list should also give 304');
  });

  test('Last-Modified reflects the file mtime; If-Modified-Since → 304 / 200', T, async () => {
    const r = await curl([`${base}/data.bin`]);
    const lm = r.headers['last-modified'];
    assert.ok(lm, 'Last-Modified missing');
    assert.match(lm, IMF_FIXDATE);
    assert.equal(lm, FIXED_MTIME.toUTCString());
    const same = await curl(['-H', `If-Modified-Since: ${lm}`, `${base}/data.bin`]);
    assert.equal(same.status, 304);
    assert.equal(same.body.length, 0);
    const later = await curl(['-H', `If-Modified-Since: ${new Date(FIXED_MTIME.getTime() + 86400000).toUTCString()}`, `${base}/data.bin`]);
    assert.equal(later.status, 304);
    const earlier = await curl(['-H', `If-Modified-Since: ${new Date(FIXED_MTIME.getTime() - 3600000).toUTCString()}`, `${base}/data.bin`]);
    assert.equal(earlier.status, 200);
    assert.ok(earlier.body.equals(DATA));
  });

  test('If-None-Match: * and a weak-form tag (W/"...") both give 304 for GET', T, async () => {
    const etag = (await curl([`${base}/data.bin`])).headers.etag;
    const star = await curl(['-H', 'If-None-Match: *', `${base}/data.bin`]);
    assert.equal(star.status, 304);
    const weak = await curl(['-H', `If-None-Match: W/${etag.replace(/^W\//, '')}`, `${base}/data.bin`]);
    assert.equal(weak.status, 304, 'If-None-Match uses weak comparison');
  });

  test('an unparsable If-Modified-Since is ignored (200)', T, async () => {
    const r = await curl(['-H', 'If-Modified-Since: not a date', `${base}/data.bin`]);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(DATA));
  });

  test('If-None-Match takes precedence over If-Modified-Since', T, async () => {
    const lm = FIXED_MTIME.toUTCString();
    const r = await curl(['-H', 'If-None-Match: "nope"', '-H', `If-Modified-Since: ${lm}`, `${base}/data.bin`]);
    assert.equal(r.status, 200);
  });
});

describe('ranges', () => {
  test('Range bytes=0-99 → 206 with Content-Range (curl -r)', T, async () => {
    const r = await curl(['-r', '0-99', `${base}/data.bin`]);
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 0-99/1000');
    assert.equal(r.headers['content-length'], '100');
    assert.ok(r.body.equals(DATA.subarray(0, 100)));
  });

  test('suffix range bytes=-10 and open range bytes=990-', T, async () => {
    const a = await curl(['-H', 'Range: bytes=-10', `${base}/data.bin`]);
    assert.equal(a.status, 206);
    assert.equal(a.headers['content-range'], 'bytes 990-999/1000');
    assert.ok(a.body.equals(DATA.subarray(990)));
    const b = await curl(['-H', 'Range: bytes=990-', `${base}/data.bin`]);
    assert.equal(b.status, 206);
    assert.equal(b.headers['content-range'], 'bytes 990-999/1000');
    assert.ok(b.body.equals(DATA.subarray(990)));
  });

  test('range end past the file end is clipped', T, async () => {
    const r = await curl(['-H', 'Range: bytes=995-5000', `${base}/data.bin`]);
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 995-999/1000');
    assert.ok(r.body.equals(DATA.subarray(995)));
  });

  test('range in the middle of a large file', T, async () => {
    const r = await curl(['-r', '1000000-1000999', `${base}/big.bin`]);
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 1000000-1000999/${BIG.length}`);
    assert.ok(r.body.equals(BIG.subarray(1000000, 1001000)));
  });

  test('unsatisfiable range → 416 with Content-Range: bytes */SIZE', T, async () => {
    for (const range of ['bytes=5000-6000', 'bytes=1000-']) {
      const r = await curl(['-H', `Range: ${range}`, `${base}/data.bin`]);
      assert.equal(r.status, 416, range);
      assert.equal(r.headers['content-range'], 'bytes */1000', range);
    }
  });

  test('If-Range with a non-matching ETag → full 200', T, async () => {
    const r = await curl(['-H', 'Range: bytes=0-9', '-H', 'If-Range: "stale-etag"', `${base}/data.bin`]);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(DATA));
  });

  test('If-Range with the current (strong) ETag → 206', T, async () => {
    const etag = (await curl([`${base}/data.bin`])).headers.etag;
    assert.ok(etag);
    const r = await curl(['-H', 'Range: bytes=0-9', '-H', `If-Range: ${etag}`, `${base}/data.bin`]);
    if (etag.startsWith('W/')) {
      assert.equal(r.status, 200, 'weak ETags never match If-Range');
    } else {
      assert.equal(r.status, 206);
      assert.ok(r.body.equals(DATA.subarray(0, 10)));
    }
  });

  test('If-Range with a stale date → full 200', T, async () => {
    const stale = new Date(FIXED_MTIME.getTime() - 3600000).toUTCString();
    const r = await curl(['-H', 'Range: bytes=0-9', '-H', `If-Range: ${stale}`, `${base}/data.bin`]);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 1000);
  });
});

describe('redirects stay on this host', () => {
  // A Location starting "//" is another host to a browser (protocol-relative).
  const cases = [
    ['//evil.example', '/evil.example/'],
    ['///evil.example', '/evil.example/'],
    ['//evil.example?x=1', '/evil.example/?x=1'],
    ['/sub/..//evil.example', '/evil.example/'],
    ['/%2e//evil.example', '/evil.example/'],
  ];
  for (const [p, want] of cases) {
    test(`${p} → 301 to the path ${want} (HTTP/1.1)`, T, async () => {
      const r = await rawExchange(port, `GET ${p} HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
      assert.equal(firstStatus(r.text), 301, r.text.slice(0, 300));
      const loc = /\r\nlocation: ([^\r]*)\r\n/i.exec(r.text)?.[1];
      assert.equal(loc, want);
    });
  }
  test('//evil.example → 301 to /evil.example/ (HTTP/2)', T, async () => {
    const r = await curl(['--http2-prior-knowledge', '--path-as-is', `${base}//evil.example`]);
    assert.match(r.blocks.at(-1)?.statusLine ?? '', /^HTTP\/2 /);
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/evil.example/');
  });
  for (const p of ['/\\evil.example', '/%5cevil.example', '/%2fevil.example', '/%2F%2Fevil.example']) {
    test(`${p} is refused (400), never redirected`, T, async () => {
      const r = await rawExchange(port, `GET ${p} HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
      assert.equal(firstStatus(r.text), 400, r.text.slice(0, 300));
      assert.ok(!/\r\nlocation:/i.test(r.text));
    });
  }
});

describe('symlinks and path safety', () => {
  test('symlink to a file inside the root is served', T, async () => {
    const r = await curl([`${base}/link-inside.html`]);
    assert.equal(r.status, 200);
    assert.equal(r.text, INDEX);
  });

  for (const p of ['/link-outside.txt', '/link-outside-rel.txt', '/linkdir/secret2.txt', '/linkdir/']) {
    test(`symlink pointing outside the root is not followed: ${p}`, T, async () => {
      const r = await rawExchange(port, `GET ${p} HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
      const st = firstStatus(r.text);
      assert.ok(st >= 400 && st < 500, `expected 4xx (404), got ${st}`);
      assert.equal(st, 404);
      assert.ok(!r.text.includes(SECRET) && !r.text.includes(SECRET2), 'secret leaked');
    });
  }

  const must400 = [
    '/../secret.txt',
    '/../secret',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret',
    '/a%2fb',
    '/..%2fsecret.txt',
    '/index.html%00',
    '/%00',
  ];
  for (const p of must400) {
    test(`path ${p} is refused with 400 and nothing outside the root is read`, T, async () => {
      const r = await rawExchange(port, `GET ${p} HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
      assert.equal(firstStatus(r.text), 400, JSON.stringify(r.text.slice(0, 200)));
      assert.ok(!r.text.includes(SECRET), 'secret leaked');
    });
  }

  for (const p of ['/sub/../../secret.txt', '/sub/%2e%2e/%2e%2e/secret.txt', '/./../secret.txt']) {
    test(`escaping path ${p} is refused (4xx) and never reads outside`, T, async () => {
      const r = await rawExchange(port, `GET ${p} HTTP/1.1\r\n${H()}Connection: close\r\n\r\n`);
      const st = firstStatus(r.text);
      assert.ok(st >= 400 && st < 500, `expected 4xx, got ${st}`);
      assert.ok(!r.text.includes(SECRET), 'secret leaked');
    });
  }

  test('curl --path-as-is traversal does not leak', T, async () => {
    const r = await curl(['--path-as-is', `${base}/../../../../../../etc/passwd`]);
    assert.equal(r.status, 400);
    assert.ok(!r.text.includes('root:'), '/etc/passwd leaked');
  });

  test('the server still works after the path attacks', T, async () => {
    const r = await curl([`${base}/`]);
    assert.equal(r.status, 200);
    assert.equal(r.text, INDEX);
  });
});
