/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Lending: the items at the head of a peer's queue are lent to the kernel
 * ahead of any RECV, in ITEM records, as far as a window allows; the
 * kernel serves RECV from them and settles them with RECV_DONE, which
 * commits every lent item up to a token: a message is delivered (its
 * handles are mapped), a notification retires the ID it names.
 */

#include <linux/bus1-engine.h>
#include "types.h"

/*
 * The window: at most this many items and ITEM bytes lent per peer, but
 * always one item however large. The kernel accepts an ITEM while it holds
 * fewer than BUS1_ENGINE_MAX_LENT_ITEMS items and fewer than
 * BUS1_ENGINE_MAX_LENT_BYTES bytes of the peer; it never holds more than
 * the engine has lent, so staying within these keeps every ITEM accepted.
 */
#define LEND_MAX_ITEMS 16
#define LEND_MAX_BYTES (256 * 1024)

_Static_assert(LEND_MAX_ITEMS <= BUS1_ENGINE_MAX_LENT_ITEMS,
	       "the lending window exceeds what the kernel holds");
_Static_assert(LEND_MAX_BYTES <= BUS1_ENGINE_MAX_LENT_BYTES,
	       "the lending window exceeds what the kernel holds");

/**
 * struct RecvInfo - what an ITEM record describes
 * @item:		the item
 * @type:		bus1 message type
 * @id:			metadata.id
 * @account:		metadata.account
 * @n_transfers:	number of handle IDs
 * @n_data:		number of payload bytes
 * @data:		payload bytes, if inline
 * @ref:		the module's data reference instead of @data, or 0
 */
typedef struct RecvInfo {
	Item *item;
	uint64_t type;
	uint64_t id;
	uint64_t account;
	uint64_t n_transfers;
	uint64_t n_data;
	const void *data;
	uint64_t ref;
} RecvInfo;

void recv_describe(Item *item, RecvInfo *info);
void recv_transfer_ids(const RecvInfo *info, uint64_t *ids);
uint64_t recv_record_size(const RecvInfo *info);
uint64_t recv_item_size(Item *item);

Item *recv_lendable(Peer *peer, RecvInfo *info);
size_t recv_done(Peer *peer, uint64_t token);
