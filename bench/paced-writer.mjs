// A paced record writer for bench/backup.sh (wrk cannot pace): RATE creates
// a second to URL (PocketBase's records path) for SECONDS, each with field n =
// 1, 2, 3... so a restored database says exactly which writes it holds.
// Prints one line per acknowledged create, "n ack_ms" (ack_ms = Date.now() when
// the 200 arrived), as soon as it arrives: the bench kills the server under it
// and needs every acknowledgement up to that moment. Failed requests are
// counted, not retried. Stops at SECONDS or on SIGTERM; prints "# sent S
// acked A failed F" to stderr at the end.
// argv: URL RATE SECONDS
import http from 'node:http';

const [url, rate, seconds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const target = new URL(url);
let sent = 0, acked = 0, failed = 0, inflight = 0, stopping = false;
const out = [];
const flush = () => { if (out.length) { process.stdout.write(out.join('')); out.length = 0; } };

function send(n) {
  sent++;
  inflight++;
  const body = JSON.stringify({ title: 'hello world', n });
  const req = http.request({ host: target.hostname, port: target.port, path: target.pathname,
                             method: 'POST', agent, timeout: 5000,
                             headers: { 'content-type': 'application/json',
                                        'content-length': Buffer.byteLength(body) } }, (res) => {
    res.resume();
    res.on('end', () => {
      inflight--;
      if (res.statusCode === 200) { acked++; out.push(`${n} ${Date.now()}\n`); flush(); } else failed++;
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => { inflight--; failed++; });
  req.end(body);
}

const start = Date.now();
const end = start + seconds * 1000;
let n = 0;
// Drift-free pacing: at each tick send however many writes are due by now.
const tick = setInterval(() => {
  const now = Date.now();
  if (stopping || now >= end) return finish();
  const due = Math.floor(((now - start) * rate) / 1000);
  while (n < due) send(++n);
}, 2);

function finish() {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  // let the requests in flight answer (bounded), then report
  const deadline = Date.now() + 3000;
  const wait = setInterval(() => {
    if (inflight === 0 || Date.now() > deadline) {
      clearInterval(wait);
      flush();
      process.stderr.write(`# sent ${sent} acked ${acked} failed ${failed}\n`);
      process.exit(0);
    }
  }, 20);
}
process.on('SIGTERM', finish);
