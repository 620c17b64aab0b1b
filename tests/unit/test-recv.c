/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Lending: ITEM records ahead of RECV, the window (items and bytes) and
 * its refill after RECV_DONE, cumulative RECV_DONE, FETCH, RETRACT, the
 * order of RETRACT, ITEM and PEER_STATE records, and lending as a best
 * effort when memory runs out.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/bus.h"
#include "core/peer.h"
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

static Peer *engine_peer(T *t, uint64_t id)
{
	Peer *peer = bus_find_peer(engine_bus(t->engine), id);

	assert_non_null(peer);
	return peer;
}

static void send_n(Fixture *f, unsigned int n)
{
	char buf[16];
	unsigned int i;

	for (i = 0; i < n; ++i) {
		snprintf(buf, sizeof(buf), "m%u", i);
		assert_int_equal(t_send(f->t, 1, 1, &f->handle, 0, NULL, buf), 0);
	}
}

static void expect_n(Fixture *f, unsigned int from, unsigned int to)
{
	char buf[16];
	unsigned int i;

	for (i = from; i < to; ++i) {
		snprintf(buf, sizeof(buf), "m%u", i);
		t_expect_user(f->t, 2, f->node, buf, 0, NULL);
	}
}

static void test_empty(void **state)
{
	Fixture f = setup();
	uint64_t fp = t_fp(f.t);

	(void)state;
	assert_int_equal(t_recv(f.t, 2, NULL), -EAGAIN);
	/* FETCH with nothing queued lends nothing and succeeds */
	assert_int_equal(t_fetch(f.t, 2), 0);
	assert_int_equal(f.t->n_items, 0);
	assert_int_equal(t_fp(f.t), fp);
	/* FETCH carries no payload */
	{
		uint8_t rec[40];

		assert_int_equal(t_raw(f.t, rec, t_rec(rec, BUS1_ENGINE_FETCH,
						       ++f.t->seq, 2, "x", 1)), 1);
		assert_int_equal(f.t->error, -EINVAL);
	}
	t_free(f.t);
}

/* A SEND lends the item at once, before its reply; the receiver is never
 * reported readable, as nothing stays queued. */
