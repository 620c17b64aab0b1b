/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * NODE_RELEASE and HANDLE_RELEASE: who hears what, in which order, and
 * what an ID means afterwards.
 */

#include "util.h"

static void test_node_release_all_holders(void **state)
{
	uint64_t node, h1, h2, h3, own;
	T *t = t_new();
	TRecv r;

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	node = t_node(t, 1, 2, &h1);
	h2 = t_handle(t, 2, h1, 2);
	h3 = t_handle(t, 2, h1, 3);
	own = t_handle(t, 2, h1, 1);

	assert_int_equal(t_release(t, 1, 0, 1, &node), 0);
	/* every handle, the owner's own included, one each */
	assert_int_equal(t_recv(t, 2, &r), 0);
	assert_int_equal(r.type, BUS1_MESSAGE_TYPE_NODE_RELEASE);
	assert_int_equal(r.id, h1);
	assert_int_equal(r.account, BUS1_INVALID);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	t_expect_empty(t, 2);
	t_expect_notify(t, 3, BUS1_MESSAGE_TYPE_NODE_RELEASE, h3);
	t_expect_empty(t, 3);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, own);
	t_expect_empty(t, 1);

	/* received: the handle IDs are retired */
	assert_int_equal(t_release(t, 2, 0, 1, &h1), -EBADRQC);
	assert_int_equal(t_send(t, 3, 1, &h3, 0, NULL, "x"), -EBADRQC);
	assert_int_equal(t_release(t, 1, 0, 1, &own), -EBADRQC);
	/* and no HANDLE_RELEASE ever follows a node released first */
	t_expect_empty(t, 1);
	t_free(t);
}

static void test_handles_in_queued_messages(void **state)
{
	uint64_t n2, h2, x, hx, ids[1];
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	n2 = t_node(t, 2, 1, &h2);
	x = t_node(t, 3, 1, &hx);
	assert_int_equal(t_send(t, 1, 1, &h2, 1, &hx, "carry"), 0);
	assert_int_equal(t_release(t, 3, 0, 1, &x), 0);

	/* the queued copy is a real handle of 2: it hears the release,
	 * after the message that introduces its ID */
	t_expect_user(t, 2, n2, "carry", 1, ids);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, ids[0]);
	t_expect_empty(t, 2);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, hx);
	t_expect_empty(t, 3);
	t_free(t);
}

static void test_queued_for_released_node(void **state)
{
	uint64_t n2, h2, x, hx;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	n2 = t_node(t, 2, 1, &h2);
	x = t_node(t, 3, 1, &hx);
	assert_int_equal(t_send(t, 1, 1, &h2, 1, &hx, "a"), 0);
	assert_int_equal(t_send(t, 1, 1, &h2, 0, NULL, "b"), 0);
	assert_int_equal(t_release(t, 1, 0, 1, &hx), 0);
	t_expect_empty(t, 3);
	assert_true(t_readable(t, 2));

	/* the node goes: its queued messages vanish; the handle they
	 * carried was the last one to x, so 3 hears HANDLE_RELEASE */
	assert_int_equal(t_release(t, 2, 0, 1, &n2), 0);
	/* both were lent: taken back before the reply */
	assert_int_equal(t->n_retracts, 2);
	t_assert_readable(t, 2, 0);
	t_expect_notify(t, 3, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, x);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	t_expect_empty(t, 1);
	t_free(t);
}

static void test_last_handle(void **state)
{
	uint64_t node, h1, h2;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	node = t_node(t, 1, 2, &h1);
	h2 = t_handle(t, 2, h1, 3);

	assert_int_equal(t_release(t, 2, 0, 1, &h1), 0);
	t_expect_empty(t, 1);
	assert_int_equal(t_release(t, 3, 0, 1, &h2), 0);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	t_expect_empty(t, 1);
	/* received: the node ID is retired */
	assert_int_equal(t_release(t, 1, 0, 1, &node), -EBADRQC);
	t_free(t);
}

static void test_last_handle_by_close(void **state)
{
	uint64_t node, h1;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 2, &h1);
	t_peer_release(t, 2);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	t_free(t);
}

static void test_last_handle_by_discard(void **state)
{
	uint64_t m, hm, n, hn;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	m = t_node(t, 2, 1, &hm);
	n = t_node(t, 1, 1, &hn);
	assert_int_equal(t_send(t, 1, 1, &hm, 1, &hn, "carry"), 0);
	/* the copy in the message keeps n alive */
	assert_int_equal(t_release(t, 1, 0, 1, &hn), 0);
	t_expect_empty(t, 1);
	/* discarding the undelivered message drops the last handle; a
	 * node release discards its messages before notifying holders */
	assert_int_equal(t_release(t, 2, 0, 1, &m), 0);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, n);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, hm);
	t_expect_empty(t, 1);
	t_expect_empty(t, 2);
	t_free(t);
}

static void test_release_drops_node_release(void **state)
{
	uint64_t node, h1, h2;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 2, &h1);
	h2 = t_handle(t, 2, h1, 2);
	assert_int_equal(t_release(t, 1, 0, 1, &node), 0);
	assert_true(t_readable(t, 2));
	/* the ID is gone, so its notification is too, although lent */
	assert_int_equal(t_held(t, 2), 2);
	assert_int_equal(t_release(t, 2, 0, 1, &h1), 0);
	assert_int_equal(t->n_retracts, 1);
	assert_int_equal(t_held(t, 2), 1);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	assert_int_equal(t_release(t, 2, 0, 1, &h2), -EBADRQC);
	t_expect_empty(t, 2);
	t_expect_empty(t, 1);

	/* taking back the only item makes the peer unreadable: a RETRACT
	 * before the reply, and no PEER_STATE, as nothing was queued */
	node = t_node(t, 1, 2, &h1);
	assert_int_equal(t_release(t, 1, 0, 1, &node), 0);
	assert_true(t_readable(t, 2));
	assert_int_equal(t_held(t, 2), 1);
	assert_int_equal(t_release(t, 2, 0, 1, &h1), 0);
	assert_int_equal(t->n_retracts, 1);
	assert_int_equal(t->n_states, 0);
	assert_string_equal(t->order, "R2 ");
	t_assert_readable(t, 2, 0);
	t_free(t);
}

static void test_causal_order(void **state)
{
	uint64_t n2, h2, n1, h1;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	n2 = t_node(t, 2, 1, &h2);
	n1 = t_node(t, 1, 2, &h1);
	assert_int_equal(t_send(t, 1, 1, &h2, 0, NULL, "before"), 0);
	assert_int_equal(t_release(t, 1, 0, 1, &n1), 0);
	assert_int_equal(t_send(t, 1, 1, &h2, 0, NULL, "after"), 0);
	t_expect_user(t, 2, n2, "before", 0, NULL);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, h1);
	t_expect_user(t, 2, n2, "after", 0, NULL);
	t_expect_empty(t, 2);
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_release_all_holders),
		cmocka_unit_test(test_handles_in_queued_messages),
		cmocka_unit_test(test_queued_for_released_node),
		cmocka_unit_test(test_last_handle),
		cmocka_unit_test(test_last_handle_by_close),
		cmocka_unit_test(test_last_handle_by_discard),
		cmocka_unit_test(test_release_drops_node_release),
		cmocka_unit_test(test_causal_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
