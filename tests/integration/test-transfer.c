/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * TRANSFER: node creation, handle copies between peers, managed IDs, and
 * every documented error, each followed by a check that nothing changed.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

static void test_create_self(void **state)
{
	uint64_t node, handle;
	int fd = test_peer();

	(void)state;
	test_node(fd, -1, &node, &handle);
	/* Counter starts at 0: the first two IDs of a fresh peer are 1, 3. */
	assert_true((node == 1 && handle == 3) || (node == 3 && handle == 1));
	assert_int_not_equal(node, handle);

	test_send_ok(fd, handle, "x", 1);
	test_expect_user(fd, node, "x", 1);
	test_expect_empty(fd);
	close(fd);
}

static void test_create_other(void **state)
{
	uint64_t node, handle;
	int a = test_peer(), b = test_peer();

	(void)state;
	test_node(a, b, &node, &handle);
	assert_int_equal(node, 1);
	assert_int_equal(handle, 1);

	test_send_ok(b, handle, "via b", 5);
	test_expect_user(a, node, "via b", 5);
	test_expect_empty(b);
	close(a);
	close(b);
}

static void test_ids_managed_growing(void **state)
{
	uint64_t node, handle, last = 0, ids[2];
	int fd = test_peer(), i;

	(void)state;
	for (i = 0; i < 20; ++i) {
		test_node(fd, -1, &node, &handle);
		assert_true(node & BUS1_MANAGED);
		assert_true(handle & BUS1_MANAGED);
		assert_true(node > last && handle > last);
		last = node > handle ? node : handle;
		ids[0] = node;
		ids[1] = handle;
		if (i % 2)
			assert_int_equal(bus1_cmd_release(fd, 2, ids), 0);
	}
	/* Released IDs are not reused: a later create never goes back. */
	test_node(fd, -1, &node, &handle);
	assert_true(node > last && handle > last);
	close(fd);
}

static void test_multi_and_stride(void **state)
{
	struct bus1_transfer src[4], dst[4];
	uint64_t n[4], h[4];
	int a = test_peer(), b = test_peer(), i, j;

	(void)state;
	for (i = 0; i < 4; ++i) {
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
		dst[i] = (struct bus1_transfer){ 9, 9 };
	}
	assert_int_equal(bus1_cmd_transfer(0, a, b, 4, src, dst), 0);
	for (i = 0; i < 4; ++i) {
		assert_int_equal(src[i].flags, 0);
		assert_int_equal(dst[i].flags, 0);
		n[i] = src[i].id;
		h[i] = dst[i].id;
		for (j = 0; j < i; ++j) {
			assert_int_not_equal(n[i], n[j]);
			assert_int_not_equal(h[i], h[j]);
		}
	}
	/* Each handle reaches its own node: element i pairs with element i. */
	for (i = 0; i < 4; ++i) {
		char c = 'a' + i;

		test_send_ok(b, h[i], &c, 1);
		test_expect_user(a, n[i], &c, 1);
	}

	/* Copy all four handles from b to a in one call (non-CREATE). */
	for (i = 0; i < 4; ++i)
		src[i] = (struct bus1_transfer){ 0, h[i] };
	assert_int_equal(bus1_cmd_transfer(0, b, a, 4, src, dst), 0);
	for (i = 0; i < 4; ++i) {
		char c = 'A' + i;

		assert_int_equal(src[i].id, h[i]);
		test_send_ok(a, dst[i].id, &c, 1);
		test_expect_user(a, n[i], &c, 1);
	}
	close(a);
	close(b);
}

static void test_no_dedup(void **state)
{
	uint64_t node, handle, h1, h2;
	int a = test_peer(), b = test_peer();

	(void)state;
	test_node(a, -1, &node, &handle);
	h1 = test_handle(a, b, handle);
	h2 = test_handle(a, b, handle);
	assert_int_not_equal(h1, h2);
	test_send_ok(b, h1, "1", 1);
	test_send_ok(b, h2, "2", 1);
	test_expect_user(a, node, "1", 1);
	test_expect_user(a, node, "2", 1);

	/* Releasing one copy leaves the other usable. */
	assert_int_equal(bus1_cmd_release(b, 1, &h1), 0);
	test_send_ok(b, h2, "3", 1);
	test_expect_user(a, node, "3", 1);
	close(a);
	close(b);
}

static void test_n_zero(void **state)
{
	struct bus1_transfer src, dst;
	int fd = test_peer();

	(void)state;
	assert_int_equal(bus1_cmd_transfer(0, fd, -1, 0, NULL, NULL), 0);
	assert_int_equal(bus1_cmd_transfer(0, fd, -1, 0, &src, &dst), 0);
	assert_int_equal(test_raw_transfer(fd, 0, BUS1_INVALID, 0, NULL, NULL),
			 0);
	test_assert_next_ids(fd, 0);
	close(fd);
}

