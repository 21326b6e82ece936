// An S3 server on loopback for bench/backup.sh: npm's s3rver (pinned as a
// devDependency) behind a small front that counts what each bucket receives,
// so hearth's backup and Litestream can be compared on requests and bytes
// without trusting either one's own metrics.
// Run with --openssl-legacy-provider (s3rver 3.7.1 makes ListObjectsV2
// continuation tokens with DES, which OpenSSL 3 refuses without it).
// argv: DIR PORT BUCKET...; prints "ready" once listening; SIGTERM stops it.
// GET /__stats answers {bucket: {PUT: n, GET: n, ..., put_bytes: n}}; POST /__reset zeroes it.
// Multipart parts count as PUTs (each is one billed request).
const http = require('node:http');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

// s3rver 3.7.1 loses common prefixes more than one folder below the prefix
// (its walk skips folders under a common prefix before it has seen a key in
// them), so "prefix=x/generations/ delimiter=/" answers nothing. Litestream
// lists its generations that way. List without the delimiter and group here.
const listObjects = FilesystemStore.prototype.listObjects;
FilesystemStore.prototype.listObjects = async function (bucket, options) {
  const { delimiter = '', prefix = '', maxKeys = Infinity } = options;
  if (!delimiter) return listObjects.call(this, bucket, options);
  const all = await listObjects.call(this, bucket, { ...options, delimiter: '', maxKeys: Infinity });
  const common = new Set();
  const objects = [];
  let isTruncated = false;
  for (const o of all.objects) {
    const idx = o.key.slice(prefix.length).indexOf(delimiter);
    if (idx !== -1) common.add(o.key.slice(0, prefix.length + idx + 1));
    else if (objects.length < maxKeys) objects.push(o);
    else isTruncated = true;
  }
  return { objects, commonPrefixes: [...common].sort(), isTruncated };
};

const [dir, port, ...buckets] = process.argv.slice(2);
const stats = {};
const bump = (bucket, key, n) => {
  const b = (stats[bucket] ??= { put_bytes: 0 });
  b[key] = (b[key] ?? 0) + n;
};

const inner = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});

inner.run().then((address) => {
  const front = http.createServer((req, res) => {
    if (req.url === '/__stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(stats));
    }
    if (req.url === '/__reset' && req.method === 'POST') {
      for (const k of Object.keys(stats)) delete stats[k];
      res.writeHead(204);
      return res.end();
    }
    // Path-style addressing (both clients are configured for it): /bucket/key
    const bucket = decodeURIComponent(req.url.split('?')[0].split('/')[1] || '');
    bump(bucket, req.method, 1);
    const up = http.request({ host: '127.0.0.1', port: address.port, method: req.method,
                              path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.on('data', (c) => { if (req.method === 'PUT') bump(bucket, 'put_bytes', c.length); });
    req.pipe(up);
  });
  front.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
  // Kept-alive connections would hold close() open: exit once closed or after 500 ms.
  process.on('SIGTERM', () => {
    front.close();
    setTimeout(() => process.exit(0), 500).unref();
    inner.close().finally(() => process.exit(0));
  });
});
