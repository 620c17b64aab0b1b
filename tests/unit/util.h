/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Test harness: drives an engine with real control-protocol records and
 * plays the kernel module's part, checking the output as the module does:
 * at most one reply per request, matching its seq, type and peer, last in
 * the output; per peer RETRACT records before ITEM records before
 * PEER_STATE; PEER_STATE only on change; ITEM records well formed, with
 * growing tokens, within what the module holds per peer; RETRACT only of
 * an item the module holds.
 *
 * The module part: each peer's lent items (T.peers[].held) and last
 * reported state. RECV takes the head item it holds, sending FETCH first
 * if it holds none while the engine said readable, and settles it with a
 * RECV_DONE, at once (T_COMMIT) or before the next request (T_DEFER).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/bus1-engine.h>
#include "core/engine.h"
#include "core/inspect.h"

#define T_MAX_PEERS 4096
#define T_MAX_ITEMS 64

/* An item the module holds: the ITEM record's fields and payload. */
typedef struct TItem {
	uint64_t token;
	uint64_t type;
	uint64_t id;
	uint64_t account;
	uint64_t n_transfers;
	uint64_t n_data;
	uint64_t size;
	uint8_t payload[];
} TItem;

/**
 * struct TPeer - the module's view of one peer
 * @state:	readable, as the engine last said in PEER_STATE
 * @last_token:	token of the last ITEM accepted
 * @held:	lent items held, oldest first
 * @n_held:	number of entries in @held
 * @held_bytes:	total record size of @held
 * @done:	highest token received and not yet settled, or 0
 */
typedef struct TPeer {
	int state;
	uint64_t last_token;
	TItem *held[BUS1_ENGINE_MAX_LENT_ITEMS];
	size_t n_held;
	uint64_t held_bytes;
	uint64_t done;
} TPeer;

/*
 * @n_states, @n_items, @n_retracts count the records of the last t_raw();
 * @order the async records of the last t_raw(), as "R" (RETRACT), "I"
 * (ITEM), "S" (PEER_STATE) letters followed by the peer ID and a space,
 * for tests of the order (truncated at its size).
 */
typedef struct T {
	Engine *engine;
	Outbuf out;
	uint64_t seq;
	TPeer peers[T_MAX_PEERS];
	uint64_t pending[T_MAX_PEERS];
	size_t n_pending;
	unsigned int n_states;
	unsigned int n_items;
	unsigned int n_retracts;
	char order[512];
	uint8_t phase[T_MAX_PEERS];
	int error;
	uint8_t reply[1 << 16];
	size_t n_reply;
	int n_logs;
} T;

typedef struct TRecv {
	uint64_t token;
	uint64_t type;
	uint64_t id;
	uint64_t account;
	uint64_t n_transfers;
	uint64_t n_data;
	uint64_t ids[T_MAX_ITEMS];
	uint8_t data[4096];
} TRecv;

enum {
	T_COMMIT,
	T_DEFER,
};

T *t_new(void);
T *t_free(T *t);
void t_out_reset(T *t, size_t cap);

uint64_t t_fp(T *t);
int t_raw(T *t, const void *records, size_t len);
size_t t_rec(void *buf, uint16_t type, uint64_t seq, uint64_t peer,
	     const void *payload, size_t n_payload);

int t_peer_new(T *t, uint64_t peer, uint32_t uid);
void t_peer_release(T *t, uint64_t peer);
int t_transfer(T *t, uint64_t peer, uint64_t to, uint64_t flags, size_t n,
	       struct bus1_transfer *src, struct bus1_transfer *dst);
int t_release(T *t, uint64_t peer, uint64_t flags, size_t n,
	      const uint64_t *ids);
int t_send_full(T *t, uint64_t peer, uint64_t flags, uint64_t msg_flags,
		uint64_t msg_type, size_t n_dst, const uint64_t *dst,
		size_t n_transfers, const struct bus1_transfer *transfers,
		const void *data, size_t n_data);
int t_send(T *t, uint64_t peer, size_t n_dst, const uint64_t *dst,
	   size_t n_ids, const uint64_t *ids, const char *data);
int t_fetch(T *t, uint64_t peer);
void t_recv_done(T *t, uint64_t peer, uint64_t token);
void t_settle(T *t);
int t_recv_full(T *t, uint64_t peer, int settle, TRecv *r);
int t_recv(T *t, uint64_t peer, TRecv *r);

uint64_t t_node(T *t, uint64_t owner, uint64_t holder, uint64_t *handle);
uint64_t t_handle(T *t, uint64_t from, uint64_t id, uint64_t to);
bool t_readable(T *t, uint64_t peer);
size_t t_held(T *t, uint64_t peer);
void t_check(T *t, uint64_t peer);
void t_assert_readable(T *t, uint64_t peer, int readable);
void t_expect_user(T *t, uint64_t peer, uint64_t node, const char *data,
		   size_t n_transfers, uint64_t *ids);
void t_expect_notify(T *t, uint64_t peer, uint64_t type, uint64_t id);
void t_expect_empty(T *t, uint64_t peer);

void t_fail_alloc(long nth);
bool t_fail_fired(void);
void t_fail_none(void);

#define ID(n) (((uint64_t)(n) << 1) | BUS1_MANAGED)
