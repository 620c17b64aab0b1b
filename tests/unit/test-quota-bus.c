/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Accounting wired into the bus: what each operation charges, EDQUOT as a
 * whole-operation failure, and every counter back at its start once the
 * peers are gone. The engines here have small maxima (1024 objects,
 * 256 KiB) so a handful of operations reaches them. The receiver's own
 * peer is charged on its UID, so a first foreign UID already competes
 * with n = 2 quotas (A = 9).
 */

#include <string.h>
#include "core/bus.h"
#include "core/peer.h"
#include "util.h"

#define MAX_OBJECTS 1024
#define MAX_BYTES (256 * 1024)
#define CHUNK 4000

typedef struct Fixture {
	T *t;
	unsigned int n_failures;
	AcctFailure last;
} Fixture;

static void on_quota(void *userdata, const AcctFailure *failure)
{
	Fixture *f = userdata;

	++f->n_failures;
	f->last = *failure;
}

static void on_log(void *userdata, int level, const char *message)
{
	(void)userdata;
	(void)level;
	(void)message;
}

static void setup(Fixture *f, uint64_t max_objects, uint64_t max_bytes)
{
	EngineConfig config = ENGINE_CONFIG_DEFAULT;

	config.max_objects = max_objects;
	config.max_bytes = max_bytes;

	*f = (Fixture){ .t = t_new() };
	engine_free(f->t->engine);
	assert_int_equal(engine_new_config(&f->t->engine, &config), 0);
	engine_set_log(f->t->engine, on_log, NULL);
	engine_set_quota_log(f->t->engine, on_quota, f);
}

static Acct *acct(Fixture *f)
{
	return &engine_bus(f->t->engine)->acct;
}

static AcctUser *user(Fixture *f, uint32_t uid)
{
	return acct_find_user(acct(f), uid);
}

static uint64_t held(Fixture *f, uint32_t uid, uint32_t claimant,
		     unsigned int slot)
{
	AcctQuota *q;

	if (!user(f, uid) || !(q = acct_find_quota(user(f, uid), claimant)))
		return 0;
	return q->claim.claimed[slot] - q->claim.available[slot];
}

static void teardown(Fixture *f)
{
	Bus *bus = engine_bus(f->t->engine);
	Peer *peer;

	while ((peer = RB_MIN(PeerTree, &bus->peers)))
		t_peer_release(f->t, peer->id);
	assert_int_equal(acct(f)->n_users, 0);
	t_free(f->t);
}

static int send_chunk(T *t, uint64_t peer, size_t n_dst, const uint64_t *dst)
{
	static char data[CHUNK];

	return t_send_full(t, peer, 0, 0, BUS1_MESSAGE_TYPE_USER, n_dst, dst,
			   0, NULL, data, sizeof(data));
}

/* Each peer is one object of its own UID. */
static void test_peer_objects(void **state)
{
	Fixture f;
	int i, n = 0;

	(void)state;
	setup(&f, 4, MAX_BYTES);
	/*
	 * Every peer is its own actor: the first needs min = 2 (quota
	 * claims 2, keeps 1); each further one takes 1 from the user and
	 * finds 1 in the reserve, so 3 of 4 fit.
	 */
	for (i = 1; i <= 4; ++i)
		n += !t_peer_new(f.t, i, 1000);
	assert_int_equal(n, 3);
	assert_int_equal(t_peer_new(f.t, 5, 1000), -EDQUOT);
	assert_int_equal(f.last.charged_uid, 1000);
	assert_int_equal(f.last.claimant_uid, 1000);
	assert_int_equal(f.last.slot, QUOTA_OBJECTS);
	assert_int_equal(f.last.asked, 1);
	assert_int_equal(f.last.held, 3);
	/* another UID is not affected */
	assert_int_equal(t_peer_new(f.t, 6, 2000), 0);
	/* closing one makes room again */
	t_peer_release(f.t, 1);
	assert_int_equal(t_peer_new(f.t, 7, 1000), 0);
	teardown(&f);
}

