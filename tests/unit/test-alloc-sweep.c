/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Allocation-failure sweep: for each engine operation, build the same
 * state from scratch, make allocation 0, 1, 2, ... of the operation fail,
 * and check that every failure is ENOMEM with the state unchanged, until
 * the operation needs no more allocations than we let it have and
 * succeeds. The operation run again without injection must then succeed
 * and end in the same state as the uninjected run. One-way records
 * (PEER_RELEASE, RECV_DONE) cannot fail: under every injected failure
 * they must still end in the state of the uninjected run.
 */

#include <string.h>
#include "util.h"

/* Peers 1..3; what the setup built, for the operation to refer to. */
typedef struct Ctx {
	uint64_t node1;		/* owned by 1 */
	uint64_t h1_in2;	/* 2's handle to node1 */
	uint64_t h1_in3;	/* 3's handle to node1 */
	uint64_t node2, h2_in1;
	uint64_t node3, h3_in1;
	uint64_t recv_seq;	/* a RECV of peer 3 that is lent */
} Ctx;

typedef void (*SetupFn)(T *t, Ctx *c);
typedef int (*OpFn)(T *t, Ctx *c);

/*
 * Three peers, nodes with handles in each other, and messages queued with
 * handles in them: peer 3 holds a message from 2 carrying 2's handle to
 * node1, and peer 1 holds one from 3.
 */
static void setup_bus(T *t, Ctx *c)
{
	uint64_t x, self;

	memset(c, 0, sizeof(*c));
	for (uint64_t p = 1; p <= 3; ++p)
		assert_int_equal(t_peer_new(t, p, p * 10), 0);
	c->node1 = t_node(t, 1, 2, &c->h1_in2);
	c->h1_in3 = t_handle(t, 2, c->h1_in2, 3);
	c->node2 = t_node(t, 2, 1, &c->h2_in1);
	c->node3 = t_node(t, 3, 1, &c->h3_in1);
	x = t_handle(t, 1, c->h2_in1, 3);
	assert_int_equal(t_send(t, 3, 1, &x, 1, &c->h1_in3, "to 2"), 0);
	t_node(t, 2, 2, &self);
	assert_int_equal(t_send(t, 2, 1, &self, 0, NULL, "self"), 0);
	x = t_handle(t, 1, c->h3_in1, 2);
	assert_int_equal(t_send(t, 2, 1, &x, 1, &c->h1_in2, "to 3"), 0);
}

static void setup_lent(T *t, Ctx *c)
{
	TRecv r;

	setup_bus(t, c);
	assert_int_equal(t_recv_full(t, 3, 0, 0, BUS1_INVALID, T_MAX_ITEMS,
				     4096, 0, T_LEND, &r), 0);
	c->recv_seq = r.seq;
}

static void setup_one(T *t, Ctx *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(t_peer_new(t, 1, 10), 0);
}

static int op_peer_new(T *t, Ctx *c)
{
	(void)c;
	return t_peer_new(t, 2, 20);
}

static int op_transfer(T *t, Ctx *c)
{
	struct bus1_transfer src[3] = {
		{ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID },
		{ 0, c->h2_in1 },
		{ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID },
	}, dst[3];

	return t_transfer(t, 1, 3, 0, 3, src, dst);
}

static int op_transfer_self(T *t, Ctx *c)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;

	(void)c;
	return t_transfer(t, 1, 1, 0, 1, &src, &dst);
}

static int op_send_multicast(T *t, Ctx *c)
{
	uint64_t dst[2] = { c->h2_in1, c->h3_in1 };
	uint64_t ids[2] = { c->h2_in1, c->h3_in1 };

	return t_send(t, 1, 2, dst, 2, ids, "multicast");
}

static int op_recv(T *t, Ctx *c)
{
	TRecv r;

	(void)c;
	return t_recv_full(t, 3, 0, 0, BUS1_INVALID, T_MAX_ITEMS, 4096, 0,
			   T_LEND, &r);
}

