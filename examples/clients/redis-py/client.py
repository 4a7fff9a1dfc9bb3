#!/usr/bin/env python3
"""Writes and reads a key on the current master of "mymaster", found through
the raftsentinel monitors by redis-py's Sentinel.master_for.

    examples/local/start.sh
    python3 examples/clients/redis-py/client.py     # Debian: apt-get install python3-redis

RAFTSENTINEL_SENTINELS (host:port,...) overrides the monitors of
examples/local (127.0.0.1:26379-26381).
"""

import os

from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

addrs = os.environ.get("RAFTSENTINEL_SENTINELS", "127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381")
sentinels = [(host, int(port)) for host, port in (a.rsplit(":", 1) for a in addrs.split(","))]

# sentinel_kwargs={"password": "..."} if the monitors have a requirepass.
sentinel = Sentinel(sentinels, socket_timeout=0.5)

# On failover: the client asks the monitors for the master's address whenever
# it opens a connection, and drops its pooled connections when that address
# changes. A command on a connection to the old master fails: with a
# connection error if it died, or, once the old master has been demoted to a
# replica, with READONLY, which redis-py turns into ConnectionError("The
# previous master is now a slave"). With retry/retry_on_error below the
# command is sent again on a new connection, to the master the monitors now
# name; a monitor cut off from the others answers -NOQUORUM and redis-py asks
# the next one. After the last retry the error reaches the caller: the write
# may or may not have been applied.
master = sentinel.master_for(
    "mymaster",
    socket_timeout=0.5,
    retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 10),
    retry_on_error=[ConnectionError, TimeoutError],
)

master.set("greeting", "hello from redis-py")
value = master.get("greeting").decode()
host, port = sentinel.discover_master("mymaster")
print("master %s:%d: greeting=%s" % (host, port, value))