static void test_raw_path(void **state)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;
	int a = test_peer(), b = test_peer();
	uint64_t node;

	(void)state;
	assert_int_equal(test_raw_transfer(a, 0, BUS1_INVALID, 1, &src, &dst),
			 0);
	assert_int_equal(src.flags, 0);
	node = src.id;
	test_send_ok(a, dst.id, "r", 1);
	test_expect_user(a, node, "r", 1);

	src = (struct bus1_transfer){ 0, dst.id };
	assert_int_equal(test_raw_transfer(a, 0, (uint64_t)b, 1, &src, &dst),
			 0);
	test_send_ok(b, dst.id, "s", 1);
	test_expect_user(a, node, "s", 1);
	close(a);
	close(b);
}

/*
 * Runs one failing transfer from a fresh peer a (after one successful
 * create, whose handle replaces any src[i].id of 0) to a fresh peer b (or
 * @to_override), then checks that neither peer's ID sequence nor queue
 * changed and the existing handle still works.
 */
static void check_fails(int expected, uint64_t flags, uint64_t to_override,
			struct bus1_transfer *src, size_t n, int use_raw,
			void *src_ptr, void *dst_ptr)
{
	struct bus1_transfer dst[8];
	int a = test_peer(), b = test_peer();
	uint64_t node, handle, to;
	size_t i;
	int r;

	test_node(a, -1, &node, &handle);
	for (i = 0; i < n; ++i)
		if (src[i].id == 0)
			src[i].id = handle;

	to = to_override ? to_override : (uint64_t)b;
	if (use_raw)
		r = test_raw_transfer(a, flags, to, n,
				      src_ptr ? src_ptr : src,
				      dst_ptr ? dst_ptr : dst);
	else
		r = bus1_cmd_transfer(flags, a, (int)to, n,
				      src_ptr ? src_ptr : src,
				      dst_ptr ? dst_ptr : dst);
	assert_int_equal(r, expected);

	test_assert_next_ids(a, 1);
	test_assert_next_ids(b, 0);
	test_expect_empty(a);
	test_expect_empty(b);
	/* The existing handle still works. */
	test_send_ok(a, handle, "ok", 2);
	test_expect_user(a, node, "ok", 2);
	close(a);
	close(b);
}

static void test_err_flags(void **state)
{
	struct bus1_transfer src[2];

	(void)state;
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
					 BUS1_INVALID };
	check_fails(-EINVAL, 1, 0, src, 1, 0, NULL, NULL);
	check_fails(-EINVAL, 1ULL << 63, 0, src, 1, 1, NULL, NULL);

	/* Second element bad: the first (valid CREATE) must not happen. */
	src[1] = (struct bus1_transfer){ 2, BUS1_INVALID };
	check_fails(-EINVAL, 0, 0, src, 2, 0, NULL, NULL);
	src[1] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE | 2,
					 BUS1_INVALID };
	check_fails(-EINVAL, 0, 0, src, 2, 1, NULL, NULL);
	/* CREATE needs id == BUS1_INVALID. */
	src[1] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, 0 };
	check_fails(-EINVAL, 0, 0, src, 2, 0, NULL, NULL);
	src[1] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, 1 };
	check_fails(-EINVAL, 0, 0, src, 2, 0, NULL, NULL);
}

static void test_err_badrqc(void **state)
{
	struct bus1_transfer src[2];

	(void)state;
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
					 BUS1_INVALID };
	/* Unknown IDs. */
	src[1] = (struct bus1_transfer){ 0, 1001 };
	check_fails(-EBADRQC, 0, 0, src, 2, 0, NULL, NULL);
	src[1] = (struct bus1_transfer){ 0, BUS1_INVALID };
	check_fails(-EBADRQC, 0, 0, src, 2, 1, NULL, NULL);
	src[1] = (struct bus1_transfer){ 0, 2 };
	check_fails(-EBADRQC, 0, 0, src, 2, 0, NULL, NULL);
	/* The peer's own node ID used as a handle. */
	{
		int a = test_peer(), b = test_peer();
		uint64_t node, handle;
		struct bus1_transfer s[2], d[2];

		test_node(a, -1, &node, &handle);
		s[0] = (struct bus1_transfer){ 0, handle };
		s[1] = (struct bus1_transfer){ 0, node };
		assert_int_equal(bus1_cmd_transfer(0, a, b, 2, s, d),
				 -EBADRQC);
		assert_int_equal(bus1_cmd_transfer(0, a, -1, 1, &s[1], d),
				 -EBADRQC);
		test_assert_next_ids(a, 1);
		test_assert_next_ids(b, 0);
		test_expect_empty(b);
		close(a);
		close(b);
	}
}

