#!/usr/bin/env python3
"""redis-py Sentinel client under a master failover, driven by internal/clients.

Usage: redispy_failover.py --sentinels 127.0.0.1:26379,127.0.0.1:26380 [--name mymaster]

Writes seq:1, seq:2, ... (value = n) one at a time through
Sentinel(...).master_for(name), retrying a failed write with the same n, and
reads through slave_for(name) once after the first write ("before") and once
when told to stop ("after"). Talks to the test with JSON lines on stdout:

  {"ev": "ack", "n": 7, "after": false}    write 7 acknowledged
  {"ev": "err", "n": 8, "msg": "..."}      an attempt of write 8 failed
  {"ev": "replica", "phase": "before", "ok": true, "addr": "...", "role": "slave", "key": "seq:1"}
  {"ev": "done", "last": 42}               stopped cleanly (exit status 0)
  {"ev": "fatal", "msg": "..."}            gave up (exit status 1)

and reads lines on stdin: "killed" (the master was killed: attempts issued
from now on are "after") and "stop". EOF on stdin also stops it.
"""

import argparse
import json
import sys
import threading
import time

import redis
from redis.sentinel import Sentinel

# Socket timeouts for sentinel and data connections, seconds.
SOCKET_TIMEOUT = 0.5
# Gap between two write attempts, seconds.
PACE = 0.01
# The script gives up when not told to stop within this many seconds.
LIFETIME = 150
# A replica read is retried for this long (replication may lag).
REPLICA_READ_TIMEOUT = 15


def emit(ev, **fields):
    fields["ev"] = ev
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class Control:
    """Reads the test's commands from stdin on a daemon thread."""

    def __init__(self):
        self.killed = threading.Event()
        self.stop = threading.Event()

    def start(self):
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in sys.stdin:
            word = line.strip()
            if word == "killed":
                self.killed.set()
            elif word == "stop":
                self.stop.set()
        self.stop.set()


def server_addr(client_info):
    """The answering server's address (laddr) from CLIENT INFO."""
    if isinstance(client_info, dict):
        return client_info.get("laddr", "")
    if isinstance(client_info, bytes):
        client_info = client_info.decode()
    for field in str(client_info).split():
        if field.startswith("laddr="):
            return field[len("laddr="):]
    return ""


def replica_read(sentinel, name, phase, n):
    """Reads seq:n through slave_for until it has n; reports who answered."""
    key, want = "seq:%d" % n, str(n).encode()
    deadline = time.monotonic() + REPLICA_READ_TIMEOUT
    last = "no attempt"
    while True:
        replica = sentinel.slave_for(name, socket_timeout=SOCKET_TIMEOUT,
                                     socket_connect_timeout=SOCKET_TIMEOUT)
        try:
            # One pipeline is one connection: the three replies come from
            # the same server.
            pipe = replica.pipeline(transaction=False)
            pipe.get(key)
            pipe.execute_command("ROLE")
            pipe.execute_command("CLIENT", "INFO")
            value, role, info = pipe.execute()
            addr = server_addr(info)
            role_name = role[0].decode() if role and isinstance(role[0], bytes) else str(role[0])
            if value == want:
                emit("replica", phase=phase, ok=True, addr=addr, role=role_name, key=key)
                return
            last = "GET %s = %r on %s (role %s)" % (key, value, addr, role_name)
        except redis.RedisError as e:
            last = "%s: %s" % (type(e).__name__, e)
        finally:
            replica.connection_pool.disconnect()
        if time.monotonic() > deadline:
            emit("replica", phase=phase, ok=False, key=key, msg=last)
            return
        time.sleep(0.05)  # poll period, bounded by the deadline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentinels", required=True, help="host:port,host:port,...")
    ap.add_argument("--name", default="mymaster")
    args = ap.parse_args()
    addrs = []
    for a in args.sentinels.split(","):
        host, port = a.rsplit(":", 1)
        addrs.append((host, int(port)))

    ctl = Control()
    ctl.start()
    # Sentinel connections get the socket_* options only (redis-py's
    # default sentinel_kwargs), so they send nothing but SENTINEL commands.
    sentinel = Sentinel(addrs, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    master = sentinel.master_for(args.name, socket_timeout=SOCKET_TIMEOUT,
                                 socket_connect_timeout=SOCKET_TIMEOUT)
    emit("log", msg="redis-py %s" % redis.__version__)

    started = time.monotonic()
    n, replica_before_done = 1, False
    while not ctl.stop.is_set():
        if time.monotonic() - started > LIFETIME:
            emit("fatal", msg="not told to stop within %ds" % LIFETIME)
            return 1
        after = ctl.killed.is_set()
        try:
            master.set("seq:%d" % n, str(n))
        except redis.RedisError as e:
            emit("err", n=n, msg="%s: %s" % (type(e).__name__, e))
            time.sleep(PACE)
            continue
        emit("ack", n=n, after=after)
        if not replica_before_done:
            replica_read(sentinel, args.name, "before", n)
            replica_before_done = True
        n += 1
        time.sleep(PACE)
    last = n - 1
    replica_read(sentinel, args.name, "after", last)
    master.connection_pool.disconnect()
    emit("done", last=last)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report anything unexpected as a line, then fail
        emit("fatal", msg="%s: %s" % (type(e).__name__, e))
        sys.exit(1)
