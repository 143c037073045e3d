#!/usr/bin/env bash
# monitor-cluster.sh [--local]: one screen of status, fine under `watch -n 5 ./monitor-cluster.sh`:
# the cluster's state, each node's role (and its master), memory, keys and ops/s, and each
# slotgate's clients, requests and redirects from its admin /metrics. --local: the processes of
# start-cluster.sh --local (the host's redis-cli is then needed). Exits 1 when the cluster is
# not ok or a node or slotgate does not answer.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MODE=docker
case ${1:-} in
--local) MODE=local ;;
"") ;;
-h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "monitor-cluster: unknown argument $1 (--local)" >&2; exit 2 ;;
esac

status=0
# field NAME: the value of NAME: in $info (INFO output, \r removed).
field() { awk -v k="$1" 'index($0, k ":") == 1 { print substr($0, length(k) + 2); exit }' <<<"$info"; }

echo "Redis Cluster ($MODE)  $(date '+%F %T')"
state="" 
for p in "${PORTS[@]}"; do
	if info=$(rcli "$p" cluster info 2>/dev/null | tr -d '\r') && [[ -n $info ]]; then
		state=$(field cluster_state)
		printf '  cluster_state:%s (seen by 127.0.0.1:%s)  known nodes %s  slots ok %s pfail %s fail %s  epoch %s\n' \
			"$state" "$p" "$(field cluster_known_nodes)" "$(field cluster_slots_ok)" "$(field cluster_slots_pfail)" \
			"$(field cluster_slots_fail)" "$(field cluster_current_epoch)"
		break
	fi
done
[[ $state == ok ]] || { [[ -n $state ]] || echo "  no node answers"; status=1; }

printf '  %-15s %-7s %-15s %-5s %10s %10s %10s %7s\n' NODE ROLE MASTER LINK MEMORY MAXMEMORY KEYS OPS/S
for p in "${PORTS[@]}"; do
	node=127.0.0.1:$p
	if ! info=$(rcli "$p" info 2>/dev/null | tr -d '\r') || [[ $info != *redis_version* ]]; then
		printf '  %-15s %-7s\n' "$node" down
		status=1
		continue
	fi
	role=$(field role) master=- link=-
	if [[ $role == slave ]]; then
		role=replica
		master=$(field master_host):$(field master_port)
		link=$(field master_link_status)
	fi
	keys=$(sed -n 's/^db0:keys=\([0-9]*\).*/\1/p' <<<"$info")
	printf '  %-15s %-7s %-15s %-5s %10s %10s %10s %7s\n' "$node" "$role" "$master" "$link" \
		"$(field used_memory_human)" "$(field maxmemory_human)" "${keys:-0}" "$(field instantaneous_ops_per_sec)"
done

# metric NAME: the value of the sample NAME in $metrics (0 when absent).
metric() { awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' <<<"$metrics"; }

slotgates=("$SLOTGATE_PORT:$SLOTGATE_ADMIN_PORT")
# The second slotgate of docker-compose.scale.yml, when it answers.
(exec 3<>/dev/tcp/127.0.0.1/22132) 2>/dev/null && slotgates+=("22131:22132")
for sg in "${slotgates[@]}"; do
	port=${sg%:*} admin=${sg#*:}
	if ! metrics=$(http_get 127.0.0.1 "$admin" /metrics 2>/dev/null) || [[ $metrics != *slotgate_* ]]; then
		echo "slotgate 127.0.0.1:$port: admin 127.0.0.1:$admin does not answer"
		status=1
		continue
	fi
	ping=$(rcli "$port" ping 2>/dev/null || true)
	echo "slotgate 127.0.0.1:$port (PING: ${ping:-no answer})"
	printf '  clients %s (paused %s)  backend connections %s  requests %s  redirects moved %s ask %s tryagain %s  topology changes %s\n' \
		"$(metric slotgate_client_connections)" "$(metric slotgate_clients_paused)" "$(metric slotgate_backend_connections)" \
		"$(metric slotgate_requests_total)" "$(metric 'slotgate_redirects_total{kind="moved"}')" \
		"$(metric 'slotgate_redirects_total{kind="ask"}')" "$(metric 'slotgate_redirects_total{kind="tryagain"}')" \
		"$(metric slotgate_topology_changes_total)"
	[[ $ping == PONG ]] || status=1
done
exit $status
