// Writes and reads a key on the current master of "mymaster", found through
// the raftsentinel monitors by ioredis (the `sentinels` option).
//
//   examples/local/start.sh
//   npm install ioredis && node examples/clients/ioredis/client.mjs
//
// RAFTSENTINEL_SENTINELS (host:port,...) overrides the monitors of
// examples/local (127.0.0.1:26379-26381).
import Redis from "ioredis";

const sentinels = (process.env.RAFTSENTINEL_SENTINELS ?? "127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381")
  .split(",")
  .map((addr) => {
    const i = addr.lastIndexOf(":");
    return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
  });

// On failover: when its connection to the master breaks, ioredis asks the
// monitors for the master's address again (trying them in turn; a monitor
// cut off from the others answers -NOQUORUM) and reconnects; commands issued
// meanwhile wait in its offline queue and go to the new master. With
// failoverDetector it also follows +switch-master from the monitors, so it
// leaves an old master that is still up without waiting for an error.
// reconnectOnError: a write that reaches the old master after it was demoted
// gets READONLY; returning 2 reconnects (to the new master) and sends the
// command again.
const redis = new Redis({
  sentinels,
  name: "mymaster",
  // sentinelPassword: "...",   // requirepass of the monitors, if set
  // password: "...",           // of the Redis nodes, if they need AUTH
  failoverDetector: true,
  reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
});

// Which master answers, as the monitors say.
const sentinel = new Redis(sentinels[0]);

try {
  await redis.set("greeting", "hello from ioredis");
  const value = await redis.get("greeting");
  const [host, port] = await sentinel.call("SENTINEL", "get-master-addr-by-name", "mymaster");
  console.log(`master ${host}:${port}: greeting=${value}`);
} finally {
  redis.disconnect();
  sentinel.disconnect();
}
