#!/usr/bin/env bash
# Brings up, by hand, what a real deployment runs: a Redis master (6380), a
# replica (6381) and three monitors (Sentinel protocol on 26379-26381).
# Usage: ./start.sh        start everything (logs and data under ./data)
#        ./start.sh stop   stop everything and remove ./data
# Then: redis-cli -p 26379 SENTINEL get-master-addr-by-name mymaster
#       kill the master:  kill -9 $(cat data/redis-6380.pid)
set -euo pipefail
cd "$(dirname "$0")"
root=../..
bin=$root/bin/raftsentinel

if [ "${1:-}" = stop ]; then
  for f in data/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  redis-cli -p 6380 shutdown nosave 2>/dev/null || true
  redis-cli -p 6381 shutdown nosave 2>/dev/null || true
  rm -rf data
  exit 0
fi

command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server redis-tools" >&2; exit 1; }
[ -x "$bin" ] || (cd "$root" && make build)
mkdir -p data
redis-server --port 6380 --bind 127.0.0.1 --dir "$PWD/data" --save '' --appendonly no \
  --dbfilename m.rdb --daemonize yes --pidfile "$PWD/data/redis-6380.pid" --logfile "$PWD/data/redis-6380.log"
redis-server --port 6381 --bind 127.0.0.1 --dir "$PWD/data" --save '' --appendonly no \
  --dbfilename r.rdb --replicaof 127.0.0.1 6380 --daemonize yes --pidfile "$PWD/data/redis-6381.pid" --logfile "$PWD/data/redis-6381.log"
for i in 1 2 3; do
  "$bin" run --config "m$i.yaml" >"data/m$i.log" 2>&1 &
  echo $! >"data/m$i.pid"
done
echo "started. monitors: 127.0.0.1:26379 26380 26381; master 6380, replica 6381; logs in $PWD/data"
echo "try: redis-cli -p 26379 SENTINEL get-master-addr-by-name mymaster"
