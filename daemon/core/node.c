/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Node: lifetime and the two notifications that concern it.
 *
 * A node lives while it is mapped in its owner or while any handle refers
 * to it. Releasing it (by its owner, or retiring it once its
 * HANDLE_RELEASE was received) unmaps it, drops messages queued for it and
 * notifies every handle; the last handle then frees it. Losing its last
 * handle while not released queues HANDLE_RELEASE to the owner.
 */

#include <assert.h>
#include "alloc.h"
#include "bus.h"
#include "handle.h"
#include "message.h"
#include "node.h"
#include "peer.h"
#include "queue.h"
#include "route.h"

Node *node_new(void)
{
	Node *node;

	node = core_calloc(1, sizeof(*node));
	if (!node)
		return NULL;

	node->obj.kind = OBJECT_NODE;
	TAILQ_INIT(&node->handles);
	TAILQ_INIT(&node->messages);
	item_init(&node->notify, ITEM_HANDLE_RELEASE);
	return node;
}

Node *node_free(Node *node)
{
	if (!node)
		return NULL;

	assert(!node->n_handles);
	assert(TAILQ_EMPTY(&node->messages));
	assert(node->notify.state == ITEM_IDLE);
	acct_discharge(&node->charge);
	core_free(node);
	return NULL;
}

/* Give @node an ID in @owner and map it. */
void node_attach(Node *node, Peer *owner)
{
	node->owner = owner;
	node->obj.id = peer_next_id(owner);
	peer_map(owner, &node->obj);
}

void node_link_handle(Node *node, Handle *handle)
{
	TAILQ_INSERT_TAIL(&node->handles, handle, node_link);
	++node->n_handles;
}

void node_unlink_handle(Node *node, Handle *handle)
{
	TAILQ_REMOVE(&node->handles, handle, node_link);
	if (--node->n_handles)
		return;

	if (node->released)
		node_free(node);
	else
		queue_push(node->owner, &node->notify);
}

/**
 * node_release() - release a node
 * @node:	a mapped node
 *
 * Cannot fail: every notification is embedded in its handle.
 */
void node_release(Node *node)
{
	Message *message;
	Handle *handle;

	assert(!node->released);
	node->released = true;
	acct_discharge(&node->charge);
	/* pin: discarding messages may drop handles to this very node */
	++node->n_handles;

	peer_unmap(node->owner, &node->obj);
	queue_remove(node->owner, &node->notify);
	/* routed messages go with the node, like the engine's own */
	route_revoke_node(&node->owner->bus->routes, node);

	while ((message = TAILQ_FIRST(&node->messages)))
		message_discard(message);

	TAILQ_FOREACH(handle, &node->handles, node_link)
		handle_notify_node_release(handle);

	/* the owner may go away while handles still refer to the node */
	node->owner = NULL;
	if (!--node->n_handles)
		node_free(node);
}
