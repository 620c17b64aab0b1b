/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Large payloads by reference (BUS1_ENGINE_DATA_REF_MIN bytes and more):
 * the SEND carries the module's data reference, ITEM records name it, and
 * the engine writes one DATA_RELEASE once no message uses the payload any
 * more (received, discarded with its node or its receiver, or never
 * queued), never one for a SEND it failed. The harness (util.c) checks
 * every reference's life; these tests check when the releases come.
 */

#include <stdlib.h>
#include <string.h>
#include "core/bus.h"
#include "core/peer.h"
#include "core/quota.h"
#include "util.h"

#define LARGE (2 * BUS1_ENGINE_DATA_REF_MIN + 3)
#define HDR sizeof(struct bus1_engine_hdr)
#define ITEM sizeof(struct bus1_engine_item)

static uint8_t large[LARGE];

static void quiet(void *userdata, int level, const char *message)
{
	(void)userdata;
	(void)level;
	(void)message;
}

/* @t with its engine replaced by one of @max_bytes per UID. */
static T *t_new_bytes(uint64_t max_bytes)
{
	EngineConfig config = ENGINE_CONFIG_DEFAULT;
	T *t = t_new();

	config.max_bytes = max_bytes;
	engine_free(t->engine);
	assert_int_equal(engine_new_config(&t->engine, &config), 0);
	engine_set_log(t->engine, quiet, NULL);
	return t;
}

static int send_large(T *t, uint64_t peer, size_t n_dst, const uint64_t *dst,
		      char tag)
{
	large[0] = tag;
	return t_send_full(t, peer, 0, 0, BUS1_MESSAGE_TYPE_USER, n_dst, dst,
			   0, NULL, large, LARGE);
}

static void expect_large(T *t, uint64_t peer, uint64_t node, char tag)
{
	large[0] = tag;
	t_expect_big(t, peer, node, large, LARGE);
}

static uint64_t released(T *t)
{
	return engine_counters(t->engine)->data_released;
}

/* A large unicast: lent by reference, released once it is settled. */
static void test_unicast(void **state)
{
	uint64_t node, h, x, hx, ids[1], ref;
	TItem *item;
	TRecv r;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 2, 1, &h);
	x = t_node(t, 1, 1, &hx);

	large[0] = 'u';
	assert_int_equal(t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &h, 1, &(struct bus1_transfer){ 0, hx },
				     large, LARGE), 0);
	ref = t_last_ref(t);
	assert_int_equal(t_ref(t, ref)->state, T_REF_OWNED);
	/* the ITEM names the reference after the handle IDs */
	assert_int_equal(t->n_items, 1);
	assert_int_equal(t_held(t, 2), 1);
	item = t->peers[2].held[0];
	assert_int_equal(item->size, HDR + ITEM + 8 + 8);
	assert_int_equal(item->n_data, LARGE);
	assert_int_equal(item->ref, ref);
	assert_int_equal(t_ref(t, ref)->n_held, 1);

	/* received but not settled: the engine still uses it */
	assert_int_equal(t_recv_full(t, 2, T_DEFER, &r), 0);
	assert_int_equal(r.ref, ref);
	assert_int_equal(r.n_data, LARGE);
	assert_int_equal(r.sum, t_sum(large, LARGE));
	assert_int_equal(r.n_transfers, 1);
	ids[0] = r.ids[0];
	assert_int_equal(t->n_data_releases, 0);
	assert_int_equal(t_ref(t, ref)->state, T_REF_OWNED);
	t_check_refs(t);

	/* its RECV_DONE releases it */
	t_settle(t);
	assert_int_equal(t->n_data_releases, 1);
	assert_int_equal(t_ref(t, ref)->state, T_REF_RELEASED);
	assert_int_equal(released(t), 1);
	t_expect_empty(t, 2);
	assert_int_equal(t_release(t, 2, 0, 1, ids), 0);
	(void)node;
	(void)x;
	t_free(t);
}

/*
 * Just below the threshold the payload travels inline; at it, by
 * reference.
 */
static void test_threshold(void **state)
{
	uint64_t node, h;
	TRecv r;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 2, 1, &h);

	memset(large, 'i', sizeof(large));
	assert_int_equal(t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &h, 0, NULL, large,
				     BUS1_ENGINE_DATA_REF_MIN - 1), 0);
	assert_int_equal(t->n_refs, 0);
	assert_int_equal(t->peers[2].held[0]->size,
			 HDR + ITEM + BUS1_ENGINE_DATA_REF_MIN);
	assert_int_equal(t_recv(t, 2, &r), 0);
	assert_int_equal(r.ref, 0);
	assert_memory_equal(r.data, large, sizeof(r.data));

	assert_int_equal(t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &h, 0, NULL, large,
				     BUS1_ENGINE_DATA_REF_MIN), 0);
	assert_int_equal(t->n_refs, 1);
	assert_int_equal(t->peers[2].held[0]->size, HDR + ITEM + 8);
	t_expect_big(t, 2, node, large, BUS1_ENGINE_DATA_REF_MIN);
	assert_int_equal(t->n_data_releases, 1);
	t_free(t);
}

