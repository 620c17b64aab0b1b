/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Handle: lifetime and its NODE_RELEASE notification.
 *
 * A handle is created with its ID already consumed in its owner (so IDs
 * handed out at send time are stable), and mapped when its owner can first
 * know the ID. Releasing a handle drops its pending NODE_RELEASE, since
 * the ID it names is gone.
 */

#include <assert.h>
#include "alloc.h"
#include "bus.h"
#include "handle.h"
#include "node.h"
#include "peer.h"
#include "queue.h"
#include "route.h"

Handle *handle_new(void)
{
	Handle *handle;

	handle = core_calloc(1, sizeof(*handle));
	if (!handle)
		return NULL;

	handle->obj.kind = OBJECT_HANDLE;
	item_init(&handle->notify, ITEM_NODE_RELEASE);
	return handle;
}

Handle *handle_free(Handle *handle)
{
	if (!handle)
		return NULL;

	assert(!handle->mapped);
	assert(handle->notify.state == ITEM_IDLE);
	assert(!handle->route);
	acct_discharge(&handle->charge);
	core_free(handle);
	return NULL;
}

/*
 * Give @handle an ID in @owner and link it to @node. A handle to a node
 * that is already released gets its NODE_RELEASE at once, so its owner
 * learns of the release like every other holder.
 */
void handle_attach(Handle *handle, Peer *owner, Node *node)
{
	handle->owner = owner;
	handle->node = node;
	handle->obj.id = peer_next_id(owner);
	node_link_handle(node, handle);
	if (node->released)
		handle_notify_node_release(handle);
}

void handle_map(Handle *handle)
{
	peer_map(handle->owner, &handle->obj);
	handle->mapped = true;
}

void handle_notify_node_release(Handle *handle)
{
	queue_push(handle->owner, &handle->notify);
}

void handle_release(Handle *handle)
{
	/* the sender lets go: its messages routed so far stay queued */
	if (handle->route)
		route_revoke(&handle->owner->bus->routes, handle->route, 0);
	queue_remove(handle->owner, &handle->notify);
	if (handle->mapped) {
		peer_unmap(handle->owner, &handle->obj);
		handle->mapped = false;
	}
	node_unlink_handle(handle->node, handle);
	handle_free(handle);
}
