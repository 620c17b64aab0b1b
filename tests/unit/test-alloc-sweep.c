/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Allocation-failure sweep: for each engine operation, build the same
 * state from scratch, make allocation 0, 1, 2, ... of the operation fail
 * (the engine's output buffer included, which starts empty), and check
 * that every failure is ENOMEM with the state unchanged, or success, until
 * the operation needs no more allocations than we let it have. An
 * allocation that fails in a successful operation can only have been for
 * an ITEM record: lending is best effort, the item stays queued, and once
 * the module FETCHes what it was told is readable, the state is the one of
 * the uninjected run. One-way records (PEER_RELEASE, RECV_DONE) cannot
 * fail: under every injected failure they must still end in the state of
 * the uninjected run, after the same FETCHes.
 *
 * Routes are not part of the fingerprint: a successful SEND whose route
 * could not be allocated or charged is the other allowed failure (no
 * route, the SEND stands); a failed request must leave the routes as they
 * were, and every REVOKE it owes must be written however memory fails.
 */

#include <string.h>
#include "core/bus.h"
#include "core/peer.h"
#include "core/recv.h"
#include "util.h"

#define BIG 8192
#define LARGE (BUS1_ENGINE_DATA_REF_MIN + 100)

/* Peers 1..3; what the setup built, for the operation to refer to. */
typedef struct Ctx {
	uint64_t node1;		/* owned by 1 */
	uint64_t h1_in2;	/* 2's handle to node1 */
	uint64_t h1_in3;	/* 3's handle to node1 */
	uint64_t node2, h2_in1;
	uint64_t node3, h3_in1;
	uint64_t h3_in2;	/* 2's handle to node3 */
} Ctx;

typedef void (*SetupFn)(T *t, Ctx *c);
typedef int (*OpFn)(T *t, Ctx *c);

static uint8_t big[BIG];
static uint8_t large[LARGE];

/*
 * Three peers, nodes with handles in each other, and messages lent with
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
	c->h3_in2 = t_handle(t, 1, c->h3_in1, 2);
	assert_int_equal(t_send(t, 2, 1, &c->h3_in2, 1, &c->h1_in2, "to 3"), 0);
	assert_int_equal(t_held(t, 3), 1);
}

/*
 * setup_bus(), then a message of BIG bytes for peer 3 that is queued, not
 * lent, because the buffer could not grow for its ITEM record.
 */
static void setup_unlent(T *t, Ctx *c)
{
	long nth;
	int err;

	setup_bus(t, c);
	/* a route's allocation would be one more that can fail and succeed */
	engine_bus(t->engine)->routes.credit_items = 0;
	for (nth = 0;; ++nth) {
		t_out_reset(t, 4096);
		t_fail_alloc(nth);
		err = t_send_full(t, 2, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				  &c->h3_in2, 0, NULL, big, BIG);
		t_fail_none();
		assert_true(t_fail_fired());
		if (!err)
			break;
		assert_int_equal(err, -ENOMEM);
	}
	engine_bus(t->engine)->routes.credit_items = ENGINE_DEFAULT_ROUTE_ITEMS;
	assert_int_equal(t_held(t, 3), 1);
	assert_true(t->peers[3].state);
}

/*
 * setup_bus(), then peer 3's window full, a BIG message queued behind it,
 * and the first lent item received but not yet settled: its RECV_DONE
 * will lend the BIG one.
 */
static void setup_received(T *t, Ctx *c)
{
	TRecv r;
	int i;

	setup_bus(t, c);
	for (i = 1; i < LEND_MAX_ITEMS; ++i)
		assert_int_equal(t_send(t, 2, 1, &c->h3_in2, 0, NULL, "fill"), 0);
	assert_int_equal(t_send_full(t, 2, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &c->h3_in2, 0, NULL, big, BIG), 0);
	assert_int_equal(t_held(t, 3), LEND_MAX_ITEMS);
	assert_int_equal(t_recv_full(t, 3, T_DEFER, &r), 0);
	assert_memory_equal(r.data, "to 3", 4);
}

/*
 * setup_bus(), then a large message (by reference) for peer 3, received
 * with the one already there, neither settled: the RECV_DONE releases it.
 */
static void setup_large_received(T *t, Ctx *c)
{
	TRecv r;

	setup_bus(t, c);
	assert_int_equal(t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &c->h3_in1, 0, NULL, large, LARGE), 0);
	assert_int_equal(t_recv_full(t, 3, T_DEFER, &r), 0);
	assert_int_equal(t_recv_full(t, 3, T_DEFER, &r), 0);
	assert_int_equal(r.n_data, LARGE);
	assert_int_not_equal(r.ref, 0);
}