static void test_lend_on_send(void **state)
{
	Fixture f = setup();
	uint64_t ids[1];
	TRecv r;

	(void)state;
	assert_int_equal(t_send(f.t, 1, 1, &f.handle, 1, &f.hx, "one"), 0);
	assert_string_equal(f.t->order, "I2 ");
	assert_int_equal(f.t->n_states, 0);
	assert_int_equal(t_held(f.t, 2), 1);
	assert_true(t_readable(f.t, 2));
	t_check(f.t, 2);

	assert_int_equal(t_recv_full(f.t, 2, T_DEFER, &r), 0);
	assert_int_equal(r.token, 1);
	assert_int_equal(r.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(r.id, f.node);
	assert_int_equal(r.account, 100);
	assert_int_equal(r.n_transfers, 1);
	assert_int_equal(r.n_data, 3);
	assert_memory_equal(r.data, "one", 3);
	/* the handle is mapped only when RECV_DONE commits the item */
	assert_null(peer_lookup(engine_peer(f.t, 2), r.ids[0]));
	t_settle(f.t);
	assert_non_null(peer_lookup(engine_peer(f.t, 2), r.ids[0]));
	t_expect_empty(f.t, 2);
	/* the received handle works */
	ids[0] = r.ids[0];
	assert_int_equal(t_send(f.t, 2, 1, ids, 0, NULL, "back"), 0);
	t_expect_user(f.t, 1, f.x, "back", 0, NULL);
	t_free(f.t);
}

/*
 * The window holds LEND_MAX_ITEMS items: the next SEND queues, and the
 * receiver is reported readable. Each RECV_DONE lends as many as it frees.
 */
static void test_window_items(void **state)
{
	Fixture f = setup();
	unsigned int i;

	(void)state;
	send_n(&f, LEND_MAX_ITEMS);
	assert_int_equal(t_held(f.t, 2), LEND_MAX_ITEMS);
	assert_int_equal(f.t->peers[2].state, 0);
	send_n(&f, 1);
	assert_int_equal(f.t->n_items, 0);
	assert_string_equal(f.t->order, "S2 ");
	assert_int_equal(f.t->peers[2].state, 1);
	for (i = 0; i < 3; ++i)
		assert_int_equal(t_send(f.t, 1, 1, &f.handle, 0, NULL, "q"), 0);
	assert_int_equal(f.t->n_states, 0);
	assert_int_equal(engine_peer(f.t, 2)->n_queued, 4);
	t_check(f.t, 2);

	/* one received: one more lent, by its RECV_DONE */
	assert_int_equal(t_recv(f.t, 2, NULL), 0);
	assert_int_equal(f.t->n_items, 1);
	assert_int_equal(t_held(f.t, 2), LEND_MAX_ITEMS);
	assert_int_equal(engine_peer(f.t, 2)->n_queued, 3);
	t_check(f.t, 2);

	/* FIFO across lent and queued items */
	expect_n(&f, 1, LEND_MAX_ITEMS);
	t_expect_user(f.t, 2, f.node, "m0", 0, NULL);
	for (i = 0; i < 3; ++i)
		t_expect_user(f.t, 2, f.node, "q", 0, NULL);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

/*
 * The window holds LEND_MAX_BYTES of ITEM records. Inline payloads are
 * smaller than BUS1_ENGINE_DATA_REF_MIN, so the bytes bound how many are
 * lent; a payload by reference takes 8 bytes of its ITEM record however
 * large it is, so only the count bounds those.
 */
static void test_window_bytes(void **state)
{
	const size_t n = BUS1_ENGINE_DATA_REF_MIN - 8;
	const size_t rec = sizeof(struct bus1_engine_hdr) +
			   sizeof(struct bus1_engine_item) + n;
	const size_t fit = LEND_MAX_BYTES / rec;
	const size_t large = 4 * BUS1_ENGINE_DATA_REF_MIN;
	Fixture f = setup();
	uint8_t *data;
	TRecv r;
	size_t i;

	(void)state;
	assert_true(fit > 1 && fit < LEND_MAX_ITEMS);
	data = malloc(large);
	assert_non_null(data);
	memset(data, 'b', large);
	for (i = 0; i < fit + 2; ++i)
		assert_int_equal(t_send_full(f.t, 1, 0, 0,
					     BUS1_MESSAGE_TYPE_USER, 1,
					     &f.handle, 0, NULL, data, n), 0);
	assert_int_equal(t_held(f.t, 2), fit);
	assert_int_equal(f.t->peers[2].state, 1);
	assert_true(engine_peer(f.t, 2)->lent_bytes <= LEND_MAX_BYTES);
	t_check(f.t, 2);

	/* its RECV_DONE lends one more; the last waits */
	assert_int_equal(t_recv(f.t, 2, &r), 0);
	assert_int_equal(r.n_data, n);
	assert_int_equal(r.ref, 0);
	assert_int_equal(f.t->n_items, 1);
	assert_int_equal(t_held(f.t, 2), fit);
	assert_int_equal(f.t->peers[2].state, 1);
	t_check(f.t, 2);
	for (i = 0; i < fit + 1; ++i) {
		assert_int_equal(t_recv(f.t, 2, &r), 0);
		assert_int_equal(r.n_data, n);
	}
	t_expect_empty(f.t, 2);

	/* by reference: the item count is the bound */
	for (i = 0; i < LEND_MAX_ITEMS + 2; ++i) {
		data[0] = 'A' + i;
		assert_int_equal(t_send_full(f.t, 1, 0, 0,
					     BUS1_MESSAGE_TYPE_USER, 1,
					     &f.handle, 0, NULL, data, large),
				 0);
	}
	assert_int_equal(t_held(f.t, 2), LEND_MAX_ITEMS);
	assert_int_equal(f.t->peers[2].state, 1);
	assert_int_equal(engine_peer(f.t, 2)->lent_bytes,
			 LEND_MAX_ITEMS * (sizeof(struct bus1_engine_hdr) +
					   sizeof(struct bus1_engine_item) + 8));
	assert_int_equal(t_refs_owned(f.t), LEND_MAX_ITEMS + 2);
	t_check(f.t, 2);
	for (i = 0; i < LEND_MAX_ITEMS + 2; ++i) {
		data[0] = 'A' + i;
		t_expect_big(f.t, 2, f.node, data, large);
		/* settled at once: its reference is released */
		assert_int_equal(t_refs_owned(f.t), LEND_MAX_ITEMS + 1 - i);
	}
	t_expect_empty(f.t, 2);
	assert_int_equal(f.t->n_data_releases, LEND_MAX_ITEMS + 2);
	free(data);
	t_free(f.t);
}

/* RECV_DONE names the last item received; all before it go with it. */
static void test_recv_done_cumulative(void **state)
{
	Fixture f = setup();
	uint64_t fp, ids[3];
	Peer *peer;
	TRecv r;
	int i, n_logs;

	(void)state;
	for (i = 0; i < 3; ++i)
		assert_int_equal(t_send(f.t, 1, 1, &f.handle, 1, &f.hx, "c"), 0);
	for (i = 0; i < 3; ++i) {
		assert_int_equal(t_recv_full(f.t, 2, T_DEFER, &r), 0);
		assert_int_equal(r.token, i + 1);
		ids[i] = r.ids[0];
	}
	peer = engine_peer(f.t, 2);
	assert_int_equal(peer->n_lent, 3);
	/* one record settles all three, oldest first */
	f.t->peers[2].done = 0;
	f.t->n_pending = 0;
	t_recv_done(f.t, 2, 3);
	assert_int_equal(peer->n_lent, 0);
	for (i = 0; i < 3; ++i)
		assert_non_null(peer_lookup(peer, ids[i]));
	assert_int_equal(engine_counters(f.t->engine)->items_received, 3);

	/* naming nothing lent (again, or never) is logged and ignored */
	fp = t_fp(f.t);
	n_logs = f.t->n_logs;
	t_recv_done(f.t, 2, 3);
	t_recv_done(f.t, 2, 1000);
	t_recv_done(f.t, 2, 0);
	assert_int_equal(f.t->n_logs, n_logs + 3);
	assert_int_equal(t_fp(f.t), fp);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

/* A RECV_DONE up to a token in the middle leaves the later items lent. */
static void test_recv_done_partial(void **state)
{
	Fixture f = setup();
	TRecv r;

	(void)state;
	send_n(&f, 4);
	assert_int_equal(t_recv_full(f.t, 2, T_DEFER, &r), 0);
	assert_int_equal(t_recv_full(f.t, 2, T_DEFER, &r), 0);
	t_settle(f.t);
	assert_int_equal(engine_peer(f.t, 2)->n_lent, 2);
	assert_int_equal(TAILQ_FIRST(&engine_peer(f.t, 2)->lent)->token, 3);
	t_check(f.t, 2);
	expect_n(&f, 2, 4);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

/*
 * The module receives the whole window, then finds nothing: its RECV_DONE
 * has lent the rest by the time its FETCH arrives, which replies 0 alone;
 * ITEM records come before the PEER_STATE that says nothing is left.
 */
static void test_fetch_after_full_window(void **state)
{
	Fixture f = setup();
	unsigned int i;
	TRecv r;

	(void)state;
	send_n(&f, LEND_MAX_ITEMS + 4);
	assert_int_equal(f.t->peers[2].state, 1);
	for (i = 0; i < LEND_MAX_ITEMS; ++i)
		assert_int_equal(t_recv_full(f.t, 2, T_DEFER, &r), 0);
	assert_int_equal(t_held(f.t, 2), 0);
	assert_true(t_readable(f.t, 2));

	t_settle(f.t);
	assert_string_equal(f.t->order, "I2 I2 I2 I2 S2 ");
	assert_int_equal(f.t->peers[2].state, 0);
	assert_int_equal(t_fetch(f.t, 2), 0);
	assert_int_equal(f.t->n_items, 0);
	expect_n(&f, LEND_MAX_ITEMS, LEND_MAX_ITEMS + 4);
	t_expect_empty(f.t, 2);

	/*
	 * A FETCH while the window is full (the module lost lent items, say)
	 * lends nothing and still replies 0: something is lent.
	 */
	send_n(&f, LEND_MAX_ITEMS + 1);
	assert_int_equal(t_fetch(f.t, 2), 0);
	assert_int_equal(f.t->n_items, 0);
	expect_n(&f, 0, LEND_MAX_ITEMS + 1);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

/*
 * Lending is best effort: if the output buffer cannot grow for an ITEM,
 * the request still succeeds, the item stays queued and the peer is
 * reported readable; the module's RECV then FETCHes it. A FETCH that can
 * lend nothing fails with ENOMEM and changes nothing.
 */
static void test_lend_enomem(void **state)
{
	static uint8_t data[8192];
	uint64_t fp;
	long nth;
	TRecv r;
	int err;

	(void)state;
	memset(data, 'd', sizeof(data));
	for (nth = 0; nth < 100; ++nth) {
		Fixture f = setup();

		/* the ITEM does not fit in what the reservation left */
		t_out_reset(f.t, 4096);
		t_fail_alloc(nth);
		err = t_send_full(f.t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				  &f.handle, 0, NULL, data, sizeof(data));
		t_fail_none();
		if (err) {
			assert_int_equal(err, -ENOMEM);
			t_free(f.t);
			continue;
		}
		assert_true(t_fail_fired());
		/* the route's allocation failed: no route, the SEND stands */
		if (engine_bus(f.t->engine)->routes.n_failed) {
			assert_int_equal(engine_counters(f.t->engine)->lend_failures, 0);
			assert_int_equal(engine_bus(f.t->engine)->routes.n_routes, 0);
			t_free(f.t);
			continue;
		}
		assert_int_equal(engine_counters(f.t->engine)->lend_failures, 1);
		assert_int_equal(t_held(f.t, 2), 0);
		/* the route comes after the peers' records */
		assert_string_equal(f.t->order, "S2 G1 ");
		assert_true(t_readable(f.t, 2));
		t_check(f.t, 2);

		/* FETCH cannot lend either: ENOMEM, nothing changed */
		fp = t_fp(f.t);
		t_out_reset(f.t, 4096);
		t_fail_alloc(0);
		assert_int_equal(t_recv(f.t, 2, &r), -ENOMEM);
		t_fail_none();
		assert_int_equal(t_fp(f.t), fp);
		assert_true(t_readable(f.t, 2));

		/* FETCH lends it, before its reply */
		assert_int_equal(t_recv(f.t, 2, &r), 0);
		assert_int_equal(r.n_data, sizeof(data));
		assert_memory_equal(r.data, data, sizeof(r.data));
		t_expect_empty(f.t, 2);
		t_free(f.t);
		return;
	}
	fail_msg("no allocation failure hit the lending");
}

/*
 * The peer's own RELEASE takes lent items back: RETRACT records before the
 * reply, for a message on a released node and for the NODE_RELEASE of a
 * handle it carried, and the window refills from the queue behind them.
 */
static void test_retract(void **state)
{
	uint64_t n2, h2, y, hy, z, hz, own;
	Fixture f = setup();
	uint64_t fp;

	(void)state;
	assert_int_equal(t_peer_new(f.t, 3, 300), 0);
	/* 2's second node n2, held by 1; 3's node y, held by 1 */
	n2 = t_node(f.t, 2, 1, &h2);
	y = t_node(f.t, 3, 1, &hy);
	z = t_node(f.t, 3, 1, &hz);
	(void)z;
	/* m0 on n2 carries a handle to y; y goes: its NODE_RELEASE follows */
	assert_int_equal(t_send(f.t, 1, 1, &h2, 1, &hy, "carry"), 0);
	assert_int_equal(t_release(f.t, 3, 0, 1, &y), 0);
	assert_int_equal(t_held(f.t, 2), 2);
	assert_int_equal(t_held(f.t, 1), 1);
	t_expect_notify(f.t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, hy);
	/* fill the window, and queue behind it, on the first node */
	send_n(&f, LEND_MAX_ITEMS);
	assert_int_equal(t_held(f.t, 2), LEND_MAX_ITEMS);
	assert_int_equal(f.t->peers[2].state, 1);

	/* releasing n2 drops both lent items: two RETRACTs, then two ITEMs
	 * from the queue, then unreadable; 1 hears NODE_RELEASE; the reply
	 * last */
	assert_int_equal(t_release(f.t, 2, 0, 1, &n2), 0);
	assert_string_equal(f.t->order, "R2 R2 I2 I2 S2 I1 ");
	assert_int_equal(f.t->n_retracts, 2);
	t_check(f.t, 2);
	t_expect_notify(f.t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	expect_n(&f, 0, LEND_MAX_ITEMS);
	t_expect_empty(f.t, 2);

	/* a handle of 2's own, whose NODE_RELEASE is lent */
	own = t_handle(f.t, 1, hz, 2);
	assert_int_equal(t_release(f.t, 3, 0, 1, &z), 0);
	assert_int_equal(t_held(f.t, 2), 1);
	fp = t_fp(f.t);
	assert_int_equal(t_release(f.t, 2, 0, 1, &own), 0);
	assert_string_equal(f.t->order, "R2 ");
	assert_int_not_equal(t_fp(f.t), fp);
	assert_int_equal(engine_counters(f.t->engine)->items_retracted, 3);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

static void test_fifo(void **state)
{
	Fixture f = setup();

	(void)state;
	send_n(&f, 40);
	expect_n(&f, 0, 40);
	t_expect_empty(f.t, 2);
	t_free(f.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_lend_on_send),
		cmocka_unit_test(test_window_items),
		cmocka_unit_test(test_window_bytes),
		cmocka_unit_test(test_recv_done_cumulative),
		cmocka_unit_test(test_recv_done_partial),
		cmocka_unit_test(test_fetch_after_full_window),
		cmocka_unit_test(test_lend_enomem),
		cmocka_unit_test(test_retract),
		cmocka_unit_test(test_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
