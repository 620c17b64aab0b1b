/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A handle is the sending end of a channel, held by one peer. Its ID is
 * assigned when it is created; it is mapped in the owner's namespace at
 * once (TRANSFER) or when the message carrying it is received (SEND).
 */

#include "quota.h"
#include "types.h"

/**
 * struct Handle - sending end, owned by one peer
 * @obj:	ID in the owner's namespace, mapped while @mapped
 * @owner:	owning peer
 * @node:	the node the handle refers to
 * @node_link:	link in Node.handles
 * @notify:	NODE_RELEASE notification to @owner
 * @mapped:	whether @obj is in the owner's namespace (false while the
 *		handle travels inside a queued message)
 * @charge:	one object on the owner's UID, claimed by the peer that
 *		created the handle there
 * @route:	the owner's live route through this handle, or NULL
 * @route_refused: the kernel rejected a ROUTE for it: grant no other
 */
struct Handle {
	Object obj;
	Peer *owner;
	Node *node;
	TAILQ_ENTRY(Handle) node_link;
	Item notify;
	bool mapped;
	AcctCharge charge;
	Route *route;
	bool route_refused;
};

Handle *handle_new(void);
Handle *handle_free(Handle *handle);

void handle_attach(Handle *handle, Peer *owner, Node *node);
void handle_map(Handle *handle);
void handle_notify_node_release(Handle *handle);
void handle_release(Handle *handle);
