/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Routes (protocol v4): which SEND earns its handle a route, what the
 * ROUTE record says and where it goes, the credit's charge from grant to
 * ROUTE_DONE, REVOKE (flags 0 when the sender lets go, DISCARD when the
 * node goes) before the reply, and the ways a grant is refused or undone
 * (quota, a ROUTE the kernel rejects, a bad ROUTE_DONE).
 */

#include <string.h>
#include "core/bus.h"
#include "core/peer.h"
#include "util.h"

#define SENDER 1
#define RECEIVER 2
#define SENDER_UID 10
#define RECEIVER_UID 20

typedef struct Fixture {
	T *t;
	uint64_t node;		/* in RECEIVER */
	uint64_t handle;	/* SENDER's handle to it */
} Fixture;

static Fixture setup_config(const EngineConfig *config)
{
	Fixture f = { .t = t_new_config(config) };

	assert_int_equal(t_peer_new(f.t, SENDER, SENDER_UID), 0);
	assert_int_equal(t_peer_new(f.t, RECEIVER, RECEIVER_UID), 0);
	f.node = t_node(f.t, RECEIVER, SENDER, &f.handle);
	return f;
}

static Fixture setup(void)
{
	const EngineConfig config = ENGINE_CONFIG_DEFAULT;

	return setup_config(&config);
}

static Routes *routes(T *t)
{
	return &engine_bus(t->engine)->routes;
}

/* What is charged on @uid's user in @slot, over all claimants. */
static uint64_t used(T *t, uint32_t uid, unsigned int slot)
{
	AcctUser *user = acct_find_user(&engine_bus(t->engine)->acct, uid);
	AcctQuota *quota;
	uint64_t n = 0;

	if (!user)
		return 0;
	ACCT_FOREACH_QUOTA(quota, user)
		n += quota->claim.claimed[slot] - quota->claim.available[slot];
	return n;
}

static int send_plain(Fixture *f, const char *data)
{
	return t_send(f->t, SENDER, 1, &f->handle, 0, NULL, data);
}

