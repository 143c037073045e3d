#!/usr/bin/env bash
# mkimage-haproxy.sh: the HAProxy image docker-compose.scale.yml runs (${HAPROXY_IMAGE:-haproxy:local}),
# built without a registry from this host's haproxy (apt-get install -y haproxy), the libraries
# ldd names and a minimal /etc. Nothing is pulled.
#
#   ./mkimage-haproxy.sh [TAG]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/hostimage.sh"

tag=${1:-${HAPROXY_IMAGE:-haproxy:local}}
bin=$(command -v haproxy || true)
[[ -n $bin ]] || bin=$( [[ -x /usr/sbin/haproxy ]] && echo /usr/sbin/haproxy || true)
if [[ -z $bin ]]; then
	echo "mkimage-haproxy: haproxy is needed on this host: apt-get install -y haproxy" >&2
	exit 1
fi
t0=$(date +%s%N)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/etc/haproxy" "$rootfs/var/lib/haproxy" "$rootfs/run"
host_image "$tag" "$rootfs" \
	'ENV PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/bin' \
	'CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]' \
	-- \
	/usr/sbin/haproxy="$bin"
# The whole output, then its first line: `| head -n 1` could close the pipe early, and the
# docker client's EPIPE fail the script under pipefail.
version=$(docker run --rm --network none "$tag" haproxy -v)
version=${version%%$'\n'*}
echo "mkimage-haproxy: $tag built in $(( ($(date +%s%N) - t0) / 1000000 )) ms ($version)"
