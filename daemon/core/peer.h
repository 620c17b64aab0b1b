/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A peer owns one ID namespace (nodes and handles, by managed ID) and one
 * queue. IDs are handed out from a counter that only grows.
 */

#include "quota.h"
#include "types.h"

/**
 * struct Peer - one open file description of /dev/bus1
 * @rb:			link in Bus.peers
 * @dirty_link:		link in Bus.dirty while @dirty
 * @bus:		the bus the peer lives on
 * @id:			the kernel's peer ID
 * @uid:		resource context (effective UID pinned at open)
 * @pid:		opener's PID, for stats only
 * @actor:		the peer as claimant of resources
 * @charge:		the peer itself, one object of its own UID
 * @id_counter:		next managed ID counter, never reused
 * @objects:		nodes and handles visible to the peer, by ID
 * @queue:		queued items in delivery order
 * @n_queued:		number of entries in @queue
 * @lent:		item lent to the kernel by a RECV, or NULL
 * @lent_seq:		seq of the RECV that lent @lent
 * @dirty:		whether the peer is on Bus.dirty
 * @readable_reported:	readable state last sent in a PEER_STATE record
 */
struct Peer {
	RB_ENTRY(Peer) rb;
	TAILQ_ENTRY(Peer) dirty_link;
	Bus *bus;
	uint64_t id;
	uint32_t uid;
	uint32_t pid;
	AcctActor actor;
	AcctCharge charge;
	uint64_t id_counter;
	struct ObjectTree objects;
	struct ItemList queue;
	size_t n_queued;
	Item *lent;
	uint64_t lent_seq;
	bool dirty;
	bool readable_reported;
};

Peer *peer_new(Bus *bus, uint64_t id, uint32_t uid);
Peer *peer_free(Peer *peer);

uint64_t peer_next_id(Peer *peer);
Object *peer_lookup(Peer *peer, uint64_t id);
Handle *peer_lookup_handle(Peer *peer, uint64_t id);
void peer_map(Peer *peer, Object *obj);
void peer_unmap(Peer *peer, Object *obj);

void peer_disconnect(Peer *peer);
