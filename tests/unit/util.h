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
 * Large payloads (BUS1_ENGINE_DATA_REF_MIN bytes and more) stay with the
 * module: a SEND carries a data reference the harness assigns (T.refs),
 * the module keeps the bytes, and the checks follow the reference: ITEM
 * records name only references the engine owns (or that of the SEND being
 * answered), with their n_data; DATA_RELEASE names only references the
 * engine owns, once, while the module holds no item naming them; after
 * an error reply to the SEND the engine never owned it. t_check_refs()
 * (also run by t_free()) checks that the references the engine owns are
 * exactly those its payloads still use or are about to release.
 *
 * The module part: each peer's lent items (T.peers[].held) and last
 * reported state. RECV takes the head item it holds, sending FETCH first
 * if it holds none while the engine said readable, and settles it with a
 * RECV_DONE, at once (T_COMMIT) or before the next request (T_DEFER).
 *
 * Routes: the harness checks ROUTE records as the module does (nonzero
 * ID not in use, one route per handle, managed IDs, credit in bounds)
 * and REVOKE records (a route it holds, known flags, hdr.peer its
 * sender). It never serves a SEND itself, so a revoked route holds no
 * message and its ROUTE_DONE is queued at once, sent before the next
 * request like RECV_DONE, unless @hold_route_done is set (then
 * t_route_done_all() sends them).
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
	uint64_t ref;
	uint64_t size;
	uint8_t payload[];
} TItem;

/* References are T_REF_BASE + their index in T.refs, never reused. */
#define T_REF_BASE 0x1000

enum {
	T_REF_PENDING,		/* its SEND awaits the reply */
	T_REF_OWNED,		/* the engine owns it */
	T_REF_RELEASED,		/* DATA_RELEASE seen */
	T_REF_DROPPED,		/* the SEND failed: never the engine's */
};

/**
 * struct TRef - a payload the module keeps
 * @state:	T_REF_*
 * @n_data:	its size
 * @n_held:	items naming it that the module holds
 * @sum:	hash of its bytes (the bytes are not kept)
 */
typedef struct TRef {
	int state;
	uint64_t n_data;
	unsigned int n_held;
	uint64_t sum;
} TRef;

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

/**
 * struct TRoute - a route as the module holds it
 * @id:		route ID
 * @sender:	hdr.peer of its ROUTE
 * @rec:	the ROUTE record's payload
 * @revoked:	REVOKE seen
 * @flags:	the REVOKE's flags
 */
typedef struct TRoute {
	uint64_t id;
	uint64_t sender;
	struct bus1_engine_route rec;
	bool revoked;
	uint64_t flags;
} TRoute;

#define T_MAX_ROUTES 256

/*
 * @reuse_dropped_ref makes a large SEND reuse the reference of the last
 * one if that failed, so a retried SEND reaches the same state (for
 * allocation sweeps, which compare fingerprints);
 * @n_data_releases counts every DATA_RELEASE (they are written after the
 * reply, so the reply is the last record but for them: @reply_off is the
 * last reply's offset in @out, @reply_last whether only DATA_RELEASE
 * records follow it);
 * @n_states, @n_items, @n_retracts count the records of the last t_raw();
 * @order the async records of the last t_raw(), as "R" (RETRACT), "I"
 * (ITEM), "S" (PEER_STATE) letters followed by the peer ID and a space,
 * for tests of the order (truncated at its size), plus "G" (ROUTE) and
 * "V" (REVOKE) followed by the route ID;
 * @routes the routes the module holds (dropped when their ROUTE_DONE is
 * sent), @n_route_recs and @n_revoke_recs the ROUTE and REVOKE records of
 * the last t_raw(); @reject_routes makes the module reject every ROUTE
 * (and tell the engine, as the loop does).
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
	TRef *refs;
	size_t n_refs;
	uint64_t send_ref;
	unsigned int n_data_releases;
	size_t reply_off;
	bool reply_last;
	bool reuse_dropped_ref;
	TRoute routes[T_MAX_ROUTES];
	size_t n_routes;
	unsigned int n_route_recs;
	unsigned int n_revoke_recs;
	bool hold_route_done;
	bool reject_routes;
} T;

typedef struct TRecv {
	uint64_t token;
	uint64_t type;
	uint64_t id;
	uint64_t account;
	uint64_t n_transfers;
	uint64_t n_data;
	uint64_t ref;
	uint64_t sum;
	uint64_t ids[T_MAX_ITEMS];
	uint8_t data[4096];
} TRecv;

enum {
	T_COMMIT,
	T_DEFER,
};

T *t_new(void);
T *t_new_config(const EngineConfig *config);
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
TRoute *t_route(T *t, uint64_t id);
TRoute *t_route_of(T *t, uint64_t sender, uint64_t handle);
void t_route_done(T *t, uint64_t id);
void t_route_done_all(T *t);
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

uint64_t t_sum(const void *data, size_t n);
TRef *t_ref(T *t, uint64_t ref);
uint64_t t_last_ref(T *t);
size_t t_refs_owned(T *t);
void t_check_refs(T *t);
void t_expect_big(T *t, uint64_t peer, uint64_t node, const void *data,
		  size_t n_data);

void t_fail_alloc(long nth);
bool t_fail_fired(void);
void t_fail_none(void);

#define ID(n) (((uint64_t)(n) << 1) | BUS1_MANAGED)