/* A plain unicast earns a route; the record names it right, in order. */
static void test_grant(void **state)
{
	Fixture f = setup();
	TRoute *route;

	(void)state;
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(f.t->n_route_recs, 1);
	/* after the receiver's ITEM, before the reply (t_record checks) */
	assert_string_equal(f.t->order, "I2 G1 ");
	route = t_route_of(f.t, SENDER, f.handle);
	assert_non_null(route);
	assert_int_equal(route->sender, SENDER);
	assert_int_not_equal(route->id, 0);
	assert_int_equal(route->rec.handle, f.handle);
	assert_int_equal(route->rec.dst_peer, RECEIVER);
	assert_int_equal(route->rec.dst_id, f.node);
	assert_int_equal(route->rec.account, SENDER_UID);
	assert_int_equal(route->rec.credit_items, ENGINE_DEFAULT_ROUTE_ITEMS);
	assert_int_equal(route->rec.credit_bytes, ENGINE_DEFAULT_ROUTE_BYTES);
	assert_int_equal(routes(f.t)->n_live, 1);
	assert_int_equal(routes(f.t)->n_granted, 1);
	t_expect_user(f.t, RECEIVER, f.node, "hi", 0, NULL);

	/* one route per handle */
	assert_int_equal(send_plain(&f, "again"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(routes(f.t)->n_granted, 1);
	t_free(f.t);
}

/* The credit is configurable, and the default is the module's bound. */
static void test_config(void **state)
{
	EngineConfig config = ENGINE_CONFIG_DEFAULT;
	Engine *e;
	Fixture f;

	(void)state;
	config.route_items = BUS1_ENGINE_MAX_ROUTE_ITEMS + 1;
	assert_int_equal(engine_new_config(&e, &config), -EINVAL);
	config.route_items = 1;
	config.route_bytes = BUS1_ENGINE_MAX_ROUTE_BYTES + 1;
	assert_int_equal(engine_new_config(&e, &config), -EINVAL);

	config.route_bytes = 100;
	f = setup_config(&config);
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(t_route_of(f.t, SENDER, f.handle)->rec.credit_items, 1);
	assert_int_equal(t_route_of(f.t, SENDER, f.handle)->rec.credit_bytes, 100);
	t_free(f.t);

	/* 0 items: no routes at all */
	config.route_items = 0;
	f = setup_config(&config);
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(routes(f.t)->n_routes, 0);
	t_free(f.t);
}

/* A multicast earns a route for each handle, once per handle. */
static void test_grant_multicast(void **state)
{
	Fixture f = setup();
	uint64_t h2, dst[3];

	(void)state;
	h2 = t_handle(f.t, SENDER, f.handle, SENDER);
	dst[0] = f.handle;
	dst[1] = h2;
	dst[2] = f.handle;
	assert_int_equal(t_send(f.t, SENDER, 3, dst, 0, NULL, "multi"), 0);
	assert_int_equal(f.t->n_route_recs, 2);
	assert_int_equal(routes(f.t)->n_routes, 2);
	assert_int_equal(t_send(f.t, SENDER, 2, dst, 0, NULL, "again"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(routes(f.t)->n_routes, 2);
	t_free(f.t);
}

/* Only a SEND the module could have served itself earns a route. */
static void test_no_grant(void **state)
{
	static uint8_t large[BUS1_ENGINE_DATA_REF_MIN];
	static uint8_t below[BUS1_ENGINE_DATA_REF_MIN - 1];
	Fixture f = setup();
	uint64_t h2;

	(void)state;
	h2 = t_handle(f.t, SENDER, f.handle, SENDER);
	/* a transfer */
	assert_int_equal(t_send(f.t, SENDER, 1, &f.handle, 1, &h2, "xfer"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	/* a payload by reference */
	assert_int_equal(t_send_full(f.t, SENDER, 0, 0, BUS1_MESSAGE_TYPE_USER,
				     1, &f.handle, 0, NULL, large,
				     sizeof(large)), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	/* a failed SEND */
	assert_int_equal(t_send_full(f.t, SENDER, 0, 1, BUS1_MESSAGE_TYPE_USER,
				     1, &f.handle, 0, NULL, "x", 1), -EINVAL);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(routes(f.t)->n_routes, 0);
	/* the largest inline payload does */
	assert_int_equal(t_send_full(f.t, SENDER, 0, 0, BUS1_MESSAGE_TYPE_USER,
				     1, &f.handle, 0, NULL, below,
				     sizeof(below)), 0);
	assert_int_equal(f.t->n_route_recs, 1);
	t_free(f.t);

	/* a message discarded for a released node */
	f = setup();
	assert_int_equal(t_release(f.t, RECEIVER, 0, 1, &f.node), 0);
	assert_int_equal(send_plain(&f, "lost"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(routes(f.t)->n_routes, 0);
	t_free(f.t);
}

/*
 * The credit is charged on the receiver with the sender as claimant when
 * granted, held through REVOKE until ROUTE_DONE, then given back exactly.
 */
static void test_quota(void **state)
{
	Fixture f = setup();
	uint64_t objects, bytes;
	AcctQuota *quota;

	(void)state;
	objects = used(f.t, RECEIVER_UID, QUOTA_OBJECTS);
	bytes = used(f.t, RECEIVER_UID, QUOTA_BYTES);
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_OBJECTS),
			 objects + 1 + ENGINE_DEFAULT_ROUTE_ITEMS);
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_BYTES),
			 bytes + 2 + ENGINE_DEFAULT_ROUTE_BYTES);
	/* claimed by the sender's UID */
	quota = acct_find_quota(acct_find_user(&engine_bus(f.t->engine)->acct,
					       RECEIVER_UID), SENDER_UID);
	assert_int_equal(quota->claim.claimed[QUOTA_OBJECTS] -
			 quota->claim.available[QUOTA_OBJECTS],
			 1 + ENGINE_DEFAULT_ROUTE_ITEMS);
	assert_int_equal(routes(f.t)->credit_held[QUOTA_OBJECTS],
			 ENGINE_DEFAULT_ROUTE_ITEMS);
	t_expect_user(f.t, RECEIVER, f.node, "hi", 0, NULL);
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_OBJECTS),
			 objects + ENGINE_DEFAULT_ROUTE_ITEMS);

	/* revoked: still held, the module may hold routed messages */
	f.t->hold_route_done = true;
	assert_int_equal(t_release(f.t, SENDER, 0, 1, &f.handle), 0);
	assert_int_equal(f.t->n_revoke_recs, 1);
	assert_int_equal(routes(f.t)->n_live, 0);
	assert_int_equal(routes(f.t)->n_routes, 1);
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_BYTES),
			 bytes + ENGINE_DEFAULT_ROUTE_BYTES);

	t_route_done_all(f.t);
	assert_int_equal(routes(f.t)->n_routes, 0);
	assert_int_equal(routes(f.t)->n_done, 1);
	assert_int_equal(routes(f.t)->credit_held[QUOTA_OBJECTS], 0);
	assert_int_equal(routes(f.t)->credit_held[QUOTA_BYTES], 0);
	/* the handle went too: one object less than the baseline */
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_BYTES), bytes);
	assert_null(acct_find_quota(acct_find_user(&engine_bus(f.t->engine)->acct,
						   RECEIVER_UID), SENDER_UID));
	t_free(f.t);
}

