/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * The bus commands that change the object graph. Each validates
 * everything, then allocates everything, then applies with steps that
 * cannot fail: any error (including ENOMEM) leaves the bus unchanged.
 *
 * tx_send() takes the payload inline (@data, @ref 0) or as the module's
 * data reference @ref (nonzero, @data unused); on success the engine owns
 * @ref, on error it does not.
 */

#include <linux/bus1.h>
#include "types.h"

int tx_transfer(Peer *from, Peer *to, uint64_t flags,
		const struct bus1_transfer *src, size_t n,
		struct bus1_transfer *src_out, struct bus1_transfer *dst_out);
int tx_release(Peer *peer, uint64_t flags, const uint64_t *ids, size_t n);
int tx_send(Peer *peer, uint64_t flags, uint64_t msg_flags, uint64_t msg_type,
	    const uint64_t *destinations, size_t n_destinations,
	    const struct bus1_transfer *transfers, size_t n_transfers,
	    const void *data, uint64_t ref, size_t n_data);
