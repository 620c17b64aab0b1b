/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * RECV lends the head item to the kernel; RECV_DONE settles it: commit
 * delivers (and retires the ID a notification names), abort puts it back.
 */

#include "types.h"

/**
 * struct RecvInfo - what a RECV reply describes
 * @item:		the item
 * @type:		bus1 message type
 * @id:			metadata.id
 * @account:		metadata.account
 * @n_transfers:	number of handle IDs
 * @n_data:		number of payload bytes
 * @data:		payload bytes
 */
typedef struct RecvInfo {
	Item *item;
	uint64_t type;
	uint64_t id;
	uint64_t account;
	uint64_t n_transfers;
	uint64_t n_data;
	const void *data;
} RecvInfo;

void recv_describe(Item *item, RecvInfo *info);
void recv_transfer_ids(const RecvInfo *info, uint64_t *ids);

int recv_lend(Peer *peer, uint64_t seq, uint64_t flags, uint64_t msg_flags,
	      uint64_t msg_type, uint64_t max_transfers, uint64_t max_data,
	      bool short_iovec, RecvInfo *info);
int recv_done(Peer *peer, uint64_t recv_seq, bool commit);
