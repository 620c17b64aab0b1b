/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */

/*
 * fuzz-ioctl: random ioctls on /dev/bus1 against the real engine. Random
 * command numbers (bus1's magic and others), random flags, counts and IDs,
 * and pointers that are NULL, unmapped, read-only, straddle the end of a
 * mapping, or valid; random fds for `to`. Every call must succeed or fail
 * with a documented errno, within a time bound. Afterwards a fresh peer
 * must still do a round trip.
 *
 * FUZZ_MAKE_IT_FAIL=1 (make check-debug's failslab part): the random
 * ioctls run with this task marked for the kernel's fault injection
 * (/proc/self/make-it-fail), so a share of the module's allocations fail
 * and show as ENOMEM; the setup and the final round trip run unmarked.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include "libbus1.h"
#include "fuzz-common.h"

#define PAGE 4096
#define N_PEERS 4

static unsigned char *rw;	/* PAGE read-write, then PAGE PROT_NONE */
static unsigned char *ro;	/* PAGE read-only */
static unsigned int errnos[FUZZ_MAX_ERRNO];
static int peers[N_PEERS];
static uint64_t known_ids[16];

static void *rand_ptr(size_t size)
{
	switch (fuzz_below(8)) {
	case 0:
		return NULL;
	case 1:
		return rw + PAGE;			/* PROT_NONE */
	case 2:
		return ro;
	case 3:
		return rw + PAGE - (size ? 1 + fuzz_below(size) : 0);
	case 4:
		return (void *)(uintptr_t)fuzz_rand();
	default:
		return rw + 8 * fuzz_below((PAGE - (size < PAGE ? size : PAGE)) / 8 + 1);
	}
}

static uint64_t rand_count(void)
{
	switch (fuzz_below(6)) {
	case 0:
		return fuzz_rand();
	case 1:
		return 1ULL << fuzz_below(64);
	case 2:
		return 0;
	default:
		return fuzz_below(8);
	}
}

static uint64_t rand_id(void)
{
	switch (fuzz_below(4)) {
	case 0:
		return fuzz_rand();
	case 1:
		return BUS1_INVALID;
	default:
		return known_ids[fuzz_below(16)];
	}
}

static uint64_t rand_fd(void)
{
	switch (fuzz_below(5)) {
	case 0:
		return BUS1_INVALID;
	case 1:
		return fuzz_rand();
	case 2:
		return fuzz_below(8);		/* stdio, non-bus1 fds */
	default:
		return peers[fuzz_below(N_PEERS)];
	}
}

/* Fill the read-write page with plausible records pointing around. */
static void scribble(void)
{
	uint64_t *w = (uint64_t *)rw;

	for (size_t i = 0; i < PAGE / 8; i++) {
		switch (fuzz_below(6)) {
		case 0:
			w[i] = (uintptr_t)rand_ptr(64);
			break;
		case 1:
			w[i] = rand_count();
			break;
		case 2:
			w[i] = rand_id();
			break;
		case 3:
			w[i] = BUS1_TRANSFER_FLAG_CREATE;
			break;
		default:
			w[i] = fuzz_below(2) ? 0 : fuzz_rand();
			break;
		}
	}
}

static unsigned long rand_cmd(void)
{
	static const unsigned long cmds[] = {
		BUS1_CMD_TRANSFER, BUS1_CMD_RELEASE, BUS1_CMD_SEND,
		BUS1_CMD_RECV,
	};

	switch (fuzz_below(8)) {
	case 0:
		return fuzz_rand() & 0xffffffff;
	case 1:
		return _IOC(fuzz_below(4), BUS1_IOCTL_MAGIC, fuzz_below(256),
			    fuzz_below(1 << 14));
	case 2:
		return cmds[fuzz_below(4)] ^ (1UL << fuzz_below(32));
	default:
		return cmds[fuzz_below(4)];
	}
}

