/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Shared by the fuzzers: a seeded PRNG (reproducible runs from --seed; a
 * fresh seed, printed first, when none is given), errno counters, and a
 * round trip on a fresh peer to prove the bus still works afterwards.
 */

#include <stdbool.h>
#include <stdint.h>

struct fuzz_opts {
	uint64_t iterations;
	uint64_t seed;
};

int fuzz_parse(int argc, char **argv, const char *name,
	       struct fuzz_opts *opts, uint64_t default_iterations);
uint64_t fuzz_rand(void);
void fuzz_srand(uint64_t seed);
uint64_t fuzz_below(uint64_t n);
int fuzz_round_trip(void);
void fuzz_count_errno(unsigned int *counts, int err);
void fuzz_print_errnos(const char *what, const unsigned int *counts);

#define FUZZ_MAX_ERRNO 4096
