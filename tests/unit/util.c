/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Test harness implementation; see util.h.
 */

#include <stdlib.h>
#include <string.h>
#include "core/alloc.h"
#include "util.h"

static void t_log(void *userdata, int level, const char *message)
{
	T *t = userdata;

	(void)level;
	(void)message;
	++t->n_logs;
}

T *t_new(void)
{
	T *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(engine_new(&t->engine), 0);
	engine_set_log(t->engine, t_log, t);
	/* room for every test's output, so only the engine can run out */
	assert_int_equal(outbuf_reserve(&t->out, 1 << 20), 0);
	return t;
}

T *t_free(T *t)
{
	if (!t)
		return NULL;
	engine_free(t->engine);
	outbuf_deinit(&t->out);
	free(t);
	return NULL;
}

uint64_t t_fp(T *t)
{
	return engine_fingerprint(t->engine);
}

size_t t_rec(void *buf, uint16_t type, uint64_t seq, uint64_t peer,
	     const void *payload, size_t n_payload)
{
	struct bus1_engine_hdr *hdr = buf;
	size_t size = sizeof(*hdr) + ((n_payload + 7) & ~(size_t)7);

	memset(buf, 0, size);
	hdr->size = size;
	hdr->type = type;
	hdr->seq = seq;
	hdr->peer = peer;
	if (n_payload)
		memcpy(hdr + 1, payload, n_payload);
	return size;
}

/*
 * Process @records (one request, or a batch) and check the output like
 * the module would. Returns the number of replies seen; the last reply's
 * error and payload are kept in @t.
 */
int t_raw(T *t, const void *records, size_t len)
{
	const struct bus1_engine_peer_state *state;
	const struct bus1_engine_hdr *hdr;
	void *buf;
	size_t off = 0;
	int n_replies = 0;

	buf = aligned_alloc(8, (len + 7) & ~(size_t)7);
	assert_non_null(buf);
	memcpy(buf, records, len);
	outbuf_clear(&t->out);
	assert_int_equal(engine_process(t->engine, buf, len, &t->out), 0);
	free(buf);

	t->n_states = 0;
	t->error = 1;
	while (off < t->out.len) {
		hdr = (const void *)(t->out.data + off);
		assert_true(hdr->size >= sizeof(*hdr));
		assert_int_equal(hdr->size % 8, 0);
		assert_true(hdr->size <= t->out.len - off);
		assert_int_equal(hdr->flags, 0);
		assert_int_equal(hdr->reserved, 0);
		if (hdr->type == BUS1_ENGINE_PEER_STATE) {
			assert_int_equal(hdr->size, sizeof(*hdr) + sizeof(*state));
			assert_int_equal(hdr->seq, 0);
			assert_int_equal(hdr->error, 0);
			state = (const void *)(hdr + 1);
			assert_true(state->readable <= 1);
			assert_int_equal(state->reserved, 0);
			assert_true(hdr->peer < T_MAX_PEERS);
			assert_int_not_equal(t->readable[hdr->peer], state->readable);
			t->readable[hdr->peer] = state->readable;
			++t->n_states;
		} else {
			assert_true(hdr->seq > 0);
			assert_true(hdr->error <= 0);
			if (hdr->error && hdr->type != BUS1_ENGINE_RECV)
				assert_int_equal(hdr->size, sizeof(*hdr));
			t->error = hdr->error;
			t->n_reply = hdr->size - sizeof(*hdr);
			assert_true(t->n_reply <= sizeof(t->reply));
			memcpy(t->reply, hdr + 1, t->n_reply);
			++n_replies;
		}
		off += hdr->size;
	}
	return n_replies;
}

static int t_request(T *t, uint16_t type, uint64_t peer, const void *payload,
		     size_t n_payload, int want_reply)
{
	const struct bus1_engine_hdr *hdr;
	uint8_t *buf;
	size_t len;
	int n;

	buf = calloc(1, sizeof(struct bus1_engine_hdr) + n_payload + 8);
	assert_non_null(buf);
	len = t_rec(buf, type, ++t->seq, peer, payload, n_payload);
	n = t_raw(t, buf, len);
	free(buf);

	assert_int_equal(n, want_reply);
	if (want_reply) {
		/* the reply is the last record */
		hdr = (const void *)(t->out.data + t->out.len -
				     sizeof(*hdr) - t->n_reply);
		assert_int_equal(hdr->type, type);
		assert_int_equal(hdr->seq, t->seq);
		assert_int_equal(hdr->peer, peer);
	}
	return want_reply ? t->error : 0;
}

int t_peer_new(T *t, uint64_t peer, uint32_t uid)
{
	struct bus1_engine_peer_new p = { .uid = uid, .pid = 1 };

	return t_request(t, BUS1_ENGINE_PEER_NEW, peer, &p, sizeof(p), 1);
}

