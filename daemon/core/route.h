/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A route is a grant to one sender handle: the module may queue that
 * handle's plain messages itself (unicast, or multicast when every
 * destination has a route), within a credit the engine has
 * charged to the receiver as if that many messages were queued. The
 * engine keeps every route from its grant until the module's ROUTE_DONE
 * (or its rejection of the ROUTE record), because only then does the
 * module hold no message charged to the credit.
 *
 * Records are owed in the order routes change: a ROUTE when granted, a
 * REVOKE when its handle or node goes. They wait on Routes.due until the
 * dispatcher writes them; the dispatcher reserves room for one REVOKE per
 * route that may still be revoked, so writing them never fails.
 */

#include <linux/bus1-engine.h>
#include "quota.h"
#include "types.h"

enum {
	ROUTE_LIVE,		/* granted, not revoked */
	ROUTE_REVOKED,		/* REVOKE owed or written, awaiting ROUTE_DONE */
};

typedef struct Route Route;

/**
 * struct Route - one route, from grant to ROUTE_DONE
 * @rb:		link in Routes.tree, by @id
 * @due_link:	link in Routes.due while a record is owed
 * @id:		the route ID, never reused (counter)
 * @sender:	ID of the sending peer (it may be released before ROUTE_DONE)
 * @handle:	the sender's handle while @state is ROUTE_LIVE, else NULL
 * @handle_id:	its ID in the sender
 * @dst_peer:	ID of the receiving peer, the node's owner at grant time
 * @dst_id:	the node's ID in @dst_peer
 * @account:	the sender's UID
 * @credit_items: items of the credit
 * @credit_bytes: payload bytes of the credit
 * @state:	ROUTE_LIVE or ROUTE_REVOKED
 * @route_owed:	its ROUTE record is owed
 * @revoke_owed: its REVOKE record is owed (after the ROUTE, if both are)
 * @revoke_flags: flags of the REVOKE record (BUS1_ENGINE_REVOKE_DISCARD)
 * @charge:	the credit, on the receiver's UID, claimed by the sender
 */
struct Route {
	RB_ENTRY(Route) rb;
	TAILQ_ENTRY(Route) due_link;
	uint64_t id;
	uint64_t sender;
	Handle *handle;
	uint64_t handle_id;
	uint64_t dst_peer;
	uint64_t dst_id;
	uint64_t account;
	uint32_t credit_items;
	uint32_t credit_bytes;
	unsigned int state;
	bool route_owed;
	bool revoke_owed;
	uint64_t revoke_flags;
	AcctCharge charge;
};

RB_HEAD(RouteTree, Route);
int route_compare(Route *a, Route *b);
RB_PROTOTYPE(RouteTree, Route, rb, route_compare)

/**
 * struct Routes - every route of one bus
 * @tree:	all routes the engine keeps, by ID
 * @n_routes:	entries in @tree
 * @n_live:	routes in ROUTE_LIVE, each of which may still owe a REVOKE
 * @due:	routes owing a record, in the order they became due
 * @n_due:	entries in @due
 * @due_bytes:	total size of the records owed
 * @next_id:	the next route ID
 * @credit_items: credit of a new route in items; 0 disables routes
 * @credit_bytes: credit of a new route in payload bytes
 * @credit_held: credit charged by all routes in @tree, per quota slot
 * @n_granted:	routes granted so far
 * @n_revoked:	REVOKE records owed so far
 * @n_done:	routes ROUTE_DONE ended
 * @n_rejected:	ROUTE records the kernel rejected
 * @n_failed:	grants skipped as the credit could not be charged
 */
typedef struct Routes {
	struct RouteTree tree;
	size_t n_routes;
	size_t n_live;
	TAILQ_HEAD(, Route) due;
	size_t n_due;
	size_t due_bytes;
	uint64_t next_id;
	uint32_t credit_items;
	uint32_t credit_bytes;
	uint64_t credit_held[_QUOTA_N];
	uint64_t n_granted;
	uint64_t n_revoked;
	uint64_t n_done;
	uint64_t n_rejected;
	uint64_t n_failed;
} Routes;

#define ROUTE_RECORD_SIZE \
	(sizeof(struct bus1_engine_hdr) + sizeof(struct bus1_engine_route))
#define REVOKE_RECORD_SIZE \
	(sizeof(struct bus1_engine_hdr) + sizeof(struct bus1_engine_revoke))

void routes_init(Routes *routes, uint32_t credit_items, uint32_t credit_bytes);
void routes_deinit(Routes *routes);

Route *routes_find(Routes *routes, uint64_t id);
int route_grant(Routes *routes, Peer *sender, Handle *handle);
void route_revoke(Routes *routes, Route *route, uint64_t flags);
void route_revoke_node(Routes *routes, Node *node);
int route_done(Routes *routes, uint64_t id);
void route_forget(Routes *routes, Route *route);
Route *routes_pop_due(Routes *routes, bool *route_owed, bool *revoke_owed);
