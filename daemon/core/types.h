/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Forward declarations shared by the core, and the two intrusive building
 * blocks every concept embeds: Object (an entry in a peer's ID namespace)
 * and Item (an entry in a peer's queue). Notifications are Items embedded
 * in the node or handle they are about, so queueing them never allocates
 * and a release can always complete once it has been validated.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>

#define core_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

typedef struct Bus Bus;
typedef struct Peer Peer;
typedef struct Node Node;
typedef struct Handle Handle;
typedef struct Message Message;
typedef struct Payload Payload;
typedef struct Route Route;

enum {
	OBJECT_NODE,
	OBJECT_HANDLE,
};

/**
 * struct Object - an ID in a peer's namespace
 * @rb:		link in Peer.objects, ordered by @id
 * @id:		the managed ID
 * @kind:	OBJECT_NODE or OBJECT_HANDLE, selecting the container
 */
typedef struct Object {
	RB_ENTRY(Object) rb;
	uint64_t id;
	unsigned int kind;
} Object;

RB_HEAD(ObjectTree, Object);
int object_compare(Object *a, Object *b);
RB_PROTOTYPE(ObjectTree, Object, rb, object_compare)

enum {
	ITEM_USER,
	ITEM_NODE_RELEASE,
	ITEM_HANDLE_RELEASE,
};

enum {
	ITEM_IDLE,
	ITEM_QUEUED,
	ITEM_LENT,
};

/**
 * struct Item - an entry of a peer's queue
 * @link:	link in Peer.queue while @state is ITEM_QUEUED, in Peer.lent
 *		while it is ITEM_LENT
 * @type:	ITEM_USER (in a Message), ITEM_NODE_RELEASE (in a Handle) or
 *		ITEM_HANDLE_RELEASE (in a Node)
 * @state:	idle, queued, or lent to the kernel in an ITEM record
 * @token:	the token it was lent under, while ITEM_LENT
 */
typedef struct Item {
	TAILQ_ENTRY(Item) link;
	unsigned int type;
	unsigned int state;
	uint64_t token;
} Item;

TAILQ_HEAD(ItemList, Item);

static inline void item_init(Item *item, unsigned int type)
{
	item->type = type;
	item->state = ITEM_IDLE;
}
