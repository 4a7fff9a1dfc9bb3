// ioredis (5.x or 6.x, chosen by --pkg) under a master failover, driven by
// internal/clients (go test); see lib.mjs for the protocol.
//
//   node ioredis_failover.mjs --pkg ioredis6 --sentinels 127.0.0.1:26379,... [--failover-detector]
//
// The client is built with ioredis' defaults (ioredis 6: protocol 3, so
// HELLO 3 on sentinel and data connections; ioredis 5: RESP2), only
// failoverDetector is switchable: with it, ioredis also keeps SUBSCRIBE
// +switch-master connections to the sentinels.

import { createRequire } from 'node:module';
import { args, control, emit, errText, run, writeLoop } from './lib.mjs';

const opt = args(['failover-detector']);
const require = createRequire(import.meta.url);
const Redis = require(opt.pkg);
const version = require(`${opt.pkg}/package.json`).version;

run(async () => {
  const ctl = control();
  const redis = new Redis({
    sentinels: opt.sentinelNodes,
    name: opt.name,
    failoverDetector: opt['failover-detector'],
  });
  emit('log', { msg: `ioredis ${version} failoverDetector=${opt['failover-detector']}` });
  redis.on('error', (e) => emit('log', { msg: `error event: ${errText(e)}` }));
  redis.on('ready', () => {
    const s = redis.stream;
    emit('log', { msg: `ready on ${s?.remoteAddress}:${s?.remotePort}` });
  });
  const last = await writeLoop(ctl, (k, v) => redis.set(k, v));
  redis.disconnect();
  return last;
});
