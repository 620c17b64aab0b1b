/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Notifications: NODE_RELEASE to every handle holder (handles carried in
 * queued messages included), HANDLE_RELEASE on the last handle only, both
 * from peer close, dropped NODE_RELEASE when the handle goes first, and
 * messages to released nodes discarded while the send still succeeds.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

static void test_node_release_all_holders(void **state)
{
	uint64_t node, own, hb1, hb2, hc, ids[1], ids2[2];
	int a = test_peer(), b = test_peer(), c = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	hb1 = test_handle(a, b, own);
	hb2 = test_handle(a, b, own);
	hc = test_handle(a, c, own);

	ids[0] = node;
	assert_int_equal(bus1_cmd_release(a, 1, ids), 0);
	/* One per handle, to its owner, with that handle's ID. */
	test_expect_notify(a, BUS1_MESSAGE_TYPE_NODE_RELEASE, own);
	ids2[0] = hb1;
	ids2[1] = hb2;
	test_expect_notify_set(b, BUS1_MESSAGE_TYPE_NODE_RELEASE, 2, ids2);
	test_expect_notify(c, BUS1_MESSAGE_TYPE_NODE_RELEASE, hc);
	test_expect_empty(a);
	test_expect_empty(b);
	test_expect_empty(c);

	/* Received NODE_RELEASE retires the handle IDs. */
	assert_int_equal(test_send(b, 1, &hb1, "x", 1, 0, NULL), -EBADRQC);
	assert_int_equal(bus1_cmd_release(c, 1, &hc), -EBADRQC);
	assert_int_equal(bus1_cmd_release(a, 1, &own), -EBADRQC);
	/* The node owner never hears HANDLE_RELEASE for a released node. */
	test_expect_empty(a);
	close(a);
	close(b);
	close(c);
}

