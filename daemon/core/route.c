/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Route: grants to sender handles, from the SEND that earns one to the
 * ROUTE_DONE that ends it.
 *
 * Policy. A route saves the sender two context switches per message, but
 * its credit is charged to the receiver up front, so it is granted only
 * where it will be used and costs nothing to refuse: after a SEND the
 * engine applied that the module could have served itself (at most
 * BUS1_ENGINE_MAX_ROUTED destinations, no transfers, a small inline
 * payload) and that really queued its message (the node is not released),
 * to each of its handles that has none yet. A credit the receiver's quota cannot take, or memory that
 * cannot be had, means no route, never a failed SEND: the route is an
 * optimisation, the SEND already succeeded.
 *
 * Lifetime. A live route is linked from its handle. Releasing the handle
 * revokes it with flags 0 (its messages stay queued); releasing the node
 * revokes every route of its handles with BUS1_ENGINE_REVOKE_DISCARD (the
 * module drops their messages, as the engine drops its own). A revoked
 * route forgets its handle, which may be freed at once, but keeps its
 * charge until ROUTE_DONE: until then the module may still hold messages
 * charged to it. A ROUTE record the kernel rejected never existed there,
 * so the route is forgotten at once, without a REVOKE, and its handle is
 * not offered another (the kernel would most likely refuse again).
 *
 * IDs come from a 64-bit counter and are never reused, which is stricter
 * than "not before ROUTE_DONE" and needs no bookkeeping.
 */

#include <assert.h>
#include <errno.h>
#include "alloc.h"
#include "handle.h"
#include "node.h"
#include "peer.h"
#include "route.h"

