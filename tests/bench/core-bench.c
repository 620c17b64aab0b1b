/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * core-bench [ITERATIONS]: the engine core alone, natively on the host, no
 * module and no VM: what one SEND (which lends the message to the module
 * in an ITEM record) plus the RECV_DONE that settles it costs in
 * engine_process(), with 10, 10k and 100k live nodes (each with a handle)
 * in the sending peer. RECV itself is served by the module from the lent
 * item; here the unit-test harness (tests/unit/util.c) plays the module,
 * and it also checks every record, so the figures include that checking;
 * they bound the core's share of a bus1 operation from above. Run it under
 * perf record to see where it goes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "util.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void bench(void **state)
{
	static const unsigned int live[] = { 10, 10000, 100000 };
	struct bus1_transfer *src, *dst;
	unsigned int i, k, n, iters = 20000;
	uint64_t handle, t0;
	const char *e;
	TRecv *r;
	T *t;

	(void)state;
	e = getenv("CORE_BENCH_ITERS");
	if (e)
		iters = strtoul(e, NULL, 10);
	src = calloc(4096, sizeof(*src));
	dst = calloc(4096, sizeof(*dst));
	r = calloc(1, sizeof(*r));
	assert_non_null(src);
	assert_non_null(dst);
	assert_non_null(r);
	for (i = 0; i < 3; ++i) {
		t = t_new();
		assert_int_equal(t_peer_new(t, 1, 0), 0);
		assert_int_equal(t_peer_new(t, 2, 0), 0);
		t_node(t, 2, 1, &handle);
		for (k = 0; k < live[i]; k += n) {
			n = live[i] - k < T_MAX_ITEMS ? live[i] - k : T_MAX_ITEMS;
			for (unsigned int j = 0; j < n; ++j)
				src[j] = (struct bus1_transfer){
					BUS1_TRANSFER_FLAG_CREATE,
					BUS1_INVALID };
			assert_int_equal(t_transfer(t, 1, 1, 0, n, src, dst),
					 0);
		}
		t0 = now_ns();
		for (k = 0; k < iters; ++k) {
			assert_int_equal(t_send(t, 1, 1, &handle, 0, NULL,
						"0123456789abcdef0123456789abcdef"
						"0123456789abcdef0123456789abcde"),
					 0);
			assert_int_equal(t_recv(t, 2, r), 0);
			assert_int_equal(r->n_data, 63);
		}
		printf("core: %6u live nodes: %.3f us per SEND + RECV_DONE (%u iterations)\n",
		       live[i], (double)(now_ns() - t0) / iters / 1000.0,
		       iters);
		t_free(t);
	}
	free(r);
	free(src);
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bench),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
