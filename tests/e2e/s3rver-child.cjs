// Runs s3rver for tests/e2e/s3rver.mjs in its own process, started with
// --openssl-legacy-provider: s3rver 3.7.1 makes ListObjectsV2 continuation
// tokens with DES, which OpenSSL 3 (Node >= 17) refuses without it.
// argv: DIR BUCKET...; prints {"port":N} once listening; SIGTERM stops it.
const S3rver = require('s3rver');

const [dir, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: process.env.S3RVER_LOG !== '1',
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then((address) => {
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
