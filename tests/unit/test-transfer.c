/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * TRANSFER: creating nodes and copying handles, atomically.
 */

#include <string.h>
#include "util.h"

static void test_create_self(void **state)
{
	struct bus1_transfer src[2] = {
		{ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID },
		{ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID },
	}, dst[2];
	uint64_t handle;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_transfer(t, 1, 1, 0, 2, src, dst), 0);
	/* managed IDs from counter 0, node then its handle, in order */
	assert_int_equal(src[0].flags, 0);
	assert_int_equal(src[0].id, ID(0));
	assert_int_equal(dst[0].flags, 0);
	assert_int_equal(dst[0].id, ID(1));
	assert_int_equal(src[1].id, ID(2));
	assert_int_equal(dst[1].id, ID(3));
	assert_int_equal(ID(0), 1);
	assert_int_equal(ID(3), 7);

	/* the handle reaches the node */
	handle = dst[1].id;
	assert_int_equal(t_send(t, 1, 1, &handle, 0, NULL, "x"), 0);
	t_expect_user(t, 1, src[1].id, "x", 0, NULL);
	t_free(t);
}

static void test_create_other(void **state)
{
	uint64_t node, handle;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 2, &handle);
	assert_int_equal(node, ID(0));
	assert_int_equal(handle, ID(0));

	/* the node is 1's, the handle 2's */
	assert_int_equal(t_send(t, 1, 1, &node, 0, NULL, "x"), -EBADRQC);
	assert_int_equal(t_send(t, 2, 1, &handle, 0, NULL, "hi"), 0);
	t_expect_user(t, 1, node, "hi", 0, NULL);
	t_expect_empty(t, 2);
	t_free(t);
}

static void test_copy_handles(void **state)
{
	uint64_t node, h1, h2, h3, ids[2];
	TRecv r;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	node = t_node(t, 1, 2, &h1);

	/* no deduplication: two copies to the same peer are two handles */
	h2 = t_handle(t, 2, h1, 3);
	h3 = t_handle(t, 2, h1, 3);
	assert_int_equal(h2, ID(0));
	assert_int_equal(h3, ID(1));

	/* to == self gives another handle in the caller */
	assert_int_equal(t_handle(t, 2, h1, 2), ID(1));

	ids[0] = h2;
	ids[1] = h3;
	assert_int_equal(t_send(t, 3, 2, ids, 0, NULL, "m"), 0);
	assert_int_equal(t_recv(t, 1, &r), 0);
	assert_int_equal(r.id, node);
	assert_int_equal(r.account, 300);
	assert_int_equal(t_recv(t, 1, &r), 0);
	t_expect_empty(t, 1);
	t_free(t);
}

static void test_zero(void **state)
{
	uint64_t fp;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	fp = t_fp(t);
	assert_int_equal(t_transfer(t, 1, 1, 0, 0, NULL, NULL), 0);
	assert_int_equal(t_fp(t), fp);
	assert_int_equal(t_node(t, 1, 1, NULL), ID(0));
	t_free(t);
}

