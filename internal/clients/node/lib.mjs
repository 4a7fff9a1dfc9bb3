// The line protocol between a Node.js client script and internal/clients
// (go test): JSON lines on stdout, "killed" / "stop" lines on stdin.
//
//   {"ev":"ack","n":7,"after":false}   write 7 acknowledged
//   {"ev":"err","n":8,"msg":"..."}     an attempt of write 8 failed
//   {"ev":"log","msg":"..."}           anything worth showing on failure
//   {"ev":"done","last":42}            stopped cleanly (exit status 0)
//   {"ev":"fatal","msg":"..."}         gave up (exit status 1)

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';

// Gap between two write attempts, ms.
const PACE_MS = 10;
// One write attempt is abandoned (and retried) after this long, ms.
const ATTEMPT_MS = 5000;
// The script gives up when not told to stop within this long, ms.
const LIFETIME_MS = 150_000;

export function emit(ev, fields = {}) {
  // Writes to a pipe are synchronous on Linux, so nothing is lost on exit.
  process.stdout.write(JSON.stringify({ ev, ...fields }) + '\n');
}

export function errText(e) {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

// args parses --sentinels host:port,... --pkg <npm alias> --name <master>
// plus the boolean flags the caller names.
export function args(flags = []) {
  const options = {
    sentinels: { type: 'string' },
    pkg: { type: 'string' },
    name: { type: 'string', default: 'mymaster' },
  };
  for (const f of flags) options[f] = { type: 'boolean', default: false };
  const { values } = parseArgs({ options });
  if (!values.sentinels || !values.pkg) {
    throw new Error('usage: --sentinels host:port,... --pkg <package> [--name mymaster]');
  }
  values.sentinelNodes = values.sentinels.split(',').map((a) => {
    const i = a.lastIndexOf(':');
    return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  });
  return values;
}

// control follows the test's commands on stdin. EOF means stop.
export function control() {
  const ctl = { killed: false, stopping: false };
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const word = line.trim();
    if (word === 'killed') ctl.killed = true;
    if (word === 'stop') ctl.stopping = true;
  });
  rl.on('close', () => { ctl.stopping = true; });
  return ctl;
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// writeLoop writes seq:n = n with set(key, value) one at a time until
// told to stop, retrying a failed write with the same n. It returns the
// last acknowledged n.
export async function writeLoop(ctl, set) {
  const started = Date.now();
  let n = 1;
  while (!ctl.stopping) {
    if (Date.now() - started > LIFETIME_MS) {
      throw new Error(`not told to stop within ${LIFETIME_MS} ms`);
    }
    const after = ctl.killed;
    try {
      await withTimeout(set(`seq:${n}`, String(n)), ATTEMPT_MS);
      emit('ack', { n, after });
      n++;
    } catch (e) {
      emit('err', { n, msg: errText(e) });
    }
    await delay(PACE_MS);
  }
  return n - 1;
}

// run runs main, reports its outcome and exits (client libraries may keep
// timers alive after close).
export function run(main) {
  main().then(
    (last) => { emit('done', { last }); process.exit(0); },
    (e) => { emit('fatal', { msg: errText(e) }); process.exit(1); },
  );
}
