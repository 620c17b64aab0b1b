/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * The bus is the root of the object graph: the peers by their kernel
 * assigned ID, and the set of peers whose readable state may have changed
 * since it was last reported.
 */

#include "engine.h"
#include "quota.h"
#include "types.h"

RB_HEAD(PeerTree, Peer);
int peer_compare(Peer *a, Peer *b);
RB_PROTOTYPE(PeerTree, Peer, rb, peer_compare)

/**
 * struct Bus - root of one engine's state
 * @peers:	all live peers, ordered by ID
 * @n_peers:	number of entries in @peers
 * @dirty:	peers whose queue changed since bus_flush_states(), in the
 *		order they first changed
 * @acct:	resource accounting of every peer's UID
 */
struct Bus {
	struct PeerTree peers;
	size_t n_peers;
	TAILQ_HEAD(, Peer) dirty;
	Acct acct;
};

typedef void (*BusStateFn)(void *userdata, uint64_t peer_id, bool readable);

void bus_init(Bus *bus, const uint64_t maxima[_QUOTA_N]);
void bus_deinit(Bus *bus);

Peer *bus_find_peer(Bus *bus, uint64_t id);
int bus_add_peer(Bus *bus, uint64_t id, uint32_t uid, uint32_t pid);
void bus_release_peer(Bus *bus, Peer *peer);

void bus_mark_dirty(Bus *bus, Peer *peer);
void bus_flush_states(Bus *bus, BusStateFn fn, void *userdata);

/* the bus inside an engine, for inspection and stats */
Bus *engine_bus(Engine *engine);