static void test_errors(void **state)
{
	struct bus1_transfer src[2], dst[2];
	uint64_t node, handle, fp;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 1, 1, &handle);
	fp = t_fp(t);

	/* command flags */
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	assert_int_equal(t_transfer(t, 1, 2, 1, 1, src, dst), -EINVAL);
	assert_int_equal(t_fp(t), fp);

	/* unknown transfer flags */
	src[0] = (struct bus1_transfer){ 2, handle };
	assert_int_equal(t_transfer(t, 1, 2, 0, 1, src, dst), -EINVAL);
	src[0] = (struct bus1_transfer){ 3, BUS1_INVALID };
	assert_int_equal(t_transfer(t, 1, 2, 0, 1, src, dst), -EINVAL);
	assert_int_equal(t_fp(t), fp);

	/* CREATE with an ID */
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, handle };
	assert_int_equal(t_transfer(t, 1, 2, 0, 1, src, dst), -EINVAL);
	assert_int_equal(t_fp(t), fp);

	/* unknown ID, a node ID, an ID of another peer */
	src[0] = (struct bus1_transfer){ 0, ID(77) };
	assert_int_equal(t_transfer(t, 1, 2, 0, 1, src, dst), -EBADRQC);
	src[0] = (struct bus1_transfer){ 0, node };
	assert_int_equal(t_transfer(t, 1, 2, 0, 1, src, dst), -EBADRQC);
	src[0] = (struct bus1_transfer){ 0, handle };
	assert_int_equal(t_transfer(t, 2, 1, 0, 1, src, dst), -EBADRQC);
	assert_int_equal(t_fp(t), fp);

	/* a valid CREATE next to a bad one creates nothing */
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	src[1] = (struct bus1_transfer){ 0, ID(99) };
	assert_int_equal(t_transfer(t, 1, 2, 0, 2, src, dst), -EBADRQC);
	src[0] = (struct bus1_transfer){ 0, handle };
	src[1] = (struct bus1_transfer){ 4, BUS1_INVALID };
	assert_int_equal(t_transfer(t, 1, 2, 0, 2, src, dst), -EINVAL);
	/* EINVAL wins over EBADRQC regardless of position */
	src[0] = (struct bus1_transfer){ 0, ID(99) };
	src[1] = (struct bus1_transfer){ 4, BUS1_INVALID };
	assert_int_equal(t_transfer(t, 1, 2, 0, 2, src, dst), -EINVAL);
	assert_int_equal(t_fp(t), fp);

	/* unknown destination or source peer */
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	assert_int_equal(t_transfer(t, 1, 9, 0, 1, src, dst), -EINVAL);
	assert_int_equal(t_transfer(t, 9, 1, 0, 1, src, dst), -EINVAL);
	assert_int_equal(t_fp(t), fp);

	/* the other peer saw nothing, and no ID was consumed */
	t_expect_empty(t, 2);
	assert_int_equal(t_node(t, 1, 2, &handle), ID(2));
	assert_int_equal(handle, ID(0));
	t_free(t);
}

static void test_ids_never_reused(void **state)
{
	uint64_t node, handle;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	node = t_node(t, 1, 1, &handle);
	assert_int_equal(t_release(t, 1, 0, 1, &handle), 0);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	assert_int_equal(t_node(t, 1, 1, &handle), ID(2));
	assert_int_equal(handle, ID(3));
	t_free(t);
}

static void test_released_node(void **state)
{
	uint64_t node, h1, h2;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	node = t_node(t, 1, 2, &h1);
	assert_int_equal(t_release(t, 1, 0, 1, &node), 0);

	/* 2 still holds h1 until it receives NODE_RELEASE: copying works,
	 * and the new holder hears of the release too */
	h2 = t_handle(t, 2, h1, 3);
	t_expect_notify(t, 3, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	t_expect_notify(t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, h1);
	assert_int_equal(t_release(t, 2, 0, 1, &h1), -EBADRQC);
	assert_int_equal(t_release(t, 3, 0, 1, &h2), -EBADRQC);
	t_expect_empty(t, 1);
	t_free(t);
}

static void test_enomem(void **state)
{
	struct bus1_transfer src[3], dst[3];
	uint64_t handle, fp;
	long nth;
	int r;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	t_node(t, 1, 1, &handle);
	fp = t_fp(t);

	for (nth = 0;; ++nth) {
		src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
		src[1] = (struct bus1_transfer){ 0, handle };
		src[2] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
		t_fail_alloc(nth);
		r = t_transfer(t, 1, 2, 0, 3, src, dst);
		t_fail_none();
		if (!r)
			break;
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(t_fp(t), fp);
	}
	assert_true(nth >= 5);
	assert_int_equal(src[0].id, ID(2));
	assert_int_equal(src[1].id, handle);
	assert_int_equal(src[2].id, ID(3));
	assert_int_equal(dst[0].id, ID(0));
	assert_int_equal(dst[2].id, ID(2));
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_self),
		cmocka_unit_test(test_create_other),
		cmocka_unit_test(test_copy_handles),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ids_never_reused),
		cmocka_unit_test(test_released_node),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
