#!/usr/bin/env bash
# build-images.sh [slotgate|redis|haproxy]...: the images docker-compose.yml runs, built here
# without a registry (`make docker-images` runs it with no argument: slotgate and redis).
#   slotgate  ${SLOTGATE_IMAGE:-slotgate:local}: the static binary (CGO_ENABLED=0) built by go
#             on this host, in an image FROM scratch (docker/Dockerfile).
#   redis     ${REDIS_IMAGE:-redis:7.0}: this host's redis-server and redis-cli (mkimage-redis.sh).
#   haproxy   ${HAPROXY_IMAGE:-haproxy:local}: this host's haproxy (mkimage-haproxy.sh), for
#             docker-compose.scale.yml.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
(($#)) || set -- slotgate redis
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
for what in "$@"; do
	t0=$(date +%s%N)
	case $what in
	slotgate)
		tag=${SLOTGATE_IMAGE:-slotgate:local}
		go=${GO:-go}
		if ! command -v "$go" >/dev/null; then
			echo "build-images: go is needed to build slotgate (or use docker/Dockerfile.golang where a registry answers)" >&2
			exit 1
		fi
		mkdir -p "$here/build"
		(cd "$root" && CGO_ENABLED=0 "$go" build -trimpath -ldflags='-s -w' -o "$here/build/slotgate" ./cmd/slotgate)
		# Output only on failure: where buildx is absent the legacy builder's deprecation
		# notice is noise.
		old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
		if ! out=$(docker build -q -t "$tag" -f "$here/Dockerfile" "$here/build" 2>&1); then
			echo "$out" >&2
			exit 1
		fi
		# The image a rebuild left untagged, unless a container still uses it.
		if [[ -n $old && $old != "$(docker image inspect -f '{{.Id}}' "$tag")" ]]; then
			docker rmi "$old" >/dev/null 2>&1 || true
		fi
		echo "build-images: $tag built in $(ms "$t0") ms"
		;;
	redis) "$here/mkimage-redis.sh" ;;
	haproxy) "$here/mkimage-haproxy.sh" ;;
	*)
		echo "build-images: unknown image $what (slotgate, redis or haproxy)" >&2
		exit 2
		;;
	esac
done
