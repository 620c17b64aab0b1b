/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A peer's queue: a FIFO of items plus at most one item lent to the kernel
 * by a RECV. Every change that may flip "would RECV return an item now"
 * marks the peer dirty on its bus, so the dispatcher can report it.
 */

#include "types.h"

Item *queue_head(Peer *peer);
void queue_push(Peer *peer, Item *item);
void queue_remove(Peer *peer, Item *item);
void queue_lend(Peer *peer, Item *item, uint64_t seq);
void queue_unlend(Peer *peer);
void queue_discard_item(Item *item);
void queue_discard_all(Peer *peer);
