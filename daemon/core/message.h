/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A user message is one queued copy per destination; the payload is shared
 * by all copies of one multicast and counted by reference. Each copy owns
 * the handles it carries into its receiver.
 */

#include "quota.h"
#include "types.h"

/**
 * struct Payload - data of one SEND, shared between its copies
 * @n_refs:	number of messages (or a SEND being applied) referring to it
 * @bus:	the bus it lives on
 * @released_link:	link in Bus.released once unused, if @ref
 * @account:	sender's resource context (UID)
 * @ref:	the module's data reference if the bytes stay in the module
 *		(n_data >= BUS1_ENGINE_DATA_REF_MIN), else 0
 * @n_data:	number of payload bytes
 * @data:	the bytes if inline (@ref is 0), else empty
 *
 * A payload by reference outlives its last user: it moves to
 * Bus.released, and is freed once a DATA_RELEASE record naming @ref has
 * been written (see bus_put_released()), so the release can never be lost
 * to an allocation failure.
 */
struct Payload {
	size_t n_refs;
	Bus *bus;
	TAILQ_ENTRY(Payload) released_link;
	uint64_t account;
	uint64_t ref;
	size_t n_data;
	uint8_t data[];
};

/**
 * struct Message - one copy of a user message, queued on its receiver
 * @item:	queue entry in the receiver (the owner of @node)
 * @node:	destination node, NULL until attached
 * @node_link:	link in Node.messages
 * @payload:	shared data
 * @charge:	one object plus the payload bytes on the receiver's UID,
 *		claimed by the sender, until received or discarded
 * @n_handles:	number of entries in @handles
 * @handles:	the receiver's new handles, in the order of the transfers
 */
struct Message {
	Item item;
	Node *node;
	TAILQ_ENTRY(Message) node_link;
	Payload *payload;
	AcctCharge charge;
	size_t n_handles;
	Handle *handles[];
};

Payload *payload_new(Bus *bus, uint64_t account, const void *data,
		     size_t n_data);
Payload *payload_new_ref(Bus *bus, uint64_t account, uint64_t ref,
			 size_t n_data);
Payload *payload_unref(Payload *payload);
Payload *payload_forget(Payload *payload);

Message *message_new(size_t n_handles);
Message *message_free(Message *message);

void message_attach(Message *message, Node *node, Payload *payload);
void message_discard(Message *message);
void message_deliver(Message *message);
