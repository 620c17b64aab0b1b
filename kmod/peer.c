// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: peers
 *
 * Every open file description of /dev/bus1 is one peer. The module knows
 * little about it: its ID (from a module-wide counter), the engine
 * generation it lives under, whether the engine last said it is readable,
 * and whether it is busy. Everything else is the engine's.
 *
 * A peer makes one request at a time. Each ioctl checks its fixed-size
 * arguments, becomes the peer's single busy holder (waiting killably for a
 * previous holder), only then allocates a request and copies its arguments
 * in, queues it, waits killably for the reply and copies the result out to
 * the caller's memory. The busy state ends only when the request is
 * settled: by the caller after its copy-out, or, if the caller was
 * killed, by whoever ended the request. Settling queues the
 * RECV_DONE a successful RECV owes, and the PEER_RELEASE of a peer closed
 * while busy, before the next request of the peer can be queued; so the
 * engine sees a peer's records in order, PEER_NEW first and PEER_RELEASE
 * last.
 *
 * RECV does not ask the engine: the engine lends the items at the head of
 * the peer's queue ahead of time (ITEM records), the peer keeps them in a
 * list, and RECV, as the busy holder, copies the oldest out and queues a
 * RECV_DONE naming its token, quietly (the engine reads it with whatever
 * comes next, or within a few milliseconds). Only when the list is empty
 * while the engine said it holds more (PEER_STATE) does RECV ask, with
 * FETCH. An item leaves the list only once it reached the application, so
 * a failed copy-out loses nothing. The engine may take an item back
 * (RETRACT) during the peer's own request; the item a RECV is copying out
 * is never taken, whatever the engine says.
 *
 * A plain unicast SEND through a handle the engine granted a route for
 * (see route.c) does not ask the engine either: the module queues the
 * message itself, behind the receiver's lent items, if the route has
 * credit and the engine holds nothing unlent for the receiver; otherwise
 * the SEND goes to the engine. Such a send does not become the busy
 * holder: it queues nothing for the engine. Its messages sit in the
 * receiver's list with the lent items, and RECV hands both out in order.
 *
 * The PEER_RELEASE record is allocated with the peer, so close() never
 * fails for lack of memory. A RECV allocates its RECV_DONE before it copies
 * anything out, so a received item is always reported.
 *
 * Live peers are kept in an xarray by ID, so PEER_STATE records can find
 * them; a record for an unknown ID is ignored.
 *
 * Kernel memory bound: since a request is allocated only by the busy
 * holder, each peer holds at most one request buffer at a time, however
 * many threads call into it: at most max_record bytes (the header, a SEND
 * with max_items destinations and transfers, and max_data payload bytes;
 * about 32 MiB + 2 MiB with the defaults) plus its reply, which the engine
 * bounds the same way. Per peer, besides, the struct and two preallocated
 * header-sized record. So the worst case is about
 * (open peers) * (max_record + reply), and all requests of one user are
 * bounded together by max_user_requests and max_user_bytes (see user.c);
 * everything is allocated with GFP_KERNEL_ACCOUNT, so it is charged to the
 * caller's memory cgroup. Queued messages live in the engine, not here, and are
 * bounded by its per-UID quotas; of them, the module holds only what the
 * engine lent: per peer fewer than BUS1_ENGINE_MAX_LENT_ITEMS items and
 * BUS1_ENGINE_MAX_LENT_BYTES bytes before the last one accepted, charged to
 * the engine's memory cgroup; and the payloads kept by reference (see
 * data.c), charged to their senders and counted by the engine's quotas.
 * Messages queued through a route are bounded by its credit (at most
 * BUS1_ENGINE_MAX_ROUTE_ITEMS messages of less than
 * BUS1_ENGINE_DATA_REF_MIN bytes each, BUS1_ENGINE_MAX_ROUTE_BYTES in
 * all), which the engine charged to the receiver's quota, and charged to
 * the sender's memory cgroup.
 */

#include <linux/build_bug.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/xarray.h>
#include <linux/bus1.h>
#include <linux/bus1-engine.h>
#include "data.h"
#include "engine.h"
#include "peer.h"
#include "request.h"
#include "route.h"
#include "user.h"

/* Peer IDs are xarray indices. */
static_assert(sizeof(unsigned long) == sizeof(u64));

/**
 * struct bus1_peer - one open /dev/bus1
 * @ref:		reference count; the file holds one, every two-way
 *			request one.
 * @id:			the peer's ID, fixed.
 * @gen:		generation of the engine the peer lives under, fixed.
 * @user:		the opener's user (a reference), charged with the
 *			peer's requests; fixed.
 * @readable:		the engine's last PEER_STATE; READ_ONCE/WRITE_ONCE,
 *			changed under the xa_lock of the peer table.
 * @waitq:		poll() waiters.
 * @lock:		protects @busy, @closed, @created, @release_queued,
 *			@routes, the items, and the state of the routes
 *			that queue to this peer.
 * @busy:		a request of the peer is in flight or unsettled.
 * @closed:		the file was released, or the open was abandoned.
 * @created:		the engine accepted PEER_NEW.
 * @release_queued:	PEER_RELEASE was handed to the engine connection.
 * @busy_wq:		callers waiting for @busy to clear.
 * @release_req:	the preallocated PEER_RELEASE.
 * @items:		struct bus1_item the engine lent, oldest first.
 * @n_items:		entries in @items; read locklessly by poll().
 * @items_bytes:	their sizes, summed.
 * @last_token:		token of the last item accepted.
 * @recv_item:		the item a RECV is copying out, or NULL; a RETRACT
 *			leaves it alone.
 * @n_routed:		entries in @items queued through routes (not
 *			counted in @n_items); read locklessly by poll().
 * @routes:		the routes of this peer's handles, by handle; each
 *			holds a reference; emptied when the peer closes.
 */
struct bus1_peer {
	struct kref ref;
	u64 id;
	u64 gen;
	struct bus1_user *user;
	bool readable;
	wait_queue_head_t waitq;
	spinlock_t lock; /* protects the busy state */
	bool busy;
	bool closed;
	bool created;
	bool release_queued;
	wait_queue_head_t busy_wq;
	struct bus1_request *release_req;
	struct list_head items;
	unsigned int n_items;
	size_t items_bytes;
	u64 last_token;
	struct bus1_item *recv_item;
	unsigned int n_routed;
	struct rb_root routes;
};

static DEFINE_XARRAY(bus1_peers);
static atomic64_t bus1_peer_ids = ATOMIC64_INIT(0);