void t_peer_release(T *t, uint64_t peer)
{
	t_request(t, BUS1_ENGINE_PEER_RELEASE, peer, NULL, 0, 0);
}

int t_transfer(T *t, uint64_t peer, uint64_t to, uint64_t flags, size_t n,
	       struct bus1_transfer *src, struct bus1_transfer *dst)
{
	struct bus1_engine_transfer *p;
	size_t size = sizeof(*p) + n * sizeof(*src);
	int r;

	p = calloc(1, size);
	assert_non_null(p);
	p->flags = flags;
	p->to_peer = to;
	p->n = n;
	memcpy(p + 1, src, n * sizeof(*src));
	r = t_request(t, BUS1_ENGINE_TRANSFER, peer, p, size, 1);
	free(p);
	if (!r) {
		assert_int_equal(t->n_reply, 2 * n * sizeof(*src));
		memcpy(src, t->reply, n * sizeof(*src));
		memcpy(dst, t->reply + n * sizeof(*src), n * sizeof(*dst));
	} else {
		assert_int_equal(t->n_reply, 0);
	}
	return r;
}

int t_release(T *t, uint64_t peer, uint64_t flags, size_t n,
	      const uint64_t *ids)
{
	struct bus1_engine_release *p;
	size_t size = sizeof(*p) + n * sizeof(*ids);
	int r;

	p = calloc(1, size);
	assert_non_null(p);
	p->flags = flags;
	p->n_ids = n;
	memcpy(p + 1, ids, n * sizeof(*ids));
	r = t_request(t, BUS1_ENGINE_RELEASE, peer, p, size, 1);
	free(p);
	assert_int_equal(t->n_reply, 0);
	return r;
}

int t_send_full(T *t, uint64_t peer, uint64_t flags, uint64_t msg_flags,
		uint64_t msg_type, size_t n_dst, const uint64_t *dst,
		size_t n_transfers, const struct bus1_transfer *transfers,
		const void *data, size_t n_data)
{
	struct bus1_engine_send *p;
	size_t size, i;
	uint8_t *q;
	int r;

	size = sizeof(*p) + n_dst * 8 + n_transfers * 16 + n_data;
	p = calloc(1, size + 8);
	assert_non_null(p);
	*p = (struct bus1_engine_send){
		.flags = flags,
		.msg_flags = msg_flags,
		.msg_type = msg_type,
		.n_destinations = n_dst,
		.n_transfers = n_transfers,
		.n_data = n_data,
	};
	q = (uint8_t *)(p + 1);
	memcpy(q, dst, n_dst * 8);
	memcpy(q + n_dst * 8, transfers, n_transfers * 16);
	memcpy(q + n_dst * 8 + n_transfers * 16, data, n_data);
	r = t_request(t, BUS1_ENGINE_SEND, peer, p, size, 1);
	free(p);
	if (!r) {
		assert_int_equal(t->n_reply, (n_dst * 4 + 7) & ~(size_t)7);
		for (i = 0; i < t->n_reply; ++i)
			assert_int_equal(t->reply[i], 0);
	} else {
		assert_int_equal(t->n_reply, 0);
	}
	return r;
}

int t_send(T *t, uint64_t peer, size_t n_dst, const uint64_t *dst,
	   size_t n_ids, const uint64_t *ids, const char *data)
{
	struct bus1_transfer transfers[T_MAX_ITEMS] = {};
	size_t i;

	assert_true(n_ids <= T_MAX_ITEMS);
	for (i = 0; i < n_ids; ++i)
		transfers[i].id = ids[i];
	return t_send_full(t, peer, 0, 0, BUS1_MESSAGE_TYPE_USER, n_dst, dst,
			   n_ids, transfers, data, data ? strlen(data) : 0);
}

void t_recv_done(T *t, uint64_t peer, uint64_t recv_seq, uint32_t commit)
{
	struct bus1_engine_recv_done p = { .recv_seq = recv_seq, .commit = commit };

	t_request(t, BUS1_ENGINE_RECV_DONE, peer, &p, sizeof(p), 0);
}

