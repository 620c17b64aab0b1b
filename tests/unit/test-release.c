/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * RELEASE: all or nothing, duplicates once, IDs gone for good.
 */

#include "util.h"

static void test_release_handle(void **state)
{
	uint64_t node, h1, h2, ids[2];
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 2, &h1);
	h2 = t_handle(t, 2, h1, 2);

	/* not the last handle: no notification */
	assert_int_equal(t_release(t, 2, 0, 1, &h1), 0);
	t_expect_empty(t, 1);
	assert_int_equal(t_release(t, 2, 0, 1, &h1), -EBADRQC);
	assert_int_equal(t_send(t, 2, 1, &h1, 0, NULL, "x"), -EBADRQC);

	/* listed twice, released once: one HANDLE_RELEASE */
	ids[0] = h2;
	ids[1] = h2;
	assert_int_equal(t_release(t, 2, 0, 2, ids), 0);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	t_expect_empty(t, 1);
	t_expect_empty(t, 2);
	t_free(t);
}

static void test_release_node(void **state)
{
	uint64_t node, handle;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 2, &handle);
	assert_int_equal(t_release(t, 1, 0, 1, &node), 0);
	assert_int_equal(t_release(t, 1, 0, 1, &node), -EBADRQC);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, handle);
	t_expect_empty(t, 1);
	t_free(t);
}

static void test_errors_atomic(void **state)
{
	uint64_t node, handle, ids[3], fp;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 2, &handle);
	assert_int_equal(t_node(t, 2, 2, NULL), ID(1));
	fp = t_fp(t);

	assert_int_equal(t_release(t, 1, 1, 1, &node), -EINVAL);
	assert_int_equal(t_fp(t), fp);

	/* one bad ID: nothing is released */
	ids[0] = node;
	ids[1] = ID(42);
	assert_int_equal(t_release(t, 1, 0, 2, ids), -EBADRQC);
	ids[1] = ID(2);	/* an ID of 2, not of 1 */
	assert_int_equal(t_release(t, 1, 0, 2, ids), -EBADRQC);
	ids[1] = BUS1_INVALID;
	assert_int_equal(t_release(t, 1, 0, 2, ids), -EBADRQC);
	ids[1] = 0;		/* unmanaged IDs are never handed out */
	assert_int_equal(t_release(t, 1, 0, 2, ids), -EBADRQC);
	assert_int_equal(t_fp(t), fp);
	t_expect_empty(t, 2);
	assert_int_equal(t_send(t, 2, 1, &handle, 0, NULL, "still"), 0);
	t_expect_user(t, 1, node, "still", 0, NULL);

	/* n == 0 is a no-op */
	fp = t_fp(t);
	assert_int_equal(t_release(t, 1, 0, 0, NULL), 0);
	assert_int_equal(t_fp(t), fp);
	t_free(t);
}

static void test_node_and_handle_together(void **state)
{
	uint64_t node, handle, ids[2];
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);

	/* node first: its NODE_RELEASE to the handle dies with the handle */
	node = t_node(t, 1, 1, &handle);
	ids[0] = node;
	ids[1] = handle;
	assert_int_equal(t_release(t, 1, 0, 2, ids), 0);
	t_expect_empty(t, 1);

	/* handle first: the HANDLE_RELEASE dies with the node */
	node = t_node(t, 1, 1, &handle);
	ids[0] = handle;
	ids[1] = node;
	assert_int_equal(t_release(t, 1, 0, 2, ids), 0);
	t_expect_empty(t, 1);
	t_free(t);
}

static void test_retired_ids(void **state)
{
	uint64_t node, handle;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);

	/* releasing a node whose HANDLE_RELEASE is queued drops it */
	node = t_node(t, 1, 2, &handle);
	assert_int_equal(t_release(t, 2, 0, 1, &handle), 0);
	assert_int_equal(t_release(t, 1, 0, 1, &node), 0);
	t_expect_empty(t, 1);

	/* a received HANDLE_RELEASE retires the node ID */
	node = t_node(t, 1, 2, &handle);
	assert_int_equal(t_release(t, 2, 0, 1, &handle), 0);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	assert_int_equal(t_release(t, 1, 0, 1, &node), -EBADRQC);

	/* a received NODE_RELEASE retires the handle ID */
	node = t_node(t, 1, 2, &handle);
	assert_int_equal(t_release(t, 1, 0, 1, &node), 0);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, handle);
	assert_int_equal(t_release(t, 2, 0, 1, &handle), -EBADRQC);
	t_free(t);
}

static void test_enomem_free(void **state)
{
	uint64_t node, handle, ids[2];
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 2, &handle);

	/* releasing allocates nothing: it succeeds under any failure */
	ids[0] = node;
	ids[1] = node;
	t_fail_alloc(0);
	assert_int_equal(t_release(t, 1, 0, 2, ids), 0);
	t_fail_none();
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, handle);
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_handle),
		cmocka_unit_test(test_release_node),
		cmocka_unit_test(test_errors_atomic),
		cmocka_unit_test(test_node_and_handle_together),
		cmocka_unit_test(test_retired_ids),
		cmocka_unit_test(test_enomem_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