/* Unlink one route from the peer's tree; return it (a reference) or NULL. */
static struct bus1_route *bus1_peer_unlink_route(struct bus1_peer *peer)
{
	struct bus1_route *route = NULL;
	struct rb_node *node;

	spin_lock(&peer->lock);
	node = rb_first(&peer->routes);
	if (node) {
		route = rb_entry(node, struct bus1_route, src_node);
		rb_erase(node, &peer->routes);
		RB_CLEAR_NODE(node);
	}
	spin_unlock(&peer->lock);
	return route;
}

/* Forget the routes of the peer's handles: it sends no more. */
static void bus1_peer_drop_routes(struct bus1_peer *peer)
{
	struct bus1_route *route;

	while ((route = bus1_peer_unlink_route(peer)))
		bus1_route_put(route);
}

static void bus1_peer_free(struct kref *ref)
{
	struct bus1_peer *peer = container_of(ref, struct bus1_peer, ref);
	struct bus1_item *item, *t;

	xa_erase(&bus1_peers, peer->id);
	bus1_peer_drop_routes(peer);
	list_for_each_entry_safe(item, t, &peer->items, link)
		bus1_item_free(item);
	bus1_request_put(peer->release_req);
	bus1_user_put(peer->user);
	kfree(peer);
}

/**
 * bus1_peer_put() - drop a reference
 * @peer:	the peer, or NULL.
 */
void bus1_peer_put(struct bus1_peer *peer)
{
	if (peer)
		kref_put(&peer->ref, bus1_peer_free);
}

static struct bus1_peer *bus1_peer_new(u32 uid)
{
	struct bus1_peer *peer;
	int r;

	peer = kzalloc(sizeof(*peer), GFP_KERNEL_ACCOUNT);
	if (!peer)
		return ERR_PTR(-ENOMEM);

	kref_init(&peer->ref);
	init_waitqueue_head(&peer->waitq);
	spin_lock_init(&peer->lock);
	init_waitqueue_head(&peer->busy_wq);
	INIT_LIST_HEAD(&peer->items);
	peer->routes = RB_ROOT;

	r = bus1_engine_gen(&peer->gen);
	if (r)
		goto err_free;

	peer->user = bus1_user_get(uid);
	if (IS_ERR(peer->user)) {
		r = PTR_ERR(peer->user);
		goto err_free;
	}

	peer->id = atomic64_inc_return(&bus1_peer_ids);
	peer->release_req = bus1_request_new(BUS1_ENGINE_PEER_RELEASE,
					     peer->id, 0);
	if (!peer->release_req) {
		r = -ENOMEM;
		goto err_user;
	}

	r = xa_insert(&bus1_peers, peer->id, peer, GFP_KERNEL_ACCOUNT);
	if (r)
		goto err_req;

	return peer;

err_req:
	bus1_request_put(peer->release_req);
err_user:
	bus1_user_put(peer->user);
err_free:
	kfree(peer);
	return ERR_PTR(r);
}

/*
 * A two-way request of @peer, charged to its user. Return: the request,
 * or an ERR_PTR: -EDQUOT or -ENOMEM.
 */
static struct bus1_request *bus1_peer_request(struct bus1_peer *peer,
					      u16 type, size_t payload_size)
{
	size_t size = sizeof(struct bus1_engine_hdr) + payload_size;
	struct bus1_request *req;
	int r;

	r = bus1_user_charge(peer->user, 1, size);
	if (r)
		return ERR_PTR(r);
	req = bus1_request_new(type, peer->id, payload_size);
	if (!req) {
		bus1_user_uncharge(peer->user, 1, size);
		return ERR_PTR(-ENOMEM);
	}
	kref_get(&peer->ref);
	req->peer = peer;
	req->user = peer->user;
	req->charged = size;
	return req;
}

static void bus1_peer_queue_release(struct bus1_peer *peer)
{
	/* Refused only if the engine is gone, which released the peer. */
	bus1_engine_queue(peer->release_req, peer->gen);
}

static bool bus1_peer_try_acquire(struct bus1_peer *peer)
{
	bool r;

	spin_lock(&peer->lock);
	r = !peer->busy;
	peer->busy = true;
	spin_unlock(&peer->lock);
	return r;
}

static void bus1_peer_unbusy(struct bus1_peer *peer)
{
	bool release;

	spin_lock(&peer->lock);
	peer->busy = false;
	release = peer->closed && peer->created && !peer->release_queued;
	if (release)
		peer->release_queued = true;
	spin_unlock(&peer->lock);

	if (release)
		bus1_peer_queue_release(peer);
	wake_up(&peer->busy_wq);
}

/*
 * Unlink @item from the items of @peer; for a message a route queued, give
 * the route its credit back, and note whether its ROUTE_DONE became due
 * (bus1_item_free() queues it). Under @peer->lock.
 */
static void bus1_peer_unlink(struct bus1_peer *peer, struct bus1_item *item)
{
	list_del(&item->link);
	if (item->route) {
		WRITE_ONCE(peer->n_routed, peer->n_routed - 1);
		item->route_done = bus1_route_uncharge(item->route,
						       item->it.n_data);
	} else {
		peer->items_bytes -= item->size;
		WRITE_ONCE(peer->n_items, peer->n_items - 1);
	}
}

/*
 * Move the messages @route queued to @peer (every route's if @route is
 * NULL) to @list, except one a RECV is copying out. Under @peer->lock.
 */
static void bus1_peer_unlink_routed(struct bus1_peer *peer,
				    const struct bus1_route *route,
				    struct list_head *list)
{
	struct bus1_item *item, *t;

	list_for_each_entry_safe(item, t, &peer->items, link) {
		if (!item->route || item == peer->recv_item ||
		    (route && item->route != route))
			continue;
		bus1_peer_unlink(peer, item);
		list_add_tail(&item->link, list);
	}
}

static void bus1_peer_free_list(struct list_head *list)
{
	struct bus1_item *item, *t;

	list_for_each_entry_safe(item, t, list, link)
		bus1_item_free(item);
}

/*
 * The file is gone: PEER_RELEASE now, or when the peer is settled. The
 * messages routes queued to it go at once, so their routes can drain.
 */
static void bus1_peer_close(struct bus1_peer *peer)
{
	LIST_HEAD(routed);
	bool release;

	spin_lock(&peer->lock);
	peer->closed = true;
	release = !peer->busy && peer->created && !peer->release_queued;
	if (release)
		peer->release_queued = true;
	bus1_peer_unlink_routed(peer, NULL, &routed);
	spin_unlock(&peer->lock);

	bus1_peer_free_list(&routed);
	bus1_peer_drop_routes(peer);
	if (release)
		bus1_peer_queue_release(peer);
}

