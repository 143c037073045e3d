#!/bin/sh
# cluster-init.sh: run once by the redis-cluster-init service (in the Redis image, which has
# dash, sleep and redis-cli). Makes the six nodes one cluster, deterministically: masters on
# 7000, 7002, 7004 (slots 0-5460, 5461-10922, 10923-16383), then 7001 the replica of 7000,
# 7003 of 7002, 7005 of 7004. A cluster that already exists (a restart with its volumes) is
# left as it is.
set -eu
pw=${REDIS_PASSWORD:-A12345!}
host=${CLUSTER_HOST:-127.0.0.1}
cli() {
	port=$1
	shift
	redis-cli -h "$host" -p "$port" -a "$pw" --no-auth-warning "$@"
}
# (no grep in the image: case does the matching)
state_ok() {
	case $(cli "$1" cluster info 2>/dev/null) in
	*cluster_state:ok*) return 0 ;;
	esac
	return 1
}

for p in 7000 7001 7002 7003 7004 7005; do
	i=0
	until [ "$(cli "$p" ping 2>/dev/null)" = PONG ]; do
		i=$((i + 1))
		if [ "$i" -gt 300 ]; then
			echo "cluster-init: $host:$p does not answer PING" >&2
			exit 1
		fi
		sleep 0.2
	done
done

# Nodes restarted with their volumes (nodes.conf) find each other again by themselves: wait
# for that rather than create anything.
formed=""
for p in 7000 7001 7002 7003 7004 7005; do
	case $(cli "$p" cluster info) in
	*cluster_known_nodes:1[!0-9]*) ;;
	*) formed=$p ;;
	esac
done
if [ -n "$formed" ]; then
	i=0
	until state_ok 7000; do
		i=$((i + 1))
		if [ "$i" -gt 600 ]; then
			echo "cluster-init: the nodes already know each other ($host:$formed does) but the cluster is not ok after 60s; not touching it" >&2
			echo "  (docker-compose down -v && ./start-cluster.sh starts afresh)" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "cluster-init: the cluster already exists (cluster_state:ok); nothing to do"
	exit 0
fi

echo "cluster-init: masters 7000 7002 7004"
redis-cli -a "$pw" --no-auth-warning --cluster create \
	"$host:7000" "$host:7002" "$host:7004" --cluster-replicas 0 --cluster-yes
for pair in 7000:7001 7002:7003 7004:7005; do
	m=${pair%:*} r=${pair#*:}
	id=$(cli "$m" cluster myid)
	echo "cluster-init: $r replica of $m ($id)"
	redis-cli -a "$pw" --no-auth-warning --cluster add-node \
		"$host:$r" "$host:$m" --cluster-slave --cluster-master-id "$id"
done

i=0
for p in 7000 7001 7002 7003 7004 7005; do
	until state_ok "$p"; do
		i=$((i + 1))
		if [ "$i" -gt 600 ]; then
			echo "cluster-init: $host:$p did not reach cluster_state:ok" >&2
			exit 1
		fi
		sleep 0.1
	done
done
echo "cluster-init: cluster_state:ok on all six nodes"
