/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * A node is the receiving end of a channel. It counts its handles, so the
 * "last handle released" test is a comparison, and lists them, so that a
 * node release reaches every holder in work proportional to their number.
 */

#include "quota.h"
#include "types.h"

/**
 * struct Node - receiving end, owned by one peer
 * @obj:	ID in the owner's namespace; mapped until released or retired
 * @owner:	owning peer, NULL once released
 * @handles:	every handle to the node: mapped, carried by a queued or lent
 *		message, or waiting for its NODE_RELEASE to be received
 * @n_handles:	number of entries in @handles, plus one while node_release()
 *		runs (a pin, so the node outlives discarding its messages)
 * @messages:	user messages queued (or lent) for the node
 * @notify:	HANDLE_RELEASE notification to @owner
 * @released:	released by its owner (or retired); no HANDLE_RELEASE
 *		will follow, messages for it are dropped
 * @charge:	one object on the owner's UID, until released
 */
struct Node {
	Object obj;
	Peer *owner;
	TAILQ_HEAD(, Handle) handles;
	uint64_t n_handles;
	TAILQ_HEAD(, Message) messages;
	Item notify;
	bool released;
	AcctCharge charge;
};

Node *node_new(void);
Node *node_free(Node *node);

void node_attach(Node *node, Peer *owner);
void node_link_handle(Node *node, Handle *handle);
void node_unlink_handle(Node *node, Handle *handle);
void node_release(Node *node);
