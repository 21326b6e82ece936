// The hidden `hearth log dump`: reads a change-stream log (DATA/log/wal) that
// this test writes byte by byte from the formats in docs/store.md ("Change-
// stream entries", "The local log"), so the dump is checked against an
// independent writer of both formats, not only against hearth's own.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runHearth, makeTempDir, HEARTH_BIN, cleanEnv } from './helpers.mjs';

const T = { timeout: 20000 };

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32c(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const pad8 = (n) => (n + 7) & ~7;

/** One format-1 entry: kind 1 writes / 2 migration; ops [{kind, payload: Buffer}]. */
function encodeEntry({ index, timeUs, database, kind = 1, ops }) {
  const name = Buffer.from(database);
  let length = 88 + pad8(name.length);
  for (const op of ops) length += 16 + pad8(op.payload.length);
  const b = Buffer.alloc(length);
  b.writeUInt32LE(0x544e4548, 0);  // 'HENT'
  b.writeUInt16LE(1, 4);
  b.writeUInt16LE(kind, 6);
  b.writeUInt32LE(88, 8);
  b.writeBigUInt64LE(BigInt(index), 16);
  b.writeBigInt64LE(BigInt(timeUs), 48);
  b.writeBigUInt64LE(BigInt(length), 64);
  b.writeUInt32LE(ops.length, 72);
  b.writeUInt32LE(name.length, 76);
  name.copy(b, 88);
  let at = 88 + pad8(name.length);
  for (const op of ops) {
    b.writeUInt16LE(op.kind, at);
    b.writeBigUInt64LE(BigInt(op.payload.length), at + 8);
    op.payload.copy(b, at + 16);
    at += 16 + pad8(op.payload.length);
  }
  b.writeUInt32LE(crc32c(b.subarray(88)), 80);
  b.writeUInt32LE(crc32c(b.subarray(0, 84)), 84);
  return b;
}

function segmentHeader({ generation, firstIndex, baseOffset = 0 }) {
  const h = Buffer.alloc(64);
  h.writeUInt32LE(0x474f4c48, 0);  // 'HLOG'
  h.writeUInt16LE(1, 4);
  h.writeUInt16LE(64, 6);
  h.writeBigUInt64LE(BigInt(generation), 8);
  h.writeBigUInt64LE(BigInt(firstIndex), 16);
  h.writeBigUInt64LE(BigInt(baseOffset), 24);
  h.writeUInt32LE(crc32c(h.subarray(0, 60)), 60);
  return h;
}

const ddl = (sql) => ({ kind: 2, payload: Buffer.from(sql) });
function migration(version, sql) {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(version, 0);
  return { kind: 10, payload: Buffer.concat([head, Buffer.from(sql)]) };
}

async function writeLog(entries) {
  const data = await makeTempDir('hearth-logdump-');
  const wal = path.join(data, 'log', 'wal');
  await fsp.mkdir(wal, { recursive: true });
  const file = path.join(wal, '0000000000000001.hlog');
  await fsp.writeFile(file, Buffer.concat([segmentHeader({ generation: 0xabc, firstIndex: 1 }), ...entries]));
  return { data, file };
}

const ENTRIES = [
  encodeEntry({ index: 1, timeUs: 1765000000000000, database: 'hearth.db', ops: [ddl('CREATE TABLE t (id INTEGER PRIMARY KEY)')] }),
  encodeEntry({ index: 2, timeUs: 1765000000000001, database: 'apps/a.db', ops: [ddl('INSERT INTO t VALUES (1)'), { kind: 1, payload: Buffer.alloc(24, 7) }] }),
  encodeEntry({ index: 3, timeUs: 1765000000000002, database: 'hearth.db', kind: 2, ops: [migration(4, 'ALTER TABLE t ADD COLUMN x')] }),
];

describe('hearth log dump', () => {
  test('--help works and the verb is hidden from the top-level help', T, async () => {
    const h = await runHearth(['log', 'dump', '--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /--from/);
    assert.match(h.stdout, /--raw/);
    const top = await runHearth(['--help']);
    assert.doesNotMatch(top.stdout, /^\s+log\s/m);
  });

  test('prints one line per entry: index, time, database, kind, ops with sizes', T, async () => {
    const { data } = await writeLog(ENTRIES);
    const r = await runHearth(['log', 'dump', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      '1 2025-12-06T05:46:40.000000Z hearth.db writes ddl:39',
      '2 2025-12-06T05:46:40.000001Z apps/a.db writes ddl:24 changeset:24',
      '3 2025-12-06T05:46:40.000002Z hearth.db migration migration:34',
    ]);
    const from = await runHearth(['log', 'dump', '--data', data, '--from', '2']);
    assert.equal(from.code, 0, from.stderr);
    assert.deepEqual(from.stdout.trim().split('\n').map((l) => l.split(' ')[0]), ['2', '3']);
  });

  test('--raw writes the entries as they are', T, async () => {
    const { data } = await writeLog(ENTRIES);
    const r = spawnSync(HEARTH_BIN, ['log', 'dump', '--data', data, '--raw', '--from', '2'], { env: cleanEnv(), timeout: 10000 });
    assert.equal(r.status, 0, String(r.stderr));
    assert.ok(Buffer.concat(ENTRIES.slice(1)).equals(r.stdout));
  });

  test('a torn tail ends the dump quietly; damage in the middle is an error', T, async () => {
    const torn = await writeLog([...ENTRIES, ENTRIES[0].subarray(0, 40)]);
    const ok = await runHearth(['log', 'dump', '--data', torn.data]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').length, 3);

    const damaged = Buffer.from(ENTRIES[1]);
    damaged[100] ^= 0x20;
    const bad = await writeLog([ENTRIES[0], damaged, ENTRIES[2]]);
    const r = await runHearth(['log', 'dump', '--data', bad.data]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /damaged/);
    assert.match(r.stdout, /^1 /);
  });

  test('several files: --from across files; a hole in the middle is an error', T, async () => {
    const data = await makeTempDir('hearth-logdump-');
    const wal = path.join(data, 'log', 'wal');
    await fsp.mkdir(wal, { recursive: true });
    // Three files of one generation: [1], [2], [3]; bases run on across files.
    const files = [];
    let base = 0;
    for (let i = 0; i < 3; i++) {
      const name = path.join(wal, `${String(i + 1).padStart(16, '0')}.hlog`);
      const bytes = Buffer.concat([segmentHeader({ generation: 0xabc, firstIndex: i + 1, baseOffset: base }), ENTRIES[i]]);
      await fsp.writeFile(name, bytes);
      files.push({ name, bytes });
      base += ENTRIES[i].length;
    }
    const all = await runHearth(['log', 'dump', '--data', data]);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(all.stdout.trim().split('\n').map((l) => l.split(' ')[0]), ['1', '2', '3']);
    for (const [from, want] of [['2', ['2', '3']], ['3', ['3']]]) {
      const r = await runHearth(['log', 'dump', '--data', data, '--from', from]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split(' ')[0]), want);
    }

    // The middle file's header no longer reads: an error, not a skipped file.
    const broken = Buffer.from(files[1].bytes);
    broken[20] ^= 0x01;
    await fsp.writeFile(files[1].name, broken);
    const unreadable = await runHearth(['log', 'dump', '--data', data]);
    assert.equal(unreadable.code, 1);
    assert.match(unreadable.stderr, /unreadable/);

    // The middle file is gone: the next one does not start where the first ends.
    await fsp.rm(files[1].name);
    const hole = await runHearth(['log', 'dump', '--data', data]);
    assert.equal(hole.code, 1);
    assert.match(hole.stderr, /does not start where/);
  });

  test('a folder without a log says so', T, async () => {
    const data = await makeTempDir('hearth-logdump-');
    const r = await runHearth(['log', 'dump', '--data', data]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no change-stream log/);
  });
});