int route_compare(Route *a, Route *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(RouteTree, Route, rb, route_compare)

void routes_init(Routes *routes, uint32_t credit_items, uint32_t credit_bytes)
{
	*routes = (Routes){
		.next_id = 1,
		.credit_items = credit_items,
		.credit_bytes = credit_bytes,
	};
	RB_INIT(&routes->tree);
	TAILQ_INIT(&routes->due);
}

static size_t route_owed_bytes(const Route *route)
{
	return (route->route_owed ? ROUTE_RECORD_SIZE : 0) +
	       (route->revoke_owed ? REVOKE_RECORD_SIZE : 0);
}

/* Owe the ROUTE (@grant) or REVOKE record of @route. */
static void route_owe(Routes *routes, Route *route, bool grant)
{
	if (!route->route_owed && !route->revoke_owed) {
		TAILQ_INSERT_TAIL(&routes->due, route, due_link);
		++routes->n_due;
	}
	routes->due_bytes -= route_owed_bytes(route);
	if (grant)
		route->route_owed = true;
	else
		route->revoke_owed = true;
	routes->due_bytes += route_owed_bytes(route);
}

/* Owe nothing of @route any more. */
static void route_clear_owed(Routes *routes, Route *route)
{
	if (!route->route_owed && !route->revoke_owed)
		return;
	TAILQ_REMOVE(&routes->due, route, due_link);
	--routes->n_due;
	routes->due_bytes -= route_owed_bytes(route);
	route->route_owed = false;
	route->revoke_owed = false;
}

/* Unlink @route from everything and give its credit back. */
static void route_free(Routes *routes, Route *route)
{
	unsigned int i;

	route_clear_owed(routes, route);
	if (route->state == ROUTE_LIVE) {
		route->handle->route = NULL;
		--routes->n_live;
	}
	for (i = 0; i < _QUOTA_N; ++i)
		routes->credit_held[i] -= route->charge.amount[i];
	acct_discharge(&route->charge);
	RB_REMOVE(RouteTree, &routes->tree, route);
	--routes->n_routes;
	core_free(route);
}

/* The module drops every route when the engine goes: nothing is owed. */
void routes_deinit(Routes *routes)
{
	Route *route;

	while ((route = RB_MIN(RouteTree, &routes->tree)))
		route_free(routes, route);
}

Route *routes_find(Routes *routes, uint64_t id)
{
	Route key = { .id = id };

	return RB_FIND(RouteTree, &routes->tree, &key);
}

/**
 * route_grant() - grant @sender a route for @handle, if the policy allows
 * @routes:	the bus's routes
 * @sender:	the peer whose plain SEND through @handle was just
 *		applied successfully
 * @handle:	the destination handle of that SEND
 *
 * The caller checked the shape of the SEND (at most
 * BUS1_ENGINE_MAX_ROUTED destinations, no
 * transfers, flags 0, a user message, an inline payload); this checks
 * the rest: routes enabled, the message was queued, no route yet.
 *
 * Return: 1 if a route was granted (its ROUTE record is due), 0 if none
 * is due, -EDQUOT or -ENOMEM if the credit could not be charged (nothing
 * changed, not even the count of refused charges, which is about
 * requests).
 */
int route_grant(Routes *routes, Peer *sender, Handle *handle)
{
	Node *node = handle->node;
	uint64_t amount[_QUOTA_N], n_failures;
	AcctFailure last_failure;
	unsigned int i;
	Acct *acct;
	Route *route;
	int r;

	if (!routes->credit_items || handle->route || handle->route_refused ||
	    node->released)
		return 0;

	route = core_calloc(1, sizeof(*route));
	if (!route) {
		++routes->n_failed;
		return -ENOMEM;
	}
	amount[QUOTA_OBJECTS] = routes->credit_items;
	amount[QUOTA_BYTES] = routes->credit_bytes;
	acct = sender->actor.user->acct;
	n_failures = acct->n_failures;
	last_failure = acct->last_failure;
	/* as if that many messages were queued: on the receiver, by the sender */
	r = acct_charge(&route->charge, node->owner->actor.user,
			&sender->actor, amount);
	if (r) {
		/*
		 * No request was refused: the operator's count of refused
		 * charges stays as it was; n_failed counts this instead.
		 */
		acct->n_failures = n_failures;
		acct->last_failure = last_failure;
		core_free(route);
		++routes->n_failed;
		return r;
	}

	route->id = routes->next_id++;
	route->sender = sender->id;
	route->handle = handle;
	route->handle_id = handle->obj.id;
	route->dst_peer = node->owner->id;
	route->dst_id = node->obj.id;
	route->account = sender->uid;
	route->credit_items = routes->credit_items;
	route->credit_bytes = routes->credit_bytes;
	route->state = ROUTE_LIVE;
	handle->route = route;
	RB_INSERT(RouteTree, &routes->tree, route);
	++routes->n_routes;
	++routes->n_live;
	for (i = 0; i < _QUOTA_N; ++i)
		routes->credit_held[i] += amount[i];
	++routes->n_granted;
	route_owe(routes, route, true);
	return 1;
}

/**
 * route_revoke() - take a live route back
 * @routes:	the bus's routes
 * @route:	a live route
 * @flags:	0, or BUS1_ENGINE_REVOKE_DISCARD if its node is released
 *
 * Cannot fail: the REVOKE record's room is reserved with every request.
 * A route whose ROUTE record is still owed gets both records, in that
 * order, so the module and the engine agree on every route ID (the
 * dispatcher writes a SEND's ROUTE before anything else can revoke it,
 * so this is only defensive).
 */
void route_revoke(Routes *routes, Route *route, uint64_t flags)
{
	assert(route->state == ROUTE_LIVE);
	route->handle->route = NULL;
	route->handle = NULL;
	route->state = ROUTE_REVOKED;
	route->revoke_flags = flags;
	--routes->n_live;
	++routes->n_revoked;
	route_owe(routes, route, false);
}

/* @node is being released: revoke the routes of its handles, discarding. */
void route_revoke_node(Routes *routes, Node *node)
{
	Handle *handle;

	TAILQ_FOREACH(handle, &node->handles, node_link)
		if (handle->route)
			route_revoke(routes, handle->route,
				     BUS1_ENGINE_REVOKE_DISCARD);
}

/**
 * route_done() - ROUTE_DONE: the module holds nothing of the route
 * @routes:	the bus's routes
 * @id:		the route ID it names
 *
 * Return: 0, -ENOENT for an unknown route, -EBUSY for one not revoked
 * (the module answers only a REVOKE); either is left as it was.
 */
int route_done(Routes *routes, uint64_t id)
{
	Route *route = routes_find(routes, id);

	if (!route)
		return -ENOENT;
	if (route->state != ROUTE_REVOKED || route->revoke_owed)
		return -EBUSY;
	++routes->n_done;
	route_free(routes, route);
	return 0;
}

/*
 * The kernel rejected @route's ROUTE record: the module never held it,
 * so no REVOKE is owed and no ROUTE_DONE will come.
 */
void route_forget(Routes *routes, Route *route)
{
	if (route->state == ROUTE_LIVE)
		route->handle->route_refused = true;
	++routes->n_rejected;
	route_free(routes, route);
}

/*
 * Take the route whose record became due first off the due list; the
 * caller writes its ROUTE record if @route_owed, then its REVOKE record if
 * @revoke_owed, as they were before the call.
 */
Route *routes_pop_due(Routes *routes, bool *route_owed, bool *revoke_owed)
{
	Route *route = TAILQ_FIRST(&routes->due);

	if (route) {
		*route_owed = route->route_owed;
		*revoke_owed = route->revoke_owed;
		route_clear_owed(routes, route);
	}
	return route;
}
