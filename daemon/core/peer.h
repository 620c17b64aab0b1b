/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A peer owns one ID namespace (nodes and handles, by managed ID) and one
 * queue, whose head is lent to the kernel (see recv.h). IDs and lending
 * tokens are handed out from counters that only grow.
 */

#include "quota.h"
#include "recv.h"
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
 * @queue:		queued items in delivery order, not lent
 * @n_queued:		number of entries in @queue
 * @lent:		items lent to the kernel in ITEM records, oldest first;
 *			they come before every item of @queue
 * @n_lent:		number of entries in @lent
 * @lent_bytes:		total size of the ITEM records of @lent
 * @next_token:		token of the next item lent, from 1, only growing
 * @retracted:		tokens of lent items taken back since the last flush,
 *			to be reported in RETRACT records
 * @n_retracted:	number of entries in @retracted
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
	struct ItemList lent;
	size_t n_lent;
	uint64_t lent_bytes;
	uint64_t next_token;
	uint64_t retracted[LEND_MAX_ITEMS];
	size_t n_retracted;
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