/**
 * bus1_peer_settle() - finish a request of a peer
 * @peer:	the peer that made @req.
 * @req:	the request, ended.
 *
 * Ends the peer's busy state, which may queue a PEER_RELEASE that waited
 * for it. Called by the caller after its copy-out, or by
 * bus1_request_end() for an abandoned request. Never fails.
 */
void bus1_peer_settle(struct bus1_peer *peer, struct bus1_request *req)
{
	/*
	 * A PEER_NEW whose reply the module rejected (EIO) was most likely
	 * applied by the engine: the peer is released like one created, so
	 * a lying engine is not left holding it forever (an engine that had
	 * refused it ignores a PEER_RELEASE of an unknown peer).
	 */
	if ((!req->error || req->error == -EIO) &&
	    req->type == BUS1_ENGINE_PEER_NEW) {
		spin_lock(&peer->lock);
		peer->created = true;
		spin_unlock(&peer->lock);
	}
	bus1_peer_unbusy(peer);
}

/* Become the busy holder. Return: 0, or -EINTR if the caller was killed. */
static int bus1_peer_acquire(struct bus1_peer *peer)
{
	if (wait_event_killable(peer->busy_wq, bus1_peer_try_acquire(peer)))
		return -EINTR;
	return 0;
}

/*
 * Become the busy holder and allocate its request. Return 0 with *@reqp
 * set (the caller then ends the busy state, by settling or unbusying),
 * -EINTR if the caller was killed, or -EDQUOT or -ENOMEM (not busy then,
 * *@reqp NULL).
 */
static int bus1_peer_begin(struct bus1_peer *peer, u16 type,
			   size_t payload_size, struct bus1_request **reqp)
{
	struct bus1_request *req;
	int r;

	*reqp = NULL;
	r = bus1_peer_acquire(peer);
	if (r)
		return r;
	req = bus1_peer_request(peer, type, payload_size);
	if (IS_ERR(req)) {
		bus1_peer_unbusy(peer);
		return PTR_ERR(req);
	}
	*reqp = req;
	return 0;
}

/*
 * Make @req as the busy holder, wait for the answer. Return -EINTR if the
 * caller was killed (abandoning the request, which now ends the busy
 * state); otherwise the request has ended, the result is in @req, and the
 * caller must settle it.
 */
static int bus1_peer_call(struct bus1_peer *peer, struct bus1_request *req)
{
	int r;

	r = bus1_engine_queue(req, peer->gen);
	if (r) {
		bus1_request_end(req, r, NULL, 0);
		return 0;
	}
	return bus1_request_wait(req);
}

/**
 * bus1_peer_set_readable() - apply a PEER_STATE record
 * @id:		the peer ID the engine named.
 * @gen:	the engine's generation.
 * @readable:	the new state.
 *
 * Unknown peers (closed, or never created) are ignored, as are peers of
 * another engine: the record may have crossed a PEER_RELEASE.
 */
void bus1_peer_set_readable(u64 id, u64 gen, bool readable)
{
	struct bus1_peer *peer;

	xa_lock(&bus1_peers);
	peer = xa_load(&bus1_peers, id);
	if (peer && peer->gen == gen && READ_ONCE(peer->readable) != readable) {
		WRITE_ONCE(peer->readable, readable);
		wake_up_interruptible_all(&peer->waitq);
	}
	xa_unlock(&bus1_peers);
}

/**
 * bus1_item_new() - allocate an item
 * @data_size:	bytes of handle IDs and payload after the fixed ITEM part.
 *
 * Every field but the ITEM payload is set: the item belongs to the engine
 * (no route, no data reference) until its creator says otherwise. The
 * payload is left as it is, since the creator writes all of it; nothing
 * else may be read from fresh memory, which is not zeroed on every kernel.
 *
 * Return: the item, or NULL without memory.
 */
struct bus1_item *bus1_item_new(size_t data_size)
{
	struct bus1_item *item;

	item = kvmalloc(struct_size(item, data, data_size), GFP_KERNEL_ACCOUNT);
	if (!item)
		return NULL;
	INIT_LIST_HEAD(&item->link);
	item->size = sizeof(item->it) + data_size;
	item->ref_data = NULL;
	item->route = NULL;
	item->route_done = false;
	return item;
}

/**
 * bus1_item_free() - free a lent item
 * @item:	the item, or NULL.
 */
void bus1_item_free(struct bus1_item *item)
{
	if (!item)
		return;
	if (item->route) {
		if (item->route_done)
			bus1_route_done(item->route);
		bus1_route_put(item->route);
	}
	bus1_data_put(item->ref_data);
	kvfree(item);
}

/**
 * bus1_peer_lend() - take an item the engine lent
 * @id:		the peer ID the engine named.
 * @gen:	the engine's generation.
 * @item:	the item, validated; always consumed.
 *
 * Items for unknown or closed peers, or peers of another engine, are
 * dropped: the record may have crossed a PEER_RELEASE.
 *
 * Return: 0, -EINVAL if the token does not grow, or -ENOSPC if the peer
 * holds as much as the module allows.
 */
int bus1_peer_lend(u64 id, u64 gen, struct bus1_item *item)
{
	struct bus1_peer *peer;
	bool wake = false;
	int r = 0;

	xa_lock(&bus1_peers);
	peer = xa_load(&bus1_peers, id);
	if (peer && peer->gen == gen) {
		spin_lock(&peer->lock);
		if (item->it.token <= peer->last_token) {
			r = -EINVAL;
		} else if (peer->n_items >= BUS1_ENGINE_MAX_LENT_ITEMS ||
			   peer->items_bytes >= BUS1_ENGINE_MAX_LENT_BYTES) {
			r = -ENOSPC;
		} else if (!peer->closed) {
			peer->last_token = item->it.token;
			list_add_tail(&item->link, &peer->items);
			peer->items_bytes += item->size;
			WRITE_ONCE(peer->n_items, peer->n_items + 1);
			wake = peer->n_items + peer->n_routed == 1;
			item = NULL;
		}
		spin_unlock(&peer->lock);
		if (wake)
			wake_up_interruptible_all(&peer->waitq);
	}
	xa_unlock(&bus1_peers);

	bus1_item_free(item);
	return r;
}

