/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * RELEASE: nodes and handles go away atomically, IDs are retired and never
 * reused, and every error leaves everything in place.
 */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "util.h"

/* The node and handle still work: a message through one reaches the other. */
static void assert_alive(int fd, uint64_t node, uint64_t handle)
{
	test_send_ok(fd, handle, "alive", 5);
	test_expect_user(fd, node, "alive", 5);
}

static void test_release_basic(void **state)
{
	struct bus1_transfer src, dst;
	uint64_t node, handle, ids[2];
	int fd = test_peer();

	(void)state;
	test_node(fd, -1, &node, &handle);
	ids[0] = handle;
	ids[1] = node;
	assert_int_equal(bus1_cmd_release(fd, 2, ids), 0);

	/* Both IDs are gone. */
	assert_int_equal(test_send(fd, 1, &handle, "x", 1, 0, NULL), -EBADRQC);
	src = (struct bus1_transfer){ 0, handle };
	assert_int_equal(bus1_cmd_transfer(0, fd, -1, 1, &src, &dst), -EBADRQC);
	assert_int_equal(bus1_cmd_release(fd, 1, &node), -EBADRQC);
	assert_int_equal(bus1_cmd_release(fd, 1, &handle), -EBADRQC);
	/* Releasing the node of a handle released first: no notification. */
	test_expect_empty(fd);
	close(fd);
}

static void test_release_duplicate(void **state)
{
	uint64_t node, handle, n2, h2, ids[4];
	int fd = test_peer();

	(void)state;
	test_node(fd, -1, &node, &handle);
	test_node(fd, -1, &n2, &h2);
	ids[0] = handle;
	ids[1] = handle;
	ids[2] = handle;
	ids[3] = h2;
	assert_int_equal(bus1_cmd_release(fd, 4, ids), 0);
	/* The last handles went: one HANDLE_RELEASE per node, not three. */
	ids[0] = node;
	ids[1] = n2;
	test_expect_notify_set(fd, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, 2, ids);
	test_expect_empty(fd);
	assert_int_equal(bus1_cmd_release(fd, 1, &handle), -EBADRQC);
	close(fd);
}

static void test_release_zero(void **state)
{
	uint64_t node, handle;
	int fd = test_peer();

	(void)state;
	test_node(fd, -1, &node, &handle);
	assert_int_equal(bus1_cmd_release(fd, 0, NULL), 0);
	assert_int_equal(test_raw_release(fd, 0, 0, NULL), 0);
	assert_alive(fd, node, handle);
	close(fd);
}