static int op_release_node(T *t, Ctx *c)
{
	return t_release(t, 1, 0, 1, &c->node1);
}

static int op_release_handles(T *t, Ctx *c)
{
	uint64_t ids[2] = { c->h2_in1, c->h3_in1 };

	return t_release(t, 1, 0, 2, ids);
}

static int op_peer_release(T *t, Ctx *c)
{
	(void)c;
	t_peer_release(t, 2);
	return 0;
}

static int op_peer_release_lent(T *t, Ctx *c)
{
	(void)c;
	t_peer_release(t, 3);
	return 0;
}

static int op_recv_commit(T *t, Ctx *c)
{
	t_recv_done(t, 3, c->recv_seq, 1);
	return 0;
}

static int op_recv_abort(T *t, Ctx *c)
{
	t_recv_done(t, 3, c->recv_seq, 0);
	return 0;
}

/* The state after @op ran without injection. */
static uint64_t reference(SetupFn setup, OpFn op)
{
	T *t = t_new();
	uint64_t fp;
	Ctx c;

	setup(t, &c);
	assert_int_equal(op(t, &c), 0);
	fp = t_fp(t);
	t_free(t);
	return fp;
}

/*
 * Sweep a two-way operation; returns how many allocations it needed. Some
 * need none (RECV and RELEASE work on what SEND and TRANSFER allocated in
 * advance); for those the sweep checks just that.
 */
#define sweep(setup, op) sweep_op(setup, op, #op)
static long sweep_op(SetupFn setup, OpFn op, const char *name)
{
	uint64_t want = reference(setup, op), before;
	long nth;
	int err;

	for (nth = 0; nth < 10000; ++nth) {
		T *t = t_new();
		Ctx c;

		setup(t, &c);
		before = t_fp(t);
		t_fail_alloc(nth);
		err = op(t, &c);
		t_fail_none();
		if (!err) {
			assert_int_equal(t_fp(t), want);
			t_free(t);
			print_message("%s: %ld allocation(s) failed in turn\n",
				      name, nth);
			return nth;
		}
		assert_int_equal(err, -ENOMEM);
		assert_int_equal(t_fp(t), before);
		assert_int_equal(op(t, &c), 0);
		assert_int_equal(t_fp(t), want);
		t_free(t);
	}
	fail_msg("operation never succeeded");
	return -1;
}

/* Sweep a one-way record: it must reach the same state whatever fails. */
static void sweep_one_way(SetupFn setup, OpFn op)
{
	uint64_t want = reference(setup, op);

	for (long nth = 0; nth < 64; ++nth) {
		T *t = t_new();
		Ctx c;

		setup(t, &c);
		t_fail_alloc(nth);
		op(t, &c);
		t_fail_none();
		assert_int_equal(t_fp(t), want);
		t_free(t);
	}
}

static void test_peer_new(void **state)
{
	(void)state;
	assert_true(sweep(setup_one, op_peer_new) >= 1);
}

static void test_transfer(void **state)
{
	(void)state;
	assert_true(sweep(setup_bus, op_transfer) >= 2);
	assert_true(sweep(setup_one, op_transfer_self) >= 2);
}

static void test_send(void **state)
{
	(void)state;
	assert_true(sweep(setup_bus, op_send_multicast) >= 3);
}

static void test_recv(void **state)
{
	(void)state;
	sweep(setup_bus, op_recv);
}

static void test_release(void **state)
{
	(void)state;
	sweep(setup_bus, op_release_node);
	sweep(setup_bus, op_release_handles);
}

static void test_one_way(void **state)
{
	(void)state;
	sweep_one_way(setup_bus, op_peer_release);
	sweep_one_way(setup_lent, op_peer_release_lent);
	sweep_one_way(setup_lent, op_recv_commit);
	sweep_one_way(setup_lent, op_recv_abort);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_new),
		cmocka_unit_test(test_transfer),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_recv),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_one_way),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