static void test_node_release_queued_handles(void **state)
{
	uint64_t node, own, hs, hq, qnode, qown;
	struct test_item item;
	int a = test_peer(), s = test_peer(), q = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	hs = test_handle(a, s, own);
	test_node(q, -1, &qnode, &qown);
	hq = test_handle(q, s, qown);

	/* s sends a handle to a's node into q's queue; q does not read yet. */
	assert_int_equal(test_send(s, 1, &hq, "carry", 5, 1, &hs), 0);
	assert_int_equal(bus1_cmd_release(a, 1, &node), 0);

	test_expect_notify(a, BUS1_MESSAGE_TYPE_NODE_RELEASE, own);
	test_expect_notify(s, BUS1_MESSAGE_TYPE_NODE_RELEASE, hs);
	/* q first gets the message (sent earlier), then the notification
	 * for the handle it carried. */
	assert_int_equal(test_recv_wait(q, &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.msg.n_transfers, 1);
	test_expect_notify(q, BUS1_MESSAGE_TYPE_NODE_RELEASE,
			   item.transfers[0].id);
	test_expect_empty(q);
	close(a);
	close(s);
	close(q);
}

static void test_send_to_released_node(void **state)
{
	uint64_t node, own, h, carried_node, carried_own, carried;
	int a = test_peer(), b = test_peer(), z = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	assert_int_equal(bus1_cmd_release(a, 1, &own), 0);
	/* z's node is reachable only through the handle b will carry. */
	test_node(z, -1, &carried_node, &carried_own);
	carried = test_handle(z, b, carried_own);
	assert_int_equal(bus1_cmd_release(z, 1, &carried_own), 0);

	/* Queued for a, then a releases the node: the message is discarded
	 * and the handle it carried with it, which was the last to z's node. */
	assert_int_equal(test_send(b, 1, &h, "lost", 4, 1, &carried), 0);
	assert_int_equal(bus1_cmd_release(b, 1, &carried), 0);
	test_expect_empty(z);
	assert_int_equal(bus1_cmd_release(a, 1, &node), 0);
	test_expect_empty(a);
	test_expect_notify(z, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, carried_node);

	/* b has not received its NODE_RELEASE yet: sending still succeeds,
	 * and the message goes nowhere. */
	assert_int_equal(test_send(b, 1, &h, "void", 4, 0, NULL), 0);
	test_expect_notify(b, BUS1_MESSAGE_TYPE_NODE_RELEASE, h);
	assert_int_equal(test_send(b, 1, &h, "void", 4, 0, NULL), -EBADRQC);
	test_expect_empty(a);
	test_expect_empty(b);
	test_expect_empty(z);
	close(a);
	close(b);
	close(z);
}

static void test_last_handle_release(void **state)
{
	uint64_t node, own, hb, hc, ids[1];
	struct bus1_transfer src, dst;
	int a = test_peer(), b = test_peer(), c = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	hb = test_handle(a, b, own);
	hc = test_handle(a, c, own);

	assert_int_equal(bus1_cmd_release(a, 1, &own), 0);
	test_expect_empty(a);
	assert_int_equal(bus1_cmd_release(b, 1, &hb), 0);
	test_expect_empty(a);
	assert_int_equal(bus1_cmd_release(c, 1, &hc), 0);
	/* Only the last one, and exactly once. */
	test_expect_notify(a, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	test_expect_empty(a);
	test_expect_empty(b);
	test_expect_empty(c);

	/* Receiving HANDLE_RELEASE retired the node ID. */
	ids[0] = node;
	assert_int_equal(bus1_cmd_release(a, 1, ids), -EBADRQC);
	src = (struct bus1_transfer){ 0, node };
	assert_int_equal(bus1_cmd_transfer(0, a, -1, 1, &src, &dst), -EBADRQC);
	close(a);
	close(b);
	close(c);
}

static void test_handle_release_via_copy_chain(void **state)
{
	uint64_t node, own, hb, hc;
	struct test_item item;
	int a = test_peer(), b = test_peer(), c = test_peer();
	uint64_t cnode, cown, hcb;

	(void)state;
	/* b passes its handle on to c inside a message, then drops its own:
	 * the node still has a handle (c's), so no notification yet. */
	test_node(a, -1, &node, &own);
	hb = test_handle(a, b, own);
	assert_int_equal(bus1_cmd_release(a, 1, &own), 0);
	test_node(c, -1, &cnode, &cown);
	hcb = test_handle(c, b, cown);
	assert_int_equal(test_send(b, 1, &hcb, "take", 4, 1, &hb), 0);
	assert_int_equal(bus1_cmd_release(b, 1, &hb), 0);
	test_expect_empty(a);

	assert_int_equal(test_recv_wait(c, &item), 0);
	assert_int_equal(item.msg.n_transfers, 1);
	hc = item.transfers[0].id;
	test_send_ok(c, hc, "hi", 2);
	test_expect_user(a, node, "hi", 2);
	assert_int_equal(bus1_cmd_release(c, 1, &hc), 0);
	test_expect_notify(a, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	test_expect_empty(a);
	close(a);
	close(b);
	close(c);
}

static void test_peer_close(void **state)
{
	uint64_t pnode, pown, hx, ynode, yown, hp;
	uint64_t wnode, wown, hw, qnode, qown, hq;
	int p = test_peer(), x = test_peer(), y = test_peer(), w = test_peer();
	int s = test_peer();

	(void)state;
	/* p owns a node that x holds a handle to. */
	test_node(p, -1, &pnode, &pown);
	hx = test_handle(p, x, pown);
	/* p holds the last handle to y's node. */
	test_node(y, -1, &ynode, &yown);
	hp = test_handle(y, p, yown);
	assert_int_equal(bus1_cmd_release(y, 1, &yown), 0);
	/* A message queued at p carries the last handle to w's node. */
	test_node(w, -1, &wnode, &wown);
	hw = test_handle(w, s, wown);
	assert_int_equal(bus1_cmd_release(w, 1, &wown), 0);
	test_node(p, -1, &qnode, &qown);
	hq = test_handle(p, s, qown);
	assert_int_equal(test_send(s, 1, &hq, "queued", 6, 1, &hw), 0);
	assert_int_equal(bus1_cmd_release(s, 1, &hw), 0);
	assert_true(test_wait(p, TEST_TIMEOUT_MS) > 0);
	test_expect_empty(w);
	test_send_ok(p, hp, "y", 1);
	test_expect_user(y, ynode, "y", 1);

	close(p);
	test_expect_notify(x, BUS1_MESSAGE_TYPE_NODE_RELEASE, hx);
	test_expect_notify(s, BUS1_MESSAGE_TYPE_NODE_RELEASE, hq);
	test_expect_notify(y, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, ynode);
	test_expect_notify(w, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, wnode);
	test_expect_empty(x);
	test_expect_empty(y);
	test_expect_empty(w);
	test_expect_empty(s);
	close(x);
	close(y);
	close(w);
	close(s);
}

static void test_peer_close_dup_fd(void **state)
{
	uint64_t node, own, h;
	int a = test_peer(), b = test_peer(), a2;

	(void)state;
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	a2 = dup(a);
	assert_true(a2 >= 0);
	/* The peer lives as long as any fd of its file description. */
	close(a);
	test_send_ok(b, h, "dup", 3);
	test_expect_user(a2, node, "dup", 3);
	test_expect_empty(b);
	close(a2);
	test_expect_notify(b, BUS1_MESSAGE_TYPE_NODE_RELEASE, h);
	close(b);
}

static void test_dropped_node_release(void **state)
{
	uint64_t node, own, h, h2;
	int a = test_peer(), b = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	h2 = test_handle(a, b, own);
	assert_int_equal(bus1_cmd_release(a, 1, &node), 0);
	assert_true(test_wait(b, TEST_TIMEOUT_MS) > 0);
	/* Releasing the handle first drops its queued notification. */
	assert_int_equal(bus1_cmd_release(b, 1, &h), 0);
	test_expect_notify(b, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	test_expect_empty(b);
	assert_int_equal(bus1_cmd_release(b, 1, &h2), -EBADRQC);
	/* And a itself: its own handle's notification, then nothing. */
	test_expect_notify(a, BUS1_MESSAGE_TYPE_NODE_RELEASE, own);
	test_expect_empty(a);
	close(a);
	close(b);
}

static void test_release_node_and_handle_together(void **state)
{
	uint64_t node, own, h, ids[2];
	int a = test_peer(), b = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	/* Releasing the node with the own handle in one transaction: no
	 * notification for the own handle, b still hears the node go. */
	ids[0] = own;
	ids[1] = node;
	assert_int_equal(bus1_cmd_release(a, 2, ids), 0);
	test_expect_notify(b, BUS1_MESSAGE_TYPE_NODE_RELEASE, h);
	test_expect_empty(a);
	test_expect_empty(b);
	close(a);
	close(b);
}

/*
 * A message sent through a handle whose node is gone (NODE_RELEASE not yet
 * received) is discarded, and so are the handles it carried: the last one
 * to z's node yields HANDLE_RELEASE.
 */
static void test_discarded_send_releases_carried(void **state)
{
	uint64_t node, own, h, znode, zown, carried;
	int a = test_peer(), b = test_peer(), z = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	test_node(z, -1, &znode, &zown);
	carried = test_handle(z, b, zown);
	assert_int_equal(bus1_cmd_release(z, 1, &zown), 0);
	assert_int_equal(bus1_cmd_release(a, 1, &node), 0);

	assert_int_equal(test_send(b, 1, &h, "gone", 4, 1, &carried), 0);
	test_expect_empty(z);
	assert_int_equal(bus1_cmd_release(b, 1, &carried), 0);
	test_expect_notify(z, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, znode);
	test_expect_notify(a, BUS1_MESSAGE_TYPE_NODE_RELEASE, own);
	test_expect_empty(a);
	test_expect_notify(b, BUS1_MESSAGE_TYPE_NODE_RELEASE, h);
	test_expect_empty(b);
	close(a);
	close(b);
	close(z);
}

/* Notifications carry nothing: a recv with no buffers at all gets them. */
static void test_notification_needs_no_space(void **state)
{
	struct bus1_metadata meta;
	struct bus1_message msg = { .type = BUS1_INVALID };
	uint64_t node, own;
	int a = test_peer();

	(void)state;
	test_node(a, -1, &node, &own);
	assert_int_equal(bus1_cmd_release(a, 1, &own), 0);
	assert_true(test_wait(a, TEST_TIMEOUT_MS) > 0);
	assert_int_equal(bus1_cmd_recv(a, &meta, &msg), 0);
	assert_int_equal(msg.type, BUS1_MESSAGE_TYPE_HANDLE_RELEASE);
	assert_int_equal(msg.n_data, 0);
	assert_int_equal(msg.n_transfers, 0);
	assert_int_equal(meta.id, node);
	assert_int_equal(meta.account, BUS1_INVALID);
	test_expect_empty(a);
	close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_release_all_holders),
		cmocka_unit_test(test_node_release_queued_handles),
		cmocka_unit_test(test_send_to_released_node),
		cmocka_unit_test(test_last_handle_release),
		cmocka_unit_test(test_handle_release_via_copy_chain),
		cmocka_unit_test(test_peer_close),
		cmocka_unit_test(test_peer_close_dup_fd),
		cmocka_unit_test(test_dropped_node_release),
		cmocka_unit_test(test_release_node_and_handle_together),
		cmocka_unit_test(test_discarded_send_releases_carried),
		cmocka_unit_test(test_notification_needs_no_space),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
