/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Transactions: TRANSFER, RELEASE and SEND.
 *
 * Errors are checked in a fixed order: EINVAL (flags and shapes) over the
 * whole request first, then EBADRQC (IDs), then allocation and charging
 * (ENOMEM, EDQUOT). Only after that does anything change, and from there
 * on nothing can fail. No ID is consumed before the apply step, so a
 * failed call is invisible (apart from accounting counters in between).
 *
 * Every staged object carries its charge, so freeing the stage on error
 * gives back exactly what was charged, and a multicast is charged on all
 * of its receivers or on none.
 */

#include <errno.h>
#include "alloc.h"
#include "handle.h"
#include "message.h"
#include "node.h"
#include "peer.h"
#include "transaction.h"

static const uint64_t one_object[_QUOTA_N] = { [QUOTA_OBJECTS] = 1 };

typedef struct TransferStage {
	Node *node;
	Handle *handle;
} TransferStage;

static void transfer_stage_free(TransferStage *stage, size_t n)
{
	size_t i;

	for (i = 0; i < n; ++i) {
		node_free(stage[i].node);
		handle_free(stage[i].handle);
	}
	core_free(stage);
}

int tx_transfer(Peer *from, Peer *to, uint64_t flags,
		const struct bus1_transfer *src, size_t n,
		struct bus1_transfer *src_out, struct bus1_transfer *dst_out)
{
	TransferStage *stage;
	Handle *source;
	size_t i;
	int r = -ENOMEM;

	if (flags)
		return -EINVAL;
	for (i = 0; i < n; ++i) {
		if (src[i].flags & ~BUS1_TRANSFER_FLAG_CREATE)
			return -EINVAL;
		if ((src[i].flags & BUS1_TRANSFER_FLAG_CREATE) &&
		    src[i].id != BUS1_INVALID)
			return -EINVAL;
	}
	for (i = 0; i < n; ++i)
		if (!(src[i].flags & BUS1_TRANSFER_FLAG_CREATE) &&
		    !peer_lookup_handle(from, src[i].id))
			return -EBADRQC;
	if (!n)
		return 0;

	stage = core_calloc(n, sizeof(*stage));
	if (!stage)
		return -ENOMEM;
	for (i = 0; i < n; ++i) {
		stage[i].handle = handle_new();
		if (!stage[i].handle)
			goto error;
		/* the new handle lives in @to, claimed by @from */
		r = acct_charge(&stage[i].handle->charge, to->actor.user,
				&from->actor, one_object);
		if (r)
			goto error;
		if (src[i].flags & BUS1_TRANSFER_FLAG_CREATE) {
			r = -ENOMEM;
			stage[i].node = node_new();
			if (!stage[i].node)
				goto error;
			r = acct_charge(&stage[i].node->charge,
					from->actor.user, &from->actor,
					one_object);
			if (r)
				goto error;
		}
		r = -ENOMEM;
	}

	for (i = 0; i < n; ++i) {
		Node *node = stage[i].node;

		if (node) {
			node_attach(node, from);
			src_out[i] = (struct bus1_transfer){ 0, node->obj.id };
		} else {
			source = peer_lookup_handle(from, src[i].id);
			node = source->node;
			src_out[i] = src[i];
		}
		handle_attach(stage[i].handle, to, node);
		handle_map(stage[i].handle);
		dst_out[i] = (struct bus1_transfer){ 0, stage[i].handle->obj.id };
	}

	core_free(stage);
	return 0;

error:
	transfer_stage_free(stage, n);
	return r;
}

int tx_release(Peer *peer, uint64_t flags, const uint64_t *ids, size_t n)
{
	Object *obj;
	size_t i;

	if (flags)
		return -EINVAL;
	for (i = 0; i < n; ++i)
		if (!peer_lookup(peer, ids[i]))
			return -EBADRQC;

	/*
	 * Releasing an ID unmaps only that ID, so a second lookup finds
	 * every ID still present except those already released by an
	 * earlier duplicate.
	 */
	for (i = 0; i < n; ++i) {
		obj = peer_lookup(peer, ids[i]);
		if (!obj)
			continue;
		if (obj->kind == OBJECT_NODE)
			node_release(core_container_of(obj, Node, obj));
		else
			handle_release(core_container_of(obj, Handle, obj));
	}
	return 0;
}

typedef struct SendStage {
	Node **targets;
	Message **messages;
	size_t n_messages;
	Payload *payload;
} SendStage;

