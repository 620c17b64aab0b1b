/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Peers: creation, unknown peers, and the close sequence (nodes, then
 * handles, then the queue).
 */

#include "util.h"

static void test_new(void **state)
{
	uint64_t fp;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	fp = t_fp(t);
	assert_int_equal(t_peer_new(t, 1, 100), -EINVAL);
	assert_int_equal(t_fp(t), fp);
	/* a new peer starts unreadable: no PEER_STATE */
	assert_int_equal(t_peer_new(t, 2, 0), 0);
	assert_int_equal(t->n_states, 0);
	t_assert_readable(t, 2, 0);
	t_free(t);
}

static void test_unknown_peer(void **state)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID }, dst;
	uint64_t id = ID(0), fp;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	fp = t_fp(t);
	assert_int_equal(t_transfer(t, 5, 1, 0, 1, &src, &dst), -EINVAL);
	assert_int_equal(t_release(t, 5, 0, 1, &id), -EINVAL);
	assert_int_equal(t_send(t, 5, 0, NULL, 0, NULL, "x"), -EINVAL);
	assert_int_equal(t_fetch(t, 5), -EINVAL);
	/* one-way requests for unknown peers are ignored */
	t_peer_release(t, 5);
	t_recv_done(t, 5, 1);
	assert_int_equal(t_fp(t), fp);
	t_free(t);
}

static void test_close_sequence(void **state)
{
	uint64_t a, ha, b, hb1, hb2, c, hc, q, hq, m, hm, hq2;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);

	/* 1 owns a (held by 2) and b (held by 1 itself and by 2) */
	a = t_node(t, 1, 2, &ha);
	b = t_node(t, 1, 1, &hb1);
	hb2 = t_handle(t, 1, hb1, 2);
	/* 1 holds the only handle to 3's c, and one of two to 3's q */
	c = t_node(t, 3, 1, &hc);
	q = t_node(t, 3, 1, &hq);
	hq2 = t_handle(t, 1, hq, 2);
	/* a message queued on 1 (for a) carries the last handle to 2's m */
	m = t_node(t, 2, 2, &hm);
	assert_int_equal(t_send(t, 2, 1, &ha, 1, &hm, "queued"), 0);
	assert_int_equal(t_release(t, 2, 0, 1, &hm), 0);
	assert_true(t_readable(t, 1));
	t_expect_empty(t, 2);

	t_peer_release(t, 1);

	/* nodes (by ID): a drops its message (last handle to m), then
	 * notifies ha; b notifies hb2 (hb1 dies with 1) */
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, m);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, ha);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, hb2);
	t_expect_empty(t, 2);
	/* handles: hc was the last handle to c, hq was not */
	t_expect_notify(t, 3, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, c);
	t_expect_empty(t, 3);
	assert_int_equal(t_send(t, 2, 1, &hq2, 0, NULL, "q"), 0);
	t_expect_user(t, 3, q, "q", 0, NULL);
	(void)a;
	(void)b;
	t_free(t);
}

static void test_close_discards_queue(void **state)
{
	uint64_t h1, x, hx, token;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	t_node(t, 1, 2, &h1);
	x = t_node(t, 2, 2, &hx);
	/* two messages carry the only handles to x besides hx */
	assert_int_equal(t_send(t, 2, 1, &h1, 1, &hx, "one"), 0);
	assert_int_equal(t_send(t, 2, 1, &h1, 1, &hx, "two"), 0);
	assert_int_equal(t_release(t, 2, 0, 1, &hx), 0);
	/* both are lent when the peer goes: discarded without RETRACT */
	assert_int_equal(t_held(t, 1), 2);
	token = t->peers[1].last_token;
	t_peer_release(t, 1);
	assert_int_equal(t->n_retracts, 0);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, x);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, h1);
	t_expect_empty(t, 2);
	/* a settle after the release is ignored */
	t_recv_done(t, 1, token);
	t_check(t, 1);
	t_free(t);
}

/* A message received but not yet settled when its peer goes is settled
 * first: the module queues RECV_DONE before PEER_RELEASE. */
static void test_close_after_recv(void **state)
{
	uint64_t h1, x, hx;
	T *t = t_new();
	TRecv r;

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	t_node(t, 1, 2, &h1);
	x = t_node(t, 2, 2, &hx);
	assert_int_equal(t_send(t, 2, 1, &h1, 1, &hx, "one"), 0);
	assert_int_equal(t_release(t, 2, 0, 1, &hx), 0);
	assert_int_equal(t_recv_full(t, 1, T_DEFER, &r), 0);
	assert_int_equal(r.n_transfers, 1);
	t_peer_release(t, 1);
	/* the handle was delivered, so it goes with the peer's handles,
	 * after its nodes */
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, h1);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, x);
	t_expect_empty(t, 2);
	t_free(t);
}

static void test_close_self_references(void **state)
{
	uint64_t n, h, ids[2];
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	n = t_node(t, 1, 1, &h);
	ids[0] = h;
	ids[1] = h;
	assert_int_equal(t_send(t, 1, 1, &h, 2, ids, "loop"), 0);
	assert_int_equal(t_release(t, 1, 0, 1, &n), 0);
	assert_int_equal(t_send(t, 1, 1, &h, 2, ids, "dropped"), 0);
	t_peer_release(t, 1);
	t_expect_empty(t, 2);
	t_free(t);
}

static void test_many_engines(void **state)
{
	T *a = t_new(), *b = t_new();

	(void)state;
	assert_int_equal(t_peer_new(a, 1, 1), 0);
	assert_int_equal(t_peer_new(b, 1, 1), 0);
	assert_int_equal(t_node(a, 1, 1, NULL), ID(0));
	assert_int_equal(t_node(a, 1, 1, NULL), ID(2));
	assert_int_equal(t_node(b, 1, 1, NULL), ID(0));
	t_free(a);
	assert_int_equal(t_node(b, 1, 1, NULL), ID(2));
	t_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_unknown_peer),
		cmocka_unit_test(test_close_sequence),
		cmocka_unit_test(test_close_discards_queue),
		cmocka_unit_test(test_close_after_recv),
		cmocka_unit_test(test_close_self_references),
		cmocka_unit_test(test_many_engines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
