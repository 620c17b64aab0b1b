/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * RECV and its settlement.
 *
 * Lending keeps the item with all it holds, so an aborted RECV puts back
 * exactly what was there. Committing a notification retires the ID it
 * names: a NODE_RELEASE frees the handle, a HANDLE_RELEASE frees the node.
 */

#include <errno.h>
#include <linux/bus1.h>
#include "handle.h"
#include "message.h"
#include "node.h"
#include "peer.h"
#include "queue.h"
#include "recv.h"

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

/**
 * recv_lend() - RECV
 *
 * Return: 0 with @info describing the lent item; -EINVAL for bad flags or
 * a RECV while an item is still lent; -EAGAIN if nothing is queued;
 * -EMSGSIZE with @info giving the needed sizes (nothing lent).
 */
int recv_lend(Peer *peer, uint64_t seq, uint64_t flags, uint64_t msg_flags,
	      uint64_t msg_type, uint64_t max_transfers, uint64_t max_data,
	      bool short_iovec, RecvInfo *info)
{
	Item *item;

	if (flags || msg_flags || msg_type != BUS1_INVALID || peer->lent)
		return -EINVAL;

	item = queue_head(peer);
	if (!item)
		return -EAGAIN;

	recv_describe(item, info);
	if (short_iovec || info->n_transfers > max_transfers ||
	    info->n_data > max_data)
		return -EMSGSIZE;

	queue_lend(peer, item, seq);
	return 0;
}

/**
 * recv_done() - RECV_DONE
 *
 * Return: 0, or -ENOENT if nothing is lent under @recv_seq.
 */
int recv_done(Peer *peer, uint64_t recv_seq, bool commit)
{
	Item *item = peer->lent;

	if (!item || peer->lent_seq != recv_seq)
		return -ENOENT;

	if (!commit) {
		queue_unlend(peer);
		return 0;
	}

	switch (item->type) {
	case ITEM_USER:
		message_deliver(core_container_of(item, Message, item));
		break;
	case ITEM_NODE_RELEASE:
		handle_release(core_container_of(item, Handle, notify));
		break;
	case ITEM_HANDLE_RELEASE:
		node_release(core_container_of(item, Node, notify));
		break;
	}
	return 0;
}
