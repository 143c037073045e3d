#!/bin/sh
# Refreshes the command dump (command.resp2/3, docs.resp2/3) from a throw-away local redis-server,
# then regenerates table_gen.go and table_gen_test.go. Run from anywhere; needs redis-server on PATH.
# To dump an already running server instead: cd codec && go run ./internal/gencommands -dump HOST:PORT
set -eu
cd "$(dirname "$0")/../.."
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pid=$!
trap 'kill $pid' EXIT
for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
redis-server --version
go run ./internal/gencommands -dump "127.0.0.1:$port"
