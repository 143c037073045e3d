#!/usr/bin/env bash
# stop-cluster.sh [--local] [-v|--volumes]
#
# Docker (default): docker-compose down for the services of docker-compose.yml and
# docker-compose.scale.yml; -v also drops the data volumes (as `docker-compose down -v`).
# --local: stops the devcluster started by start-cluster.sh --local, by the PID in its PID file
# (SIGTERM; it stops slotgate and the redis-servers it started), never by name; -v then removes
# its data directory.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MODE=docker
volumes=0
while (($#)); do
	case $1 in
	--local) MODE=local ;;
	-v | --volumes) volumes=1 ;;
	-h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "stop-cluster: unknown argument $1 (--local, -v)" >&2; exit 2 ;;
	esac
	shift
done

if [[ $MODE == docker ]]; then
	args=(down)
	((volumes)) && args+=(-v)
	SCALE=1 compose "${args[@]}"
	exit 0
fi

pidfile=$LOCAL_DIR/devcluster.pid
if pid_alive "$pidfile" devcluster; then
	pid=$(<"$pidfile")
	echo "stop-cluster: stopping devcluster pid $pid"
	kill -TERM "$pid"
	for _ in $(seq 1 150); do
		[[ -e /proc/$pid ]] || break
		sleep 0.1
	done
	if [[ -e /proc/$pid ]]; then
		echo "stop-cluster: pid $pid still running after 15s: SIGKILL (its children die with it)"
		kill -KILL "$pid" || true
	fi
else
	echo "stop-cluster: no devcluster running from $pidfile"
fi
rm -f "$pidfile"
if ((volumes)); then
	rm -rf "$LOCAL_DIR/cluster"
	echo "stop-cluster: removed $LOCAL_DIR/cluster"
fi
