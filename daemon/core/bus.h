/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * The bus is the root of the object graph: the peers by their kernel
 * assigned ID, and the set of peers whose output (RETRACT, ITEM and
 * PEER_STATE records) may be due since the dispatcher last flushed them.
 */

#include "engine.h"
#include "quota.h"
#include "route.h"
#include "types.h"

RB_HEAD(PeerTree, Peer);
int peer_compare(Peer *a, Peer *b);
RB_PROTOTYPE(PeerTree, Peer, rb, peer_compare)

/**
 * struct Bus - root of one engine's state
 * @peers:	all live peers, ordered by ID
 * @n_peers:	number of entries in @peers
 * @dirty:	peers whose queue or lent items changed since they were
 *		last taken by bus_pop_dirty(), in the order they first changed
 * @n_dirty:	number of entries in @dirty
 * @n_retracted:	RETRACT records due, over all peers on @dirty
 * @released:	payloads by reference no message uses any more, whose
 *		DATA_RELEASE records are due, in the order they went unused
 * @n_released:	number of entries in @released
 * @acct:	resource accounting of every peer's UID
 * @routes:	every route the engine keeps, and the records they owe
 */
struct Bus {
	struct PeerTree peers;
	size_t n_peers;
	TAILQ_HEAD(, Peer) dirty;
	size_t n_dirty;
	size_t n_retracted;
	TAILQ_HEAD(, Payload) released;
	size_t n_released;
	Acct acct;
	Routes routes;
};

void bus_init(Bus *bus, const uint64_t maxima[_QUOTA_N],
	      uint32_t route_items, uint32_t route_bytes);
void bus_deinit(Bus *bus);

Peer *bus_find_peer(Bus *bus, uint64_t id);
int bus_add_peer(Bus *bus, uint64_t id, uint32_t uid, uint32_t pid);
void bus_release_peer(Bus *bus, Peer *peer);

void bus_mark_dirty(Bus *bus, Peer *peer);
Peer *bus_pop_dirty(Bus *bus);

void bus_release_payload(Bus *bus, Payload *payload);
Payload *bus_pop_released(Bus *bus);

/* the bus inside an engine, for inspection and stats */
Bus *engine_bus(Engine *engine);