/*
 * A foreign UID floods a receiver that never reads: EDQUOT long before the
 * receiver's user is exhausted; a third UID still gets through; after the
 * receiver drains, the flooder can send again.
 */
static void test_flood(void **state)
{
	uint64_t node, self, to_b, to_c, fp;
	TRecv r;
	Fixture f;
	int i, n;

	(void)state;
	setup(&f, MAX_OBJECTS, MAX_BYTES);
	assert_int_equal(t_peer_new(f.t, 1, 0), 0);
	assert_int_equal(t_peer_new(f.t, 2, 1000), 0);
	assert_int_equal(t_peer_new(f.t, 3, 2000), 0);
	node = t_node(f.t, 1, 1, &self);
	(void)node;
	to_b = t_handle(f.t, 1, self, 2);
	to_c = t_handle(f.t, 1, self, 3);

	for (n = 0; n < 100 && !send_chunk(f.t, 2, 1, &to_b); ++n)
		;
	assert_true(n > 0 && n < 100);
	assert_int_equal(f.n_failures, 1);
	assert_int_equal(f.last.charged_uid, 0);
	assert_int_equal(f.last.claimant_uid, 1000);
	assert_int_equal(f.last.slot, QUOTA_BYTES);
	assert_int_equal(f.last.asked, CHUNK);
	assert_int_equal(f.last.held, n * CHUNK);
	/* the quasilinear share of one foreign UID is at most a quarter */
	assert_true(held(&f, 0, 1000, QUOTA_BYTES) <= MAX_BYTES / 4);
	assert_true(user(&f, 0)->claim.available[QUOTA_BYTES] >= MAX_BYTES / 2);

	/* a failed send changes nothing on the bus */
	fp = t_fp(f.t);
	assert_int_equal(send_chunk(f.t, 2, 1, &to_b), -EDQUOT);
	assert_int_equal(t_fp(f.t), fp);

	/* a third UID still gets through */
	assert_int_equal(send_chunk(f.t, 3, 1, &to_c), 0);

	/* drain: lent and received items keep their charge until settled */
	assert_true(t_held(f.t, 1) > 0);
	assert_int_equal(t_recv_full(f.t, 1, T_DEFER, &r), 0);
	assert_int_equal(r.n_data, CHUNK);
	assert_int_equal(held(&f, 0, 1000, QUOTA_BYTES), n * CHUNK);
	t_settle(f.t);
	assert_int_equal(held(&f, 0, 1000, QUOTA_BYTES), (n - 1) * CHUNK);
	for (i = 0; i < n; ++i)
		assert_int_equal(t_recv(f.t, 1, &r), 0);
	t_expect_empty(f.t, 1);
	assert_int_equal(held(&f, 0, 1000, QUOTA_BYTES), 0);
	assert_null(acct_find_quota(user(&f, 0), 2000));
	assert_int_equal(send_chunk(f.t, 2, 1, &to_b), 0);
	teardown(&f);
}

/* A multicast is charged on all receivers or on none. */
static void test_multicast_atomic(void **state)
{
	uint64_t dst[2], n1, n3, to_1;
	Fixture f;
	int n;

	(void)state;
	setup(&f, MAX_OBJECTS, MAX_BYTES);
	assert_int_equal(t_peer_new(f.t, 1, 0), 0);
	assert_int_equal(t_peer_new(f.t, 2, 1000), 0);
	assert_int_equal(t_peer_new(f.t, 3, 3000), 0);
	/* UID 3000 first, so its charge is made and then given back */
	n3 = t_node(f.t, 3, 2, &dst[0]);
	n1 = t_node(f.t, 1, 2, &dst[1]);
	to_1 = dst[1];
	(void)n1;
	(void)n3;

	/* fill the quota of UID 1000 on UID 0 only */
	for (n = 0; n < 100 && !send_chunk(f.t, 2, 1, &to_1); ++n)
		;
	assert_true(n < 100);
	assert_int_equal(send_chunk(f.t, 2, 2, dst), -EDQUOT);
	assert_int_equal(held(&f, 3000, 1000, QUOTA_BYTES), 0);
	assert_int_equal(held(&f, 3000, 1000, QUOTA_OBJECTS), 0);
	t_expect_empty(f.t, 3);
	/* to UID 3000 alone it works */
	assert_int_equal(send_chunk(f.t, 2, 1, &dst[0]), 0);
	assert_int_equal(held(&f, 3000, 1000, QUOTA_BYTES), CHUNK);
	teardown(&f);
}