/* A multicast to three peers: one reference, released after the last. */
static void test_multicast(void **state)
{
	uint64_t node[5], dst[3], ref;
	uint64_t p;
	T *t = t_new();

	(void)state;
	for (p = 1; p <= 4; ++p)
		assert_int_equal(t_peer_new(t, p, p * 100), 0);
	for (p = 2; p <= 4; ++p)
		node[p] = t_node(t, p, 1, &dst[p - 2]);

	assert_int_equal(send_large(t, 1, 3, dst, 'm'), 0);
	ref = t_last_ref(t);
	assert_int_equal(t->n_refs, 1);
	assert_int_equal(t_ref(t, ref)->n_held, 3);
	for (p = 2; p <= 4; ++p)
		assert_int_equal(t->peers[p].held[0]->ref, ref);

	expect_large(t, 3, node[3], 'm');
	expect_large(t, 2, node[2], 'm');
	assert_int_equal(t->n_data_releases, 0);
	/* the last receiver has it, but has not settled it */
	assert_int_equal(t_recv_full(t, 4, T_DEFER, NULL), 0);
	assert_int_equal(t->n_data_releases, 0);
	t_check_refs(t);
	t_settle(t);
	assert_int_equal(t->n_data_releases, 1);
	assert_int_equal(t_ref(t, ref)->state, T_REF_RELEASED);
	for (p = 2; p <= 4; ++p)
		t_expect_empty(t, p);
	t_free(t);
}

/*
 * Releasing the destination node discards its messages, lent or queued:
 * the lent ones are retracted, then their references released, after the
 * reply. A reference still used by another receiver stays.
 */
static void test_node_release(void **state)
{
	uint64_t node2, h2, node3, h3, both[2], ref_shared, ref_own;
	const char *r, *d;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	node2 = t_node(t, 2, 1, &h2);
	node3 = t_node(t, 3, 1, &h3);
	both[0] = h2;
	both[1] = h3;

	assert_int_equal(send_large(t, 1, 2, both, 's'), 0);
	ref_shared = t_last_ref(t);
	assert_int_equal(send_large(t, 1, 1, &h2, 'o'), 0);
	ref_own = t_last_ref(t);
	assert_int_equal(t_held(t, 2), 2);

	assert_int_equal(t_release(t, 2, 0, 1, &node2), 0);
	assert_int_equal(t->n_retracts, 2);
	assert_int_equal(t->n_data_releases, 1);
	assert_int_equal(t_ref(t, ref_own)->state, T_REF_RELEASED);
	assert_int_equal(t_ref(t, ref_shared)->state, T_REF_OWNED);
	r = strstr(t->order, "R2 ");
	d = strstr(t->order, "D");
	assert_non_null(r);
	assert_non_null(d);
	assert_true(r < d);
	t_expect_empty(t, 2);

	expect_large(t, 3, node3, 's');
	assert_int_equal(t->n_data_releases, 2);
	assert_int_equal(t_refs_owned(t), 0);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, h2);
	t_free(t);
}

/*
 * PEER_RELEASE discards everything queued on the peer, lent or not, and
 * releases what only it used, in the same output.
 */
static void test_peer_release(void **state)
{
	uint64_t node2, h2, node3, h3, both[2];
	unsigned int i, n = LEND_MAX_ITEMS + 4;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	assert_int_equal(t_peer_new(t, 3, 300), 0);
	node2 = t_node(t, 2, 1, &h2);
	node3 = t_node(t, 3, 1, &h3);
	both[0] = h2;
	both[1] = h3;

	for (i = 0; i < n; ++i)
		assert_int_equal(send_large(t, 1, 1, &h2, 'a' + i), 0);
	assert_int_equal(send_large(t, 1, 2, both, 'S'), 0);
	assert_int_equal(t_held(t, 2), LEND_MAX_ITEMS);
	assert_true(t->peers[2].state);
	/* one received, not settled, when the peer goes */
	assert_int_equal(t_recv_full(t, 2, T_DEFER, NULL), 0);

	t_peer_release(t, 2);
	assert_int_equal(t->n_data_releases, n);
	assert_int_equal(t_refs_owned(t), 1);
	t_check_refs(t);

	expect_large(t, 3, node3, 'S');
	assert_int_equal(t->n_data_releases, n + 1);
	assert_int_equal(released(t), n + 1);
	(void)node2;
	t_free(t);
}

