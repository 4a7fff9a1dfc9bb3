#!/usr/bin/env bash
# Installs the given Debian packages when their programs are missing.
# Usage: ensure-deps.sh redis-server redis-sentinel redis-tools
set -euo pipefail
declare -A prog=([redis-server]=redis-server [redis-sentinel]=redis-sentinel [redis-tools]=redis-cli [python3-redis]=python3
  [prometheus]=promtool [systemd]=systemd-analyze)
missing=()
for p in "$@"; do
  bin=${prog[$p]:-$p}
  if [ "$p" = python3-redis ]; then
    /usr/bin/python3 -c 'import redis' 2>/dev/null || missing+=("$p")
  elif ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/bin/$bin" ]; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]}. Install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
# Debian starts the packaged services; the project runs its own processes.
for s in redis-server redis-sentinel prometheus prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$s" 2>/dev/null || true; fi
  service "$s" stop >/dev/null 2>&1 || true
done