/* A credit the receiver's quota cannot take: no route, the SEND stands. */
static void test_quota_refused(void **state)
{
	EngineConfig config = ENGINE_CONFIG_DEFAULT;
	Fixture f;

	(void)state;
	config.max_objects = 64;
	f = setup_config(&config);
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(routes(f.t)->n_routes, 0);
	assert_int_equal(routes(f.t)->n_failed, 1);
	/* no request was refused */
	assert_int_equal(engine_bus(f.t->engine)->acct.n_failures, 0);
	t_expect_user(f.t, RECEIVER, f.node, "hi", 0, NULL);
	/* and again on the next send: a later grant may fit */
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(routes(f.t)->n_failed, 2);
	t_free(f.t);

	config = (EngineConfig)ENGINE_CONFIG_DEFAULT;
	config.max_bytes = 64 << 10;
	f = setup_config(&config);
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(routes(f.t)->n_failed, 1);
	t_free(f.t);
}

static void expect_revoke(T *t, uint64_t id, uint64_t flags)
{
	TRoute *route = t_route(t, id);

	assert_int_equal(t->n_revoke_recs, 1);
	assert_non_null(route);
	assert_true(route->revoked);
	assert_int_equal(route->flags, flags);
}

static uint64_t granted(Fixture *f)
{
	assert_int_equal(send_plain(f, "hi"), 0);
	assert_int_equal(f->t->n_route_recs, 1);
	return t_route_of(f->t, SENDER, f->handle)->id;
}

/* The sender releases its handle: flags 0, before the RELEASE reply. */
static void test_revoke_handle(void **state)
{
	Fixture f = setup();
	uint64_t id = granted(&f);

	(void)state;
	f.t->hold_route_done = true;
	assert_int_equal(t_release(f.t, SENDER, 0, 1, &f.handle), 0);
	expect_revoke(f.t, id, 0);
	/* its message stays queued */
	t_expect_user(f.t, RECEIVER, f.node, "hi", 0, NULL);
	t_route_done_all(f.t);
	assert_int_equal(routes(f.t)->n_routes, 0);
	t_free(f.t);
}

/*
 * The sender closes: flags 0, in the flush of its PEER_RELEASE; the
 * ROUTE_DONE names a released sender and still works.
 */
