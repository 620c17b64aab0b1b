/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * State fingerprint: FNV-1a over peers (by ID), their ID counters,
 * namespaces (by ID), lent items (in order, with their tokens), queues (in
 * order; a payload by reference as its data reference) and pending
 * retractions, then the data references awaiting DATA_RELEASE. Everything
 * hashed is a value, never an address, so equal states hash equally.
 */

#include "bus.h"
#include "handle.h"
#include "inspect.h"
#include "message.h"
#include "node.h"
#include "peer.h"
#include "recv.h"

static void fp_u64(uint64_t *h, uint64_t v)
{
	size_t i;

	for (i = 0; i < 8; ++i) {
		*h ^= (v >> (8 * i)) & 0xff;
		*h *= 0x100000001b3ULL;
	}
}

static void fp_item(uint64_t *h, Item *item)
{
	uint64_t ids[64];
	RecvInfo info;
	size_t i;

	recv_describe(item, &info);
	fp_u64(h, info.type);
	fp_u64(h, info.id);
	fp_u64(h, info.account);
	fp_u64(h, info.n_transfers);
	fp_u64(h, info.n_data);
	fp_u64(h, info.ref);
	for (i = 0; !info.ref && i < info.n_data; ++i)
		fp_u64(h, ((const uint8_t *)info.data)[i]);
	if (info.n_transfers <= 64) {
		recv_transfer_ids(&info, ids);
		for (i = 0; i < info.n_transfers; ++i)
			fp_u64(h, ids[i]);
	}
}

static void fp_peer(uint64_t *h, Peer *peer)
{
	Handle *handle;
	size_t i;
	Object *obj;
	Node *node;
	Item *item;

	fp_u64(h, peer->id);
	fp_u64(h, peer->uid);
	fp_u64(h, peer->id_counter);
	fp_u64(h, peer->readable_reported);

	RB_FOREACH(obj, ObjectTree, &peer->objects) {
		fp_u64(h, obj->id);
		fp_u64(h, obj->kind);
		if (obj->kind == OBJECT_NODE) {
			node = core_container_of(obj, Node, obj);
			fp_u64(h, node->n_handles);
			TAILQ_FOREACH(handle, &node->handles, node_link) {
				fp_u64(h, handle->owner->id);
				fp_u64(h, handle->obj.id);
			}
		} else {
			handle = core_container_of(obj, Handle, obj);
			fp_u64(h, handle->node->released);
			if (!handle->node->released) {
				fp_u64(h, handle->node->owner->id);
				fp_u64(h, handle->node->obj.id);
			}
			fp_u64(h, handle->notify.state);
		}
	}
	fp_u64(h, peer->next_token);
	fp_u64(h, peer->n_lent);
	fp_u64(h, peer->lent_bytes);
	TAILQ_FOREACH(item, &peer->lent, link) {
		fp_u64(h, item->token);
		fp_item(h, item);
	}
	fp_u64(h, peer->n_queued);
	TAILQ_FOREACH(item, &peer->queue, link)
		fp_item(h, item);
	for (i = 0; i < peer->n_retracted; ++i)
		fp_u64(h, peer->retracted[i]);
}

uint64_t engine_fingerprint(Engine *engine)
{
	Bus *bus = engine_bus(engine);
	uint64_t h = 0xcbf29ce484222325ULL;
	Payload *payload;
	Peer *peer;

	RB_FOREACH(peer, PeerTree, &bus->peers)
		fp_peer(&h, peer);
	/* nothing for an empty list: an empty bus keeps the basis */
	TAILQ_FOREACH(payload, &bus->released, released_link)
		fp_u64(&h, payload->ref);
	return h;
}
