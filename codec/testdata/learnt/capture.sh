#!/bin/sh
# Captures the replies of a redis-server with a module loaded (jsonlike.c, whose commands look
# like RedisJSON's) for codec's learnt-command tests. Needs redis-server, python3, a C compiler
# and REDISMODULE_H pointing at redismodule.h from Redis's source (src/redismodule.h).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
cp "${REDISMODULE_H:?set REDISMODULE_H to Redis's src/redismodule.h}" "$tmp/redismodule.h"
cc -shared -fPIC -O1 -I"$tmp" -o "$tmp/jsonlike.so" jsonlike.c
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loadmodule "$tmp/jsonlike.so" >/dev/null &
pid=$!
trap 'kill $pid; rm -rf "$tmp"' EXIT
for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
redis-server --version > server.txt
python3 capture.py "$port"