/* A structured command argument in rw, with random fields. */
static void *rand_arg(unsigned long cmd)
{
	uint64_t *a = (uint64_t *)(rw + PAGE - 64);

	if (fuzz_below(5) == 0)
		return rand_ptr(40);
	switch (cmd) {
	case BUS1_CMD_TRANSFER:
		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = rand_fd();
		a[2] = rand_count();
		a[3] = (uintptr_t)rand_ptr(a[2] * 16);
		a[4] = (uintptr_t)rand_ptr(a[2] * 16);
		break;
	case BUS1_CMD_RELEASE:
		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = rand_count();
		a[2] = (uintptr_t)rand_ptr(a[1] * 8);
		break;
	case BUS1_CMD_SEND: {
		uint64_t *m = (uint64_t *)rw;	/* struct bus1_message */

		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = rand_count();
		a[2] = (uintptr_t)rand_ptr(a[1] * 8);
		a[3] = (uintptr_t)rand_ptr(a[1] * 4);
		a[4] = fuzz_below(4) ? (uintptr_t)m : (uintptr_t)rand_ptr(56);
		m[0] = fuzz_below(4) ? 0 : fuzz_rand();
		m[1] = fuzz_below(4) ? 0 : fuzz_rand();
		m[2] = rand_count();
		m[3] = (uintptr_t)rand_ptr(m[2] * 16);
		m[4] = rand_count();
		m[5] = rand_count();
		m[6] = (uintptr_t)rand_ptr(m[5] * 16);
		break;
	}
	case BUS1_CMD_RECV: {
		uint64_t *m = (uint64_t *)rw;

		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = (uintptr_t)rand_ptr(24);
		a[2] = fuzz_below(4) ? (uintptr_t)m : (uintptr_t)rand_ptr(56);
		m[0] = 0;
		m[1] = fuzz_below(2) ? BUS1_INVALID : fuzz_below(4);
		m[2] = rand_count();
		m[3] = (uintptr_t)rand_ptr(m[2] * 16);
		m[4] = rand_count();
		m[5] = rand_count();
		m[6] = (uintptr_t)rand_ptr(m[5] * 16);
		break;
	}
	default:
		break;
	}
	return a;
}

static void fail(const char *what, unsigned long cmd, int err)
{
	printf("fuzz-ioctl: FAIL: %s cmd 0x%lx: %d (%s)\n", what, cmd, err,
	       strerror(err));
	exit(1);
}

/* Mark or unmark this task through the open /proc/self/make-it-fail. */
static void make_it_fail(int fd, bool on)
{
	if (write(fd, on ? "1" : "0", 1) != 1)
		fail("make-it-fail", 0, errno);
}

int main(int argc, char **argv)
{
	struct fuzz_opts opts;
	unsigned int n_ok = 0;
	int mark_fd = -1;
	int r;

	r = fuzz_parse(argc, argv, &opts, 20000);
	if (r)
		return r > 0 ? 0 : 2;
	setvbuf(stdout, NULL, _IOLBF, 0);

	rw = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rw == MAP_FAILED || ro == MAP_FAILED)
		fail("mmap", 0, errno);
	memset(ro, 0x11, PAGE);
	if (mprotect(rw + PAGE, PAGE, PROT_NONE) || mprotect(ro, PAGE, PROT_READ))
		fail("mprotect", 0, errno);

	for (int i = 0; i < N_PEERS; i++) {
		peers[i] = bus1_peer_new();
		if (peers[i] < 0)
			fail("open", 0, -peers[i]);
	}
	for (int i = 0; i < 8; i++) {
		struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE,
					     BUS1_INVALID };
		struct bus1_transfer dst;

		r = bus1_cmd_transfer(0, peers[i % N_PEERS],
				      peers[(i + 1) % N_PEERS], 1, &src, &dst);
		if (r)
			fail("setup transfer", BUS1_CMD_TRANSFER, -r);
		known_ids[2 * i] = src.id;
		known_ids[2 * i + 1] = dst.id;
	}

	if (getenv("FUZZ_MAKE_IT_FAIL")) {
		/* opened now: an open while marked may itself fail */
		mark_fd = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
		if (mark_fd < 0)
			fail("open /proc/self/make-it-fail", 0, errno);
		make_it_fail(mark_fd, true);
	}

	alarm(600);
	for (uint64_t i = 0; i < opts.iterations; i++) {
		unsigned long cmd = rand_cmd();
		int slot = fuzz_below(N_PEERS);
		void *arg;

		scribble();
		arg = rand_arg(cmd);
		r = ioctl(peers[slot], cmd, arg);
		if (r < 0 && !fuzz_app_errno(errno))
			fail("undocumented errno from", cmd, errno);
		if (r > 0)
			fail("positive result from", cmd, r);
		fuzz_count_errno(errnos, r < 0 ? errno : 0);
		if (!r)
			n_ok++;
		if (opts.iterations >= 100000 && i && i % (opts.iterations / 10) == 0)
			printf("fuzz-ioctl: %llu iterations\n",
			       (unsigned long long)i);
		if (fuzz_below(500) == 0) {
			close(peers[slot]);
			do
				peers[slot] = bus1_peer_new();
			while (peers[slot] == -ENOMEM && mark_fd >= 0);
			if (peers[slot] < 0)
				fail("reopen", 0, -peers[slot]);
		}
	}
	if (mark_fd >= 0) {
		make_it_fail(mark_fd, false);
		close(mark_fd);
	}

	for (int i = 0; i < N_PEERS; i++)
		close(peers[i]);
	r = fuzz_round_trip();
	if (r)
		fail("round trip after fuzzing", 0, -r);
	printf("fuzz-ioctl: seed %llu, %llu iterations, %u succeeded\n",
	       (unsigned long long)opts.seed,
	       (unsigned long long)opts.iterations, n_ok);
	fuzz_print_errnos("fuzz-ioctl: results", errnos);
	printf("fuzz-ioctl: PASS\n");
	return 0;
}