/**
 * bus1_peer_retract() - drop a lent item the engine takes back
 * @id:		the peer ID the engine named.
 * @gen:	the engine's generation.
 * @token:	the item's token.
 *
 * A token the peer does not hold, or names the item a RECV is copying out,
 * is ignored.
 */
void bus1_peer_retract(u64 id, u64 gen, u64 token)
{
	struct bus1_item *item, *found = NULL;
	struct bus1_peer *peer;

	xa_lock(&bus1_peers);
	peer = xa_load(&bus1_peers, id);
	if (peer && peer->gen == gen) {
		spin_lock(&peer->lock);
		list_for_each_entry(item, &peer->items, link) {
			if (item->route || item->it.token != token)
				continue;
			if (item != peer->recv_item) {
				bus1_peer_unlink(peer, item);
				found = item;
			}
			break;
		}
		spin_unlock(&peer->lock);
	}
	xa_unlock(&bus1_peers);

	bus1_item_free(found);
}

/**
 * bus1_peer_wake_all() - wake every peer of a gone engine
 * @gen:	generation of the engine.
 */
void bus1_peer_wake_all(u64 gen)
{
	struct bus1_peer *peer;
	unsigned long id;

	xa_lock(&bus1_peers);
	xa_for_each(&bus1_peers, id, peer)
		if (peer->gen == gen)
			wake_up_interruptible_all(&peer->waitq);
	xa_unlock(&bus1_peers);
}

/* Link @route into the sender's tree. Under @peer->lock. Return: 0 or -EBUSY. */
static int bus1_peer_link_route(struct bus1_peer *peer,
				struct bus1_route *route)
{
	struct rb_node **slot = &peer->routes.rb_node, *parent = NULL;
	struct bus1_route *t;

	while (*slot) {
		parent = *slot;
		t = rb_entry(parent, struct bus1_route, src_node);
		if (route->handle == t->handle)
			return -EBUSY;
		slot = route->handle < t->handle ? &parent->rb_left :
						   &parent->rb_right;
	}
	kref_get(&route->ref);
	rb_link_node(&route->src_node, parent, slot);
	rb_insert_color(&route->src_node, &peer->routes);
	return 0;
}

/* Find the route of one of @peer's handles; return a reference or NULL. */
static struct bus1_route *bus1_peer_find_route(struct bus1_peer *peer,
					       u64 handle)
{
	struct bus1_route *route = NULL, *t;
	struct rb_node *n;

	spin_lock(&peer->lock);
	n = peer->routes.rb_node;
	while (n) {
		t = rb_entry(n, struct bus1_route, src_node);
		if (handle == t->handle) {
			route = t;
			kref_get(&route->ref);
			break;
		}
		n = handle < t->handle ? n->rb_left : n->rb_right;
	}
	spin_unlock(&peer->lock);
	return route;
}

/**
 * bus1_peer_route_attach() - give a granted route its sender and receiver
 * @route:	the route, in the route table.
 * @dst_peer:	the receiver the engine named.
 *
 * The route takes a reference on the receiver and joins the sender's tree,
 * if both exist under the route's engine and the sender is open; otherwise
 * it stays unused.
 *
 * Return: 0, or -EINVAL if the sender's handle has a route already.
 */
int bus1_peer_route_attach(struct bus1_route *route, u64 dst_peer)
{
	struct bus1_peer *src, *dst, *unused = NULL;
	int r = 0;

	xa_lock(&bus1_peers);
	src = xa_load(&bus1_peers, route->src_id);
	dst = xa_load(&bus1_peers, dst_peer);
	if (src && dst && src->gen == route->gen && dst->gen == route->gen &&
	    kref_get_unless_zero(&dst->ref)) {
		/* Set before a sender can find the route in its tree. */
		route->dst = dst;
		spin_lock(&src->lock);
		if (src->created && !src->closed &&
		    bus1_peer_link_route(src, route))
			r = -EINVAL;
		spin_unlock(&src->lock);
		if (r) {
			route->dst = NULL;
			unused = dst;
		}
	}
	xa_unlock(&bus1_peers);

	bus1_peer_put(unused);
	return r;
}

/**
 * bus1_peer_route_revoke() - apply a REVOKE, or the engine's end
 * @route:	the route, taken out of the route table.
 * @discard:	drop the messages it queued, too (but one a RECV is copying
 *		out: that one was received before the REVOKE).
 *
 * Queues ROUTE_DONE if the route holds no message any more.
 */
void bus1_peer_route_revoke(struct bus1_route *route, bool discard)
{
	struct bus1_peer *src, *dst = route->dst;
	LIST_HEAD(dropped);
	bool linked = false;
	bool done;

	xa_lock(&bus1_peers);
	src = xa_load(&bus1_peers, route->src_id);
	if (src) {
		spin_lock(&src->lock);
		linked = !RB_EMPTY_NODE(&route->src_node);
		if (linked) {
			rb_erase(&route->src_node, &src->routes);
			RB_CLEAR_NODE(&route->src_node);
		}
		spin_unlock(&src->lock);
	}
	xa_unlock(&bus1_peers);
	/* The tree's reference; the caller's keeps the route. */
	if (linked)
		bus1_route_put(route);

	if (dst) {
		spin_lock(&dst->lock);
		if (discard)
			bus1_peer_unlink_routed(dst, route, &dropped);
		done = bus1_route_set_revoked(route);
		spin_unlock(&dst->lock);
	} else {
		done = bus1_route_set_revoked(route);
	}

	bus1_peer_free_list(&dropped);
	if (done)
		bus1_route_done(route);
}

/**
 * bus1_peer_exit() - release the peer table at module unload
 *
 * Every file holding a peer pins the module, and so does the control file
 * holding the requests that pin peers, so the table is empty here.
 */
void bus1_peer_exit(void)
{
	xa_destroy(&bus1_peers);
}

