#!/usr/bin/env bash
# mkimage-redis.sh: the Redis image the compose file runs (${REDIS_IMAGE:-redis:7.0}), built
# without a registry from this host's redis-server and redis-cli (apt-get install redis-server
# redis-tools), the libraries ldd names, a minimal /etc, and dash and sleep for the one-shot
# cluster-creation script. A few seconds; nothing is pulled.
#
#   ./mkimage-redis.sh [TAG]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/hostimage.sh"

tag=${1:-${REDIS_IMAGE:-redis:7.0}}
server=$(command -v redis-server || true)
cli=$(command -v redis-cli || true)
if [[ -z $server || -z $cli ]]; then
	echo "mkimage-redis: redis-server and redis-cli are needed on this host: apt-get install -y redis-server redis-tools" >&2
	exit 1
fi
t0=$(date +%s%N)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/data"
# Debian's redis-server is a symlink to redis-check-rdb, which picks its role from argv[0]:
# copied under the name redis-server it is the server.
host_image "$tag" "$rootfs" \
	'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
	'WORKDIR /data' \
	'EXPOSE 6379' \
	'CMD ["redis-server"]' \
	-- \
	/usr/local/bin/redis-server="$server" \
	/usr/local/bin/redis-cli="$cli" \
	/bin/sh="$(command -v dash || command -v sh)" \
	/bin/sleep="$(command -v sleep)"
version=$(docker run --rm --network none "$tag" redis-server --version)
echo "mkimage-redis: $tag built in $(( ($(date +%s%N) - t0) / 1000000 )) ms ($version)"