/*
 * Nodes and handles are charged to the peer holding them: a node and the
 * owner's own handle on the owner's UID by the owner; a handle given to
 * another peer on that peer's UID by the giver; handles carried by a
 * message on the receiver's UID by the sender, kept once received.
 */
static void test_objects(void **state)
{
	uint64_t node, h2, h1, ids[1];
	TRecv r;
	Fixture f;

	(void)state;
	setup(&f, MAX_OBJECTS, MAX_BYTES);
	assert_int_equal(t_peer_new(f.t, 1, 0), 0);
	assert_int_equal(t_peer_new(f.t, 2, 1000), 0);
	assert_int_equal(held(&f, 0, 0, QUOTA_OBJECTS), 1);

	node = t_node(f.t, 1, 1, &h1);
	/* peer, node, own handle */
	assert_int_equal(held(&f, 0, 0, QUOTA_OBJECTS), 3);
	h2 = t_handle(f.t, 1, h1, 2);
	assert_int_equal(held(&f, 1000, 0, QUOTA_OBJECTS), 1);

	/* peer 2 sends peer 1 a message carrying h2: 2 objects, 3 bytes */
	ids[0] = h2;
	assert_int_equal(t_send(f.t, 2, 1, &h2, 1, ids, "abc"), 0);
	assert_int_equal(held(&f, 0, 1000, QUOTA_OBJECTS), 2);
	assert_int_equal(held(&f, 0, 1000, QUOTA_BYTES), 3);
	assert_int_equal(t_recv(f.t, 1, &r), 0);
	/* the message is gone, the handle it carried stays */
	assert_int_equal(held(&f, 0, 1000, QUOTA_OBJECTS), 1);
	assert_int_equal(held(&f, 0, 1000, QUOTA_BYTES), 0);
	assert_int_equal(t_release(f.t, 1, 0, 1, &r.ids[0]), 0);
	assert_null(acct_find_quota(user(&f, 0), 1000));

	/* releasing the node gives back its object at once */
	assert_int_equal(t_release(f.t, 1, 0, 1, &node), 0);
	assert_int_equal(held(&f, 0, 0, QUOTA_OBJECTS), 2);
	teardown(&f);
}

/* Objects run out too: handles created by TRANSFER are refused. */
static void test_transfer_edquot(void **state)
{
	struct bus1_transfer src[64], dst[64];
	uint64_t fp;
	Fixture f;
	size_t i;

	(void)state;
	setup(&f, 64, MAX_BYTES);
	assert_int_equal(t_peer_new(f.t, 1, 0), 0);
	for (i = 0; i < 64; ++i)
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
	fp = t_fp(f.t);
	assert_int_equal(t_transfer(f.t, 1, 1, 0, 64, src, dst), -EDQUOT);
	assert_int_equal(t_fp(f.t), fp);
	assert_int_equal(held(&f, 0, 0, QUOTA_OBJECTS), 1);
	/* 2 * 15 + 1 = 31 objects: the actor takes at most half of 64 */
	assert_int_equal(t_transfer(f.t, 1, 1, 0, 15, src, dst), 0);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_objects),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_multicast_atomic),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_transfer_edquot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