static int bus1_peer_open(struct inode *inode, struct file *file)
{
	struct bus1_engine_peer_new *pn;
	struct bus1_request *req;
	struct bus1_peer *peer;
	u32 uid;
	int r;

	uid = from_kuid_munged(&init_user_ns, file->f_cred->euid);
	peer = bus1_peer_new(uid);
	if (IS_ERR(peer))
		return PTR_ERR(peer);

	req = bus1_peer_request(peer, BUS1_ENGINE_PEER_NEW, sizeof(*pn));
	if (IS_ERR(req)) {
		r = PTR_ERR(req);
		req = NULL;
		goto out;
	}
	pn = bus1_request_payload(req);
	pn->uid = uid;
	pn->pid = task_tgid_nr(current);

	/* nobody else knows the peer yet: this does not wait */
	r = bus1_peer_acquire(peer) ?: bus1_peer_call(peer, req);
	if (r) {
		/* Abandoned: PEER_RELEASE follows if PEER_NEW succeeds. */
		bus1_peer_close(peer);
		goto out;
	}
	r = req->error;
	bus1_peer_settle(peer, req);
	if (r) {
		/*
		 * Nobody will ever receive for this peer: closed, so that a
		 * route a lying engine grants to it queues nothing.
		 */
		bus1_peer_close(peer);
		/* The engine vanished while asked: as if it never was. */
		if (r == -ENOTCONN)
			r = -ENXIO;
		goto out;
	}

	file->private_data = peer;
	peer = NULL;
	r = stream_open(inode, file);
out:
	bus1_request_put(req);
	bus1_peer_put(peer);
	return r;
}

static int bus1_peer_release(struct inode *inode, struct file *file)
{
	struct bus1_peer *peer = file->private_data;

	bus1_peer_close(peer);
	bus1_peer_put(peer);
	return 0;
}

static __poll_t bus1_peer_poll(struct file *file, poll_table *wait)
{
	struct bus1_peer *peer = file->private_data;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &peer->waitq, wait);
	if (!bus1_engine_alive(peer->gen))
		mask |= EPOLLERR | EPOLLHUP;
	else if (READ_ONCE(peer->n_items) || READ_ONCE(peer->n_routed) ||
		 READ_ONCE(peer->readable))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

/*
 * The engine is asked only after this probe of the caller's output arrays
 * succeeded. It does not write (fault_in_writeable() would write zeros);
 * it makes a later copy-out failure, which would leave the operation done
 * on the bus but unreported, unlikely but not impossible (another thread
 * may unmap the memory meanwhile).
 */
static int bus1_peer_probe(u64 ptr, size_t size)
{
	if (fault_in_safe_writeable(u64_to_user_ptr(ptr), size))
		return -EFAULT;
	return 0;
}

static int bus1_peer_transfer(struct bus1_peer *peer, void __user *arg)
{
	struct bus1_engine_transfer *t;
	struct bus1_cmd_transfer cmd;
	struct bus1_request *req = NULL;
	struct file *to_file = NULL;
	struct bus1_peer *to;
	u64 to_id = peer->id;
	size_t size;
	int r;

	if (copy_from_user(&cmd, arg, sizeof(cmd)))
		return -EFAULT;
	if (cmd.n_transfers > bus1_max_items)
		return -EINVAL;
	size = cmd.n_transfers * sizeof(struct bus1_transfer);

	if (cmd.to != BUS1_INVALID) {
		if (cmd.to > INT_MAX)
			return -EBADF;
		/* Held until the reply, so its PEER_RELEASE comes after. */
		to_file = fget(cmd.to);
		if (!to_file)
			return -EBADF;
		if (to_file->f_op != &bus1_peer_fops) {
			r = -EOPNOTSUPP;
			goto out;
		}
		to = to_file->private_data;
		if (to->gen != peer->gen || !bus1_engine_alive(to->gen)) {
			r = -ENOTCONN;
			goto out;
		}
		to_id = to->id;
	}

	r = bus1_peer_begin(peer, BUS1_ENGINE_TRANSFER, sizeof(*t) + size,
			    &req);
	if (r)
		goto out;
	req->n = cmd.n_transfers;
	t = bus1_request_payload(req);
	t->flags = cmd.flags;
	t->to_peer = to_id;
	t->n = cmd.n_transfers;
	if (copy_from_user(t + 1, u64_to_user_ptr(cmd.ptr_src), size)) {
		r = -EFAULT;
		goto unbusy;
	}
	r = bus1_peer_probe(cmd.ptr_src, size) ?:
	    bus1_peer_probe(cmd.ptr_dst, size);
	if (r)
		goto unbusy;

	r = bus1_peer_call(peer, req);
	if (r)
		goto out;
	r = req->error;
	if (!r && (copy_to_user(u64_to_user_ptr(cmd.ptr_src), req->reply,
				size) ||
		   copy_to_user(u64_to_user_ptr(cmd.ptr_dst),
				(u8 *)req->reply + size, size)))
		r = -EFAULT;
	bus1_peer_settle(peer, req);
	goto out;
unbusy:
	bus1_peer_unbusy(peer);
out:
	bus1_request_put(req);
	if (to_file)
		fput(to_file);
	return r;
}

static int bus1_peer_release_ids(struct bus1_peer *peer, void __user *arg)
{
	struct bus1_engine_release *rel;
	struct bus1_cmd_release cmd;
	struct bus1_request *req;
	size_t size;
	int r;

	if (copy_from_user(&cmd, arg, sizeof(cmd)))
		return -EFAULT;
	if (cmd.n_ids > bus1_max_items)
		return -EINVAL;
	size = cmd.n_ids * sizeof(u64);

	r = bus1_peer_begin(peer, BUS1_ENGINE_RELEASE, sizeof(*rel) + size,
			    &req);
	if (r)
		return r;
	rel = bus1_request_payload(req);
	rel->flags = cmd.flags;
	rel->n_ids = cmd.n_ids;
	if (copy_from_user(rel + 1, u64_to_user_ptr(cmd.ptr_ids), size)) {
		r = -EFAULT;
		goto unbusy;
	}

	r = bus1_peer_call(peer, req);
	if (r)
		goto out;
	r = req->error;
	bus1_peer_settle(peer, req);
	goto out;
unbusy:
	bus1_peer_unbusy(peer);
out:
	bus1_request_put(req);
	return r;
}

/* Gather exactly the first @msg->n_data bytes of the iovecs into @data. */
static int bus1_peer_gather(const struct bus1_message *msg, void *data)
{
	struct iovec iovstack[UIO_FASTIOV], *iov = iovstack;
	struct iov_iter iter;
	ssize_t len;
	int r = 0;

	if (!msg->n_data)
		return 0;
	if (!msg->n_data_vecs)
		return -EMSGSIZE;

	len = import_iovec(ITER_SOURCE, u64_to_user_ptr(msg->ptr_data_vecs),
			   msg->n_data_vecs, UIO_FASTIOV, &iov, &iter);
	if (len < 0)
		return len;
	if ((u64)len < msg->n_data)
		r = -EMSGSIZE;
	else if (copy_from_iter(data, msg->n_data, &iter) != msg->n_data)
		r = -EFAULT;
	kfree(iov);
	return r;
}

