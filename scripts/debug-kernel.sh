#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# debug-kernel.sh   (on the host, as root; the build half of `make check-debug`)
#
# Build a debug kernel from Debian's linux-source-6.1 (KASAN, lockdep,
# kmemleak, failslab; the options are in debug-kernel.config) and bus1.ko
# against it, both under build/debug-kernel/:
#   linux/          the source tree, built in place: .config, bzImage,
#                   Module.symvers, what an out-of-tree module build needs
#   kmod/bus1.ko    a copy of kmod/ built against it (kmod/bus1.ko stays
#                   the one for Debian's kernel)
#   build-seconds   how long the last kernel build took
# The packages it needs are installed first, as in install-deps.sh: apt
# is not touched when all are installed. The kernel is configured and built
# again only when the fragment or the source package changed (the key in
# linux.key); the module is rebuilt by make as its sources change. The
# kernel build runs at nice 19 on two jobs, as the host is shared.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd -P)
fragment=$top/scripts/debug-kernel.config
out=$top/build/debug-kernel
tree=$out/linux
pkgs="linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev xz-utils"

missing=
for p in $pkgs; do
	st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "debug-kernel: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	apt-get install -y -q --no-install-recommends $missing
fi

# survived LINE: the .config has the fragment's LINE; an option asked to
# be unset may also be absent (its menu is off).
survived() {
	local opt
	case $1 in
	'# CONFIG_'*' is not set')
		opt=${1#\# }
		! grep -q "^${opt%% *}=" "$tree/.config"
		;;
	*) grep -qxF "$1" "$tree/.config" ;;
	esac
}

version=$(dpkg-query -W -f '${Version}' linux-source-6.1)
key="linux-source-6.1 $version, fragment $(sha256sum <"$fragment" | cut -d' ' -f1)"
mkdir -p "$out"

# Configure from scratch: a fresh tree, x86_64_defconfig, kvm_guest.config
# and the fragment merged, then every option of the fragment checked.
if [ "$(cat "$out/configured.key" 2>/dev/null)" != "$key" ]; then
	echo "debug-kernel: unpacking linux-source-6.1 $version"
	rm -rf "$tree" "$out/configured.key" "$out/built.key"
	mkdir -p "$tree"
	tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$tree" --strip-components=1
	make -s -C "$tree" x86_64_defconfig
	(cd "$tree" && scripts/kconfig/merge_config.sh -m .config \
		kernel/configs/kvm_guest.config "$fragment")
	make -s -C "$tree" olddefconfig
	lost=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=* | '# CONFIG_'*' is not set') ;;
		*) continue ;;
		esac
		survived "$line" && continue
		opt=${line#\# }
		opt=${opt%%[= ]*}
		echo "debug-kernel: '$line' did not survive olddefconfig; .config has: $(grep -E "(^|# )$opt[= ]" "$tree/.config" || echo nothing)" >&2
		lost=$((lost + 1))
	done <"$fragment"
	if [ "$lost" -ne 0 ]; then
		echo "debug-kernel: $lost option(s) of $fragment lost; fix the fragment" >&2
		exit 1
	fi
	echo "$key" >"$out/configured.key"
fi

if [ "$(cat "$out/built.key" 2>/dev/null)" != "$key" ]; then
	echo "debug-kernel: building the kernel in $tree (nice -n 19 make -j2; the first build takes long)"
	start=$(date +%s)
	nice -n 19 make -s -C "$tree" -j2
	secs=$(($(date +%s) - start))
	echo "$secs" >"$out/build-seconds"
	echo "$key" >"$out/built.key"
	echo "debug-kernel: kernel built in $secs s"
fi

mkdir -p "$out/kmod" "$out/include/uapi/linux"
cp -p "$top"/kmod/*.c "$top"/kmod/*.h "$top/kmod/Kbuild" "$out/kmod/"
cp -p "$top"/include/uapi/linux/*.h "$out/include/uapi/linux/"
make -s -C "$tree" M="$out/kmod" modules
echo "debug-kernel: $tree/arch/x86/boot/bzImage, $out/kmod/bus1.ko"
