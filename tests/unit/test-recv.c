/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * RECV: argument checks before the queue, EAGAIN, EMSGSIZE with needed
 * sizes, lend/commit/abort and the readable state around them.
 */

#include "util.h"

typedef struct Fixture {
	T *t;
	uint64_t node, handle, x, hx;
} Fixture;

static Fixture setup(void)
{
	Fixture f = { .t = t_new() };

	assert_int_equal(t_peer_new(f.t, 1, 100), 0);
	assert_int_equal(t_peer_new(f.t, 2, 200), 0);
	f.node = t_node(f.t, 2, 1, &f.handle);
	f.x = t_node(f.t, 1, 1, &f.hx);
	return f;
}

static void test_empty(void **state)
{
	Fixture f = setup();

	(void)state;
	assert_int_equal(t_recv(f.t, 2, NULL), -EAGAIN);
	/* SHORT_IOVEC with nothing queued is EAGAIN too */
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 8, 8,
				     BUS1_ENGINE_RECV_SHORT_IOVEC, T_LEND, NULL),
			 -EAGAIN);
	t_free(f.t);
}

static void test_invalid_args(void **state)
{
	Fixture f = setup();
	uint64_t fp;
	int i;

	(void)state;
	for (i = 0; i < 2; ++i) {
		/* checked before the queue: EINVAL whether empty or not */
		fp = t_fp(f.t);
		assert_int_equal(t_recv_full(f.t, 2, 1, 0, BUS1_INVALID, 8, 8, 0,
					     T_LEND, NULL), -EINVAL);
		assert_int_equal(t_recv_full(f.t, 2, 0, 1, BUS1_INVALID, 8, 8, 0,
					     T_LEND, NULL), -EINVAL);
		assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_MESSAGE_TYPE_USER,
					     8, 8, 0, T_LEND, NULL), -EINVAL);
		assert_int_equal(t_fp(f.t), fp);
		assert_int_equal(t_send(f.t, 1, 1, &f.handle, 0, NULL, "m"), 0);
	}
	t_expect_user(f.t, 2, f.node, "m", 0, NULL);
	t_expect_user(f.t, 2, f.node, "m", 0, NULL);
	t_free(f.t);
}

static void test_emsgsize(void **state)
{
	uint64_t xfer[3], fp;
	Fixture f = setup();
	TRecv r;

	(void)state;
	xfer[0] = xfer[1] = xfer[2] = f.hx;
	assert_int_equal(t_send(f.t, 1, 1, &f.handle, 3, xfer, "0123456789"), 0);
	fp = t_fp(f.t);

	/* both needed sizes come back, whichever was too small */
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 2, 100, 0,
				     T_LEND, &r), -EMSGSIZE);
	assert_int_equal(r.n_transfers, 3);
	assert_int_equal(r.n_data, 10);
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 3, 9, 0,
				     T_LEND, &r), -EMSGSIZE);
	assert_int_equal(r.n_transfers, 3);
	assert_int_equal(r.n_data, 10);
	/* a short iovec fails even when the sizes fit */
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 3, 10,
				     BUS1_ENGINE_RECV_SHORT_IOVEC, T_LEND, &r),
			 -EMSGSIZE);
	assert_int_equal(r.n_transfers, 3);
	assert_int_equal(r.n_data, 10);
	assert_int_equal(t_fp(f.t), fp);
	assert_int_equal(f.t->readable[2], 1);

	/* exact sizes fit */
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 3, 10, 0,
				     T_COMMIT, &r), 0);
	assert_int_equal(r.n_transfers, 3);
	assert_memory_equal(r.data, "0123456789", 10);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