/*
 * Gather a SEND's payload: inline into the record at @inline_data, or, at
 * BUS1_ENGINE_DATA_REF_MIN bytes and more, into a buffer the module keeps
 * (@req->data), which the engine will know by reference.
 */
static int bus1_peer_send_data(struct bus1_peer *peer,
			       struct bus1_request *req,
			       const struct bus1_message *msg, u8 *inline_data)
{
	int r;

	if (msg->n_data < BUS1_ENGINE_DATA_REF_MIN)
		return bus1_peer_gather(msg, inline_data);

	/* The buffer is the request's until the engine accepts it. */
	r = bus1_user_charge(peer->user, 0, msg->n_data);
	if (r)
		return r;
	req->charged += msg->n_data;
	req->data = bus1_data_new(msg->n_data, peer->gen);
	if (!req->data)
		return -ENOMEM;
	return bus1_peer_gather(msg, req->data->bytes);
}

/*
 * Whether the receiver of @item's route takes it: it is open, the engine
 * holds nothing unlent for it (so the message goes behind everything
 * queued before), and the route has credit. Takes the credit. Under the
 * receiver's lock.
 */
static bool bus1_peer_charge_routed(struct bus1_peer *dst,
				    struct bus1_item *item)
{
	return !dst->closed && !READ_ONCE(dst->readable) &&
	       bus1_route_charge(item->route, item->it.n_data);
}

/* Queue a charged @item. Under the receiver's lock. Return: whether to wake. */
static bool bus1_peer_append_routed(struct bus1_peer *dst,
				    struct bus1_item *item)
{
	list_add_tail(&item->link, &dst->items);
	WRITE_ONCE(dst->n_routed, dst->n_routed + 1);
	return dst->n_items + dst->n_routed == 1;
}

/*
 * Queue @item, a unicast, if its receiver takes it and no engine write()
 * holds the order; return whether.
 */
static bool bus1_peer_queue_unicast(struct bus1_item *item)
{
	struct bus1_peer *dst = item->route->dst;
	bool queued, wake = false;

	if (!bus1_route_order_read())
		return false;
	spin_lock(&dst->lock);
	queued = bus1_peer_charge_routed(dst, item);
	if (queued)
		wake = bus1_peer_append_routed(dst, item);
	spin_unlock(&dst->lock);
	bus1_route_order_read_end();

	if (wake)
		wake_up_interruptible_all(&dst->waitq);
	return queued;
}

/*
 * Queue the @n items of a multicast, all or none (none while another send
 * or an engine write() holds the order), and return whether. No other
 * send or engine record queues anything meanwhile, so every receiver
 * sees the multicast at the same point of the one order. A receiver that
 * closes before its copy is queued drops it, as if it closed right after;
 * @items[i] is set to NULL for each item queued (it is consumed).
 */
static bool bus1_peer_queue_multicast(struct bus1_item **items, size_t n)
{
	struct bus1_peer *dst;
	size_t i, charged;
	bool wake;

	if (!bus1_route_order_exclusive())
		return false;
	for (charged = 0; charged < n; ++charged) {
		dst = items[charged]->route->dst;
		spin_lock(&dst->lock);
		wake = bus1_peer_charge_routed(dst, items[charged]);
		spin_unlock(&dst->lock);
		if (!wake)
			break;
	}
	for (i = 0; i < n; ++i) {
		dst = items[i]->route->dst;
		spin_lock(&dst->lock);
		if (charged < n || dst->closed) {
			if (i < charged)
				items[i]->route_done = bus1_route_uncharge(
					items[i]->route, items[i]->it.n_data);
			wake = false;
		} else {
			wake = bus1_peer_append_routed(dst, items[i]);
			items[i] = NULL;
		}
		spin_unlock(&dst->lock);
		if (wake)
			wake_up_interruptible_all(&dst->waitq);
	}
	bus1_route_order_exclusive_end();
	return charged == n;
}

/*
 * A message through @route, its payload in @data, or, if @data is NULL,
 * copied from the application into the item.
 */
static struct bus1_item *bus1_peer_routed_item(struct bus1_route *route,
					       const struct bus1_message *msg,
					       struct bus1_data *data)
{
	size_t size = data ? 0 : round_up(msg->n_data, 8);
	struct bus1_item *item;

	item = bus1_item_new(size);
	if (!item)
		return ERR_PTR(-ENOMEM);
	item->ref_data = data;
	if (data)
		kref_get(&data->ref);
	kref_get(&route->ref);
	item->route = route;
	item->it = (struct bus1_engine_item){
		.type = BUS1_MESSAGE_TYPE_USER,
		.id = route->dst_id,
		.account = route->account,
		.n_data = msg->n_data,
	};
	if (!data) {
		int r = bus1_peer_gather(msg, item->data);

		if (r) {
			bus1_item_free(item);
			return ERR_PTR(r);
		}
	}
	return item;
}

/*
 * The state of a SEND the module serves: the destination handles, their
 * routes (references) and the items to queue, one per destination. A
 * unicast keeps them in the struct itself, so it allocates only its item.
 */
struct bus1_routed_send {
	size_t n;
	u64 *handles;
	struct bus1_route **routes;
	struct bus1_item **items;
	struct bus1_data *data;
	u64 handle;
	struct bus1_route *route;
	struct bus1_item *item;
};

static void bus1_routed_send_free(struct bus1_routed_send *rs)
{
	size_t i;

	for (i = 0; i < rs->n; ++i) {
		bus1_item_free(rs->items[i]);
		bus1_route_put(rs->routes[i]);
	}
	bus1_data_put(rs->data);
	if (rs->handles != &rs->handle)
		kfree(rs->handles);
}

/*
 * Find the route of every destination and build the items. Return: 0, 1
 * when a destination has no route, or a negative errno (as the engine
 * path would fail: EFAULT, EMSGSIZE, ENOMEM).
 */
