/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Message: one receiver's copy of a user message.
 *
 * A message is linked both in its receiver's queue and in its destination
 * node, so releasing the node drops exactly its messages. Discarding a
 * message releases the handles it carries (possibly the last handle of
 * some node); delivering it maps them in the receiver.
 */

#include <assert.h>
#include <string.h>
#include "alloc.h"
#include "bus.h"
#include "handle.h"
#include "message.h"
#include "node.h"
#include "queue.h"

Payload *payload_new(Bus *bus, uint64_t account, const void *data,
		     size_t n_data)
{
	Payload *payload;

	if (n_data > SIZE_MAX - sizeof(*payload))
		return NULL;

	payload = core_malloc(sizeof(*payload) + n_data);
	if (!payload)
		return NULL;

	payload->n_refs = 1;
	payload->bus = bus;
	payload->account = account;
	payload->ref = 0;
	payload->n_data = n_data;
	if (n_data)
		memcpy(payload->data, data, n_data);
	return payload;
}

/* A payload whose @n_data bytes the module keeps under @ref (nonzero). */
Payload *payload_new_ref(Bus *bus, uint64_t account, uint64_t ref,
			 size_t n_data)
{
	Payload *payload;

	payload = core_malloc(sizeof(*payload));
	if (!payload)
		return NULL;

	payload->n_refs = 1;
	payload->bus = bus;
	payload->account = account;
	payload->ref = ref;
	payload->n_data = n_data;
	return payload;
}

/*
 * Drop a reference. The last one frees an inline payload, and hands one
 * by reference to the bus, which writes its DATA_RELEASE and frees it.
 */
Payload *payload_unref(Payload *payload)
{
	if (!payload || --payload->n_refs)
		return NULL;
	if (payload->ref)
		bus_release_payload(payload->bus, payload);
	else
		core_free(payload);
	return NULL;
}

/*
 * Free a payload that no message ever used, without releasing its
 * reference: after an error reply to the SEND, the module drops the bytes
 * itself and the engine never owned the reference.
 */
Payload *payload_forget(Payload *payload)
{
	if (payload) {
		assert(payload->n_refs == 1);
		core_free(payload);
	}
	return NULL;
}

Message *message_new(size_t n_handles)
{
	Message *message;

	if (n_handles > (SIZE_MAX - sizeof(*message)) / sizeof(Handle *))
		return NULL;

	message = core_calloc(1, sizeof(*message) + n_handles * sizeof(Handle *));
	if (!message)
		return NULL;

	item_init(&message->item, ITEM_USER);
	message->n_handles = n_handles;
	return message;
}

/* Free the message itself; its handles must have been released or mapped. */
Message *message_free(Message *message)
{
	if (!message)
		return NULL;

	acct_discharge(&message->charge);
	payload_unref(message->payload);
	core_free(message);
	return NULL;
}

void message_attach(Message *message, Node *node, Payload *payload)
{
	message->node = node;
	message->payload = payload;
	++payload->n_refs;
	TAILQ_INSERT_TAIL(&node->messages, message, node_link);
	queue_push(node->owner, &message->item);
}

void message_discard(Message *message)
{
	size_t i;

	queue_remove(message->node->owner, &message->item);
	TAILQ_REMOVE(&message->node->messages, message, node_link);
	for (i = 0; i < message->n_handles; ++i)
		handle_release(message->handles[i]);
	message_free(message);
}

/* The lent message reached its receiver: its handles become visible. */
void message_deliver(Message *message)
{
	size_t i;

	queue_remove(message->node->owner, &message->item);
	TAILQ_REMOVE(&message->node->messages, message, node_link);
	for (i = 0; i < message->n_handles; ++i)
		handle_map(message->handles[i]);
	message_free(message);
}