static void test_release_raw(void **state)
{
	uint64_t node, handle, n2, h2;
	int fd = test_peer();

	(void)state;
	test_node(fd, -1, &node, &handle);
	assert_int_equal(test_raw_release(fd, 0, 1, &handle), 0);
	test_expect_notify(fd, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	/* Receiving HANDLE_RELEASE retired the node ID. */
	assert_int_equal(test_raw_release(fd, 0, 1, &node), -EBADRQC);

	test_node(fd, -1, &n2, &h2);
	assert_int_equal(test_raw_release(fd, 0, 1, &n2), 0);
	test_expect_notify(fd, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	assert_int_equal(test_raw_release(fd, 0, 1, &h2), -EBADRQC);
	test_expect_empty(fd);
	close(fd);
}

static void test_release_errors(void **state)
{
	uint64_t node, handle, other_node, other_handle, ids[3];
	uint64_t max = test_param("max_items");
	int fd = test_peer(), other = test_peer();

	(void)state;
	test_node(fd, -1, &node, &handle);
	test_node(other, -1, &other_node, &other_handle);

	/* flags must be 0. */
	ids[0] = handle;
	ids[1] = node;
	assert_int_equal(test_raw_release(fd, 1, 2, ids), -EINVAL);
	assert_int_equal(test_raw_release(fd, 1ULL << 40, 2, ids), -EINVAL);
	assert_alive(fd, node, handle);

	/* Unknown IDs anywhere in the list: nothing released. */
	ids[0] = handle;
	ids[1] = node;
	ids[2] = 999;
	assert_int_equal(bus1_cmd_release(fd, 3, ids), -EBADRQC);
	ids[2] = 2;
	assert_int_equal(bus1_cmd_release(fd, 3, ids), -EBADRQC);
	ids[2] = BUS1_INVALID;
	assert_int_equal(test_raw_release(fd, 0, 3, ids), -EBADRQC);
	ids[0] = 12345;
	assert_int_equal(bus1_cmd_release(fd, 1, ids), -EBADRQC);
	assert_alive(fd, node, handle);
	test_expect_empty(fd);

	/* A larger ID than any this peer has (valid in no peer yet). */
	ids[0] = node;
	ids[1] = (node > handle ? node : handle) + 2;
	assert_int_equal(bus1_cmd_release(fd, 2, ids), -EBADRQC);
	assert_alive(fd, node, handle);

	/* Bad pointers. */
	assert_int_equal(bus1_cmd_release(fd, 1, test_bad_ptr()), -EFAULT);
	assert_int_equal(test_raw_release(fd, 0, 2, NULL), -EFAULT);
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_RELEASE, test_bad_ptr()),
			 -EFAULT);
	/* Second element off the end of a valid page. */
	assert_int_equal(test_raw_release(fd, 0, 2, (char *)test_bad_ptr() - 8),
			 -EFAULT);
	assert_alive(fd, node, handle);

	/* Counts beyond max_items. */
	assert_int_equal(test_raw_release(fd, 0, max + 1, ids), -EINVAL);
	assert_int_equal(test_raw_release(fd, 0, BUS1_INVALID, ids), -EINVAL);
	assert_alive(fd, node, handle);
	test_expect_empty(fd);

	/* The other peer was never touched. */
	assert_alive(other, other_node, other_handle);
	test_expect_empty(other);
	close(fd);
	close(other);
}

static void test_release_never_reused(void **state)
{
	uint64_t node, handle, seen[200];
	int fd = test_peer(), i, j;

	(void)state;
	for (i = 0; i < 100; ++i) {
		uint64_t ids[2];

		test_node(fd, -1, &node, &handle);
		seen[2 * i] = node;
		seen[2 * i + 1] = handle;
		ids[0] = node;
		ids[1] = handle;
		assert_int_equal(bus1_cmd_release(fd, 2, ids), 0);
	}
	for (i = 0; i < 200; ++i)
		for (j = 0; j < i; ++j)
			assert_int_not_equal(seen[i], seen[j]);
	test_expect_empty(fd);
	close(fd);
}

static void test_release_many(void **state)
{
	uint64_t max = test_param("max_items"), n = max < 4096 ? max : 4096, i;
	struct bus1_transfer *src = calloc(n, sizeof(*src));
	struct bus1_transfer *dst = calloc(n, sizeof(*dst));
	uint64_t *ids = calloc(n, sizeof(*ids));
	int fd = test_peer();

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	assert_non_null(ids);
	double t0 = test_now(), t1, t2;

	for (i = 0; i < n; ++i)
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
	assert_int_equal(bus1_cmd_transfer(0, fd, -1, n, src, dst), 0);
	t1 = test_now();
	for (i = 0; i < n; ++i)
		ids[i] = (i % 2) ? src[i].id : dst[i].id;
	/* Element i at ids + i: every one of them must be released. */
	assert_int_equal(bus1_cmd_release(fd, n, ids), 0);
	t2 = test_now();
	/* Every 16th and the last (a wrong stride fails at any index > 0;
	 * one ioctl per ID costs too much in the emulated guest for all). */
	for (i = 0; i < n; i += (i + 16 < n || i == n - 1) ? 16 : n - 1 - i)
		assert_int_equal(bus1_cmd_release(fd, 1, &ids[i]), -EBADRQC);
	print_message("%llu creates %.2f s, one release %.2f s, "
		      "checks %.2f s\n", (unsigned long long)n, t1 - t0,
		      t2 - t1, test_now() - t2);
	free(src);
	free(dst);
	free(ids);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_basic),
		cmocka_unit_test(test_release_duplicate),
		cmocka_unit_test(test_release_zero),
		cmocka_unit_test(test_release_raw),
		cmocka_unit_test(test_release_errors),
		cmocka_unit_test(test_release_never_reused),
		cmocka_unit_test(test_release_many),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