static int bus1_routed_send_prepare(struct bus1_peer *peer,
				    struct bus1_routed_send *rs,
				    const struct bus1_cmd_send *cmd,
				    const struct bus1_message *msg)
{
	size_t i, n = cmd->n_destinations;
	int r;

	if (n == 1) {
		rs->handles = &rs->handle;
		rs->routes = &rs->route;
		rs->items = &rs->item;
	} else {
		/* One allocation: handles, then routes, then items. */
		rs->handles = kcalloc(n, sizeof(u64) + 2 * sizeof(void *),
				      GFP_KERNEL_ACCOUNT);
		if (!rs->handles)
			return -ENOMEM;
		rs->routes = (struct bus1_route **)(rs->handles + n);
		rs->items = (struct bus1_item **)(rs->routes + n);
	}
	rs->n = n;
	if (copy_from_user(rs->handles, u64_to_user_ptr(cmd->ptr_destinations),
			   n * sizeof(u64)))
		return -EFAULT;
	for (i = 0; i < n; ++i) {
		rs->routes[i] = bus1_peer_find_route(peer, rs->handles[i]);
		if (!rs->routes[i])
			return 1;
	}

	if (n > 1) {
		rs->data = bus1_data_new(msg->n_data, peer->gen);
		if (!rs->data)
			return -ENOMEM;
		r = bus1_peer_gather(msg, rs->data->bytes);
		if (r)
			return r;
	}
	for (i = 0; i < n; ++i) {
		rs->items[i] = bus1_peer_routed_item(rs->routes[i], msg,
						     rs->data);
		if (IS_ERR(rs->items[i])) {
			r = PTR_ERR(rs->items[i]);
			rs->items[i] = NULL;
			return r;
		}
	}
	return 0;
}

/*
 * Serve a SEND without the engine, through the routes of its destination
 * handles, if it is a message the routes may carry. Return: 0 when sent,
 * 1 when the engine must decide, or a negative errno the engine path
 * would have returned as well (its checks come first there too).
 */
static int bus1_peer_send_routed(struct bus1_peer *peer,
				 const struct bus1_cmd_send *cmd,
				 const struct bus1_message *msg)
{
	struct bus1_routed_send rs = {};
	size_t n = cmd->n_destinations;
	bool queued;
	int r;

	if (cmd->flags || msg->flags || msg->type != BUS1_MESSAGE_TYPE_USER ||
	    !n || n > BUS1_ENGINE_MAX_ROUTED || msg->n_transfers ||
	    msg->n_data >= BUS1_ENGINE_DATA_REF_MIN)
		return 1;

	r = bus1_routed_send_prepare(peer, &rs, cmd, msg) ?:
	    bus1_peer_probe(cmd->ptr_errors, n * sizeof(s32));
	if (r)
		goto out;
	if (n == 1) {
		queued = bus1_peer_queue_unicast(rs.items[0]);
		if (queued)
			rs.items[0] = NULL;
	} else {
		queued = bus1_peer_queue_multicast(rs.items, n);
	}
	if (!queued) {
		r = 1;
		goto out;
	}
	bus1_route_sent();
	if (clear_user(u64_to_user_ptr(cmd->ptr_errors), n * sizeof(s32)))
		r = -EFAULT;
out:
	bus1_routed_send_free(&rs);
	return r;
}

static int bus1_peer_send(struct bus1_peer *peer, void __user *arg)
{
	size_t n_dst, n_tr, size;
	struct bus1_engine_send *s;
	struct bus1_request *req;
	struct bus1_cmd_send cmd;
	struct bus1_message msg;
	bool by_ref;
	u8 *p;
	int r;

	if (copy_from_user(&cmd, arg, sizeof(cmd)) ||
	    copy_from_user(&msg, u64_to_user_ptr(cmd.ptr_message),
			   sizeof(msg)))
		return -EFAULT;
	if (cmd.n_destinations > bus1_max_items ||
	    msg.n_transfers > bus1_max_items ||
	    msg.n_data_vecs > UIO_MAXIOV)
		return -EINVAL;
	if (msg.n_data > bus1_max_data)
		return -EMSGSIZE;
	r = bus1_peer_send_routed(peer, &cmd, &msg);
	if (r <= 0)
		return r;

	by_ref = msg.n_data >= BUS1_ENGINE_DATA_REF_MIN;
	n_dst = cmd.n_destinations * sizeof(u64);
	n_tr = msg.n_transfers * sizeof(struct bus1_transfer);
	size = sizeof(*s) + n_dst + n_tr +
	       (by_ref ? sizeof(u64) : round_up(msg.n_data, 8));
	r = bus1_peer_begin(peer, BUS1_ENGINE_SEND, size, &req);
	if (r)
		return r;
	req->n = cmd.n_destinations;
	s = bus1_request_payload(req);
	s->flags = cmd.flags;
	s->msg_flags = msg.flags;
	s->msg_type = msg.type;
	s->n_destinations = cmd.n_destinations;
	s->n_transfers = msg.n_transfers;
	s->n_data = msg.n_data;
	p = (u8 *)(s + 1);
	if (copy_from_user(p, u64_to_user_ptr(cmd.ptr_destinations), n_dst) ||
	    copy_from_user(p + n_dst, u64_to_user_ptr(msg.ptr_transfers),
			   n_tr)) {
		r = -EFAULT;
		goto unbusy;
	}
	r = bus1_peer_send_data(peer, req, &msg, p + n_dst + n_tr) ?:
	    bus1_peer_probe(cmd.ptr_errors, cmd.n_destinations * sizeof(s32));
	if (!r && req->data) {
		r = bus1_data_publish(req->data);
		if (!r) {
			req->data_published = true;
			*(u64 *)(p + n_dst + n_tr) = req->data->id;
		}
	}
	if (r)
		goto unbusy;

	r = bus1_peer_call(peer, req);
	if (r)
		goto out;
	r = req->error;
	if (!r && copy_to_user(u64_to_user_ptr(cmd.ptr_errors), req->reply,
			       cmd.n_destinations * sizeof(s32)))
		r = -EFAULT;
	bus1_peer_settle(peer, req);
	goto out;
unbusy:
	bus1_peer_unbusy(peer);
out:
	bus1_request_put(req);
	return r;
}

/* Copy a lent item out; any failure means it was not delivered. */
static int bus1_peer_deliver(const struct bus1_item *item,
			     const struct bus1_cmd_recv *cmd,
			     const struct bus1_message *msg,
			     struct bus1_message __user *umsg,
			     struct iov_iter *iter)
{
	const struct bus1_engine_item *it = &item->it;
	const u64 *ids = (const u64 *)item->data;
	struct bus1_transfer __user *ut;
	const u8 *bytes;
	struct bus1_transfer t = {};
	struct bus1_metadata meta = {
		.id = it->id,
		.account = it->account,
	};
	u64 i;

