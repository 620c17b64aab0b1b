/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "libbus1.h"
#include "fuzz-common.h"

static uint64_t fuzz_state = 1;

void fuzz_srand(uint64_t seed)
{
	fuzz_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: tiny, seedable, good enough to pick mutations. */
uint64_t fuzz_rand(void)
{
	fuzz_state ^= fuzz_state >> 12;
	fuzz_state ^= fuzz_state << 25;
	fuzz_state ^= fuzz_state >> 27;
	return fuzz_state * 0x2545f4914f6cdd1dULL;
}

uint64_t fuzz_below(uint64_t n)
{
	return n ? fuzz_rand() % n : 0;
}

/* A seed nobody chose: from the kernel, or the time and pid without it. */
static uint64_t fuzz_fresh_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	return seed ? seed : 1;
}

int fuzz_parse(int argc, char **argv, const char *name,
	       struct fuzz_opts *opts, uint64_t default_iterations)
{
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool seeded = false;
	int c;

	opts->iterations = default_iterations;
	while ((c = getopt_long(argc, argv, "n:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			opts->iterations = strtoull(optarg, NULL, 0);
			break;
		case 's':
			opts->seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		default:
			fprintf(stderr, "usage: %s [--iterations N] [--seed S]\n",
				argv[0]);
			return c == 'h' ? 1 : -EINVAL;
		}
	}
	if (!seeded)
		opts->seed = fuzz_fresh_seed();
	fuzz_srand(opts->seed);
	/* First, so that any failure can be replayed with --seed. */
	printf("%s: seed %llu, %llu iterations\n", name,
	       (unsigned long long)opts->seed,
	       (unsigned long long)opts->iterations);
	fflush(stdout);
	return 0;
}

void fuzz_count_errno(unsigned int *counts, int err)
{
	if (err < 0)
		err = -err;
	counts[err < FUZZ_MAX_ERRNO ? err : 0]++;
}

void fuzz_print_errnos(const char *what, const unsigned int *counts)
{
	printf("%s:", what);
	for (int i = 0; i < FUZZ_MAX_ERRNO; i++)
		if (counts[i])
			printf(" %s=%u", i ? strerrorname_np(i) ?: "?" : "ok",
			       counts[i]);
	printf("\n");
}

/* A fresh peer: create a node, send to it, receive the message back. */
int fuzz_round_trip(void)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst = { 0, 0 };
	char out[] = "fuzz round trip", in[64] = {};
	struct iovec vec = { out, sizeof(out) };
	struct bus1_message msg = {
		.n_data = sizeof(out),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	struct bus1_metadata meta = {};
	int32_t error = 1;
	uint64_t handle;
	int fd, r;

	fd = bus1_peer_new();
	if (fd < 0)
		return fd;
	r = bus1_cmd_transfer(0, fd, -1, 1, &src, &dst);
	handle = dst.id;
	if (!r)
		r = bus1_cmd_send(fd, 1, &handle, &error, &msg);
	if (!r && error)
		r = error;
	if (!r) {
		vec = (struct iovec){ in, sizeof(in) };
		msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_data = sizeof(in),
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};
		r = bus1_cmd_recv(fd, &meta, &msg);
	}
	if (!r && (msg.type != BUS1_MESSAGE_TYPE_USER ||
		   msg.n_data != sizeof(out) || memcmp(in, out, sizeof(out)) ||
		   meta.id != src.id))
		r = -EBADMSG;
	close(fd);
	return r;
}