/*
 * A SEND the engine fails never gives it the reference: no DATA_RELEASE.
 * One that succeeds without queueing anything (no destination, or all of
 * them released) releases it right after its reply.
 */
static void test_send_errors(void **state)
{
	uint64_t node, h, dead, hdead, bad = ID(99), ref;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 2, 1, &h);
	dead = t_node(t, 2, 1, &hdead);

	assert_int_equal(send_large(t, 1, 1, &bad, 'x'), -EBADRQC);
	assert_int_equal(t_ref(t, t_last_ref(t))->state, T_REF_DROPPED);
	assert_int_equal(t_send_full(t, 1, 1, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &h, 0, NULL, large, LARGE), -EINVAL);
	assert_int_equal(t_ref(t, t_last_ref(t))->state, T_REF_DROPPED);
	assert_int_equal(t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER, 1,
				     &h, 1,
				     &(struct bus1_transfer){ 0, bad },
				     large, LARGE), -EBADRQC);
	assert_int_equal(t->n_data_releases, 0);
	t_expect_empty(t, 2);

	/* no destination: owned, unused, released after the reply */
	assert_int_equal(send_large(t, 1, 0, NULL, 'z'), 0);
	ref = t_last_ref(t);
	assert_int_equal(t_ref(t, ref)->state, T_REF_RELEASED);
	assert_int_equal(t->n_data_releases, 1);
	assert_true(t->reply_last);

	/* every destination released */
	assert_int_equal(t_release(t, 2, 0, 1, &dead), 0);
	assert_int_equal(send_large(t, 1, 1, &hdead, 'r'), 0);
	assert_int_equal(t_ref(t, t_last_ref(t))->state, T_REF_RELEASED);
	assert_int_equal(t->n_data_releases, 2);

	/* one released, one not */
	assert_int_equal(send_large(t, 1, 2, (uint64_t[]){ hdead, h }, 'k'), 0);
	assert_int_equal(t->n_data_releases, 2);
	expect_large(t, 2, node, 'k');
	assert_int_equal(t->n_data_releases, 3);
	t_expect_notify(t, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, hdead);
	assert_int_equal(t_refs_owned(t), 0);
	t_free(t);
}

/* EDQUOT: large payloads are charged their n_data, like inline ones. */
static void test_quota(void **state)
{
	uint64_t node, h, fp;
	AcctQuota *q;
	size_t i;
	int n;
	T *t = t_new_bytes(256 * LARGE);

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 2, 1, &h);

	for (n = 0; n < 100 && !send_large(t, 1, 1, &h, 'q'); ++n)
		;
	print_message("%d large messages before EDQUOT\n", n);
	assert_true(n > 0 && n < 100);
	q = acct_find_quota(acct_find_user(&engine_bus(t->engine)->acct, 200),
			    100);
	assert_non_null(q);
	assert_int_equal(q->claim.claimed[QUOTA_BYTES] -
			 q->claim.available[QUOTA_BYTES], n * (uint64_t)LARGE);
	assert_int_equal(t_ref(t, t_last_ref(t))->state, T_REF_DROPPED);
	fp = t_fp(t);
	assert_int_equal(send_large(t, 1, 1, &h, 'q'), -EDQUOT);
	assert_int_equal(t_fp(t), fp);
	assert_int_equal(t->n_data_releases, 0);
	assert_int_equal(t_refs_owned(t), n);

	for (i = 0; i < (size_t)n; ++i)
		expect_large(t, 2, node, 'q');
	assert_int_equal(t->n_data_releases, n);
	assert_int_equal(send_large(t, 1, 1, &h, 'q'), 0);
	t_free(t);
}

