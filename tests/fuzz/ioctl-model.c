/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */

#include <string.h>
#include <linux/bus1.h>
#include "fuzz-common.h"
#include "ioctl-model.h"

#define MAX_NODES 256
#define MAX_HANDLES 512
#define MAX_GONE 64

struct model_peer {
	uint64_t serial;
	uint64_t max_id;	/* the highest ID seen in this peer */
	unsigned int n_nodes, n_handles;
	uint64_t n_gone;	/* the last MAX_GONE are kept */
	uint64_t nodes[MAX_NODES];
	struct model_handle handles[MAX_HANDLES];
	uint64_t gone[MAX_GONE];
};

static struct model_peer peers[MODEL_SLOTS];
static uint64_t serials;

/* A new, empty peer in @slot. */
void model_open(int slot)
{
	memset(&peers[slot], 0, sizeof(peers[slot]));
	peers[slot].serial = ++serials;
}

uint64_t model_serial(int slot)
{
	return peers[slot].serial;
}

/* The slot of the peer with @serial, or -1 if it was closed. */
int model_slot_of(uint64_t serial)
{
	for (int i = 0; i < MODEL_SLOTS; i++)
		if (serial && peers[i].serial == serial)
			return i;
	return -1;
}

void model_add_node(int slot, uint64_t id)
{
	struct model_peer *p = &peers[slot];

	model_saw(slot, id);
	if (p->n_nodes < MAX_NODES)
		p->nodes[p->n_nodes++] = id;
}

void model_add_handle(int slot, uint64_t id, uint64_t node_serial,
		      uint64_t node_id)
{
	struct model_peer *p = &peers[slot];

	model_saw(slot, id);
	if (p->n_handles < MAX_HANDLES)
		p->handles[p->n_handles++] = (struct model_handle){
			id, node_serial, node_id };
}

/* @id was released or retired in @slot: it is unknown from now on. */
void model_gone(int slot, uint64_t id)
{
	struct model_peer *p = &peers[slot];

	for (unsigned int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i] == id)
			p->nodes[i--] = p->nodes[--p->n_nodes];
	for (unsigned int i = 0; i < p->n_handles; i++)
		if (p->handles[i].id == id)
			p->handles[i--] = p->handles[--p->n_handles];
	if (!model_is_gone(slot, id))
		p->gone[p->n_gone++ % MAX_GONE] = id;
}

bool model_is_node(int slot, uint64_t id)
{
	const struct model_peer *p = &peers[slot];

	for (unsigned int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i] == id)
			return true;
	return false;
}

const struct model_handle *model_handle(int slot, uint64_t id)
{
	const struct model_peer *p = &peers[slot];

	for (unsigned int i = 0; i < p->n_handles; i++)
		if (p->handles[i].id == id)
			return &p->handles[i];
	return NULL;
}

bool model_is_gone(int slot, uint64_t id)
{
	const struct model_peer *p = &peers[slot];
	uint64_t n = p->n_gone < MAX_GONE ? p->n_gone : MAX_GONE;

	for (uint64_t i = 0; i < n; i++)
		if (p->gone[i] == id)
			return true;
	return false;
}

/* Whether the node is known to exist: its peer is open and did not release it. */
bool model_node_live(uint64_t serial, uint64_t id)
{
	int slot = model_slot_of(serial);

	return slot >= 0 && model_is_node(slot, id);
}

/* How many handles the model knows to reach the node. */
unsigned int model_handles_to(uint64_t serial, uint64_t id)
{
	unsigned int n = 0;

	for (int s = 0; s < MODEL_SLOTS; s++)
		for (unsigned int i = 0; i < peers[s].n_handles; i++)
			n += peers[s].handles[i].node_serial == serial &&
			     peers[s].handles[i].node_id == id;
	return n;
}

/*
 * Whether @id can be a new ID of @slot: managed, and above every ID the
 * peer handed out before (its counter only grows).
 */
bool model_fresh(int slot, uint64_t id)
{
	return (id & BUS1_MANAGED) && id != BUS1_INVALID &&
	       id > peers[slot].max_id;
}

void model_saw(int slot, uint64_t id)
{
	if (id != BUS1_INVALID && id > peers[slot].max_id)
		peers[slot].max_id = id;
}

uint64_t model_pick_node(int slot)
{
	const struct model_peer *p = &peers[slot];

	return p->n_nodes ? p->nodes[fuzz_below(p->n_nodes)] : 0;
}

const struct model_handle *model_pick_handle(int slot)
{
	const struct model_peer *p = &peers[slot];

	return p->n_handles ? &p->handles[fuzz_below(p->n_handles)] : NULL;
}

/* A handle of @slot whose node is known to exist, or NULL. */
const struct model_handle *model_pick_live_handle(int slot)
{
	const struct model_peer *p = &peers[slot];
	unsigned int start, i;

	if (!p->n_handles)
		return NULL;
	start = fuzz_below(p->n_handles);
	for (unsigned int k = 0; k < p->n_handles; k++) {
		i = (start + k) % p->n_handles;
		if (model_node_live(p->handles[i].node_serial,
				    p->handles[i].node_id))
			return &p->handles[i];
	}
	return NULL;
}

/* A node or handle ID of @slot, or 0 if it knows none. */
uint64_t model_pick_known(int slot)
{
	const struct model_handle *h = model_pick_handle(slot);
	uint64_t node = model_pick_node(slot);

	if (h && (!node || fuzz_below(2)))
		return h->id;
	return node;
}

/* An ID @slot certainly does not know. */
uint64_t model_pick_unknown(int slot)
{
	const struct model_peer *p = &peers[slot];
	uint64_t n = p->n_gone < MAX_GONE ? p->n_gone : MAX_GONE;

	switch (fuzz_below(4)) {
	case 0:
		if (n)
			return p->gone[fuzz_below(n)];
		/* fall through */
	case 1:
		return (fuzz_rand() << 1) ?: 2;		/* never managed */
	case 2:
		return BUS1_INVALID;
	default:
		return fuzz_rand() | (1ULL << 62) | BUS1_MANAGED;
	}
}
