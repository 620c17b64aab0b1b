# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# Top-level build: each directory builds itself; this file only orders them
# and runs the test stages. `make check` and `make demo` install missing
# Debian packages first (scripts/install-deps.sh). The module is built for
# the kernel the VM boots (scripts/kver.sh), never for the host's running
# kernel.

MAKEFLAGS += --no-print-directory

all:
	kver=$$(scripts/kver.sh) && $(MAKE) -C kmod KVER=$$kver
	$(MAKE) -C daemon
	$(MAKE) -C libbus1
	$(MAKE) -C tests/unit
	$(MAKE) -C tests/integration
	$(MAKE) -C tests/bench
	$(MAKE) -C tests/fuzz

deps:
	scripts/install-deps.sh

unit:
	scripts/run-unit.sh

unit-valgrind:
	scripts/run-unit.sh --valgrind

vm-check:
	scripts/vm-run.sh --timeout 2400 -- scripts/guest-integration.sh

# Every stage (scripts/check.sh): unit, valgrind, integration, install and
# the harness's self-tests; one summary line each.
check:
	$(MAKE) deps
	$(MAKE) all
	scripts/check.sh

# The harness's self-tests that need no VM, and the one that boots it.
check-harness:
	scripts/tests/test-scan-kernel-log.sh
	scripts/tests/test-count-tap.sh

vm-check-harness:
	scripts/tests/test-vm-harness.sh

# The long fuzz runs (scripts/guest-fuzz.sh); `make check` runs short ones.
fuzz:
	$(MAKE) deps
	$(MAKE) all
	scripts/vm-run.sh --timeout 7200 -- scripts/guest-fuzz.sh

# The debug kernel run (scripts/check-debug.sh): KASAN, lockdep, kmemleak
# and failslab; hours long, so not part of `make check`.
check-debug:
	$(MAKE) deps
	$(MAKE) all
	scripts/check-debug.sh

# The benchmark table: build/bench/results.txt and build/bench/profile.txt.
# BENCH_ARGS go to bus1-bench, e.g. BENCH_ARGS="--tests P1,P3 --reps 3".
bench:
	$(MAKE) deps
	$(MAKE) all
	scripts/vm-run.sh --timeout 1800 -- scripts/guest-bench.sh $(BENCH_ARGS)

demo:
	$(MAKE) deps
	$(MAKE) all
	scripts/vm-run.sh -- scripts/guest-demo.sh

# make install [DESTDIR=...] [PREFIX=/usr/local]: see dist/Makefile.
install:
	$(MAKE) -C daemon
	$(MAKE) -C libbus1
	$(MAKE) -C dist install

install-module:
	$(MAKE) -C dist install-module

uninstall:
	$(MAKE) -C dist uninstall

install-check:
	tests/install/run.sh

clean:
	for d in kmod daemon libbus1 tests/unit tests/integration tests/bench tests/fuzz; do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d clean || exit 1; fi; \
	done
	rm -rf build

.PHONY: all deps unit unit-valgrind vm-check check check-harness vm-check-harness demo clean
.PHONY: bench fuzz check-debug
.PHONY: install install-module uninstall install-check