static void test_lend_abort_commit(void **state)
{
	uint64_t fp, seq;
	Fixture f = setup();
	TRecv r, r2;

	(void)state;
	assert_int_equal(t_send(f.t, 1, 1, &f.handle, 1, &f.hx, "one"), 0);
	assert_int_equal(f.t->readable[2], 1);
	fp = t_fp(f.t);

	/* lending the only item makes the peer unreadable, reported before
	 * the reply; abort puts it back unchanged */
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 8, 64, 0,
				     T_LEND, &r), 0);
	assert_int_equal(f.t->n_states, 1);
	assert_int_equal(f.t->readable[2], 0);
	/* no second RECV while an item is lent */
	assert_int_equal(t_recv(f.t, 2, NULL), -EINVAL);
	/* a RECV_DONE naming another seq is ignored */
	t_recv_done(f.t, 2, r.seq + 1, 1);
	assert_int_equal(f.t->readable[2], 0);
	t_recv_done(f.t, 2, r.seq, 0);
	assert_int_equal(f.t->n_states, 1);
	assert_int_equal(f.t->readable[2], 1);
	assert_int_equal(t_fp(f.t), fp);

	/* the same item again, with the same handle IDs */
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 8, 64, 0,
				     T_LEND, &r2), 0);
	assert_int_equal(r2.id, r.id);
	assert_int_equal(r2.ids[0], r.ids[0]);
	assert_memory_equal(r2.data, "one", 3);
	seq = r2.seq;
	/* the handle is not mapped before commit */
	assert_int_equal(t_release(f.t, 2, 0, 1, &r2.ids[0]), -EBADRQC);
	t_recv_done(f.t, 2, seq, 1);
	assert_int_equal(f.t->n_states, 0);
	t_expect_empty(f.t, 2);
	/* the received handle works */
	assert_int_equal(t_send(f.t, 2, 1, &r.ids[0], 0, NULL, "back"), 0);
	t_expect_user(f.t, 1, f.x, "back", 0, NULL);
	/* settling twice does nothing */
	fp = t_fp(f.t);
	t_recv_done(f.t, 2, seq, 1);
	assert_int_equal(t_fp(f.t), fp);
	t_free(f.t);
}

static void test_lent_not_readable(void **state)
{
	Fixture f = setup();
	TRecv r;

	(void)state;
	assert_int_equal(t_send(f.t, 1, 1, &f.handle, 0, NULL, "a"), 0);
	assert_int_equal(t_send(f.t, 1, 1, &f.handle, 0, NULL, "b"), 0);
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 8, 64, 0,
				     T_LEND, &r), 0);
	assert_int_equal(f.t->n_states, 0);
	assert_int_equal(f.t->readable[2], 1);
	/* a send while lent queues behind */
	assert_int_equal(t_send(f.t, 1, 1, &f.handle, 0, NULL, "c"), 0);
	assert_int_equal(f.t->n_states, 0);
	t_recv_done(f.t, 2, r.seq, 0);
	t_expect_user(f.t, 2, f.node, "a", 0, NULL);
	t_expect_user(f.t, 2, f.node, "b", 0, NULL);
	t_expect_user(f.t, 2, f.node, "c", 0, NULL);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

static void test_abort_to_empty(void **state)
{
	Fixture f = setup();
	TRecv r;

	(void)state;
	assert_int_equal(t_send(f.t, 1, 1, &f.handle, 0, NULL, "a"), 0);
	assert_int_equal(t_recv_full(f.t, 2, 0, 0, BUS1_INVALID, 8, 64, 0,
				     T_LEND, &r), 0);
	assert_int_equal(f.t->readable[2], 0);
	t_recv_done(f.t, 2, r.seq, 0);
	assert_int_equal(f.t->n_states, 1);
	t_assert_readable(f.t, 2, 1);
	t_expect_user(f.t, 2, f.node, "a", 0, NULL);
	t_assert_readable(f.t, 2, 0);
	t_free(f.t);
}

static void test_fifo(void **state)
{
	char buf[4] = "m0";
	Fixture f = setup();
	int i;

	(void)state;
	for (i = 0; i < 10; ++i) {
		buf[1] = '0' + i;
		assert_int_equal(t_send(f.t, 1, 1, &f.handle, 0, NULL, buf), 0);
	}
	for (i = 0; i < 10; ++i) {
		buf[1] = '0' + i;
		t_expect_user(f.t, 2, f.node, buf, 0, NULL);
	}
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_emsgsize),
		cmocka_unit_test(test_lend_abort_commit),
		cmocka_unit_test(test_lent_not_readable),
		cmocka_unit_test(test_abort_to_empty),
		cmocka_unit_test(test_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