/*
 * Free what was staged. On success, @stage->payload only drops the SEND's
 * own reference (a payload by reference that no message took is released);
 * on error the engine never owned its reference, so it is forgotten.
 */
static void send_stage_deinit(SendStage *stage, size_t n_transfers, int r)
{
	size_t i, j;

	for (i = 0; stage->messages && i < stage->n_messages; ++i) {
		if (!stage->messages[i])
			continue;
		for (j = 0; j < n_transfers; ++j)
			handle_free(stage->messages[i]->handles[j]);
		message_free(stage->messages[i]);
	}
	core_free(stage->messages);
	core_free(stage->targets);
	if (r)
		payload_forget(stage->payload);
	else
		payload_unref(stage->payload);
}

int tx_send(Peer *peer, uint64_t flags, uint64_t msg_flags, uint64_t msg_type,
	    const uint64_t *destinations, size_t n_destinations,
	    const struct bus1_transfer *transfers, size_t n_transfers,
	    const void *data, uint64_t ref, size_t n_data)
{
	const uint64_t amount[_QUOTA_N] = { 1, n_data };
	SendStage stage = {};
	Message *message;
	AcctUser *receiver;
	Handle *handle;
	Node *node;
	size_t i, j;
	int r = -ENOMEM;

	if (flags || msg_flags || msg_type != BUS1_MESSAGE_TYPE_USER)
		return -EINVAL;
	for (i = 0; i < n_transfers; ++i)
		if (transfers[i].flags)
			return -EINVAL;
	for (i = 0; i < n_destinations; ++i)
		if (!peer_lookup_handle(peer, destinations[i]))
			return -EBADRQC;
	for (i = 0; i < n_transfers; ++i)
		if (!peer_lookup_handle(peer, transfers[i].id))
			return -EBADRQC;

	/*
	 * The engine owns a data reference once it answers 0, even if no
	 * message takes the payload (no destination, or all released), so
	 * such a payload is staged first: its last unref releases it.
	 */
	if (ref) {
		stage.payload = payload_new_ref(peer->bus, peer->uid, ref, n_data);
		if (!stage.payload)
			return -ENOMEM;
	}
	if (!n_destinations) {
		send_stage_deinit(&stage, n_transfers, 0);
		return 0;
	}

	stage.targets = core_calloc(n_transfers, sizeof(*stage.targets));
	stage.messages = core_calloc(n_destinations, sizeof(*stage.messages));
	if (!stage.targets || !stage.messages)
		goto error;
	stage.n_messages = n_destinations;
	for (i = 0; i < n_transfers; ++i)
		stage.targets[i] = peer_lookup_handle(peer, transfers[i].id)->node;

	/*
	 * A destination whose node is released gets nothing: the message is
	 * discarded silently and no handles (or IDs) are created for it.
	 */
	for (i = 0; i < n_destinations; ++i) {
		node = peer_lookup_handle(peer, destinations[i])->node;
		if (node->released)
			continue;
		receiver = node->owner->actor.user;
		stage.messages[i] = message_new(n_transfers);
		if (!stage.messages[i])
			goto error;
		r = acct_charge(&stage.messages[i]->charge, receiver,
				&peer->actor, amount);
		if (r)
			goto error;
		for (j = 0; j < n_transfers; ++j) {
			r = -ENOMEM;
			stage.messages[i]->handles[j] = handle_new();
			if (!stage.messages[i]->handles[j])
				goto error;
			r = acct_charge(&stage.messages[i]->handles[j]->charge,
					receiver, &peer->actor, one_object);
			if (r)
				goto error;
		}
		r = -ENOMEM;
		if (!stage.payload) {
			stage.payload = payload_new(peer->bus, peer->uid,
						    data, n_data);
			if (!stage.payload)
				goto error;
		}
	}

	for (i = 0; i < n_destinations; ++i) {
		message = stage.messages[i];
		if (!message)
			continue;
		stage.messages[i] = NULL;
		node = peer_lookup_handle(peer, destinations[i])->node;
		/* queue first: NODE_RELEASE of a dead transfer follows it */
		message_attach(message, node, stage.payload);
		for (j = 0; j < n_transfers; ++j) {
			handle = message->handles[j];
			handle_attach(handle, node->owner, stage.targets[j]);
		}
	}

	send_stage_deinit(&stage, n_transfers, 0);
	return 0;

error:
	send_stage_deinit(&stage, n_transfers, r);
	return r;
}