static void test_revoke_sender_release(void **state)
{
	Fixture f = setup();
	uint64_t id = granted(&f), bytes;

	(void)state;
	f.t->hold_route_done = true;
	t_peer_release(f.t, SENDER);
	expect_revoke(f.t, id, 0);
	assert_null(bus_find_peer(engine_bus(f.t->engine), SENDER));
	bytes = used(f.t, RECEIVER_UID, QUOTA_BYTES);
	t_route_done(f.t, id);
	assert_int_equal(routes(f.t)->n_routes, 0);
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_BYTES),
			 bytes - ENGINE_DEFAULT_ROUTE_BYTES);
	t_free(f.t);
}

/* The node is released by its owner: DISCARD, before the reply. */
static void test_revoke_node(void **state)
{
	Fixture f = setup();
	uint64_t id = granted(&f);
	uint64_t h2 = t_handle(f.t, SENDER, f.handle, SENDER);

	(void)state;
	/* a second routed handle to the same node */
	assert_int_equal(t_send(f.t, SENDER, 1, &h2, 0, NULL, "two"), 0);
	assert_int_equal(f.t->n_route_recs, 1);
	f.t->hold_route_done = true;
	assert_int_equal(t_release(f.t, RECEIVER, 0, 1, &f.node), 0);
	assert_int_equal(f.t->n_revoke_recs, 2);
	assert_true(t_route(f.t, id)->revoked);
	assert_int_equal(t_route(f.t, id)->flags, BUS1_ENGINE_REVOKE_DISCARD);
	assert_int_equal(routes(f.t)->n_live, 0);

	/* the handles stay, routeless: releasing them revokes nothing */
	f.t->hold_route_done = false;
	t_settle(f.t);
	assert_int_equal(t_release(f.t, SENDER, 0, 1, &f.handle), 0);
	assert_int_equal(f.t->n_revoke_recs, 0);
	assert_int_equal(routes(f.t)->n_routes, 0);
	t_free(f.t);
}

/* The receiver closes: DISCARD, in the flush of its PEER_RELEASE. */
static void test_revoke_receiver_release(void **state)
{
	Fixture f = setup();
	uint64_t id = granted(&f);

	(void)state;
	f.t->hold_route_done = true;
	t_peer_release(f.t, RECEIVER);
	expect_revoke(f.t, id, BUS1_ENGINE_REVOKE_DISCARD);
	t_route_done_all(f.t);
	assert_int_equal(routes(f.t)->n_routes, 0);
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_OBJECTS), 0);
	t_free(f.t);
}

/* A self-send earns a route; closing revokes it once, discarding. */
static void test_self(void **state)
{
	Fixture f = setup();
	uint64_t self, node;
	TRoute *route;

	(void)state;
	node = t_node(f.t, SENDER, SENDER, &self);
	assert_int_equal(t_send(f.t, SENDER, 1, &self, 0, NULL, "me"), 0);
	route = t_route_of(f.t, SENDER, self);
	assert_non_null(route);
	assert_int_equal(route->rec.dst_peer, SENDER);
	assert_int_equal(route->rec.dst_id, node);
	assert_true(used(f.t, SENDER_UID, QUOTA_OBJECTS) >=
		    ENGINE_DEFAULT_ROUTE_ITEMS);

	f.t->hold_route_done = true;
	t_peer_release(f.t, SENDER);
	expect_revoke(f.t, route->id, BUS1_ENGINE_REVOKE_DISCARD);
	t_route_done_all(f.t);
	assert_int_equal(routes(f.t)->n_routes, 0);
	t_free(f.t);
}

/*
 * The kernel rejects the ROUTE: the engine forgets it at once (charge
 * back, no REVOKE later) and offers the handle no other.
 */
