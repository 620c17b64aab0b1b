/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_PEER_H
#define __BUS1_PEER_H

#include <linux/fs.h>
#include <linux/list.h>
#include <linux/types.h>
#include <linux/bus1-engine.h>

struct bus1_peer;
struct bus1_request;
struct bus1_route;

/**
 * struct bus1_item - an item queued in the module for a peer
 * @link:	entry in the peer's list of items, oldest first.
 * @size:	size of @it and what follows, as the engine wrote it.
 * @ref_data:	the payload, if it is kept by reference (a reference);
 *		else the bytes follow the handle IDs in @data.
 * @route:	for a message the module queued itself: its route (a
 *		reference); NULL for an item the engine lent.
 * @route_done:	unlinking it made the route's ROUTE_DONE due.
 * @it:		the ITEM payload: fixed part, then handle IDs, then data.
 * @data:	the handle IDs and payload bytes after @it.
 */
struct bus1_item {
	struct list_head link;
	size_t size;
	struct bus1_data *ref_data;
	struct bus1_route *route;
	bool route_done;
	struct bus1_engine_item it;
	u8 data[];
};

extern const struct file_operations bus1_peer_fops;

void bus1_peer_put(struct bus1_peer *peer);
void bus1_peer_settle(struct bus1_peer *peer, struct bus1_request *req);
struct bus1_item *bus1_item_new(size_t data_size);
void bus1_item_free(struct bus1_item *item);
int bus1_peer_lend(u64 id, u64 gen, struct bus1_item *item);
void bus1_peer_retract(u64 id, u64 gen, u64 token);
void bus1_peer_set_readable(u64 id, u64 gen, bool readable);
void bus1_peer_wake_all(u64 gen);
int bus1_peer_route_attach(struct bus1_route *route, u64 dst_peer);
void bus1_peer_route_revoke(struct bus1_route *route, bool discard);
void bus1_peer_exit(void);

#endif /* __BUS1_PEER_H */
