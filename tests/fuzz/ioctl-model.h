/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * What fuzz-ioctl knows of the bus it fuzzes, so that it can tell which
 * result an input must have (bus1(7), semantics.md): per peer slot, the
 * nodes and handles it was given and has not released, the node each
 * handle reaches, and IDs that are gone for good (released or retired by a
 * notification; IDs are never reused).
 *
 * The model may forget a valid ID (a table is full, or a result could not
 * be read back), which costs nothing: it only ever claims an ID valid if
 * the bus handed it out and it saw no release, and claims an ID unknown
 * only if it is even (never handed out), absurdly large, or gone.
 *
 * A node is named by the serial of the peer that owns it (a slot gets a
 * new serial when its peer is closed and reopened: IDs start again at 1 in
 * a new peer) and its ID there.
 */

#include <stdbool.h>
#include <stdint.h>

#define MODEL_SLOTS 4

struct model_handle {
	uint64_t id;
	uint64_t node_serial;	/* 0: node unknown */
	uint64_t node_id;
};

void model_open(int slot);
uint64_t model_serial(int slot);
int model_slot_of(uint64_t serial);

void model_add_node(int slot, uint64_t id);
void model_add_handle(int slot, uint64_t id, uint64_t node_serial,
		      uint64_t node_id);
void model_gone(int slot, uint64_t id);
bool model_is_node(int slot, uint64_t id);
const struct model_handle *model_handle(int slot, uint64_t id);
bool model_is_gone(int slot, uint64_t id);

bool model_node_live(uint64_t serial, uint64_t id);
unsigned int model_handles_to(uint64_t serial, uint64_t id);

bool model_fresh(int slot, uint64_t id);
void model_saw(int slot, uint64_t id);

uint64_t model_pick_node(int slot);
const struct model_handle *model_pick_handle(int slot);
const struct model_handle *model_pick_live_handle(int slot);
uint64_t model_pick_known(int slot);
uint64_t model_pick_unknown(int slot);
