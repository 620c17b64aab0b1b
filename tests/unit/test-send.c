/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * SEND: one atomic transaction, a copy per destination, fresh handles per
 * copy, silent discard for released nodes.
 */

#include <string.h>
#include "util.h"

typedef struct Fixture {
	T *t;
	uint64_t n2, n3;	/* nodes of peers 2 and 3 */
	uint64_t h2, h3;	/* peer 1's handles to them */
	uint64_t x, hx;		/* a node of peer 4 and 1's handle to it */
} Fixture;

static Fixture setup(void)
{
	Fixture f = { .t = t_new() };

	assert_int_equal(t_peer_new(f.t, 1, 100), 0);
	assert_int_equal(t_peer_new(f.t, 2, 200), 0);
	assert_int_equal(t_peer_new(f.t, 3, 300), 0);
	assert_int_equal(t_peer_new(f.t, 4, 400), 0);
	f.n2 = t_node(f.t, 2, 1, &f.h2);
	f.n3 = t_node(f.t, 3, 1, &f.h3);
	f.x = t_node(f.t, 4, 1, &f.hx);
	return f;
}

static void test_unicast(void **state)
{
	Fixture f = setup();
	TRecv r;

	(void)state;
	assert_int_equal(t_send(f.t, 1, 1, &f.h2, 0, NULL, "hello"), 0);
	assert_int_equal(t_recv(f.t, 2, &r), 0);
	assert_int_equal(r.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(r.id, f.n2);
	assert_int_equal(r.account, 100);
	assert_int_equal(r.n_data, 5);
	assert_memory_equal(r.data, "hello", 5);
	assert_int_equal(r.n_transfers, 0);
	t_expect_empty(f.t, 2);
	t_expect_empty(f.t, 1);

	/* empty payload */
	assert_int_equal(t_send(f.t, 1, 1, &f.h2, 0, NULL, ""), 0);
	t_expect_user(f.t, 2, f.n2, "", 0, NULL);
	t_free(f.t);
}

static void test_exact_payload(void **state)
{
	const uint8_t data[11] = "0123456789";
	Fixture f = setup();
	TRecv r;

	(void)state;
	/* exactly n_data bytes, arbitrary bytes, padding not delivered */
	assert_int_equal(t_send_full(f.t, 1, 0, 0, 0, 1, &f.h2, 0, NULL,
				     data, 3), 0);
	assert_int_equal(t_recv(f.t, 2, &r), 0);
	assert_int_equal(r.n_data, 3);
	assert_memory_equal(r.data, "012", 3);
	t_free(f.t);
}

static void test_multicast(void **state)
{
	uint64_t dst[4];
	Fixture f = setup();

	(void)state;
	dst[0] = f.h2;
	dst[1] = f.h3;
	dst[2] = f.h2;
	dst[3] = f.hx;
	assert_int_equal(t_send(f.t, 1, 4, dst, 0, NULL, "all"), 0);
	/* a destination listed twice gets two copies */
	t_expect_user(f.t, 2, f.n2, "all", 0, NULL);
	t_expect_user(f.t, 2, f.n2, "all", 0, NULL);
	t_expect_empty(f.t, 2);
	t_expect_user(f.t, 3, f.n3, "all", 0, NULL);
	t_expect_empty(f.t, 3);
	t_expect_user(f.t, 4, f.x, "all", 0, NULL);
	t_expect_empty(f.t, 4);
	t_free(f.t);
}

static void test_transfers(void **state)
{
	uint64_t dst[3], xfer[2], ids2a[2], ids2b[2], ids3[2], h;
	Fixture f = setup();

	(void)state;
	dst[0] = f.h2;
	dst[1] = f.h3;
	dst[2] = f.h2;
	xfer[0] = f.hx;
	xfer[1] = f.hx;
	assert_int_equal(t_send(f.t, 1, 3, dst, 2, xfer, "caps"), 0);

	/* handle IDs were assigned at send time, in each receiver */
	t_expect_user(f.t, 2, f.n2, "caps", 2, ids2a);
	t_expect_user(f.t, 2, f.n2, "caps", 2, ids2b);
	t_expect_user(f.t, 3, f.n3, "caps", 2, ids3);
	assert_int_equal(ids2a[0], ID(1));
	assert_int_equal(ids2a[1], ID(2));
	assert_int_equal(ids2b[0], ID(3));
	assert_int_equal(ids2b[1], ID(4));
	assert_int_equal(ids3[0], ID(1));
	assert_int_equal(ids3[1], ID(2));

	/* each is a real, distinct handle to x */
	assert_int_equal(t_send(f.t, 2, 2, ids2b, 0, NULL, "a"), 0);
	assert_int_equal(t_send(f.t, 3, 1, &ids3[1], 0, NULL, "b"), 0);
	t_expect_user(f.t, 4, f.x, "a", 0, NULL);
	t_expect_user(f.t, 4, f.x, "a", 0, NULL);
	t_expect_user(f.t, 4, f.x, "b", 0, NULL);

	/* the next ID in 2 comes after those */
	h = t_handle(f.t, 2, ids2a[0], 2);
	assert_int_equal(h, ID(5));
	t_free(f.t);
}

static void test_zero_destinations(void **state)
{
	uint64_t fp;
	Fixture f = setup();

	(void)state;
	fp = t_fp(f.t);
	assert_int_equal(t_send(f.t, 1, 0, NULL, 1, &f.hx, "nobody"), 0);
	assert_int_equal(t_fp(f.t), fp);
	t_free(f.t);
}

static void test_errors(void **state)
{
	struct bus1_transfer xfer[2];
	uint64_t dst[2], fp;
	Fixture f = setup();

	(void)state;
	fp = t_fp(f.t);
	dst[0] = f.h2;
	dst[1] = f.h3;
	xfer[0] = (struct bus1_transfer){ 0, f.hx };
	xfer[1] = (struct bus1_transfer){ 0, f.hx };

	assert_int_equal(t_send_full(f.t, 1, 1, 0, 0, 2, dst, 0, NULL, "a", 1), -EINVAL);
	assert_int_equal(t_send_full(f.t, 1, 0, 1, 0, 2, dst, 0, NULL, "a", 1), -EINVAL);
	assert_int_equal(t_send_full(f.t, 1, 0, 0, BUS1_MESSAGE_TYPE_NODE_RELEASE,
				     2, dst, 0, NULL, "a", 1), -EINVAL);
	assert_int_equal(t_send_full(f.t, 1, 0, 0, BUS1_MESSAGE_TYPE_HANDLE_RELEASE,
				     2, dst, 0, NULL, "a", 1), -EINVAL);
	assert_int_equal(t_send_full(f.t, 1, 0, 0, BUS1_INVALID,
				     2, dst, 0, NULL, "a", 1), -EINVAL);
	/* CREATE is refused in SEND, as is any transfer flag */
	xfer[1] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	assert_int_equal(t_send_full(f.t, 1, 0, 0, 0, 2, dst, 2, xfer, "a", 1), -EINVAL);
	xfer[1] = (struct bus1_transfer){ 2, f.hx };
	assert_int_equal(t_send_full(f.t, 1, 0, 0, 0, 2, dst, 2, xfer, "a", 1), -EINVAL);
	/* EINVAL even with zero destinations */
	assert_int_equal(t_send_full(f.t, 1, 0, 0, 0, 0, NULL, 2, xfer, "a", 1), -EINVAL);
	assert_int_equal(t_fp(f.t), fp);

	/* destinations and transfers must be handles of the caller */
	xfer[1] = (struct bus1_transfer){ 0, f.hx };
	dst[1] = ID(50);
	assert_int_equal(t_send_full(f.t, 1, 0, 0, 0, 2, dst, 2, xfer, "a", 1), -EBADRQC);
	dst[1] = f.n2;	/* a node of 2, not a handle of 1 */
	assert_int_equal(t_send_full(f.t, 2, 0, 0, 0, 1, &dst[1], 0, NULL, "a", 1), -EBADRQC);
	dst[1] = f.h3;
	xfer[1] = (struct bus1_transfer){ 0, ID(50) };
	assert_int_equal(t_send_full(f.t, 1, 0, 0, 0, 2, dst, 2, xfer, "a", 1), -EBADRQC);
	xfer[1] = (struct bus1_transfer){ 0, f.n2 };
	assert_int_equal(t_send_full(f.t, 2, 0, 0, 0, 0, NULL, 2, xfer, "a", 1), -EBADRQC);
	assert_int_equal(t_fp(f.t), fp);
	t_expect_empty(f.t, 2);
	t_expect_empty(f.t, 3);
	t_free(f.t);
}

static void test_released_destination(void **state)
{
	uint64_t dst[2], ids[1];
	Fixture f = setup();

	(void)state;
	assert_int_equal(t_release(f.t, 2, 0, 1, &f.n2), 0);

	/* 1 has not received NODE_RELEASE yet: sends succeed, 2 gets none */
	dst[0] = f.h2;
	dst[1] = f.h3;
	assert_int_equal(t_send(f.t, 1, 2, dst, 1, &f.hx, "late"), 0);
	t_expect_empty(f.t, 2);
	t_expect_user(f.t, 3, f.n3, "late", 1, ids);
	/* no handle was created for the discarded copy */
	assert_int_equal(ids[0], ID(1));
	t_expect_notify(f.t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, f.h2);
	t_expect_empty(f.t, 1);
	assert_int_equal(t_send(f.t, 1, 1, &f.h2, 0, NULL, "gone"), -EBADRQC);
	t_free(f.t);
}

static void test_released_transfer(void **state)
{
	uint64_t ids[1];
	Fixture f = setup();

	(void)state;
	assert_int_equal(t_release(f.t, 4, 0, 1, &f.x), 0);
	/* the copy of a handle to a released node hears of the release,
	 * right after the message that carries it */
	assert_int_equal(t_send(f.t, 1, 1, &f.h2, 1, &f.hx, "dead"), 0);
	t_expect_user(f.t, 2, f.n2, "dead", 1, ids);
	t_expect_notify(f.t, 2, BUS1_MESSAGE_TYPE_NODE_RELEASE, ids[0]);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

static void test_enomem(void **state)
{
	uint64_t dst[3], xfer[2], fp;
	Fixture f = setup();
	long nth;
	int r;

	(void)state;
	dst[0] = f.h2;
	dst[1] = f.h3;
	dst[2] = f.h2;
	xfer[0] = f.hx;
	xfer[1] = f.h3;
	fp = t_fp(f.t);
	for (nth = 0;; ++nth) {
		t_fail_alloc(nth);
		r = t_send(f.t, 1, 3, dst, 2, xfer, "atomic");
		t_fail_none();
		if (!r)
			break;
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(t_fp(f.t), fp);
		assert_false(t_readable(f.t, 2));
		assert_false(t_readable(f.t, 3));
	}
	assert_true(nth >= 9);
	t_expect_user(f.t, 2, f.n2, "atomic", 2, NULL);
	t_expect_user(f.t, 2, f.n2, "atomic", 2, NULL);
	t_expect_user(f.t, 3, f.n3, "atomic", 2, NULL);
	t_free(f.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unicast),
		cmocka_unit_test(test_exact_payload),
		cmocka_unit_test(test_multicast),
		cmocka_unit_test(test_transfers),
		cmocka_unit_test(test_zero_destinations),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_released_destination),
		cmocka_unit_test(test_released_transfer),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
