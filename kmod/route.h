/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_ROUTE_H
#define __BUS1_ROUTE_H

#include <linux/kref.h>
#include <linux/rbtree.h>
#include <linux/types.h>
#include <linux/bus1-engine.h>

struct bus1_peer;
struct bus1_request;

/**
 * struct bus1_route - a sender handle the module may serve SENDs for
 * @ref:		reference count: the route table holds one until
 *			REVOKE, the sender's tree one while linked, every
 *			queued message one, and whoever looked it up.
 * @id:			the engine's route ID, fixed.
 * @gen:		generation of the engine that granted it, fixed.
 * @src_id:		the sending peer's ID, fixed.
 * @handle:		the sender's handle, fixed.
 * @dst_id:		node ID the receiver knows, fixed.
 * @account:		the sender's UID, fixed.
 * @dst:		the receiving peer (a reference), or NULL if it was
 *			gone at grant; fixed.
 * @src_node:		entry in the sender's tree of routes by handle, under
 *			the sender's lock; empty once unlinked.
 * @done_req:		the preallocated ROUTE_DONE.
 *
 * Under @dst's lock:
 * @revoked:		REVOKE arrived, or the engine is gone.
 * @done:		ROUTE_DONE was queued.
 * @credit_items:	messages it may still queue.
 * @credit_bytes:	payload bytes it may still queue.
 * @n_queued:		messages it queued that were not yet received or
 *			dropped.
 */
struct bus1_route {
	struct kref ref;
	u64 id;
	u64 gen;
	u64 src_id;
	u64 handle;
	u64 dst_id;
	u64 account;
	struct bus1_peer *dst;
	struct rb_node src_node;
	struct bus1_request *done_req;
	bool revoked;
	bool done;
	u32 credit_items;
	u32 credit_bytes;
	u32 n_queued;
};

void bus1_route_put(struct bus1_route *route);
int bus1_route_grant(u64 src_id, u64 gen, const struct bus1_engine_route *rt);
int bus1_route_revoke(u64 src_id, u64 gen,
		      const struct bus1_engine_revoke *rv);
void bus1_route_drop_gen(u64 gen);
bool bus1_route_charge(struct bus1_route *route, size_t n_data);
bool bus1_route_uncharge(struct bus1_route *route, size_t n_data);
bool bus1_route_set_revoked(struct bus1_route *route);
void bus1_route_done(struct bus1_route *route);
void bus1_route_sent(void);
bool bus1_route_order_read(void);
void bus1_route_order_read_end(void);
bool bus1_route_order_exclusive(void);
void bus1_route_order_exclusive_end(void);
int bus1_route_order_write(bool nowait);
void bus1_route_order_write_end(void);
u64 bus1_route_count(void);
u64 bus1_route_sends(void);
void bus1_route_exit(void);

#endif /* __BUS1_ROUTE_H */
