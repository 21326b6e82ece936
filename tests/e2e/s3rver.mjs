// A real S3 server on loopback for the backup tests: npm's s3rver (pinned),
// started in a child process (s3rver-child.cjs) on a free port with a
// temporary folder and its buckets made, behind a small front that checks every request's SigV4
// signature with AWS's own signer (@smithy/signature-v4, the AWS SDK's).
// The front is there because s3rver 3.7.1 checks only the access key id of a
// SigV4 request ("Signature version 4 calculation is unimplemented" in its
// authentication middleware): without it a wrong secret would pass.
// What else s3rver 3.7.1 does and does not do (checked for issue 18):
// ListObjectsV2 with continuation tokens, multipart upload (create, parts,
// complete) and DeleteObjects work; AbortMultipartUpload answers 405
// MethodNotAllowed, so abort-on-failure is covered by the client's unit tests.
//
// startS3rver({buckets}) -> {endpoint, keyId, secret, requests, sdk(), stop()}
//  - requests: [{method, path, query}] of every request that reached the front
//  - sdk(): an @aws-sdk/client-s3 client pointed at it (path-style)
//  - stop(): closes both servers (bounded); the port then refuses connections
//  - setDown(true|false): while down, the front cuts every connection it
//    gets without an answer (S3 unreachable), keeping its port
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, withTimeout } from './helpers.mjs';

const require = createRequire(import.meta.url);
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-child.cjs');
const { SignatureV4 } = require('@smithy/signature-v4');
const { S3Client } = require('@aws-sdk/client-s3');

export const S3RVER_KEY = 'S3RVER'; // s3rver's built-in account
export const S3RVER_SECRET = 'S3RVER';

// The hash constructor SignatureV4 expects (plain or keyed), on node:crypto.
class Sha256 {
  constructor(secret) {
    this.h = secret ? crypto.createHmac('sha256', secret) : crypto.createHash('sha256');
  }
  update(data) { this.h.update(data); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

function s3Error(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

// Recomputes the request's signature with AWS's signer over exactly the
// headers it says it signed; null when it matches, else why not.
async function checkSignature(req, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'not a SigV4 Authorization header';
  const [, keyId, , region, signedNames, signature] = m;
  if (keyId !== S3RVER_KEY) return null; // s3rver itself answers InvalidAccessKeyId
  const payload = req.headers['x-amz-content-sha256'];
  if (payload !== 'UNSIGNED-PAYLOAD' && payload !== crypto.createHash('sha256').update(body).digest('hex')) {
    return 'XAmzContentSHA256Mismatch';
  }
  const headers = {};
  for (const name of signedNames.split(';')) headers[name] = req.headers[name] ?? '';
  const url = new URL(req.url, 'http://x');
  const query = {};
  for (const part of url.search.slice(1).split('&').filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    query[k] = k in query ? [].concat(query[k], v) : v;
  }
  const amzDate = req.headers['x-amz-date'] || '';
  const date = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  const signer = new SignatureV4({
    credentials: { accessKeyId: keyId, secretAccessKey: S3RVER_SECRET },
    region, service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: 'x', path: url.pathname, query, headers, body },
    { signingDate: date },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization)[1];
  return expected === signature ? null : 'SignatureDoesNotMatch';
}

export async function startS3rver({ buckets = ['backups'] } = {}) {
  const dir = await makeTempDir('hearth-s3rver-');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', CHILD, dir, ...buckets], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const killChild = () => { if (child.exitCode === null) child.kill('SIGKILL'); };
  process.on('exit', killChild);
  const inner = await withTimeout(new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited with ${code} before listening`)));
  }), 10000, 's3rver start').catch((e) => { killChild(); throw e; });
  const requests = [];
  let down = false;
  const front = http.createServer((req, res) => {
    if (down) {
      req.socket.destroy();
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= 64 << 20) chunks.push(c);
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, 'http://x');
      requests.push({ method: req.method, path: url.pathname, query: url.search });
      if (size > 64 << 20) return s3Error(res, 400, 'EntityTooLarge', 'too large for the test front');
      let why = null;
      if (req.headers.authorization) {
        try { why = await checkSignature(req, body); } catch (e) { why = `SignatureDoesNotMatch`; }
      }
      if (why === 'XAmzContentSHA256Mismatch') {
        return s3Error(res, 400, why, 'The provided x-amz-content-sha256 header does not match what was computed.');
      }
      if (why) {
        return s3Error(res, 403, 'SignatureDoesNotMatch',
          'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
      }
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const up = http.request({ host: '127.0.0.1', port: inner.port, method: req.method, path: req.url, headers }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.on('error', (e) => s3Error(res, 502, 'InternalError', `front: ${e.message}`));
      up.end(body);
    });
  });
  await new Promise((resolve, reject) => front.listen(0, '127.0.0.1', resolve).on('error', reject));
  const endpoint = `http://127.0.0.1:${front.address().port}`;
  let stopped = false;
  return {
    endpoint,
    dir,
    keyId: S3RVER_KEY,
    secret: S3RVER_SECRET,
    requests,
    setDown(value) { down = value; },
    sdk() {
      return new S3Client({
        endpoint, region: 'us-east-1', forcePathStyle: true,
        // s3rver predates the SDK's default CRC32 trailers (aws-chunked bodies).
        requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
        credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_SECRET },
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      front.closeAllConnections();
      const exited = new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
      child.kill('SIGTERM');
      await withTimeout(Promise.all([new Promise((r) => front.close(() => r())), exited]), 5000, 's3rver stop')
        .catch((e) => { killChild(); throw e; });
    },
  };
}
