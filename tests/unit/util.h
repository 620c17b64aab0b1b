/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Test harness: drives an engine with real control-protocol records, as
 * the kernel module would, and plays the module's part in checking the
 * output: at most one reply per request, after its PEER_STATE records,
 * matching the request's seq, type and peer; PEER_STATE only on change.
 */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/bus1-engine.h>
#include "core/engine.h"
#include "core/inspect.h"

#define T_MAX_PEERS 4096
#define T_MAX_ITEMS 64

typedef struct T {
	Engine *engine;
	Outbuf out;
	uint64_t seq;
	int readable[T_MAX_PEERS];
	unsigned int n_states;
	int error;
	uint8_t reply[1 << 16];
	size_t n_reply;
	int n_logs;
} T;

typedef struct TRecv {
	uint64_t type;
	uint64_t id;
	uint64_t account;
	uint64_t n_transfers;
	uint64_t n_data;
	uint64_t ids[T_MAX_ITEMS];
	uint8_t data[4096];
	uint64_t seq;
} TRecv;

enum {
	T_COMMIT,
	T_ABORT,
	T_LEND,
};

T *t_new(void);
T *t_free(T *t);

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
int t_recv_full(T *t, uint64_t peer, uint64_t flags, uint64_t msg_flags,
		uint64_t msg_type, uint64_t max_transfers, uint64_t max_data,
		uint32_t recv_flags, int settle, TRecv *r);
int t_recv(T *t, uint64_t peer, TRecv *r);
void t_recv_done(T *t, uint64_t peer, uint64_t recv_seq, uint32_t commit);

uint64_t t_node(T *t, uint64_t owner, uint64_t holder, uint64_t *handle);
uint64_t t_handle(T *t, uint64_t from, uint64_t id, uint64_t to);
int t_probe(T *t, uint64_t peer);
void t_assert_readable(T *t, uint64_t peer, int readable);
void t_expect_user(T *t, uint64_t peer, uint64_t node, const char *data,
		   size_t n_transfers, uint64_t *ids);
void t_expect_notify(T *t, uint64_t peer, uint64_t type, uint64_t id);
void t_expect_empty(T *t, uint64_t peer);

void t_fail_alloc(long nth);
void t_fail_none(void);

#define ID(n) (((uint64_t)(n) << 1) | BUS1_MANAGED)
