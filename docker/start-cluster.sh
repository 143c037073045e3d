#!/usr/bin/env bash
# start-cluster.sh [--local] [--scale] [--timeout SECONDS]
#
# Docker (default): builds the images when missing (build-images.sh: nothing is pulled), runs
# docker-compose up -d, waits until every node reports cluster_state:ok and slotgate answers
# PING and a SET/GET on 22121, then prints where things are. --scale adds
# docker-compose.scale.yml (a second slotgate on 22131 and HAProxy on 22120 in front of both).
#
# --local: the same cluster and slotgate as processes, for machines without Docker: the
# repository's devcluster harness (masters 7000/7002/7004, replicas 7001/7003/7005, AOF, 2gb
# allkeys-lru, the password) with slotgate under it, in the background; PID file and logs in
# docker/.local. Needs go and redis-server on this host.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MODE=docker
timeout=120
while (($#)); do
	case $1 in
	--local) MODE=local ;;
	--scale) SCALE=1 ;;
	--timeout) timeout=$2; shift ;;
	-h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "start-cluster: unknown argument $1 (--local, --scale, --timeout SECONDS)" >&2; exit 2 ;;
	esac
	shift
done
t0=$(date +%s%N)
deadline=$((SECONDS + timeout))

fail() {
	echo "start-cluster: $*" >&2
	if [[ $MODE == docker ]]; then
		echo "--- docker-compose ps" >&2
		compose ps >&2 || true
		echo "--- redis-cluster-init log" >&2
		compose logs --no-color --tail 30 redis-cluster-init >&2 || true
		echo "--- slotgate log" >&2
		compose logs --no-color --tail 30 slotgate >&2 || true
	else
		echo "--- $LOCAL_DIR/devcluster.log" >&2
		tail -n 30 "$LOCAL_DIR/devcluster.log" >&2 || true
	fi
	exit 1
}

# The init container's fate, while waiting: exited non-zero means the cluster will not form.
init_failed() {
	[[ $MODE == docker ]] || return 1
	local id st
	id=$(compose ps -q redis-cluster-init 2>/dev/null) || return 1
	[[ -n $id ]] || return 1
	st=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id" 2>/dev/null) || return 1
	[[ $st == "exited "* && $st != "exited 0" ]]
}

local_alive() {
	[[ $MODE == local ]] || return 0
	pid_alive "$LOCAL_DIR/devcluster.pid" devcluster
}

# alive: fails the start when what it waits for cannot come (devcluster gone, the init failed,
# a container restarting over and over).
alive() {
	local_alive || fail "devcluster exited"
	[[ $MODE == docker ]] || return 0
	init_failed && fail "the one-shot redis-cluster-init failed"
	local ids crashing
	ids=$(compose ps -q 2>/dev/null) || return 0
	[[ -n $ids ]] || return 0
	# shellcheck disable=SC2086
	crashing=$(docker inspect -f '{{.Name}} {{.RestartCount}}' $ids 2>/dev/null | awk '$2 >= 3 { sub("^/", "", $1); print $1 }')
	[[ -z $crashing ]] || fail "restarting over and over: $crashing (docker logs $crashing)"
}

wait_ready() {
	local p info
	for p in "${PORTS[@]}"; do
		while :; do
			info=$(rcli "$p" cluster info 2>/dev/null | tr -d '\r') || true
			[[ $info == *cluster_state:ok* && $info == *cluster_known_nodes:6* ]] && break
			alive
			((SECONDS < deadline)) || fail "127.0.0.1:$p did not reach cluster_state:ok with 6 nodes in ${timeout}s"
			sleep 0.5
		done
	done
	# Replicas in sync with their masters (a replica that never synced may not fail over).
	for p in 7001 7003 7005; do
		while [[ $(rcli "$p" info replication 2>/dev/null | tr -d '\r') != *master_link_status:up* ]]; do
			alive
			((SECONDS < deadline)) || fail "replica 127.0.0.1:$p is not linked to its master after ${timeout}s"
			sleep 0.5
		done
	done
	local probe=slotgate:start-cluster:$$
	while [[ $(rcli "$SLOTGATE_PORT" ping 2>/dev/null) != PONG ]]; do
		alive
		((SECONDS < deadline)) || fail "slotgate on 127.0.0.1:$SLOTGATE_PORT does not answer PING after ${timeout}s"
		sleep 0.5
	done
	# A write and a read through slotgate (retried: slotgate's first topology may be young).
	while [[ $(rcli "$SLOTGATE_PORT" set "$probe" ok ex 60 2>&1) != OK || $(rcli "$SLOTGATE_PORT" get "$probe" 2>&1) != ok ]]; do
		((SECONDS < deadline)) || fail "SET/GET through slotgate on 127.0.0.1:$SLOTGATE_PORT fail after ${timeout}s: $(rcli "$SLOTGATE_PORT" set "$probe" ok 2>&1)"
		sleep 0.5
	done
	rcli "$SLOTGATE_PORT" del "$probe" >/dev/null
	if [[ ${SCALE:-0} == 1 ]]; then
		while [[ $(rcli 22131 ping 2>/dev/null) != PONG || $(rcli 22120 ping 2>/dev/null) != PONG ]]; do
			alive
			((SECONDS < deadline)) || fail "the second slotgate (22131) or HAProxy (22120) do not answer PING after ${timeout}s"
			sleep 0.5
		done
	fi
}

