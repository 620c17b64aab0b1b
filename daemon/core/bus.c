/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Bus: peers by ID and the dirty set.
 *
 * Payloads by reference that went unused wait on the released list for
 * their DATA_RELEASE records, written by the same flush.
 *
 * Queue operations mark their peer dirty; after each request the
 * dispatcher takes every dirty peer and writes what is due for it: its
 * RETRACT records, ITEM records for the room in its window, and PEER_STATE
 * if its readable state differs from what it last reported. The set is a
 * list in order of first change, so the output does not depend on
 * addresses, and the cost is proportional to the peers a request touched,
 * not to the bus.
 */

#include <errno.h>
#include "alloc.h"
#include "bus.h"
#include "message.h"
#include "peer.h"

int peer_compare(Peer *a, Peer *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(PeerTree, Peer, rb, peer_compare)

void bus_init(Bus *bus, const uint64_t maxima[_QUOTA_N],
	      uint32_t route_items, uint32_t route_bytes)
{
	RB_INIT(&bus->peers);
	bus->n_peers = 0;
	TAILQ_INIT(&bus->dirty);
	bus->n_dirty = 0;
	bus->n_retracted = 0;
	TAILQ_INIT(&bus->released);
	bus->n_released = 0;
	acct_init(&bus->acct, maxima);
	routes_init(&bus->routes, route_items, route_bytes);
}

void bus_deinit(Bus *bus)
{
	Payload *payload;
	Peer *peer;

	while ((peer = RB_MIN(PeerTree, &bus->peers)))
		bus_release_peer(bus, peer);
	/* the module drops every reference when the engine goes */
	while ((payload = bus_pop_released(bus)))
		core_free(payload);
	/* revoked routes wait for ROUTE_DONE; their charges go now */
	routes_deinit(&bus->routes);
	acct_deinit(&bus->acct);
}

Peer *bus_find_peer(Bus *bus, uint64_t id)
{
	Peer key = { .id = id };

	return RB_FIND(PeerTree, &bus->peers, &key);
}

/*
 * A peer is one object of its own UID, charged with its own actor.
 *
 * Return: 0, -EEXIST if @id is taken, -EDQUOT, or -ENOMEM.
 */
int bus_add_peer(Bus *bus, uint64_t id, uint32_t uid, uint32_t pid)
{
	static const uint64_t amount[_QUOTA_N] = { [QUOTA_OBJECTS] = 1 };
	Peer *peer;
	int r;

	if (bus_find_peer(bus, id))
		return -EEXIST;

	peer = peer_new(bus, id, uid);
	if (!peer)
		return -ENOMEM;
	peer->pid = pid;
	r = acct_actor_init(&bus->acct, &peer->actor, uid);
	if (!r)
		r = acct_charge(&peer->charge, peer->actor.user, &peer->actor,
				amount);
	if (r) {
		peer_free(peer);
		return r;
	}

	RB_INSERT(PeerTree, &bus->peers, peer);
	++bus->n_peers;
	return 0;
}

/**
 * bus_release_peer() - close a peer and free it
 * @bus:	the bus
 * @peer:	the peer to release
 *
 * Releases the peer's nodes, then its handles, then discards its queue
 * (see peer_disconnect()), and forgets it. Nothing is reported for it
 * afterwards, not even the RETRACT records its close collected.
 */
void bus_release_peer(Bus *bus, Peer *peer)
{
	peer_disconnect(peer);
	if (peer->dirty) {
		TAILQ_REMOVE(&bus->dirty, peer, dirty_link);
		peer->dirty = false;
		--bus->n_dirty;
	}
	bus->n_retracted -= peer->n_retracted;
	peer->n_retracted = 0;
	RB_REMOVE(PeerTree, &bus->peers, peer);
	--bus->n_peers;
	peer_free(peer);
}

void bus_mark_dirty(Bus *bus, Peer *peer)
{
	if (peer->dirty)
		return;
	peer->dirty = true;
	TAILQ_INSERT_TAIL(&bus->dirty, peer, dirty_link);
	++bus->n_dirty;
}

/*
 * Take the peer that changed first off the dirty set. It may be marked
 * dirty again while its output is written; the writer must not do so.
 *
 * Return: the peer, or NULL if none is dirty.
 */
Peer *bus_pop_dirty(Bus *bus)
{
	Peer *peer = TAILQ_FIRST(&bus->dirty);

	if (peer) {
		TAILQ_REMOVE(&bus->dirty, peer, dirty_link);
		peer->dirty = false;
		--bus->n_dirty;
	}
	return peer;
}

/*
 * A payload by reference lost its last user: its DATA_RELEASE is due.
 * Linking it cannot fail; the dispatcher writes the record and frees it.
 */
void bus_release_payload(Bus *bus, Payload *payload)
{
	TAILQ_INSERT_TAIL(&bus->released, payload, released_link);
	++bus->n_released;
}

/* Take the payload that went unused first off the released list. */
Payload *bus_pop_released(Bus *bus)
{
	Payload *payload = TAILQ_FIRST(&bus->released);

	if (payload) {
		TAILQ_REMOVE(&bus->released, payload, released_link);
		--bus->n_released;
	}
	return payload;
}
