# common.sh: sourced by start-cluster.sh, monitor-cluster.sh and stop-cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$here"

PASSWORD=${REDIS_PASSWORD:-A12345!}
PORTS=(7000 7001 7002 7003 7004 7005)
SLOTGATE_PORT=${SLOTGATE_PORT:-22121}
SLOTGATE_ADMIN_PORT=${SLOTGATE_ADMIN_PORT:-22122}
LOCAL_DIR=${SLOTGATE_LOCAL_DIR:-$here/.local} # --local: PID file, logs, data

# Scripts call docker-compose (v1, as the machines here have) and fall back to `docker compose`.
compose() {
	local -a files=(-f docker-compose.yml)
	[[ ${SCALE:-0} == 1 ]] && files+=(-f docker-compose.scale.yml)
	if command -v docker-compose >/dev/null; then
		docker-compose "${files[@]}" "$@"
	else
		docker compose "${files[@]}" "$@"
	fi
}

# The compose project: the environment's, else .env's (docker-compose's own order).
project() {
	local p=${COMPOSE_PROJECT_NAME:-}
	[[ -n $p ]] || p=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' .env 2>/dev/null)
	echo "${p:-docker}"
}

# node_exec SVC ARGS...: docker exec in the running container of service SVC (found by the
# labels compose v1 and v2 both set; plain docker exec is much faster than docker-compose exec).
node_exec() {
	local svc=$1 id
	shift
	id=$(docker ps -q --filter "label=com.docker.compose.project=$(project)" --filter "label=com.docker.compose.service=$svc")
	id=${id%%$'\n'*} # the first (no `| head`: an early close fails the pipe under pipefail)
	[[ -n $id ]] || return 1
	docker exec "$id" "$@"
}

# rcli PORT ARGS...: redis-cli against 127.0.0.1:PORT, the host's when it has one (and
# RCLI=container is not set), else the one in a node's container (host network: the same
# 127.0.0.1): the node's own for its port, the first that runs for slotgate's.
rcli() {
	local port=$1 svc
	shift
	if [[ ${RCLI:-} != container ]] && command -v redis-cli >/dev/null; then
		redis-cli -h 127.0.0.1 -p "$port" -a "$PASSWORD" --no-auth-warning "$@"
	elif [[ ${MODE:-docker} == docker ]]; then
		if [[ " ${PORTS[*]} " == *" $port "* ]]; then
			node_exec "redis-$port" redis-cli -h 127.0.0.1 -p "$port" -a "$PASSWORD" --no-auth-warning "$@"
			return
		fi
		for svc in "${PORTS[@]}"; do
			# Fails on a stopped container (status 1 as from redis-cli; the cost of a retry).
			node_exec "redis-$svc" redis-cli -h 127.0.0.1 -p "$port" -a "$PASSWORD" --no-auth-warning "$@" && return
		done
		return 1
	else
		echo "redis-cli is needed: apt-get install -y redis-tools" >&2
		return 1
	fi
}

# http_get HOST PORT PATH: the body, over bash's /dev/tcp (no curl needed).
http_get() {
	local host=$1 port=$2 path=$3 line
	exec 3<>"/dev/tcp/$host/$port" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
	# Skip the headers.
	while IFS= read -r line <&3; do
		[[ $line == $'\r' || -z $line ]] && break
	done
	cat <&3
	exec 3<&-
}

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# pid_alive PIDFILE NAME: the PID in the file is running and is NAME (not a reused PID).
pid_alive() {
	local file=$1 name=$2 pid
	[[ -s $file ]] || return 1
	pid=$(<"$file")
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}