int t_recv_full(T *t, uint64_t peer, uint64_t flags, uint64_t msg_flags,
		uint64_t msg_type, uint64_t max_transfers, uint64_t max_data,
		uint32_t recv_flags, int settle, TRecv *r)
{
	struct bus1_engine_recv p = {
		.flags = flags,
		.msg_flags = msg_flags,
		.msg_type = msg_type,
		.max_transfers = max_transfers,
		.max_data = max_data,
		.recv_flags = recv_flags,
	};
	const struct bus1_engine_recv_reply *reply;
	TRecv dummy;
	size_t n;
	int err;

	if (!r)
		r = &dummy;
	memset(r, 0, sizeof(*r));
	err = t_request(t, BUS1_ENGINE_RECV, peer, &p, sizeof(p), 1);
	r->seq = t->seq;
	if (err && err != -EMSGSIZE) {
		assert_int_equal(t->n_reply, 0);
		return err;
	}

	assert_true(t->n_reply >= sizeof(*reply));
	reply = (const void *)t->reply;
	r->type = reply->type;
	r->id = reply->id;
	r->account = reply->account;
	r->n_transfers = reply->n_transfers;
	r->n_data = reply->n_data;
	if (err) {
		assert_int_equal(t->n_reply, sizeof(*reply));
		return err;
	}

	assert_true(r->n_transfers <= max_transfers);
	assert_true(r->n_data <= max_data);
	assert_true(r->n_transfers <= T_MAX_ITEMS);
	assert_true(r->n_data <= sizeof(r->data));
	n = sizeof(*reply) + r->n_transfers * 8 + ((r->n_data + 7) & ~7ULL);
	assert_int_equal(t->n_reply, n);
	memcpy(r->ids, reply + 1, r->n_transfers * 8);
	memcpy(r->data, (const uint8_t *)(reply + 1) + r->n_transfers * 8,
	       r->n_data);
	for (n = r->n_data; n % 8; ++n)
		assert_int_equal(((const uint8_t *)(reply + 1))[r->n_transfers * 8 + n], 0);

	if (settle == T_COMMIT)
		t_recv_done(t, peer, r->seq, 1);
	else if (settle == T_ABORT)
		t_recv_done(t, peer, r->seq, 0);
	return 0;
}

int t_recv(T *t, uint64_t peer, TRecv *r)
{
	return t_recv_full(t, peer, 0, 0, BUS1_INVALID, T_MAX_ITEMS, 4096, 0,
			   T_COMMIT, r);
}

/* Create a node in @owner and a handle to it in @holder. */
uint64_t t_node(T *t, uint64_t owner, uint64_t holder, uint64_t *handle)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;

	assert_int_equal(t_transfer(t, owner, holder, 0, 1, &src, &dst), 0);
	assert_int_equal(src.flags, 0);
	assert_int_equal(dst.flags, 0);
	if (handle)
		*handle = dst.id;
	return src.id;
}

/* Copy handle @id of @from to @to, returning the new handle ID. */
uint64_t t_handle(T *t, uint64_t from, uint64_t id, uint64_t to)
{
	struct bus1_transfer src = { 0, id }, dst;

	assert_int_equal(t_transfer(t, from, to, 0, 1, &src, &dst), 0);
	assert_int_equal(src.id, id);
	return dst.id;
}

/*
 * Whether a RECV would return an item now, without taking it: an
 * application with a short iovec gets EMSGSIZE if and only if an item is
 * queued, and nothing changes.
 */
int t_probe(T *t, uint64_t peer)
{
	int r;

	r = t_recv_full(t, peer, 0, 0, BUS1_INVALID, 0, 0,
			BUS1_ENGINE_RECV_SHORT_IOVEC, T_LEND, NULL);
	assert_true(r == -EMSGSIZE || r == -EAGAIN);
	return r == -EMSGSIZE;
}

void t_assert_readable(T *t, uint64_t peer, int readable)
{
	assert_int_equal(t->readable[peer], readable);
	assert_int_equal(t_probe(t, peer), readable);
}

void t_expect_user(T *t, uint64_t peer, uint64_t node, const char *data,
		   size_t n_transfers, uint64_t *ids)
{
	TRecv r;

	assert_int_equal(t->readable[peer], 1);
	assert_int_equal(t_recv(t, peer, &r), 0);
	assert_int_equal(r.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(r.id, node);
	assert_int_equal(r.n_data, strlen(data));
	assert_memory_equal(r.data, data, r.n_data);
	assert_int_equal(r.n_transfers, n_transfers);
	if (ids)
		memcpy(ids, r.ids, n_transfers * 8);
}

void t_expect_notify(T *t, uint64_t peer, uint64_t type, uint64_t id)
{
	TRecv r;

	assert_int_equal(t->readable[peer], 1);
	assert_int_equal(t_recv(t, peer, &r), 0);
	assert_int_equal(r.type, type);
	assert_int_equal(r.id, id);
	assert_int_equal(r.account, BUS1_INVALID);
	assert_int_equal(r.n_transfers, 0);
	assert_int_equal(r.n_data, 0);
}

void t_expect_empty(T *t, uint64_t peer)
{
	assert_int_equal(t->readable[peer], 0);
	assert_int_equal(t_recv(t, peer, NULL), -EAGAIN);
}

static _Thread_local long t_fail_counter;

static bool t_fail_fn(void *userdata)
{
	(void)userdata;
	return t_fail_counter-- == 0;
}

/* Make the @nth core allocation from now (0-based) fail, and only it. */
void t_fail_alloc(long nth)
{
	t_fail_counter = nth;
	core_alloc_set_fail_hook(t_fail_fn, NULL);
}

void t_fail_none(void)
{
	core_alloc_set_fail_hook(NULL, NULL);
}
