// The background generator of `npm run bench -- invalid`: a separate
// process (forked, on the load core) that sends well-formed but unknown
// refresh tokens at a fixed rate (open loop: the rate does not slow down
// when the server does), as a client stuffing stolen-looking tokens would.
//   env IL_PORT, IL_RATE (requests per second), IL_CONNECTIONS, IL_LOCAL_ADDRESS (optional)
//   parent → 'stop'   child → { sent, answered, skipped, statuses, seconds }
import { randomBytes } from 'node:crypto';
import net from 'node:net';

const port = Number(process.env.IL_PORT);
const rate = Number(process.env.IL_RATE ?? 1000);
const connections = Number(process.env.IL_CONNECTIONS ?? 32);
const localAddress = process.env.IL_LOCAL_ADDRESS || undefined;
const auth = 'Basic ' + Buffer.from('kubernetes:').toString('base64');

const statuses = {};
let sent = 0;
let answered = 0;
let skipped = 0;

function request() {
  const body = `grant_type=refresh_token&refresh_token=kgr_${randomBytes(32).toString('base64url')}`;
  return (
    `POST /oidc/token HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: ${auth}\r\n` +
    `content-type: application/x-www-form-urlencoded\r\ncontent-length: ${body.length}\r\n\r\n${body}`
  );
}

function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => resolve(conn));
    const conn = { socket: s, busy: false, buf: '' };
    s.setNoDelay(true);
    s.setEncoding('latin1');
    s.once('error', reject);
    s.on('data', (d) => {
      conn.buf += d;
      for (;;) {
        const end = conn.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /\r\ncontent-length: *(\d+)/i.exec(conn.buf.slice(0, end));
        const total = end + 4 + Number(m?.[1] ?? 0);
        if (conn.buf.length < total) return;
        const status = conn.buf.slice(9, 12);
        conn.buf = conn.buf.slice(total);
        statuses[status] = (statuses[status] ?? 0) + 1;
        answered++;
        conn.busy = false;
      }
    });
  });
}

const pool = await Promise.all(Array.from({ length: connections }, open));
const t0 = performance.now();
let next = 0;
const timer = setInterval(() => {
  const due = Math.floor(((performance.now() - t0) / 1000) * rate) - sent - skipped;
  for (let i = 0; i < due; i++) {
    let conn;
    for (let k = 0; k < pool.length && !conn; k++) {
      const c = pool[(next + k) % pool.length];
      if (!c.busy) conn = c;
    }
    next++;
    // Every connection waits for an answer: the server is behind; count it rather than queue without bound.
    if (!conn) {
      skipped++;
      continue;
    }
    conn.busy = true;
    conn.socket.write(request(), 'latin1');
    sent++;
  }
}, 2);

process.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  process.send({ sent, answered, skipped, statuses, seconds }, () => {
    for (const c of pool) c.socket.destroy();
    process.exit(0);
  });
});
process.send('ready');
