/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Queue: FIFO of items with O(1) push, unlink and head, plus the FIFO of
 * lent items.
 *
 * A lent item is out of the queue (it does not make the peer readable) but
 * still owned by the peer. It leaves the lent list in one of two ways:
 * settled (received, RECV_DONE), or removed by a request of its peer, which
 * the kernel must hear about: its token is kept for a RETRACT record.
 */

#include <assert.h>
#include "bus.h"
#include "handle.h"
#include "message.h"
#include "node.h"
#include "peer.h"
#include "queue.h"
#include "recv.h"

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

static void queue_unlend(Peer *peer, Item *item)
{
	TAILQ_REMOVE(&peer->lent, item, link);
	--peer->n_lent;
	peer->lent_bytes -= recv_item_size(item);
	item->state = ITEM_IDLE;
	bus_mark_dirty(peer->bus, peer);
}

/*
 * Take @item out of @peer's queue or back from the kernel, if it is in
 * either. At most LEND_MAX_ITEMS items are lent, and nothing is lent while
 * a request is applied, so @retracted cannot overflow before the flush.
 */
void queue_remove(Peer *peer, Item *item)
{
	if (item->state == ITEM_QUEUED) {
		TAILQ_REMOVE(&peer->queue, item, link);
		--peer->n_queued;
		bus_mark_dirty(peer->bus, peer);
	} else if (item->state == ITEM_LENT) {
		assert(peer->n_retracted < LEND_MAX_ITEMS);
		peer->retracted[peer->n_retracted++] = item->token;
		++peer->bus->n_retracted;
		queue_unlend(peer, item);
	}
	item->state = ITEM_IDLE;
}

/*
 * Lend the head item under the next token. The caller reports the peer's
 * state itself, so the peer is not marked dirty.
 */
void queue_lend(Peer *peer, Item *item)
{
	assert(item == queue_head(peer));
	TAILQ_REMOVE(&peer->queue, item, link);
	--peer->n_queued;
	TAILQ_INSERT_TAIL(&peer->lent, item, link);
	item->state = ITEM_LENT;
	item->token = peer->next_token++;
	++peer->n_lent;
	peer->lent_bytes += recv_item_size(item);
}

/* The kernel received a lent item: take it back, no RETRACT. */
void queue_settle(Peer *peer, Item *item)
{
	assert(item->state == ITEM_LENT);
	queue_unlend(peer, item);
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
	while ((item = TAILQ_FIRST(&peer->lent)))
		queue_discard_item(item);
	while ((item = queue_head(peer)))
		queue_discard_item(item);
}
