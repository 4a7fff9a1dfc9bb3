// node-redis createSentinel (redis 5.x or 6.x, chosen by --pkg) under a
// master failover, driven by internal/clients (go test); see lib.mjs for the
// protocol.
//
//   node node_redis_failover.mjs --pkg redis6 --sentinels 127.0.0.1:26379,...
//
// The sentinel is built with node-redis' defaults: redis 5 sends no HELLO
// (RESP2), redis 6 sends HELLO 3 to sentinels and data nodes.

import { createRequire } from 'node:module';
import { args, control, emit, errText, run, writeLoop } from './lib.mjs';

const opt = args();
const require = createRequire(import.meta.url);
const { createSentinel } = require(opt.pkg);
const version = require(`${opt.pkg}/package.json`).version;

run(async () => {
  const ctl = control();
  const sentinel = createSentinel({ name: opt.name, sentinelRootNodes: opt.sentinelNodes });
  emit('log', { msg: `node-redis ${version}` });
  sentinel.on('error', (e) => emit('log', { msg: `error event: ${errText(e)}` }));
  sentinel.on('topology-change', (ev) => emit('log', { msg: `topology-change ${JSON.stringify(ev)}` }));
  // node-redis' own trace of its observe/analyze/transform steps; the test
  // prints the newest lines when it fails. Per-command lines are left out.
  sentinel.setTracer({
    push: (msg) => {
      if (!String(msg).startsWith('attemping to send command')) emit('log', { msg: `trace: ${msg}` });
    },
  });
  await sentinel.connect();
  const last = await writeLoop(ctl, (k, v) => sentinel.set(k, v));
  await sentinel.destroy();
  return last;
});
