// Opens N server-sent-event streams to URL (GET /api/realtime) and keeps them
// open until stdin closes; prints "ready N" once every stream has sent its
// PB_CONNECT. Used by bench/data.sh to measure what idle subscribers cost.
import http from 'node:http';

const [url, n] = [process.argv[2], Number(process.argv[3] || 1000)];
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let ready = 0;
for (let i = 0; i < n; i++) {
  http.get(url, { agent, headers: { Accept: 'text/event-stream' } }, (res) => {
    res.once('data', () => { if (++ready === n) console.log(`ready ${n}`); });
  }).on('error', (e) => { console.error(e.message); process.exit(1); });
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