static void test_err_released_handle(void **state)
{
	struct bus1_transfer src, dst;
	uint64_t node, handle;
	int a = test_peer();

	(void)state;
	test_node(a, -1, &node, &handle);
	assert_int_equal(bus1_cmd_release(a, 1, &handle), 0);
	src = (struct bus1_transfer){ 0, handle };
	assert_int_equal(bus1_cmd_transfer(0, a, -1, 1, &src, &dst), -EBADRQC);
	close(a);
}

static void test_err_to_fd(void **state)
{
	struct bus1_transfer src[1];
	int devnull, pipefd[2];

	(void)state;
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
					 BUS1_INVALID };
	/* Not an open fd. */
	check_fails(-EBADF, 0, 987654, src, 1, 0, NULL, NULL);
	check_fails(-EBADF, 0, 987654, src, 1, 1, NULL, NULL);
	/* Not representable as int. */
	check_fails(-EBADF, 0, (uint64_t)INT_MAX + 1, src, 1, 1, NULL, NULL);
	check_fails(-EBADF, 0, 1ULL << 32, src, 1, 1, NULL, NULL);
	check_fails(-EBADF, 0, BUS1_INVALID - 1, src, 1, 1, NULL, NULL);
	/* A negative fd other than -1 through the library. */
	{
		int a = test_peer();
		struct bus1_transfer d;

		src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
		assert_int_equal(bus1_cmd_transfer(0, a, -2, 1, src, &d),
				 -EBADF);
		test_assert_next_ids(a, 0);
		close(a);
	}

	/* Open fds that are not bus1 peers. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(devnull >= 0);
	assert_int_equal(pipe(pipefd), 0);
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
					 BUS1_INVALID };
	check_fails(-EOPNOTSUPP, 0, (uint64_t)devnull, src, 1, 0, NULL, NULL);
	check_fails(-EOPNOTSUPP, 0, (uint64_t)pipefd[0], src, 1, 1, NULL,
		    NULL);
	close(devnull);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void test_err_fault(void **state)
{
	struct bus1_transfer src[2];
	void *bad = test_bad_ptr();
	uint64_t n;
	int fd;

	(void)state;
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
					 BUS1_INVALID };
	check_fails(-EFAULT, 0, 0, src, 1, 0, bad, NULL);
	check_fails(-EFAULT, 0, 0, src, 1, 1, NULL, bad);
	check_fails(-EFAULT, 0, 0, src, 1, 0, NULL, bad);
	/* src array running off the end of the mapping. */
	check_fails(-EFAULT, 0, 0, src, 1, 1,
		    (char *)bad - sizeof(struct bus1_transfer) / 2, NULL);

	/* The command structure itself. */
	fd = test_peer();
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_TRANSFER, bad), -EFAULT);
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_TRANSFER, NULL), -EFAULT);
	test_assert_next_ids(fd, 0);
	close(fd);

	/* Counts: beyond max_items is EINVAL, before any pointer is used. */
	n = test_param("max_items");
	fd = test_peer();
	assert_int_equal(test_raw_transfer(fd, 0, BUS1_INVALID, n + 1, src,
					   src), -EINVAL);
	assert_int_equal(test_raw_transfer(fd, 0, BUS1_INVALID, BUS1_INVALID,
					   src, src), -EINVAL);
	test_assert_next_ids(fd, 0);
	close(fd);
}

static void test_max_items_exact(void **state)
{
	struct bus1_transfer *src, *dst;
	uint64_t n = test_param("max_items"), i;
	int fd = test_peer();

	(void)state;
	if (n > 65536)
		n = 65536;
	src = calloc(n, sizeof(*src));
	dst = calloc(n, sizeof(*dst));
	assert_non_null(src);
	assert_non_null(dst);
	for (i = 0; i < n; ++i)
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
	/* Exactly max_items is allowed. */
	assert_int_equal(bus1_cmd_transfer(0, fd, -1, n, src, dst), 0);
	assert_int_equal(src[n - 1].flags, 0);
	assert_true(dst[n - 1].id & BUS1_MANAGED);
	test_send_ok(fd, dst[n - 1].id, "z", 1);
	test_expect_user(fd, src[n - 1].id, "z", 1);
	free(src);
	free(dst);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_self),
		cmocka_unit_test(test_create_other),
		cmocka_unit_test(test_ids_managed_growing),
		cmocka_unit_test(test_multi_and_stride),
		cmocka_unit_test(test_no_dedup),
		cmocka_unit_test(test_n_zero),
		cmocka_unit_test(test_raw_path),
		cmocka_unit_test(test_err_flags),
		cmocka_unit_test(test_err_badrqc),
		cmocka_unit_test(test_err_released_handle),
		cmocka_unit_test(test_err_to_fd),
		cmocka_unit_test(test_err_fault),
		cmocka_unit_test(test_max_items_exact),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
