// WebSocket peers for the proxy's tunnel test (npm's `ws`).
//
//   node proxy_ws.js server PORT       echo server; also pushes "tick N"
//                                      to each client every 100 ms
//   node proxy_ws.js client URL HOST   echoes text and binary messages of
//                                      several sizes through URL (Host
//                                      header HOST), waits for server
//                                      pushes, prints one line per check
'use strict';
const crypto = require('crypto');
const WebSocket = require('ws');

const [mode, arg, host] = process.argv.slice(2);

if (mode === 'server') {
	const wss = new WebSocket.Server({ host: '127.0.0.1', port: +arg });
	wss.on('connection', (ws) => {
		let n = 0;
		const t = setInterval(() => ws.send('tick ' + n++), 100);
		ws.on('message', (data, binary) => ws.send(data, { binary }));
		ws.on('close', () => clearInterval(t));
	});
	wss.on('listening', () => console.log('listening'));
} else {
	const ws = new WebSocket(arg, { headers: { Host: host } });
	const sizes = [1, 125, 126, 65535, 65536, 1 << 20];
	const pending = new Map();
	let ticks = 0, echoed = 0, sent = 0;
	const done = (ok, what) => {
		console.log((ok ? 'ok ' : 'FAIL ') + what);
	};
	const timer = setTimeout(() => {
		done(false, `timeout: echoed ${echoed}/${sent}, ticks ${ticks}`);
		process.exit(1);
	}, 20000);
	ws.on('open', () => {
		for (let i = 0; i < 50; i++) {
			const text = 'message ' + i;
			pending.set(text, true);
			ws.send(text);
			sent++;
		}
		for (const n of sizes) {
			const b = crypto.randomBytes(n);
			pending.set(crypto.createHash('sha256').update(b)
			    .digest('hex'), true);
			ws.send(b);
			sent++;
		}
	});
	ws.on('message', (data, binary) => {
		let key;
		if (!binary && data.toString().startsWith('tick ')) {
			ticks++;
		} else {
			key = binary ? crypto.createHash('sha256').update(data)
			    .digest('hex') : data.toString();
			if (pending.delete(key))
				echoed++;
		}
		if (echoed === sent && ticks >= 5) {
			clearTimeout(timer);
			done(true, `echo ${echoed} messages`);
			done(true, `server pushed ${ticks} messages`);
			ws.close(1000, 'bye');
		}
	});
	ws.on('close', (code) => {
		done(code === 1000, 'closed cleanly ' + code);
		process.exit(0);
	});
	ws.on('error', (e) => {
		done(false, 'error ' + e.message);
		process.exit(1);
	});
}
