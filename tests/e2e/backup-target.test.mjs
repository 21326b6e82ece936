// `hearth backups check`: a backup target checked end to end against a real S3
// server on loopback (s3rver, behind a front that verifies SigV4 with AWS's
// own signer) and against a local folder, and what the user sees when the
// secret is wrong, the bucket is missing, the folder cannot be written or S3
// is down.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { runHearth, makeTempDir } from './helpers.mjs';
import { startS3rver } from './s3rver.mjs';

const require = createRequire(import.meta.url);
const { ListObjectsV2Command, PutObjectCommand } = require('@aws-sdk/client-s3');

const T = { timeout: 60000 };

function s3Args(s3, { secret = s3.secret, bucket = 'backups', extra = [] } = {}) {
  return ['backups', 'check', '--to', `s3://${bucket}/site/prod`, '--backup-endpoint', s3.endpoint,
    '--backup-key-id', s3.keyId, '--backup-secret', secret, ...extra];
}

async function listAll(s3, prefix) {
  const out = await s3.sdk().send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: prefix }));
  return (out.Contents || []).map((o) => o.Key);
}

describe('hearth backups check', () => {
  let s3;
  before(async () => { s3 = await startS3rver(); });
  after(async () => { await s3?.stop(); });

  test('against S3: put, list, get, delete, and the probe is gone', T, async () => {
    // Something already under the prefix stays where it is.
    await s3.sdk().send(new PutObjectCommand({ Bucket: 'backups', Key: 'site/prod/keep', Body: 'k' }));
    const r = await runHearth(s3Args(s3));
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^put hearth-check-[a-z0-9]+ \(64\): ok$/);
    assert.match(lines[1], /^list: ok/);
    assert.match(lines[2], /^get: ok/);
    assert.equal(lines[3], 'delete: ok');
    assert.equal(lines[4], 'backup target OK (s3://backups/site/prod)');
    // The AWS SDK sees what hearth left: the other object, no probe.
    assert.deepEqual(await listAll(s3, 'site/prod/'), ['site/prod/keep']);
    // Every request was signed, and AWS's signer agreed (else the front said 403).
    const mine = s3.requests.filter((q) => q.path.startsWith('/backups'));
    assert.ok(mine.some((q) => q.method === 'PUT' && q.path.startsWith('/backups/site/prod/hearth-check-')));
    assert.ok(mine.some((q) => q.method === 'GET' && q.query.includes('list-type=2')));
    assert.ok(mine.some((q) => q.method === 'DELETE'));
  });

  test('the settings also come from HEARTH_BACKUP_* (flags win)', T, async () => {
    const r = await runHearth(['backups', 'check', '--to', 's3://backups/env', '--backup-secret', s3.secret], {
      env: {
        HEARTH_BACKUP_ENDPOINT: s3.endpoint, HEARTH_BACKUP_KEY_ID: s3.keyId,
        HEARTH_BACKUP_SECRET: 'wrong-secret-from-env', HEARTH_BACKUP_REGION: 'us-east-1',
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /backup target OK \(s3:\/\/backups\/env\)/);
  });

  test('a wrong secret: one line naming SignatureDoesNotMatch, the secret never shown', T, async () => {
    const secret = 'not-the-secret-1f3a9c';
    const r = await runHearth(s3Args(s3, { secret }));
    assert.notEqual(r.code, 0);
    const err = r.stderr.trim();
    assert.equal(err.split('\n').length, 1, err);
    assert.match(err, /^hearth: backups check s3:\/\/backups\/site\/prod: put failed: S3 refused PutObject on backups\/site\/prod\/hearth-check-[a-z0-9]+: SignatureDoesNotMatch \(403\)/);
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret));
  });

  test('an unknown key id: InvalidAccessKeyId', T, async () => {
    const r = await runHearth(['backups', 'check', '--to', 's3://backups/x', '--backup-endpoint', s3.endpoint,
      '--backup-key-id', 'NOBODY', '--backup-secret', 'x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /put failed: S3 refused PutObject on backups\/x\/hearth-check-[a-z0-9]+: InvalidAccessKeyId \(403\)/);
  });

  test('a missing bucket: NoSuchBucket', T, async () => {
    const r = await runHearth(s3Args(s3, { bucket: 'no-such-bucket' }));
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /put failed: S3 refused PutObject on no-such-bucket\/site\/prod\/hearth-check-[a-z0-9]+: NoSuchBucket \(404\)/);
  });

  test('a 40 MiB probe goes up as a multipart upload and comes back the same', T, async () => {
    const before = s3.requests.length;
    const r = await runHearth(s3Args(s3, { extra: ['--probe-size', String(40 << 20)] }), { timeoutMs: 50000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^get: ok \(sha256 [0-9a-f]{64}\)$/m);
    const seen = s3.requests.slice(before);
    assert.equal(seen.filter((q) => q.method === 'POST' && q.query === '?uploads=').length, 1);
    const parts = seen.filter((q) => q.method === 'PUT' && /partNumber=\d/.test(q.query));
    assert.equal(parts.length, 3, '16 + 16 + 8 MiB');
    assert.equal(seen.filter((q) => q.method === 'POST' && /^\?uploadId=/.test(q.query)).length, 1);
    assert.deepEqual(await listAll(s3, 'site/prod/hearth-check-'), []);
  });

  test('bad target URLs are one clear line', T, async () => {
    for (const [to, re] of [
      ['ftp://x', /a backup target is s3:\/\/bucket\/prefix or file:\/\/\/path, not "ftp:\/\/x"/],
      ['s3://Bad_Bucket/p', /not a valid S3 bucket name/],
      ['file://relative', /file:\/\/ needs an absolute path/],
    ]) {
      const r = await runHearth(['backups', 'check', '--to', to, '--backup-key-id', 'k', '--backup-secret', 's']);
      assert.notEqual(r.code, 0, to);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    const nocreds = await runHearth(['backups', 'check', '--to', 's3://backups/x', '--backup-endpoint', s3.endpoint]);
    assert.notEqual(nocreds.code, 0);
    assert.match(nocreds.stderr, /needs a key id and a secret/);
  });
});

describe('hearth backups check, file:// and S3 down', () => {
  test('a local folder works, and leaves nothing behind', T, async () => {
    const dir = await makeTempDir();
    const target = path.join(dir, 'backups', 'hearth');
    const r = await runHearth(['backups', 'check', '--to', `file://${target}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`backup target OK \\(file://${target}\\)`));
    assert.deepEqual(await fsp.readdir(target), []);
  });

  test('a folder it cannot write is one clear line', T, async () => {
    const dir = await makeTempDir();
    await fsp.writeFile(path.join(dir, 'a-file'), 'x');
    const target = path.join(dir, 'a-file', 'backups');
    const r = await runHearth(['backups', 'check', '--to', `file://${target}`]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim(), `hearth: backups check file://${target}: put failed: cannot create ${target}: Not a directory`);
  });

  test('S3 stopped: a network error after a few quick tries, well within 10 s', T, async () => {
    const s3 = await startS3rver();
    await s3.stop();
    const t0 = Date.now();
    const r = await runHearth(['backups', 'check', '--to', 's3://backups/x', '--backup-endpoint', s3.endpoint,
      '--backup-key-id', s3.keyId, '--backup-secret', s3.secret], { timeoutMs: 15000 });
    const ms = Date.now() - t0;
    assert.notEqual(r.code, 0);
    assert.ok(!r.timedOut);
    assert.ok(ms < 10000, `took ${ms} ms`);
    assert.match(r.stderr.trim(), /^hearth: backups check s3:\/\/backups\/x: put failed: S3 PutObject on backups\/x\/hearth-check-[a-z0-9]+ failed: .*(Couldn't connect|Connection refused).* \(after 3 tries\)$/);
  });
});
