# hostimage.sh: sourced by mkimage-redis.sh and mkimage-haproxy.sh. Builds a Docker image from
# binaries installed on this host, without a registry: the binaries, every library ldd names
# for them (and the dynamic loader), a minimal /etc, piped as a tar into `docker import`.
#
#   host_image TAG ROOTFS_DIR [docker import --change ...] -- DEST=SRC...
#
# DEST=SRC copies the file SRC (symlinks followed) to DEST inside the image; the libraries
# SRC needs keep their host paths. ROOTFS_DIR is filled first by the caller (extra files).

set -euo pipefail

# Copies path (following symlinks) into rootfs at the same path.
_copy_same_path() {
	local rootfs=$1 path=$2
	[[ -e $rootfs$path ]] && return 0
	mkdir -p "$rootfs$(dirname "$path")"
	cp -L "$path" "$rootfs$path"
}

# Copies the libraries ldd lists for the binary (and the loader) into rootfs.
_copy_libs() {
	local rootfs=$1 bin=$2 out lib
	if ! out=$(ldd "$bin" 2>&1); then
		# "not a dynamic executable": static, nothing to copy.
		[[ $out == *"not a dynamic executable"* ]] && return 0
		echo "hostimage: ldd $bin: $out" >&2
		return 1
	fi
	if grep -q "not found" <<<"$out"; then
		echo "hostimage: $bin needs libraries this host lacks:" >&2
		grep "not found" <<<"$out" >&2
		return 1
	fi
	# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
	while read -r lib; do
		[[ -n $lib ]] && _copy_same_path "$rootfs" "$lib"
	done < <(sed -n -e 's/.*=> \(\/[^ ]*\) (0x.*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' <<<"$out")
}

# Writes the minimal /etc: root and nobody, the groups, files-only name service, localhost.
_minimal_etc() {
	local rootfs=$1
	mkdir -p "$rootfs/etc" "$rootfs/tmp"
	chmod 1777 "$rootfs/tmp"
	[[ -e $rootfs/etc/passwd ]] || cat >"$rootfs/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PW
	[[ -e $rootfs/etc/group ]] || cat >"$rootfs/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR
	[[ -e $rootfs/etc/nsswitch.conf ]] || cat >"$rootfs/etc/nsswitch.conf" <<'NS'
passwd: files
group: files
hosts: files dns
NS
	[[ -e $rootfs/etc/hosts ]] || printf '127.0.0.1 localhost\n::1 localhost\n' >"$rootfs/etc/hosts"
	return 0
}

host_image() {
	local tag=$1 rootfs=$2
	shift 2
	local -a changes=()
	while (($#)) && [[ $1 != -- ]]; do
		changes+=(--change "$1")
		shift
	done
	[[ ${1:-} == -- ]] && shift
	local spec dest src
	for spec in "$@"; do
		dest=${spec%%=*} src=${spec#*=}
		if [[ ! -x $src ]]; then
			echo "hostimage: $src is not an executable on this host" >&2
			return 1
		fi
		mkdir -p "$rootfs$(dirname "$dest")"
		cp -L "$src" "$rootfs$dest"
		_copy_libs "$rootfs" "$src"
	done
	_minimal_etc "$rootfs"
	local old new
	old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
	# Owned by root in the image whoever runs this; --numeric-owner: no name look-ups.
	tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -c . |
		docker import "${changes[@]}" --message "built by slotgate docker/hostimage.sh from $(hostname)'s binaries" - "$tag" >/dev/null
	# The image the tag named before is left untagged by a rebuild: remove it unless a
	# container still uses it.
	new=$(docker image inspect -f '{{.Id}}' "$tag")
	if [[ -n $old && $old != "$new" ]]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
}
