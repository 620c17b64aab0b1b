/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Queue: FIFO of items with O(1) push, unlink and head, plus the lent item.
 *
 * A lent item is out of the FIFO (it does not make the peer readable) but
 * still owned by the peer; unlending puts it back at the head.
 */

#include <assert.h>
#include "bus.h"
#include "handle.h"
#include "message.h"
#include "node.h"
#include "peer.h"
#include "queue.h"

Item *queue_head(Peer *peer)
{
	return TAILQ_FIRST(&peer->queue);
}

void queue_push(Peer *peer, Item *item)
{
	assert(item->state == ITEM_IDLE);
	TAILQ_INSERT_TAIL(&peer->queue, item, link);
	item->state = ITEM_QUEUED;
	++peer->n_queued;
	bus_mark_dirty(peer->bus, peer);
}

/* Take @item out of @peer's queue or back from the kernel, if it is there. */
void queue_remove(Peer *peer, Item *item)
{
	if (item->state == ITEM_QUEUED) {
		TAILQ_REMOVE(&peer->queue, item, link);
		--peer->n_queued;
		bus_mark_dirty(peer->bus, peer);
	} else if (item->state == ITEM_LENT) {
		assert(peer->lent == item);
		peer->lent = NULL;
	}
	item->state = ITEM_IDLE;
}

void queue_lend(Peer *peer, Item *item, uint64_t seq)
{
	assert(!peer->lent);
	queue_remove(peer, item);
	item->state = ITEM_LENT;
	peer->lent = item;
	peer->lent_seq = seq;
}

void queue_unlend(Peer *peer)
{
	Item *item = peer->lent;

	peer->lent = NULL;
	TAILQ_INSERT_HEAD(&peer->queue, item, link);
	item->state = ITEM_QUEUED;
	++peer->n_queued;
	bus_mark_dirty(peer->bus, peer);
}

/* Drop a queued or lent item and whatever its presence implies. */
void queue_discard_item(Item *item)
{
	switch (item->type) {
	case ITEM_USER:
		message_discard(core_container_of(item, Message, item));
		break;
	case ITEM_NODE_RELEASE:
		handle_release(core_container_of(item, Handle, notify));
		break;
	case ITEM_HANDLE_RELEASE:
		node_release(core_container_of(item, Node, notify));
		break;
	}
}

void queue_discard_all(Peer *peer)
{
	Item *item;

	/*
	 * Always take the head: discarding one item may drop others (a
	 * message's handles take their NODE_RELEASE with them).
	 */
	if (peer->lent)
		queue_discard_item(peer->lent);
	while ((item = queue_head(peer)))
		queue_discard_item(item);
}