/* setup_bus(), then a large message lent to peer 3, on node3. */
static void setup_large_lent(T *t, Ctx *c)
{
	setup_bus(t, c);
	assert_int_equal(t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &c->h3_in1, 0, NULL, large, LARGE), 0);
	assert_int_equal(t_held(t, 3), 2);
}

/* What the module does for peers it was told are readable: FETCH. */
static void lend_all(T *t)
{
	t_settle(t);
	for (uint64_t p = 1; p <= 3; ++p)
		if (bus_find_peer(engine_bus(t->engine), p) && t->peers[p].state)
			assert_int_equal(t_fetch(t, p), 0);
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

/* Its ITEM record needs more buffer than the reservation. */
static int op_send_big(T *t, Ctx *c)
{
	return t_send_full(t, 2, 0, 0, BUS1_MESSAGE_TYPE_USER, 1, &c->h3_in2,
			   0, NULL, big, BIG);
}

/* A large multicast, by reference, carrying a handle. */
static int op_send_large(T *t, Ctx *c)
{
	uint64_t dst[2] = { c->h2_in1, c->h3_in1 };
	struct bus1_transfer transfer = { 0, c->h2_in1 };

	t->reuse_dropped_ref = true;
	return t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 2, dst, 1,
			   &transfer, large, LARGE);
}

/* A large SEND that queues nothing: released after its reply. */
static int op_send_large_nowhere(T *t, Ctx *c)
{
	(void)c;
	t->reuse_dropped_ref = true;
	return t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 0, NULL, 0,
			   NULL, large, LARGE);
}

/* A plain unicast through a handle without a route: a grant. */
static int op_send_route(T *t, Ctx *c)
{
	int r;

	r = t_send(t, 1, 1, &c->h2_in1, 0, NULL, "route");
	if (!r && !engine_bus(t->engine)->routes.n_failed)
		assert_int_equal(t->n_route_recs, 1);
	return r;
}

/* setup_bus(), then peer 1 holds a route for its handle to node2. */
static void setup_routed(T *t, Ctx *c)
{
	setup_bus(t, c);
	assert_int_equal(t_send(t, 1, 1, &c->h2_in1, 0, NULL, "route"), 0);
	assert_int_equal(t->n_route_recs, 1);
}

/* setup_routed(), then the handle released: ROUTE_DONE is due. */
static void setup_revoked(T *t, Ctx *c)
{
	setup_routed(t, c);
	t->hold_route_done = true;
	assert_int_equal(t_release(t, 1, 0, 1, &c->h2_in1), 0);
	assert_int_equal(t->n_revoke_recs, 1);
}

static int op_release_routed_handle(T *t, Ctx *c)
{
	int r = t_release(t, 1, 0, 1, &c->h2_in1);

	if (!r)
		assert_int_equal(t->n_revoke_recs, 1);
	return r;
}

static int op_release_routed_node(T *t, Ctx *c)
{
	int r = t_release(t, 2, 0, 1, &c->node2);

	if (!r)
		assert_int_equal(t->n_revoke_recs, 1);
	return r;
}

static int op_route_done(T *t, Ctx *c)
{
	(void)c;
	t_route_done_all(t);
	return 0;
}

static int op_fetch(T *t, Ctx *c)
{
	(void)c;
	return t_fetch(t, 3);
}

static int op_release_node(T *t, Ctx *c)
{
	return t_release(t, 1, 0, 1, &c->node1);
}

