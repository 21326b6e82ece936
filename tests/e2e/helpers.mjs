// Shared helpers for hearth end-to-end tests (Node 20 built-ins only).
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');
export const HEARTH_BIN = process.env.HEARTH_BIN || path.join(REPO_ROOT, 'build', 'release', 'hearth');

// Two tiers: `make test` runs the short one; `make soak` (HEARTH_SOAK=1) the
// full one, by hand before an issue is resolved. A test that repeats (trials,
// cycles, a fault matrix) or moves big data takes its size from tier(short, full).
export const SOAK = process.env.HEARTH_SOAK === '1';
export const tier = (short, full) => (SOAK ? full : short);

// ---------------------------------------------------------------------------
// Process bookkeeping: everything we spawn or create is cleaned up at the end.

const liveProcs = new Set();
const tempDirs = new Set();

function killAll() {
  for (const p of liveProcs) {
    if (p.exitCode === null && p.signalCode === null) {
      try { p.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
}

after(async () => {
  killAll();
  for (const d of tempDirs) {
    try { await fsp.rm(d, { recursive: true, force: true }); } catch { /* ignore */ }
  }
});
process.on('exit', () => {
  killAll();
  for (const d of tempDirs) {
    try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
  }
});

export async function makeTempDir(prefix = 'hearth-e2e-') {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Environment of this process without any HEARTH_* variables, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('HEARTH_')) env[k] = v;
  }
  return { ...env, ...extra };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects with a labelled error if `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, label = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function exitPromise(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  }
  return new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

// ---------------------------------------------------------------------------
// Run the binary to completion (version, config, help, start-up errors).

/**
 * Runs `hearth ...args` and returns {code, signal, stdout, stderr, timedOut}.
 * The process is killed after timeoutMs.
 */
export function runHearth(args, { env = {}, timeoutMs = 10000, cwd, input } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(HEARTH_BIN, args, { env: cleanEnv(env), cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    liveProcs.add(proc);
    if (input !== undefined) proc.stdin.end(input);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; proc.kill('SIGKILL'); }, timeoutMs);
    proc.on('error', (err) => { clearTimeout(timer); liveProcs.delete(proc); reject(err); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      liveProcs.delete(proc);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

// ---------------------------------------------------------------------------
// Start a server and wait for its "listening" line.

/**
 * startHearth({args, env, root, config, dataDir, readyTimeoutMs})
 *  - args: extra CLI args after `serve --http 127.0.0.1:0 --data <tmp>`
 *  - env: extra environment (HEARTH_* from the outer environment are removed)
 *  - root: directory to pass as --root
 *  - config: TOML text; written to a temp file and passed as --config
 * Returns {port, url, proc, dataDir, configPath, listening, stderrLines(),
 *          logs(), waitForLog(pred, ms), stop(signal), waitExit(ms)}.
 */
export async function startHearth({ args = [], env = {}, root, config, dataDir, readyTimeoutMs = 10000, http = '127.0.0.1:0' } = {}) {
  const tmp = await makeTempDir();
  const data = dataDir ?? path.join(tmp, 'data');
  let configPath;
  const fullArgs = ['serve', '--http', http, '--data', data];
  if (root !== undefined) fullArgs.push('--root', root);
  if (config !== undefined) {
    configPath = path.join(tmp, 'hearth.toml');
    await fsp.writeFile(configPath, config);
    fullArgs.push('--config', configPath);
  }
  fullArgs.push(...args);

  const proc = spawn(HEARTH_BIN, fullArgs, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  liveProcs.add(proc);
  const exited = exitPromise(proc);
  exited.then(() => liveProcs.delete(proc));

  const lines = [];
  const waiters = new Set();
  let partial = '';
  let stdoutText = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d) => { stdoutText += d; });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    partial += chunk;
    let idx;
    while ((idx = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, idx);
      partial = partial.slice(idx + 1);
      lines.push(line);
      for (const w of [...waiters]) w(line);
    }
  });

  const parsed = (line) => { try { return JSON.parse(line); } catch { return null; } };

  /** Waits for a stderr line (already seen or future) whose parsed JSON satisfies pred. */
  function waitForLog(pred, ms = 5000, label = 'log line') {
    for (const l of lines) {
      const j = parsed(l);
      if (j && pred(j)) return Promise.resolve(j);
    }
    let onLine;
    const p = new Promise((resolve, reject) => {
      onLine = (l) => {
        const j = parsed(l);
        if (j && pred(j)) resolve(j);
      };
      waiters.add(onLine);
      exited.then(({ code, signal }) =>
        reject(new Error(`hearth exited (code=${code} signal=${signal}) while waiting for ${label}; stderr:\n${lines.join('\n')}${partial}`)));
    });
    return withTimeout(p, ms, `waiting for ${label}; stderr so far:\n${lines.join('\n')}`).finally(() => waiters.delete(onLine));
  }

  let listening;
  try {
    listening = await waitForLog((j) => j.msg === 'listening' && typeof j.addr === 'string', readyTimeoutMs, '"listening" line');
  } catch (err) {
    try { proc.kill('SIGKILL'); } catch { /* ignore */ }
    throw err;
  }
  const port = Number(listening.addr.split(':').pop());
  if (!Number.isInteger(port) || port <= 0) {
    proc.kill('SIGKILL');
    throw new Error(`cannot parse port from addr ${JSON.stringify(listening.addr)}`);
  }

  async function waitExit(ms = 10000) {
    return withTimeout(exited, ms, 'waiting for hearth to exit');
  }

  async function stop(signal = 'SIGTERM', ms = 10000) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    try {
      const ex = await waitExit(ms);
      // Give stderr a moment to drain so diagnostics are complete.
      await new Promise((r) => (proc.stderr.readableEnded ? r() : proc.stderr.once('close', r)));
      return { ...ex, stderr: lines.join('\n') + partial };
    } catch (err) {
      proc.kill('SIGKILL');
      await exited;
      throw err;
    }
  }

  /** Stops with `signal` and asserts exit code 0, with stderr in the message. */
  async function stopExpect0(signal = 'SIGTERM', ms = 10000) {
    const ex = await stop(signal, ms);
    if (ex.code !== 0) {
      throw new Error(`hearth should exit 0 after ${signal}, got code=${ex.code} signal=${ex.signal}; stderr:\n${ex.stderr}`);
    }
    return ex;
  }

  const httpsPort = typeof listening.https === 'string' && listening.https ? Number(listening.https.split(':').pop()) : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    httpsPort,
    stopExpect0,
    proc,
    dataDir: data,
    tmpDir: tmp,
    configPath,
    listening,
    stderrLines: () => [...lines],
    stdout: () => stdoutText,
    logs: () => lines.map(parsed).filter(Boolean),
    waitForLog,
    stop,
    waitExit,
    alive: () => proc.exitCode === null && proc.signalCode === null,
  };
}

// ---------------------------------------------------------------------------
// Raw sockets.

/**
 * Sends `bytes` on a fresh connection and collects everything until the server
 * closes the connection, an error occurs, or timeoutMs passes.
 * Returns {text (latin1), buffer, closed, timedOut, error, ms}.
 */
export function rawExchange(port, bytes, { timeoutMs = 5000, endAfterWrite = false } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks = [];
    let done = false;
    const sock = net.connect({ host: '127.0.0.1', port });
    const finish = (closed, timedOut, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const buffer = Buffer.concat(chunks);
      resolve({ text: buffer.toString('latin1'), buffer, closed, timedOut, error, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false, true, null), timeoutMs);
    sock.on('connect', () => {
      sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
      if (endAfterWrite) sock.end();
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish(true, false, null));
    sock.on('close', () => finish(true, false, null));
    sock.on('error', (err) => finish(true, false, err));
  });
}

/** rawExchange, returning only the raw response text (latin1). */
export async function rawRequest(port, bytes, opts = {}) {
  return (await rawExchange(port, bytes, opts)).text;
}

/** A connected socket with buffered reads, for keep-alive / step-by-step tests. */
export class RawConn {
  static connect(port, timeoutMs = 5000) {
    return withTimeout(new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.once('connect', () => resolve(new RawConn(sock)));
      sock.once('error', reject);
    }), timeoutMs, 'connect');
  }

  constructor(sock) {
    this.sock = sock;
    this.chunks = [];
    this.closed = false;
    this.error = null;
    this.closedAt = null;
    this.notify = new Set();
    sock.on('data', (d) => { this.chunks.push(d); this.#wake(); });
    const onClose = () => { if (!this.closed) { this.closed = true; this.closedAt = Date.now(); } this.#wake(); };
    sock.on('end', onClose);
    sock.on('close', onClose);
    sock.on('error', (e) => { this.error = e; onClose(); });
  }

  #wake() { for (const f of [...this.notify]) f(); }

  /** All received, not yet consumed bytes. */
  get buf() {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  set buf(b) { this.chunks = [b]; }

  /** Number of received, not yet consumed bytes (cheap). */
  get length() { return this.chunks.reduce((n, c) => n + c.length, 0); }

  get text() { return this.buf.toString('latin1'); }

  write(data) {
    return new Promise((resolve) => {
      if (this.closed) return resolve(false);
      this.sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) => resolve(!err));
    });
  }

  /** Waits until pred(this) is true; rejects after timeoutMs or on close if pred still false. */
  waitFor(pred, timeoutMs = 5000, label = 'condition') {
    if (pred(this)) return Promise.resolve();
    let f;
    const p = new Promise((resolve, reject) => {
      f = () => {
        if (pred(this)) resolve();
        else if (this.closed) reject(new Error(`connection closed while waiting for ${label}; received: ${JSON.stringify(this.text.slice(0, 500))}`));
      };
      this.notify.add(f);
    });
    return withTimeout(p, timeoutMs, `waiting for ${label}; received: ${JSON.stringify(this.text.slice(0, 500))}`)
      .finally(() => this.notify.delete(f));
  }

  /** Reads one complete response (skipping nothing) and removes it from the buffer. */
  async readResponse({ method = 'GET', timeoutMs = 5000 } = {}) {
    let res;
    await this.waitFor(() => {
      res = parseOneResponse(this.text, 0, method, this.closed);
      return res !== null;
    }, timeoutMs, 'a complete response');
    this.buf = this.buf.subarray(res.end);
    return res.response;
  }

  /** Resolves true if the server closes the connection within timeoutMs, else false. */
  async waitClose(timeoutMs = 5000) {
    try {
      await this.waitFor((c) => c.closed, timeoutMs, 'close');
      return true;
    } catch {
      return this.closed;
    }
  }

  destroy() { this.sock.destroy(); }
}

// ---------------------------------------------------------------------------
// Tiny HTTP/1.x response parser for raw bytes (latin1 strings).

function makeHeaders(lines) {
  const map = new Map();
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    if (!map.has(name)) map.set(name, []);
    map.get(name).push(value);
  }
  const obj = {};
  for (const [k, v] of map) obj[k] = v.join(', ');
  return { obj, map };
}

/**
 * Parses one response starting at `offset` of latin1 string `text`.
 * `method` is the request method (HEAD responses carry no body).
 * `eof` says whether the connection is closed (needed for close-delimited bodies).
 * Returns {response, end} or null when incomplete.
 */
export function parseOneResponse(text, offset = 0, method = 'GET', eof = false) {
  const headEnd = text.indexOf('\r\n\r\n', offset);
  if (headEnd < 0) return null;
  const head = text.slice(offset, headEnd);
  const [statusLine, ...headerLines] = head.split('\r\n');
  const m = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const status = Number(m[3]);
  const { obj: headers, map: headerMap } = makeHeaders(headerLines);
  let pos = headEnd + 4;
  let body = '';
  let trailers = {};
  const te = (headers['transfer-encoding'] || '').toLowerCase();
  if ((status >= 100 && status < 200) || status === 204 || status === 304 || method === 'HEAD') {
    body = '';
  } else if (te && /(^|,)\s*chunked\s*$/.test(te)) {
    const parts = [];
    for (;;) {
      const lineEnd = text.indexOf('\r\n', pos);
      if (lineEnd < 0) return null;
      const sizeStr = text.slice(pos, lineEnd).split(';')[0].trim();
      const size = parseInt(sizeStr, 16);
      if (!/^[0-9a-fA-F]+$/.test(sizeStr)) throw new Error(`bad chunk size line ${JSON.stringify(text.slice(pos, lineEnd))}`);
      pos = lineEnd + 2;
      if (size === 0) {
        const tEnd = text.indexOf('\r\n\r\n', pos - 2);
        if (tEnd < 0) return null;
        const tText = text.slice(pos, tEnd);
        trailers = makeHeaders(tText ? tText.split('\r\n') : []).obj;
        pos = tEnd + 4;
        break;
      }
      if (text.length < pos + size + 2) return null;
      parts.push(text.slice(pos, pos + size));
      pos += size + 2;
    }
    body = parts.join('');
  } else if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length'].split(',')[0].trim());
    if (text.length < pos + len) return null;
    body = text.slice(pos, pos + len);
    pos += len;
  } else {
    if (!eof) return null;
    body = text.slice(pos);
    pos = text.length;
  }
  return {
    response: {
      version: `${m[1]}.${m[2]}`,
      status,
      reason: m[4] ?? '',
      statusLine,
      headers,
      headerMap,
      rawHead: head,
      body,
      bodyBuffer: Buffer.from(body, 'latin1'),
      trailers,
    },
    end: pos,
  };
}

/**
 * Splits a raw byte stream (latin1 string) into responses.
 * methods[i] is the method of the i-th request (defaults to GET); 1xx
 * responses are returned too but do not consume a method slot.
 * Returns {responses, rest, complete} — `rest` is unparsed trailing text.
 */
export function splitResponses(text, { methods = [], eof = true } = {}) {
  const responses = [];
  let offset = 0;
  let idx = 0;
  while (offset < text.length) {
    const r = parseOneResponse(text, offset, methods[idx] ?? 'GET', eof);
    if (!r) break;
    responses.push(r.response);
    if (r.response.status >= 200) idx++;
    offset = r.end;
  }
  return { responses, rest: text.slice(offset), complete: offset === text.length };
}

/** Status code of the first response in raw text, or null. */
export function firstStatus(text) {
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(text);
  return m ? Number(m[1]) : null;
}

// ---------------------------------------------------------------------------
// curl wrapper.

function parseCurlHeaderBlocks(text) {
  const blocks = text.split(/\r?\n\r?\n/).filter((b) => b.trim().startsWith('HTTP/'));
  return blocks.map((b) => {
    const [statusLine, ...rest] = b.trim().split(/\r?\n/);
    const { obj, map } = makeHeaders(rest);
    return { statusLine, headers: obj, headerMap: map };
  });
}

/**
 * Runs curl with `args` (URL included by the caller). Returns
 * {status, headers, headerMap, body (Buffer), text, blocks, stderr, code}.
 * headers are from the last response header block (e.g. after 100 Continue).
 */
export async function curl(args, { timeoutMs = 15000 } = {}) {
  const dir = await makeTempDir('hearth-curl-');
  const hdrFile = path.join(dir, 'headers');
  const bodyFile = path.join(dir, 'body');
  const fullArgs = ['-sS', '--noproxy', '*', '--max-time', String(Math.ceil(timeoutMs / 1000)),
    '-D', hdrFile, '-o', bodyFile, '-w', '%{http_code}', ...args];
  const { stdout, stderr, code } = await new Promise((resolve) => {
    execFile('curl', fullArgs, { timeout: timeoutMs + 2000, env: cleanEnv() }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? (err.code ?? 1) : 0 });
    });
  });
  let headerText = '';
  let body = Buffer.alloc(0);
  try { headerText = await fsp.readFile(hdrFile, 'latin1'); } catch { /* none */ }
  try { body = await fsp.readFile(bodyFile); } catch { /* none */ }
  await fsp.rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
  const blocks = parseCurlHeaderBlocks(headerText);
  const last = blocks[blocks.length - 1] ?? { headers: {}, headerMap: new Map() };
  return {
    status: Number(stdout.trim()) || 0,
    headers: last.headers,
    headerMap: last.headerMap,
    body,
    text: body.toString('utf8'),
    blocks,
    stderr,
    code,
  };
}

// ---------------------------------------------------------------------------
// Misc.

/** Parses a Prometheus text exposition into [{name, labels, value}]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

/** Sum of samples with `name` whose labels include all of `labels`. */
export function metricValue(samples, name, labels = {}) {
  let sum = 0;
  let found = false;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) { sum += s.value; found = true; }
  }
  return found ? sum : undefined;
}

export const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

export function binaryExists() {
  try { fs.accessSync(HEARTH_BIN, fs.constants.X_OK); return true; } catch { return false; }
}

/**
 * One request with node:http on a fresh connection (no agent reuse).
 * Returns {status, headers, body (Buffer), text, ms}.
 */
export async function httpRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 5000, from } = {}) {
  const { default: http } = await import('node:http');
  const started = Date.now();
  return withTimeout(new Promise((resolve, reject) => {
    // `from`: the client address (another 127.0.0.x is another client network).
    const req = http.request(url, { method, headers, agent: false, localAddress: from }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: b, text: b.toString('utf8'), ms: Date.now() - started });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  }), timeoutMs, `${method} ${url}`);
}

// ---------------------------------------------------------------------------
// The control API and the pocketbase SDK (data API tests).

/** GET /_hearth/metrics with the server's admin token (metrics need a token unless --metrics-public). */
export async function fetchMetrics(srv, opts = {}) {
  const token = fs.readFileSync(path.join(srv.dataDir, 'admin.token'), 'utf8').trim();
  return httpRequest(`${srv.url}/_hearth/metrics`, { ...opts, headers: { Authorization: `Bearer ${token}`, ...(opts.headers ?? {}) } });
}

/** A control-API call with the admin token; resolves httpRequest's result plus `json` (or null). */
export async function controlApi(srv, token, method, p, body) {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = { Authorization: `Bearer ${token}` };
  if (data) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = String(data.length); }
  const r = await httpRequest(`${srv.url}/_hearth/api${p}`, { method, headers, body: data, timeoutMs: 15000 });
  let json = null;
  try { json = JSON.parse(r.text); } catch { /* empty */ }
  return { ...r, json };
}

/** Expects the SDK call to fail with `status`; returns the error's response body. */
export async function sdkRejects(promise, status, what) {
  try {
    await promise;
  } catch (e) {
    if (e.status !== status) throw new Error(`${what}: expected ${status}, got ${e.status} ${JSON.stringify(e.response)}`);
    return e.response;
  }
  throw new Error(`${what}: should have failed with ${status}`);
}