if [[ $MODE == docker ]]; then
	command -v docker >/dev/null || { echo "start-cluster: docker is not installed; ./start-cluster.sh --local runs the cluster as processes" >&2; exit 1; }
	docker info >/dev/null 2>&1 || { echo "start-cluster: no Docker daemon answers (docker info); ./start-cluster.sh --local runs the cluster as processes" >&2; exit 1; }
	missing=()
	docker image inspect "${SLOTGATE_IMAGE:-slotgate:local}" >/dev/null 2>&1 || missing+=(slotgate)
	docker image inspect "${REDIS_IMAGE:-redis:7.0}" >/dev/null 2>&1 || missing+=(redis)
	if [[ ${SCALE:-0} == 1 ]]; then
		docker image inspect "${HAPROXY_IMAGE:-haproxy:local}" >/dev/null 2>&1 || missing+=(haproxy)
	fi
	if ((${#missing[@]})); then
		echo "start-cluster: building ${missing[*]}"
		"$here/build-images.sh" "${missing[@]}"
	fi
	# ulimits nofile 65535, unless the daemon's own hard limit is lower (a daemon in a container,
	# or one with a small LimitNOFILE): runc cannot raise it, and every container would fail
	# with "error setting rlimit type 7". Then the highest the daemon allows, with a warning.
	if [[ -z ${NOFILE:-} ]]; then
		if docker run --rm --network none --ulimit nofile=65535:65535 "${REDIS_IMAGE:-redis:7.0}" true >/dev/null 2>&1; then
			NOFILE=65535
		else
			NOFILE=$(docker run --rm --network none "${REDIS_IMAGE:-redis:7.0}" sh -c 'ulimit -Hn')
			echo "start-cluster: the Docker daemon's open-file limit is $NOFILE, below 65535: containers get nofile $NOFILE (raise LimitNOFILE of docker.service for 65535)"
		fi
		export NOFILE
	fi
	compose up -d
	wait_ready
else
	mkdir -p "$LOCAL_DIR"
	if pid_alive "$LOCAL_DIR/devcluster.pid" devcluster; then
		echo "start-cluster: already running (devcluster pid $(<"$LOCAL_DIR/devcluster.pid")); ./stop-cluster.sh --local stops it"
	else
		command -v redis-server >/dev/null || { echo "start-cluster: redis-server is needed: apt-get install -y redis-server redis-tools" >&2; exit 1; }
		(cd "$root" && ${GO:-go} build -o bin/slotgate ./cmd/slotgate && ${GO:-go} build -o bin/devcluster ./internal/cmd/devcluster)
		# setsid: its own session, so the terminal's Ctrl-C does not reach it; devcluster stops
		# the servers it started (and slotgate) when it gets SIGTERM from stop-cluster.sh.
		setsid "$root/bin/devcluster" -ports 7000-7005 -password "$PASSWORD" -dir "$LOCAL_DIR/cluster" -- \
			"$root/bin/slotgate" -listen "127.0.0.1:$SLOTGATE_PORT" -admin "127.0.0.1:$SLOTGATE_ADMIN_PORT" \
			-cluster 127.0.0.1:7000,127.0.0.1:7002,127.0.0.1:7004 -backend-password "$PASSWORD" \
			</dev/null >"$LOCAL_DIR/devcluster.log" 2>&1 &
		echo $! >"$LOCAL_DIR/devcluster.pid"
	fi
	wait_ready
fi

echo "start-cluster: ready in $(ms_since "$t0") ms"
cat <<MSG
  Redis Cluster  masters 127.0.0.1:7000 7002 7004, replicas 7001 7003 7005, password $PASSWORD
  slotgate       127.0.0.1:$SLOTGATE_PORT (redis-cli -p $SLOTGATE_PORT), metrics http://127.0.0.1:$SLOTGATE_ADMIN_PORT/metrics
MSG
if [[ ${SCALE:-0} == 1 ]]; then
	echo "  slotgate-2     127.0.0.1:22131, metrics http://127.0.0.1:22132/metrics"
	echo "  HAProxy        127.0.0.1:22120 in front of both (stats http://127.0.0.1:22190/)"
fi
if [[ $MODE == docker ]]; then
	echo "  status         ./monitor-cluster.sh   (watch -n 5 ./monitor-cluster.sh)"
	echo "  a node         docker-compose exec redis-7000 redis-cli -p 7000 -a '$PASSWORD' cluster info"
	echo "  stop           ./stop-cluster.sh (data kept); docker-compose down -v drops the data"
else
	echo "  processes      devcluster pid $(<"$LOCAL_DIR/devcluster.pid"), log $LOCAL_DIR/devcluster.log"
	echo "  status         ./monitor-cluster.sh --local"
	echo "  stop           ./stop-cluster.sh --local"
fi