static void test_rejected(void **state)
{
	Fixture f = setup();
	uint64_t objects = used(f.t, RECEIVER_UID, QUOTA_OBJECTS);

	(void)state;
	f.t->reject_routes = true;
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(f.t->n_route_recs, 1);
	assert_int_equal(routes(f.t)->n_routes, 0);
	assert_int_equal(routes(f.t)->n_rejected, 1);
	assert_int_equal(routes(f.t)->credit_held[QUOTA_OBJECTS], 0);
	assert_int_equal(used(f.t, RECEIVER_UID, QUOTA_OBJECTS), objects + 1);

	f.t->reject_routes = false;
	assert_int_equal(send_plain(&f, "hi"), 0);
	assert_int_equal(f.t->n_route_recs, 0);
	assert_int_equal(t_release(f.t, SENDER, 0, 1, &f.handle), 0);
	assert_int_equal(f.t->n_revoke_recs, 0);

	/* other records, and garbage, change nothing */
	{
		struct bus1_engine_hdr hdr = { .size = 32, .type = BUS1_ENGINE_ITEM };

		engine_record_rejected(f.t->engine, &hdr, sizeof(hdr));
	}
	t_free(f.t);
}

/* Bad ROUTE_DONE records are logged and ignored. */
static void test_bad_route_done(void **state)
{
	struct bus1_engine_route_done p;
	Fixture f = setup();
	uint64_t id = granted(&f);
	uint8_t buf[64];
	size_t len;
	int logs;

	(void)state;
	/* a live route: not revoked, so not done */
	logs = f.t->n_logs;
	p.route = id;
	len = t_rec(buf, BUS1_ENGINE_ROUTE_DONE, ++f.t->seq, SENDER, &p, sizeof(p));
	assert_int_equal(t_raw(f.t, buf, len), 0);
	assert_int_equal(f.t->n_logs, logs + 1);
	assert_int_equal(routes(f.t)->n_live, 1);

	/* unknown, from an unknown peer */
	p.route = id + 100;
	len = t_rec(buf, BUS1_ENGINE_ROUTE_DONE, ++f.t->seq, 77, &p, sizeof(p));
	assert_int_equal(t_raw(f.t, buf, len), 0);
	assert_int_equal(f.t->n_logs, logs + 2);

	/* malformed */
	len = t_rec(buf, BUS1_ENGINE_ROUTE_DONE, ++f.t->seq, SENDER, &p, 16);
	assert_int_equal(t_raw(f.t, buf, len), 0);
	assert_int_equal(f.t->n_logs, logs + 3);
	assert_int_equal(routes(f.t)->n_routes, 1);
	assert_int_equal(engine_counters(f.t->engine)->requests[BUS1_ENGINE_ROUTE_DONE], 3);

	/* revoked: one ROUTE_DONE ends it, a second is unknown */
	f.t->hold_route_done = true;
	assert_int_equal(t_release(f.t, SENDER, 0, 1, &f.handle), 0);
	t_route_done(f.t, id);
	assert_int_equal(routes(f.t)->n_routes, 0);
	logs = f.t->n_logs;
	p.route = id;
	len = t_rec(buf, BUS1_ENGINE_ROUTE_DONE, ++f.t->seq, SENDER, &p, sizeof(p));
	assert_int_equal(t_raw(f.t, buf, len), 0);
	assert_int_equal(f.t->n_logs, logs + 1);
	t_free(f.t);
}

/* Route IDs are never reused, even after ROUTE_DONE. */
static void test_ids(void **state)
{
	Fixture f = setup();
	uint64_t h2 = t_handle(f.t, SENDER, f.handle, SENDER);
	uint64_t first = granted(&f);

	(void)state;
	assert_int_equal(t_release(f.t, SENDER, 0, 1, &f.handle), 0);
	t_settle(f.t);
	assert_int_equal(routes(f.t)->n_routes, 0);
	assert_int_equal(t_send(f.t, SENDER, 1, &h2, 0, NULL, "two"), 0);
	assert_int_equal(f.t->n_route_recs, 1);
	assert_true(t_route_of(f.t, SENDER, h2)->id > first);
	t_free(f.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grant),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_grant_multicast),
		cmocka_unit_test(test_no_grant),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_quota_refused),
		cmocka_unit_test(test_revoke_handle),
		cmocka_unit_test(test_revoke_sender_release),
		cmocka_unit_test(test_revoke_node),
		cmocka_unit_test(test_revoke_receiver_release),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_bad_route_done),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