/* Peer 3's lent message is on node3: a RETRACT. */
static int op_release_retract(T *t, Ctx *c)
{
	return t_release(t, 3, 0, 1, &c->node3);
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

static int op_recv_done(T *t, Ctx *c)
{
	(void)c;
	t_settle(t);
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
	lend_all(t);
	fp = t_fp(t);
	t_free(t);
	return fp;
}

/*
 * Sweep a two-way operation; returns how many allocations it needed. Some
 * need none but what their output needs (RELEASE works on what SEND and
 * TRANSFER allocated in advance).
 */
#define sweep(setup, op) sweep_op(setup, op, #op)
static long sweep_op(SetupFn setup, OpFn op, const char *name)
{
	uint64_t want = reference(setup, op), before, failures, route_failures;
	size_t n_routes;
	long nth, n_lend = 0;
	bool fired;
	int err;

	for (nth = 0; nth < 10000; ++nth) {
		T *t = t_new();
		Ctx c;

		setup(t, &c);
		t_out_reset(t, 0);
		before = t_fp(t);
		failures = engine_counters(t->engine)->lend_failures;
		route_failures = engine_bus(t->engine)->routes.n_failed;
		n_routes = engine_bus(t->engine)->routes.n_routes;
		t_fail_alloc(nth);
		err = op(t, &c);
		t_fail_none();
		fired = t_fail_fired();
		if (err) {
			assert_true(fired);
			assert_int_equal(err, -ENOMEM);
			assert_int_equal(t_fp(t), before);
			assert_int_equal(engine_bus(t->engine)->routes.n_routes,
					 n_routes);
			assert_int_equal(op(t, &c), 0);
		} else if (fired &&
			   engine_bus(t->engine)->routes.n_failed > route_failures) {
			/* or the grant of a route: none, the SEND stands */
			assert_int_equal(engine_bus(t->engine)->routes.n_failed,
					 route_failures + 1);
			assert_int_equal(engine_bus(t->engine)->routes.n_routes,
					 n_routes);
		} else if (fired) {
			/* only lending may fail without failing the request */
			assert_int_equal(engine_counters(t->engine)->lend_failures,
					 failures + 1);
			++n_lend;
		}
		lend_all(t);
		assert_int_equal(t_fp(t), want);
		t_free(t);
		if (!fired) {
			print_message("%s: %ld allocation(s) failed in turn, %ld in lending\n",
				      name, nth, n_lend);
			return nth;
		}
	}
	fail_msg("operation never succeeded");
	return -1;
}

/*
 * Sweep a one-way record: it must reach the same state whatever fails.
 * The output buffer holds what the record reserves, not what it lends.
 */
static void sweep_one_way(SetupFn setup, OpFn op, bool lends)
{
	uint64_t want = reference(setup, op);
	long n_lend = 0;

	for (long nth = 0; nth < 64; ++nth) {
		T *t = t_new();
		uint64_t failures;
		Ctx c;

		setup(t, &c);
		t_out_reset(t, 4096);
		failures = engine_counters(t->engine)->lend_failures;
		t_fail_alloc(nth);
		op(t, &c);
		t_fail_none();
		n_lend += engine_counters(t->engine)->lend_failures - failures;
		lend_all(t);
		assert_int_equal(t_fp(t), want);
		t_free(t);
	}
	assert_true(!lends || n_lend > 0);
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
	assert_true(sweep(setup_bus, op_send_big) >= 3);
	assert_true(sweep(setup_bus, op_send_large) >= 3);
	assert_true(sweep(setup_bus, op_send_large_nowhere) >= 1);
	/* the message, the route, and the charge's quota and trace */
	assert_true(sweep(setup_bus, op_send_route) >= 3);
}

static void test_fetch(void **state)
{
	(void)state;
	/* the buffer for the reply, then for the ITEM */
	assert_true(sweep(setup_unlent, op_fetch) >= 2);
}

static void test_release(void **state)
{
	(void)state;
	sweep(setup_bus, op_release_node);
	sweep(setup_bus, op_release_handles);
	sweep(setup_bus, op_release_retract);
	/* the large message goes with node3: RETRACT, reply, DATA_RELEASE */
	sweep(setup_large_lent, op_release_retract);
	/* REVOKE before the reply, flags 0 or DISCARD */
	sweep(setup_routed, op_release_routed_handle);
	sweep(setup_routed, op_release_routed_node);
}

static void test_one_way(void **state)
{
	(void)state;
	sweep_one_way(setup_bus, op_peer_release, false);
	sweep_one_way(setup_received, op_peer_release_lent, false);
	sweep_one_way(setup_received, op_recv_done, true);
	sweep_one_way(setup_large_received, op_recv_done, false);
	sweep_one_way(setup_large_received, op_peer_release_lent, false);
	sweep_one_way(setup_large_lent, op_peer_release_lent, false);
	/* a sender with a route, and a receiver of one */
	sweep_one_way(setup_routed, op_peer_release, false);
	sweep_one_way(setup_routed, op_peer_release_lent, false);
	sweep_one_way(setup_revoked, op_route_done, false);
}

int main(void)
{
	memset(big, 'b', sizeof(big));
	memset(large, 'l', sizeof(large));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_new),
		cmocka_unit_test(test_transfer),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_one_way),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
