/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Lending and its settlement.
 *
 * A lent item keeps everything it holds (handles, charges) until it is
 * committed, so a peer released with items lent discards them like queued
 * ones. Committing a notification retires the ID it names: a NODE_RELEASE
 * frees the handle, a HANDLE_RELEASE frees the node. Items are committed
 * oldest first, each taken off the lent list before it is completed, so
 * completing it (which unlinks it again) is not mistaken for a retraction.
 */

#include <linux/bus1.h>
#include "handle.h"
#include "message.h"
#include "node.h"
#include "peer.h"
#include "queue.h"
#include "recv.h"

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

void recv_describe(Item *item, RecvInfo *info)
{
	Message *message;
	Handle *handle;
	Node *node;

	*info = (RecvInfo){ .item = item, .account = BUS1_INVALID };

	switch (item->type) {
	case ITEM_USER:
		message = core_container_of(item, Message, item);
		info->type = BUS1_MESSAGE_TYPE_USER;
		info->id = message->node->obj.id;
		info->account = message->payload->account;
		info->n_transfers = message->n_handles;
		info->n_data = message->payload->n_data;
		info->data = message->payload->data;
		info->ref = message->payload->ref;
		break;
	case ITEM_NODE_RELEASE:
		handle = core_container_of(item, Handle, notify);
		info->type = BUS1_MESSAGE_TYPE_NODE_RELEASE;
		info->id = handle->obj.id;
		break;
	case ITEM_HANDLE_RELEASE:
		node = core_container_of(item, Node, notify);
		info->type = BUS1_MESSAGE_TYPE_HANDLE_RELEASE;
		info->id = node->obj.id;
		break;
	}
}

void recv_transfer_ids(const RecvInfo *info, uint64_t *ids)
{
	Message *message;
	size_t i;

	if (info->item->type != ITEM_USER)
		return;
	message = core_container_of(info->item, Message, item);
	for (i = 0; i < message->n_handles; ++i)
		ids[i] = message->handles[i]->obj.id;
}

/*
 * The size of the ITEM record describing @info, header included: a
 * payload by reference takes one __u64, however large.
 */
uint64_t recv_record_size(const RecvInfo *info)
{
	return sizeof(struct bus1_engine_hdr) + sizeof(struct bus1_engine_item) +
	       info->n_transfers * sizeof(uint64_t) +
	       (info->ref ? sizeof(uint64_t) : align8(info->n_data));
}

uint64_t recv_item_size(Item *item)
{
	RecvInfo info;

	recv_describe(item, &info);
	return recv_record_size(&info);
}

/**
 * recv_lendable() - the next item to lend, if the window has room
 * @peer:	the peer
 * @info:	filled in with the item's description
 *
 * The window always admits one item; a second and later one only while
 * fewer than LEND_MAX_ITEMS are lent and its record keeps the lent bytes
 * within LEND_MAX_BYTES.
 *
 * Return: the head of the queue, or NULL if it is empty or the window full.
 */
Item *recv_lendable(Peer *peer, RecvInfo *info)
{
	Item *item = queue_head(peer);

	if (!item)
		return NULL;
	recv_describe(item, info);
	if (peer->n_lent &&
	    (peer->n_lent >= LEND_MAX_ITEMS ||
	     peer->lent_bytes + recv_record_size(info) > LEND_MAX_BYTES))
		return NULL;
	return item;
}

/*
 * A received message is delivered; a received notification retires what it
 * is about, exactly as discarding it would.
 */
static void recv_commit(Item *item)
{
	if (item->type == ITEM_USER)
		message_deliver(core_container_of(item, Message, item));
	else
		queue_discard_item(item);
}

/**
 * recv_done() - RECV_DONE: commit lent items
 * @peer:	the peer
 * @token:	every item lent with a token up to this one was received
 *
 * Return: the number of items committed.
 */
size_t recv_done(Peer *peer, uint64_t token)
{
	Item *item;
	size_t n = 0;

	while ((item = TAILQ_FIRST(&peer->lent)) && item->token <= token) {
		queue_settle(peer, item);
		recv_commit(item);
		++n;
	}
	return n;
}