	ut = u64_to_user_ptr(msg->ptr_transfers);
	for (i = 0; i < it->n_transfers; ++i) {
		t.id = ids[i];
		if (copy_to_user(ut + i, &t, sizeof(t)))
			return -EFAULT;
	}
	bytes = item->ref_data ? item->ref_data->bytes :
		(const u8 *)(ids + it->n_transfers);
	if (it->n_data && copy_to_iter(bytes, it->n_data, iter) != it->n_data)
		return -EFAULT;
	if (copy_to_user(u64_to_user_ptr(cmd->ptr_metadata), &meta,
			 sizeof(meta)) ||
	    put_user(it->type, &umsg->type) ||
	    put_user(it->n_transfers, &umsg->n_transfers) ||
	    put_user(it->n_data, &umsg->n_data))
		return -EFAULT;
	return 0;
}

/* Mark the oldest lent item as being received; return it, or NULL. */
static struct bus1_item *bus1_peer_take_head(struct bus1_peer *peer)
{
	struct bus1_item *item;

	spin_lock(&peer->lock);
	item = list_first_entry_or_null(&peer->items, struct bus1_item, link);
	peer->recv_item = item;
	spin_unlock(&peer->lock);
	return item;
}

/*
 * As the busy holder, take the oldest lent item, asking the engine to lend
 * first (FETCH) if there is none but it said it holds more. Return 0 with
 * *@itemp set, -EAGAIN if nothing is queued, -EINTR if the caller was
 * killed (abandoning the FETCH, which now ends the busy state), or the
 * FETCH's error.
 */
static int bus1_peer_take(struct bus1_peer *peer, struct bus1_item **itemp)
{
	struct bus1_request *req;
	int r;

	*itemp = bus1_peer_take_head(peer);
	if (*itemp)
		return 0;
	/* Nothing lent: look again once a write() under way is applied. */
	bus1_engine_settle();
	*itemp = bus1_peer_take_head(peer);
	if (*itemp)
		return 0;
	if (!READ_ONCE(peer->readable))
		return -EAGAIN;

	req = bus1_peer_request(peer, BUS1_ENGINE_FETCH, 0);
	if (IS_ERR(req))
		return PTR_ERR(req);
	r = bus1_peer_call(peer, req) ?: req->error;
	bus1_request_put(req);
	if (r)
		return r;

	*itemp = bus1_peer_take_head(peer);
	return *itemp ? 0 : -EAGAIN;
}

/*
 * The item reached the application: drop it, tell the engine (@done), or,
 * for a message a route queued (@done is NULL), give the route its credit.
 */
static void bus1_peer_consume(struct bus1_peer *peer, struct bus1_item *item,
			      struct bus1_request *done)
{
	struct bus1_engine_recv_done *d;

	spin_lock(&peer->lock);
	bus1_peer_unlink(peer, item);
	peer->recv_item = NULL;
	spin_unlock(&peer->lock);

	if (done) {
		d = bus1_request_payload(done);
		d->token = item->it.token;
		/* Refused only if the engine is gone, which settles all. */
		bus1_engine_queue_quiet(done, peer->gen);
	}
	bus1_item_free(item);
}

static void bus1_peer_untake(struct bus1_peer *peer)
{
	spin_lock(&peer->lock);
	peer->recv_item = NULL;
	spin_unlock(&peer->lock);
}

static int bus1_peer_recv(struct bus1_peer *peer, void __user *arg)
{
	struct iovec iovstack[UIO_FASTIOV], *iov = NULL;
	struct bus1_request *done = NULL;
	struct bus1_message __user *umsg;
	struct bus1_cmd_recv cmd;
	struct bus1_message msg;
	struct bus1_item *item;
	struct iov_iter iter;
	ssize_t len = 0;
	int r;

	if (copy_from_user(&cmd, arg, sizeof(cmd)))
		return -EFAULT;
	umsg = u64_to_user_ptr(cmd.ptr_message);
	if (copy_from_user(&msg, umsg, sizeof(msg)))
		return -EFAULT;
	if (cmd.flags || msg.flags || msg.type != BUS1_INVALID ||
	    msg.n_data_vecs > UIO_MAXIOV)
		return -EINVAL;

	if (msg.n_data_vecs) {
		/* On success, iov is NULL or what import_iovec() allocated. */
		iov = iovstack;
		len = import_iovec(ITER_DEST,
				   u64_to_user_ptr(msg.ptr_data_vecs),
				   msg.n_data_vecs, UIO_FASTIOV, &iov, &iter);
		if (len < 0)
			return len;
	} else {
		iov_iter_kvec(&iter, ITER_DEST, NULL, 0, 0);
	}

	r = bus1_peer_acquire(peer);
	if (r)
		goto out;
	r = bus1_peer_take(peer, &item);
	if (r == -EINTR)
		goto out;
	if (r)
		goto unbusy;

	/* A message a route queued is not the engine's to settle. */
	if (!item->route)
		done = bus1_request_new(BUS1_ENGINE_RECV_DONE, peer->id,
					sizeof(struct bus1_engine_recv_done));
	if (!item->route && !done) {
		r = -ENOMEM;
	} else if ((u64)len < msg.n_data ||
		   item->it.n_transfers > msg.n_transfers ||
		   item->it.n_data > msg.n_data) {
		r = -EMSGSIZE;
		if (put_user(item->it.n_data, &umsg->n_data) ||
		    put_user(item->it.n_transfers, &umsg->n_transfers))
			r = -EFAULT;
	} else {
		r = bus1_peer_deliver(item, &cmd, &msg, umsg, &iter);
	}
	if (r)
		bus1_peer_untake(peer);
	else
		bus1_peer_consume(peer, item, done);
unbusy:
	bus1_peer_unbusy(peer);
out:
	bus1_request_put(done);
	kfree(iov);
	return r;
}

static long bus1_peer_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct bus1_peer *peer = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case BUS1_CMD_TRANSFER:
	case BUS1_CMD_RELEASE:
	case BUS1_CMD_SEND:
	case BUS1_CMD_RECV:
		break;
	default:
		return -ENOTTY;
	}

	if (!bus1_engine_alive(peer->gen))
		return -ENOTCONN;

	switch (cmd) {
	case BUS1_CMD_TRANSFER:
		return bus1_peer_transfer(peer, uarg);
	case BUS1_CMD_RELEASE:
		return bus1_peer_release_ids(peer, uarg);
	case BUS1_CMD_SEND:
		return bus1_peer_send(peer, uarg);
	default:
		return bus1_peer_recv(peer, uarg);
	}
}

const struct file_operations bus1_peer_fops = {
	.owner		= THIS_MODULE,
	.open		= bus1_peer_open,
	.release	= bus1_peer_release,
	.poll		= bus1_peer_poll,
	.unlocked_ioctl	= bus1_peer_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};
