#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# test-install.sh [ROOT]   (on the host)
#
# Install into a fresh DESTDIR with PREFIX=/usr and check every installed
# file: the set of files is exactly the expected one, modes, the library's
# soname and symlinks, pkg-config against the DESTDIR, a program built and
# linked against the installed library (shared and static), the unit
# (systemd-analyze verify and security), the udev rule, modules-load.d, the
# man pages (groff lint, man -l), and the DKMS tree (dkms build for the
# VM's kernel, into a private dkms tree). Then PREFIX defaults, and make
# uninstall leaves no file behind.
#
# With ROOT, the PREFIX=/usr install (with the DKMS-built module as
# ROOT/bus1.ko) is left there for the VM test, guest-service.sh.
# Prints "ok - ..." / "FAIL - ..." per check and ends with
# "install-native: N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/../.." && pwd -P)
keep=${1:-}
tmp=$(mktemp -d /tmp/bus1-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() {
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		ok "$what"
	else
		fail "$what"
		sed 's/^/    /' "$tmp/out"
	fi
}
mode_is() { [ "$(stat -c %a "$1")" = "$2" ] && [ -f "$1" ] && [ ! -L "$1" ]; }
link_is() { [ -L "$1" ] && [ "$(readlink "$1")" = "$2" ]; }
same() { cmp -s "$1" "$2"; }

kver=$("$top/scripts/kver.sh")
d=$tmp/dest
s=/usr/src/bus1-1

if ! make -C "$top" install DESTDIR="$d" PREFIX=/usr >"$tmp/make.log" 2>&1; then
	fail "make install DESTDIR=... PREFIX=/usr"
	sed 's/^/    /' "$tmp/make.log"
	echo "install-native: $passed passed, $failed failed"
	exit 1
fi
ok "make install DESTDIR=... PREFIX=/usr"

# The exact set of installed files.
expected=(
	usr/sbin/bus1d
	usr/lib/libbus1.so.0.1.0 usr/lib/libbus1.so.0 usr/lib/libbus1.so
	usr/lib/libbus1.a usr/lib/pkgconfig/libbus1.pc
	usr/include/libbus1.h usr/include/linux/bus1.h
	usr/lib/systemd/system/bus1d.service
	usr/lib/udev/rules.d/60-bus1.rules
	usr/lib/modules-load.d/bus1.conf
	usr/share/man/man7/bus1.7 usr/share/man/man8/bus1d.8
	usr/share/man/man3/libbus1.3
	${s#/}/dkms.conf
	${s#/}/include/uapi/linux/bus1.h ${s#/}/include/uapi/linux/bus1-engine.h
)
[ -x "$top/daemon/bus1ctl" ] && expected+=(usr/sbin/bus1ctl)
[ -f "$top/man/bus1ctl.8" ] && expected+=(usr/share/man/man8/bus1ctl.8)
for f in "$top"/kmod/Kbuild "$top"/kmod/Makefile "$top"/kmod/*.c "$top"/kmod/*.h; do
	case $f in *.mod.c) continue ;; esac
	expected+=("${s#/}/kmod/${f##*/}")
done
printf '%s\n' "${expected[@]}" | sort >"$tmp/expected"
(cd "$d" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort) >"$tmp/got"
check "installed files are exactly the expected ${#expected[@]}" \
	diff -u "$tmp/expected" "$tmp/got"

# Binaries, library, headers.
check "bus1d mode 0755 and runs" \
	sh -c "[ \$(stat -c %a '$d/usr/sbin/bus1d') = 755 ] && '$d/usr/sbin/bus1d' --version | grep -q '^bus1d '"
if [ -x "$top/daemon/bus1ctl" ]; then
	check "bus1ctl mode 0755" mode_is "$d/usr/sbin/bus1ctl" 755
fi
check "libbus1.so.0.1.0 mode 0755" mode_is "$d/usr/lib/libbus1.so.0.1.0" 755
check "libbus1.so.0.1.0 has soname libbus1.so.0" \
	sh -c "readelf -d '$d/usr/lib/libbus1.so.0.1.0' | grep -q 'SONAME.*\[libbus1.so.0\]'"
check "libbus1.so.0.1.0 exports exactly the 6 bus1_ functions" \
	sh -c "[ \$(nm -D --defined-only '$d/usr/lib/libbus1.so.0.1.0' | grep -c ' T bus1_') = 6 ] &&
		! nm -D --defined-only '$d/usr/lib/libbus1.so.0.1.0' | grep ' T ' | grep -qv ' bus1_'"
check "libbus1.so.0 -> libbus1.so.0.1.0" link_is "$d/usr/lib/libbus1.so.0" libbus1.so.0.1.0
check "libbus1.so -> libbus1.so.0" link_is "$d/usr/lib/libbus1.so" libbus1.so.0
check "libbus1.a mode 0644 holds bus1.o" \
	sh -c "[ \$(stat -c %a '$d/usr/lib/libbus1.a') = 644 ] && ar t '$d/usr/lib/libbus1.a' | grep -qx bus1.o"
check "libbus1.h installed unchanged, 0644" \
	sh -c "cmp -s '$top/libbus1/libbus1.h' '$d/usr/include/libbus1.h' && [ \$(stat -c %a '$d/usr/include/libbus1.h') = 644 ]"
check "linux/bus1.h installed unchanged, 0644" \
	sh -c "cmp -s '$top/include/uapi/linux/bus1.h' '$d/usr/include/linux/bus1.h' && [ \$(stat -c %a '$d/usr/include/linux/bus1.h') = 644 ]"

# pkg-config against the DESTDIR, and a program built from it.
export PKG_CONFIG_SYSROOT_DIR=$d PKG_CONFIG_LIBDIR=$d/usr/lib/pkgconfig
check "libbus1.pc mode 0644" mode_is "$d/usr/lib/pkgconfig/libbus1.pc" 644
check "pkg-config --modversion libbus1 = 1" \
	sh -c "[ \"\$(pkg-config --modversion libbus1)\" = 1 ]"
check "pkg-config --cflags libbus1 = -I\$DESTDIR/usr/include" \
	sh -c "[ \"\$(echo \$(pkg-config --cflags libbus1))\" = '-I$d/usr/include' ]"
check "pkg-config --libs libbus1 = -L\$DESTDIR/usr/lib -lbus1" \
	sh -c "[ \"\$(echo \$(pkg-config --libs libbus1))\" = '-L$d/usr/lib -lbus1' ]"
cat >"$tmp/prog.c" <<'PROG'
#include <errno.h>
#include <stdio.h>
#include <libbus1.h>

int main(void)
{
	struct bus1_transfer t = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	int fd = bus1_peer_new();

	/* no /dev/bus1 here (ENOENT) or no engine (ENXIO) */
	if (fd != -ENOENT && fd != -ENXIO)
		return 1;
	if (bus1_peer_free(-1) != -1)
		return 2;
	if (bus1_cmd_transfer(0, -1, -1, 1, &t, &t) != -EBADF)
		return 3;
	puts("libbus1 ok");
	return 0;
}
PROG
# shellcheck disable=SC2046 # pkg-config output is a word list
check "a program compiles and links against the installed libbus1.so" \
	sh -c "cc -std=gnu11 -Wall -Wextra -Werror \$(pkg-config --cflags libbus1) -o '$tmp/prog' '$tmp/prog.c' \$(pkg-config --libs libbus1) &&
		readelf -d '$tmp/prog' | grep -q 'NEEDED.*\[libbus1.so.0\]'"
check "it runs against the installed library" \
	sh -c "LD_LIBRARY_PATH='$d/usr/lib' '$tmp/prog' | grep -qx 'libbus1 ok' &&
		LD_LIBRARY_PATH='$d/usr/lib' ldd '$tmp/prog' | grep -q '$d/usr/lib/libbus1.so.0'"
check "a program links statically against the installed libbus1.a" \
	sh -c "cc -std=gnu11 \$(pkg-config --cflags libbus1) -o '$tmp/prog-static' '$tmp/prog.c' '$d/usr/lib/libbus1.a' &&
		! readelf -d '$tmp/prog-static' | grep -q libbus1 && '$tmp/prog-static' | grep -qx 'libbus1 ok'"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

# The unit.
unit=$d/usr/lib/systemd/system/bus1d.service
check "bus1d.service mode 0644" mode_is "$unit" 644
check "bus1d.service: Type=notify, ExecStart=/usr/sbin/bus1d" \
	sh -c "grep -qx 'Type=notify' '$unit' && grep -qx 'ExecStart=/usr/sbin/bus1d' '$unit'"
mkdir -p "$tmp/unit"
sed "s|^ExecStart=/usr/sbin/bus1d|ExecStart=$d/usr/sbin/bus1d|" "$unit" >"$tmp/unit/bus1d.service"
check "systemd-analyze verify bus1d.service" \
	systemd-analyze verify --man=no "$tmp/unit/bus1d.service"
check "systemd-analyze security rates bus1d.service OK or better" \
	sh -c "systemd-analyze security --offline=yes --threshold=20 '$tmp/unit/bus1d.service' | tail -n 1 | grep -Eq 'exposure level.* (OK|SAFE)'"

# udev and modules-load.d.
rules=$d/usr/lib/udev/rules.d/60-bus1.rules
check "60-bus1.rules mode 0644" mode_is "$rules" 644
check "udev: /dev/bus1 0666, /dev/bus1-engine root 0600" \
	sh -c "grep -Eq '^KERNEL==\"bus1\", SUBSYSTEM==\"misc\", MODE=\"0666\"\$' '$rules' &&
		grep -Eq '^KERNEL==\"bus1-engine\", SUBSYSTEM==\"misc\", OWNER=\"root\", GROUP=\"root\", MODE=\"0600\"\$' '$rules' &&
		[ \$(grep -cv '^#' '$rules') = 2 ]"
check "modules-load.d/bus1.conf loads bus1, 0644" \
	sh -c "[ \"\$(grep -v '^#' '$d/usr/lib/modules-load.d/bus1.conf')\" = bus1 ] && [ \$(stat -c %a '$d/usr/lib/modules-load.d/bus1.conf') = 644 ]"

# Man pages.
for m in "$d"/usr/share/man/man*/*; do
	name=${m##*/}
	check "man page $name: 0644, groff -ww lint clean" \
		sh -c "[ \$(stat -c %a '$m') = 644 ] && [ -z \"\$(groff -ww -z -man '$m' 2>&1)\" ]"
	check "man page $name: man -l renders NAME and SEE ALSO" \
		sh -c "MANWIDTH=80 man -l '$m' 2>&1 | col -b >'$tmp/man.txt' && grep -qx NAME '$tmp/man.txt' && grep -qx 'SEE ALSO' '$tmp/man.txt' && ! grep -q 'troff' '$tmp/man.txt'"
done

# The DKMS source tree builds the module.
check "DKMS tree: sources identical to the tree's" \
	sh -c "for f in '$d$s'/kmod/*; do cmp -s \"\$f\" '$top/kmod/'\"\${f##*/}\" || exit 1; done;
		cmp -s '$top/include/uapi/linux/bus1-engine.h' '$d$s/include/uapi/linux/bus1-engine.h'"
check "dkms.conf names bus1 version 1 built in kmod/" \
	sh -c "grep -qx 'PACKAGE_VERSION=\"1\"' '$d$s/dkms.conf' && grep -qx 'BUILT_MODULE_LOCATION\[0\]=\"kmod/\"' '$d$s/dkms.conf'"
if command -v dkms >/dev/null; then
	mkdir -p "$tmp/dkms"
	check "dkms add + dkms build -k $kver from the installed tree" \
		sh -c "dkms add -m bus1 -v 1 --sourcetree '$d/usr/src' --dkmstree '$tmp/dkms' &&
			dkms build -m bus1 -v 1 -k '$kver' --sourcetree '$d/usr/src' --dkmstree '$tmp/dkms' &&
			modinfo -F vermagic '$tmp/dkms/bus1/1/$kver/x86_64/module/bus1.ko' | grep -q '^$kver '"
else
	fail "dkms is not installed (scripts/install-deps.sh installs it)"
fi

# PREFIX defaults to /usr/local.
check "make install without PREFIX goes to /usr/local" \
	sh -c "make -C '$top' install DESTDIR='$tmp/local' >'$tmp/local.log' 2>&1 &&
		[ -x '$tmp/local/usr/local/sbin/bus1d' ] && [ -f '$tmp/local/usr/local/lib/libbus1.so.0.1.0' ] &&
		grep -qx 'ExecStart=/usr/local/sbin/bus1d' '$tmp/local/usr/local/lib/systemd/system/bus1d.service' &&
		grep -qx 'libdir=/usr/local/lib' '$tmp/local/usr/local/lib/pkgconfig/libbus1.pc'"

if [ -n "$keep" ]; then
	rm -rf "$keep"
	mkdir -p "$(dirname "$keep")"
	cp -a "$d" "$keep"
	cp "$tmp/dkms/bus1/1/$kver/x86_64/module/bus1.ko" "$keep/bus1.ko" 2>/dev/null ||
		fail "no DKMS-built module to hand to the VM test"
fi

# Uninstall removes every file.
check "make uninstall DESTDIR=... PREFIX=/usr" \
	make -C "$top" uninstall DESTDIR="$d" PREFIX=/usr
check "no installed file is left" \
	sh -c "[ -z \"\$(find '$d' \( -type f -o -type l \) -print)\" ] || { find '$d' \( -type f -o -type l \); exit 1; }"

echo "install-native: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