/* Malformed SEND layouts around the threshold: EINVAL, nothing owned. */
static void test_malformed(void **state)
{
	struct {
		struct bus1_engine_send send;
		uint64_t dst;
		uint64_t rest[3];
	} p;
	uint8_t buf[256];
	uint64_t node, h;
	size_t len;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 2, 1, &h);

	memset(&p, 0, sizeof(p));
	p.send.msg_type = BUS1_MESSAGE_TYPE_USER;
	p.send.n_destinations = 1;
	p.send.n_data = BUS1_ENGINE_DATA_REF_MIN;
	p.dst = h;

	/* reference 0 */
	len = t_rec(buf, BUS1_ENGINE_SEND, ++t->seq, 1, &p,
		    sizeof(p.send) + 16);
	assert_int_equal(t_raw(t, buf, len), 1);
	assert_int_equal(t->error, -EINVAL);
	/* two words where one reference belongs */
	p.rest[0] = 0x1234;
	len = t_rec(buf, BUS1_ENGINE_SEND, ++t->seq, 1, &p,
		    sizeof(p.send) + 24);
	assert_int_equal(t_raw(t, buf, len), 1);
	assert_int_equal(t->error, -EINVAL);
	/* none */
	len = t_rec(buf, BUS1_ENGINE_SEND, ++t->seq, 1, &p,
		    sizeof(p.send) + 8);
	assert_int_equal(t_raw(t, buf, len), 1);
	assert_int_equal(t->error, -EINVAL);
	/* below the threshold, one word is 8 bytes of data, not a reference */
	p.send.n_data = 9;
	len = t_rec(buf, BUS1_ENGINE_SEND, ++t->seq, 1, &p,
		    sizeof(p.send) + 16);
	assert_int_equal(t_raw(t, buf, len), 1);
	assert_int_equal(t->error, -EINVAL);
	assert_int_equal(t->n_data_releases, 0);
	t_expect_empty(t, 2);
	(void)node;
	t_free(t);
}

/*
 * DATA_RELEASE is best effort: what its output cannot grow for stays
 * listed (and in the fingerprint), and the records that follow write it,
 * a one-way record one by one, a reply as many as fit after it. Nothing
 * is lost.
 */
static void test_release_deferred(void **state)
{
	const unsigned int n = 300;
	unsigned int i, k1, k2;
	uint64_t node, h, fp;
	Bus *bus;
	T *t = t_new();

	(void)state;
	bus = engine_bus(t->engine);
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 2, 1, &h);
	for (i = 0; i < n; ++i)
		assert_int_equal(t_send_full(t, 1, 0, 0, BUS1_MESSAGE_TYPE_USER,
					     1, &h, 0, NULL, large,
					     BUS1_ENGINE_DATA_REF_MIN), 0);
	assert_int_equal(t_refs_owned(t), n);

	/* the one-way PEER_RELEASE fills its buffer, then cannot grow it */
	t_out_reset(t, 4096);
	t_fail_alloc(0);
	t_peer_release(t, 2);
	t_fail_none();
	assert_true(t_fail_fired());
	k1 = t->n_data_releases;
	assert_true(k1 > 0 && k1 < n);
	assert_int_equal(bus->n_released, n - k1);
	assert_int_equal(engine_counters(t->engine)->data_released, k1);
	t_check_refs(t);

	/* a reply takes as many as its buffer can be made to hold */
	fp = t_fp(t);
	t_out_reset(t, 4096);
	t_fail_alloc(0);
	assert_int_equal(t_fetch(t, 1), 0);
	t_fail_none();
	assert_true(t_fail_fired());
	k2 = t->n_data_releases;
	assert_true(k2 > k1 && k2 < n);
	assert_true(t->reply_last);
	assert_int_equal(bus->n_released, n - k2);
	assert_int_not_equal(t_fp(t), fp);
	t_check_refs(t);

	/* and the next one the rest */
	assert_int_equal(t_fetch(t, 1), 0);
	assert_int_equal(t->n_data_releases, n);
	assert_int_equal(bus->n_released, 0);
	assert_int_equal(t_refs_owned(t), 0);
	assert_int_equal(released(t), n);
	(void)node;
	t_free(t);
}

/* engine_free() drops whatever is listed; the module drops it all too. */
static void test_engine_free_listed(void **state)
{
	uint64_t node, h;
	unsigned int i;
	T *t = t_new();

	(void)state;
	assert_int_equal(t_peer_new(t, 1, 100), 0);
	assert_int_equal(t_peer_new(t, 2, 200), 0);
	node = t_node(t, 2, 1, &h);
	for (i = 0; i < 200; ++i)
		assert_int_equal(send_large(t, 1, 1, &h, 'f'), 0);
	t_out_reset(t, 4096);
	t_fail_alloc(0);
	t_peer_release(t, 2);
	t_fail_none();
	assert_true(engine_bus(t->engine)->n_released > 0);
	(void)node;
	/* t_free() checks the references, then frees the engine: valgrind
	 * sees no leak */
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unicast),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_multicast),
		cmocka_unit_test(test_node_release),
		cmocka_unit_test(test_peer_release),
		cmocka_unit_test(test_send_errors),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_release_deferred),
		cmocka_unit_test(test_engine_free_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
