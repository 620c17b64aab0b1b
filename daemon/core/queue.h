/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A peer's queue: a FIFO of items, and before it the items lent to the
 * kernel (see recv.h). Every change that may flip the peer's readable state
 * ("queued items not lent"), free room in its window or retract a lent item
 * marks the peer dirty on its bus, so the dispatcher can report it.
 */

#include "types.h"

Item *queue_head(Peer *peer);
void queue_push(Peer *peer, Item *item);
void queue_remove(Peer *peer, Item *item);
void queue_lend(Peer *peer, Item *item);
void queue_settle(Peer *peer, Item *item);
void queue_discard_item(Item *item);
void queue_discard_all(Peer *peer);
