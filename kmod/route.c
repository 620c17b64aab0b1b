// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: routes
 *
 * A route lets the module serve a plain unicast SEND through one sender
 * handle without asking the engine (see the control protocol header,
 * "Routes"). The engine grants it with a credit it charged to the
 * receiver's quota; the module queues such messages directly behind the
 * receiver's lent items, takes credit for each and gives it back when the
 * message is received. The engine takes the route back with REVOKE; once
 * the route is revoked and holds no message any more, the module queues
 * ROUTE_DONE, after which the engine drops the charge.
 *
 * The route table, keyed by the engine's route ID, holds every route
 * between its ROUTE and its REVOKE (or the engine's end). The sender finds
 * its routes by handle in a tree of its own (see peer.c), and the mutable
 * state of a route (credit, queued count, revoked) is under the lock of the
 * receiving peer, where the messages are queued.
 *
 * Order: the records of one engine write() are applied under the write
 * side of @bus1_route_order, a send the module serves itself under the
 * read side. So such a send falls before or after all the records a
 * request of the engine caused, never between them, and a multicast is
 * seen atomically by every receiver. Sends only try the lock: a send that
 * finds an engine write() in progress goes to the engine instead of
 * waiting, so a slow or faulting engine never holds an application in an
 * uninterruptible wait.
 */

#include <linux/atomic.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include "engine.h"
#include "peer.h"
#include "request.h"
#include "route.h"

static DEFINE_XARRAY(bus1_routes);
static DECLARE_RWSEM(bus1_route_order);
static atomic64_t bus1_route_n = ATOMIC64_INIT(0);
static atomic64_t bus1_route_sends_n = ATOMIC64_INIT(0);

static void bus1_route_free(struct kref *ref)
{
	struct bus1_route *route = container_of(ref, struct bus1_route, ref);

	bus1_peer_put(route->dst);
	bus1_request_put(route->done_req);
	kfree(route);
	atomic64_dec(&bus1_route_n);
}

/**
 * bus1_route_put() - drop a reference
 * @route:	the route, or NULL.
 *
 * Not under any peer lock: the last reference drops the receiver's.
 */
void bus1_route_put(struct bus1_route *route)
{
	if (route)
		kref_put(&route->ref, bus1_route_free);
}

static struct bus1_route *bus1_route_new(u64 src_id, u64 gen,
					 const struct bus1_engine_route *rt)
{
	struct bus1_engine_route_done *done;
	struct bus1_route *route;

	route = kzalloc(sizeof(*route), GFP_KERNEL_ACCOUNT);
	if (!route)
		return NULL;
	route->done_req = bus1_request_new(BUS1_ENGINE_ROUTE_DONE, src_id,
					   sizeof(*done));
	if (!route->done_req) {
		kfree(route);
		return NULL;
	}
	done = bus1_request_payload(route->done_req);
	done->route = rt->route;

	kref_init(&route->ref);
	route->id = rt->route;
	route->gen = gen;
	route->src_id = src_id;
	route->handle = rt->handle;
	route->dst_id = rt->dst_id;
	route->account = rt->account;
	RB_CLEAR_NODE(&route->src_node);
	route->credit_items = rt->credit_items;
	route->credit_bytes = rt->credit_bytes;
	atomic64_inc(&bus1_route_n);
	return route;
}

/**
 * bus1_route_grant() - apply a ROUTE record
 * @src_id:	the sender the engine named.
 * @gen:	the engine's generation.
 * @rt:		the record's payload, not yet checked.
 *
 * A route whose sender or receiver the module no longer holds is kept in
 * the table, unused, for its REVOKE.
 *
 * Return: 0, -EINVAL for a malformed record, a route ID in use or a
 * handle that has a route, or -ENOMEM.
 */
int bus1_route_grant(u64 src_id, u64 gen, const struct bus1_engine_route *rt)
{
	struct bus1_route *route;
	int r;

	if (!rt->route || !(rt->handle & BUS1_MANAGED) ||
	    rt->handle == BUS1_INVALID || !(rt->dst_id & BUS1_MANAGED) ||
	    rt->dst_id == BUS1_INVALID || !rt->credit_items ||
	    rt->credit_items > BUS1_ENGINE_MAX_ROUTE_ITEMS ||
	    rt->credit_bytes > BUS1_ENGINE_MAX_ROUTE_BYTES)
		return -EINVAL;

	route = bus1_route_new(src_id, gen, rt);
	if (!route)
		return -ENOMEM;
	r = xa_insert(&bus1_routes, route->id, route, GFP_KERNEL_ACCOUNT);
	if (r) {
		bus1_route_put(route);
		return r == -EBUSY ? -EINVAL : r;
	}
	/*
	 * The table's reference cannot go meanwhile: REVOKE comes through
	 * this engine's write(), and the teardown's drop of its routes
	 * waits for the write() to end (see engine.c).
	 */
	r = bus1_peer_route_attach(route, rt->dst_peer);
	if (r) {
		xa_erase(&bus1_routes, route->id);
		bus1_route_put(route);
	}
	return r;
}

/**
 * bus1_route_revoke() - apply a REVOKE record
 * @src_id:	the sender the engine named.
 * @gen:	the engine's generation.
 * @rv:		the record's payload, not yet checked.
 *
 * Return: 0, or -EINVAL for unknown flags or a route the engine does not
 * hold for @src_id.
 */
int bus1_route_revoke(u64 src_id, u64 gen, const struct bus1_engine_revoke *rv)
{
	struct bus1_route *route;

	if (rv->flags & ~BUS1_ENGINE_REVOKE_DISCARD)
		return -EINVAL;

	xa_lock(&bus1_routes);
	route = xa_load(&bus1_routes, rv->route);
	if (route && route->gen == gen && route->src_id == src_id)
		__xa_erase(&bus1_routes, rv->route);
	else
		route = NULL;
	xa_unlock(&bus1_routes);
	if (!route)
		return -EINVAL;

	bus1_peer_route_revoke(route, rv->flags & BUS1_ENGINE_REVOKE_DISCARD);
	bus1_route_put(route);
	return 0;
}

/**
 * bus1_route_drop_gen() - revoke every route of a gone engine
 * @gen:	the engine's generation.
 *
 * Their queued messages are dropped with them; nobody can receive them.
 */
void bus1_route_drop_gen(u64 gen)
{
	struct bus1_route *route;
	unsigned long id = 0;

	for (;;) {
		xa_lock(&bus1_routes);
		xa_for_each_start(&bus1_routes, id, route, id)
			if (route->gen == gen)
				break;
		if (route)
			__xa_erase(&bus1_routes, id);
		xa_unlock(&bus1_routes);
		if (!route)
			return;
		bus1_peer_route_revoke(route, true);
		bus1_route_put(route);
	}
}

/* Whether ROUTE_DONE is due now; it is due once. Under the receiver's lock. */
static bool bus1_route_drained(struct bus1_route *route)
{
	if (!route->revoked || route->n_queued || route->done)
		return false;
	route->done = true;
	return true;
}

/**
 * bus1_route_charge() - take credit for one message
 * @route:	the route.
 * @n_data:	its payload bytes.
 *
 * Under the receiver's lock.
 *
 * Return: whether the route may queue it (then it is counted as queued).
 */
bool bus1_route_charge(struct bus1_route *route, size_t n_data)
{
	if (route->revoked || !route->credit_items ||
	    route->credit_bytes < n_data)
		return false;
	route->credit_items--;
	route->credit_bytes -= n_data;
	route->n_queued++;
	return true;
}

/**
 * bus1_route_uncharge() - a queued message was received or dropped
 * @route:	the route.
 * @n_data:	its payload bytes.
 *
 * Under the receiver's lock.
 *
 * Return: whether ROUTE_DONE is due (see bus1_route_done()).
 */
bool bus1_route_uncharge(struct bus1_route *route, size_t n_data)
{
	route->credit_items++;
	route->credit_bytes += n_data;
	route->n_queued--;
	return bus1_route_drained(route);
}

/**
 * bus1_route_set_revoked() - the engine took the route back
 * @route:	the route.
 *
 * Under the receiver's lock, if there is one.
 *
 * Return: whether ROUTE_DONE is due (see bus1_route_done()).
 */
bool bus1_route_set_revoked(struct bus1_route *route)
{
	route->revoked = true;
	return bus1_route_drained(route);
}

/**
 * bus1_route_done() - queue the ROUTE_DONE that became due
 * @route:	the route.
 *
 * Not under any peer lock. Refused only if the engine is gone, which has
 * forgotten the route.
 */
void bus1_route_done(struct bus1_route *route)
{
	bus1_engine_queue_quiet(route->done_req, route->gen);
}

/* Count a SEND the module served. */
void bus1_route_sent(void)
{
	atomic64_inc(&bus1_route_sends_n);
}

/*
 * Around a unicast the module serves itself. A send never waits for the
 * engine here: while an engine write() holds the order (or waits for it),
 * this fails and the send takes the engine path, which is killable and
 * bounded by the request timeout. Return: whether the order is held.
 */
bool bus1_route_order_read(void)
{
	return down_read_trylock(&bus1_route_order);
}

void bus1_route_order_read_end(void)
{
	up_read(&bus1_route_order);
}

/* Around a multicast the module serves itself; as bus1_route_order_read(). */
bool bus1_route_order_exclusive(void)
{
	return down_write_trylock(&bus1_route_order);
}

void bus1_route_order_exclusive_end(void)
{
	up_write(&bus1_route_order);
}

/*
 * Around the records of one engine write(). Return: 0, -EAGAIN if @nowait
 * and contended, or -EINTR.
 */
int bus1_route_order_write(bool nowait)
{
	if (nowait)
		return down_write_trylock(&bus1_route_order) ? 0 : -EAGAIN;
	return down_write_killable(&bus1_route_order);
}

void bus1_route_order_write_end(void)
{
	up_write(&bus1_route_order);
}

/* Routes alive (granted and not yet freed), for debugfs. */
u64 bus1_route_count(void)
{
	return atomic64_read(&bus1_route_n);
}

/* Sends served through routes since the module was loaded, for debugfs. */
u64 bus1_route_sends(void)
{
	return atomic64_read(&bus1_route_sends_n);
}

/**
 * bus1_route_exit() - release the route table at module unload
 *
 * The last engine's end dropped every route.
 */
void bus1_route_exit(void)
{
	xa_destroy(&bus1_routes);
}
