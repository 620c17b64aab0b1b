/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Peer: the ID namespace and the close sequence.
 *
 * IDs are managed IDs, (counter << 1) | BUS1_MANAGED, with the counter
 * starting at 0 and never reused. The namespace is an RB tree keyed by ID,
 * which also gives peer_disconnect() a deterministic (ID) order.
 */

#include <assert.h>
#include <linux/bus1.h>
#include "alloc.h"
#include "handle.h"
#include "node.h"
#include "peer.h"
#include "queue.h"

int object_compare(Object *a, Object *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(ObjectTree, Object, rb, object_compare)

Peer *peer_new(Bus *bus, uint64_t id, uint32_t uid)
{
	Peer *peer;

	peer = core_calloc(1, sizeof(*peer));
	if (!peer)
		return NULL;

	peer->bus = bus;
	peer->id = id;
	peer->uid = uid;
	RB_INIT(&peer->objects);
	TAILQ_INIT(&peer->queue);
	TAILQ_INIT(&peer->lent);
	peer->next_token = 1;
	return peer;
}

Peer *peer_free(Peer *peer)
{
	if (!peer)
		return NULL;

	assert(RB_EMPTY(&peer->objects));
	assert(TAILQ_EMPTY(&peer->queue));
	assert(TAILQ_EMPTY(&peer->lent));
	assert(!peer->n_lent);
	assert(!peer->dirty);
	acct_discharge(&peer->charge);
	acct_actor_deinit(&peer->actor);
	core_free(peer);
	return NULL;
}

uint64_t peer_next_id(Peer *peer)
{
	return (peer->id_counter++ << 1) | BUS1_MANAGED;
}

Object *peer_lookup(Peer *peer, uint64_t id)
{
	Object key = { .id = id };

	return RB_FIND(ObjectTree, &peer->objects, &key);
}

Handle *peer_lookup_handle(Peer *peer, uint64_t id)
{
	Object *obj = peer_lookup(peer, id);

	if (!obj || obj->kind != OBJECT_HANDLE)
		return NULL;
	return core_container_of(obj, Handle, obj);
}

void peer_map(Peer *peer, Object *obj)
{
	Object *old;

	old = RB_INSERT(ObjectTree, &peer->objects, obj);
	assert(!old);
	(void)old;
}

void peer_unmap(Peer *peer, Object *obj)
{
	RB_REMOVE(ObjectTree, &peer->objects, obj);
}

static void peer_release_kind(Peer *peer, unsigned int kind)
{
	Object *obj, *next;

	/*
	 * Releasing an object unmaps exactly that object (messages and
	 * notifications it drops hold no mapped IDs), so the successor
	 * stays valid across the release.
	 */
	for (obj = RB_MIN(ObjectTree, &peer->objects); obj; obj = next) {
		next = RB_NEXT(ObjectTree, &peer->objects, obj);
		if (obj->kind != kind)
			continue;
		if (kind == OBJECT_NODE)
			node_release(core_container_of(obj, Node, obj));
		else
			handle_release(core_container_of(obj, Handle, obj));
	}
}

/**
 * peer_disconnect() - release everything a closing peer holds
 * @peer:	the peer
 *
 * Nodes first (every holder of a handle hears NODE_RELEASE), then handles
 * (node owners hear HANDLE_RELEASE for last handles), then the lent items
 * and the queue; handles carried by discarded messages are released like
 * any other. The RETRACT records this collects are never written: the
 * kernel drops whatever it holds of a released peer.
 */
void peer_disconnect(Peer *peer)
{
	peer_release_kind(peer, OBJECT_NODE);
	peer_release_kind(peer, OBJECT_HANDLE);
	queue_discard_all(peer);
}
