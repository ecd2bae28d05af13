// The Node peer of bench/run.py: the `ws` server a JavaScript instructor would run.
//
//   node bench/relay.js        -> prints "READY <port>", serves 127.0.0.1 until SIGTERM or stdin EOF
//
// /echo echoes every frame. /room/NAME?name=WHO is a chat room: each text frame is
// parsed as JSON, stamped (room, seq, sender, timestamp) like wslab's hub does,
// stringified once and sent to every member. No permessage-deflate (ws's default).
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });
const rooms = new Map(); // path -> { members: Set, seq: number }

wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    return;
  }
  const name = url.searchParams.get('name') || 'anonymous';
  let room = rooms.get(url.pathname);
  if (!room) { room = { members: new Set(), seq: 0 }; rooms.set(url.pathname, room); }
  room.members.add(ws);
  ws.on('close', () => room.members.delete(ws));
  ws.on('message', (data, isBinary) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch (e) {
      ws.send(JSON.stringify({ type: 'error', code: 'bad-json', message: String(e.message) }));
      return;
    }
    if (!msg || msg.type !== 'chat' || typeof msg.content !== 'string') {
      ws.send(JSON.stringify({ type: 'error', code: 'bad-type', message: 'expected a chat frame' }));
      return;
    }
    room.seq += 1;
    const out = { type: 'chat', room: url.pathname.slice(6), seq: room.seq, sender: name,
      content: msg.content, timestamp: new Date().toISOString() };
    if (msg.id !== undefined) out.id = msg.id;
    const frame = Buffer.from(JSON.stringify(out)); // encoded once per message, not per receiver
    for (const member of room.members) {
      if (member.readyState === WebSocket.OPEN) member.send(frame, { binary: false });
    }
  });
});

server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
const stop = () => { wss.clients.forEach((c) => c.terminate()); server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
setTimeout(stop, 900 * 1000).unref(); // stop by itself, whatever happens to the benchmark
