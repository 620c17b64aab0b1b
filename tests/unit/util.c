/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Test harness implementation; see util.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/alloc.h"
#include "core/bus.h"
#include "core/message.h"
#include "core/peer.h"
#include "core/recv.h"
#include "util.h"

enum {
	T_PHASE_RETRACT = 1,
	T_PHASE_ITEM,
	T_PHASE_STATE,
};

static void t_log(void *userdata, int level, const char *message)
{
	T *t = userdata;

	(void)level;
	(void)message;
	++t->n_logs;
}

T *t_new(void)
{
	const EngineConfig config = ENGINE_CONFIG_DEFAULT;

	return t_new_config(&config);
}

T *t_new_config(const EngineConfig *config)
{
	T *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(engine_new_config(&t->engine, config), 0);
	engine_set_log(t->engine, t_log, t);
	/* room for every test's output, so only the engine can run out */
	t_out_reset(t, 1 << 20);
	return t;
}

/* FNV-1a of @n bytes: what a test compares a large payload by. */
uint64_t t_sum(const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; ++i) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The reference @ref the harness handed out, or NULL. */
TRef *t_ref(T *t, uint64_t ref)
{
	if (ref < T_REF_BASE || ref - T_REF_BASE >= t->n_refs)
		return NULL;
	return &t->refs[ref - T_REF_BASE];
}

/* The reference of the last large SEND. */
uint64_t t_last_ref(T *t)
{
	assert_true(t->n_refs > 0);
	return T_REF_BASE + t->n_refs - 1;
}

static uint64_t t_new_ref(T *t, const void *data, size_t n_data)
{
	TRef *refs;

	if (t->reuse_dropped_ref && t->n_refs &&
	    t->refs[t->n_refs - 1].state == T_REF_DROPPED)
		--t->n_refs;
	refs = realloc(t->refs, (t->n_refs + 1) * sizeof(*refs));
	assert_non_null(refs);
	t->refs = refs;
	refs[t->n_refs] = (TRef){
		.state = T_REF_PENDING,
		.n_data = n_data,
		.sum = t_sum(data, n_data),
	};
	return T_REF_BASE + t->n_refs++;
}

size_t t_refs_owned(T *t)
{
	size_t i, n = 0;

	for (i = 0; i < t->n_refs; ++i)
		n += t->refs[i].state == T_REF_OWNED;
	return n;
}

static void t_drop_item(T *t, TItem *item)
{
	TRef *ref;

	if (item->ref) {
		ref = t_ref(t, item->ref);
		assert_non_null(ref);
		assert_true(ref->n_held > 0);
		--ref->n_held;
	}
	free(item);
}

static void t_drop_held(T *t, TPeer *p)
{
	while (p->n_held)
		t_drop_item(t, p->held[--p->n_held]);
	p->held_bytes = 0;
}

static void t_ref_use(T *t, uint64_t ref, uint64_t *n_uses)
{
	TRef *r = t_ref(t, ref);

	assert_non_null(r);
	++n_uses[ref - T_REF_BASE];
}

/*
 * The references the engine owns are exactly those its payloads use,
 * queued, lent, or waiting for their DATA_RELEASE; and each of those
 * waits at most once.
 */
void t_check_refs(T *t)
{
	Bus *bus = engine_bus(t->engine);
	uint64_t *uses, *waits;
	Payload *payload;
	RecvInfo info;
	Peer *peer;
	Item *item;
	size_t i;

	if (!t->n_refs)
		return;
	uses = calloc(t->n_refs, sizeof(*uses));
	waits = calloc(t->n_refs, sizeof(*waits));
	assert_non_null(uses);
	assert_non_null(waits);
	RB_FOREACH(peer, PeerTree, &bus->peers) {
		TAILQ_FOREACH(item, &peer->lent, link) {
			recv_describe(item, &info);
			if (info.ref)
				t_ref_use(t, info.ref, uses);
		}
		TAILQ_FOREACH(item, &peer->queue, link) {
			recv_describe(item, &info);
			if (info.ref)
				t_ref_use(t, info.ref, uses);
		}
	}
	TAILQ_FOREACH(payload, &bus->released, released_link) {
		assert_int_not_equal(payload->ref, 0);
		t_ref_use(t, payload->ref, waits);
	}
	for (i = 0; i < t->n_refs; ++i) {
		assert_true(waits[i] <= 1);
		assert_false(uses[i] && waits[i]);
		if (t->refs[i].state == T_REF_OWNED)
			assert_true(uses[i] || waits[i]);
		else
			assert_true(!uses[i] && !waits[i]);
	}
	free(uses);
	free(waits);
}

T *t_free(T *t)
{
	size_t i;

	if (!t)
		return NULL;
	t_check_refs(t);
	/* the module drops every reference when the engine goes */
	engine_free(t->engine);
	outbuf_deinit(&t->out);
	for (i = 0; i < T_MAX_PEERS; ++i)
		t_drop_held(t, &t->peers[i]);
	free(t->refs);
	free(t);
	return NULL;
}

/*
 * Give the engine an output buffer of @cap bytes (none if 0), so its
 * output allocations can be part of an allocation-failure test.
 */
void t_out_reset(T *t, size_t cap)
{
	outbuf_deinit(&t->out);
	if (cap)
		assert_int_equal(outbuf_reserve(&t->out, cap), 0);
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

static TPeer *t_peer(T *t, uint64_t peer)
{
	assert_true(peer < T_MAX_PEERS);
	return &t->peers[peer];
}

/* Per peer: RETRACT, then ITEM, then PEER_STATE, within one request. */
static void t_phase(T *t, const struct bus1_engine_hdr *hdr, uint8_t phase,
		    char letter)
{
	size_t n = strlen(t->order);

	assert_true(hdr->peer < T_MAX_PEERS);
	assert_true(t->phase[hdr->peer] <= phase);
	t->phase[hdr->peer] = phase;
	snprintf(t->order + n, sizeof(t->order) - n, "%c%llu ", letter,
		 (unsigned long long)hdr->peer);
}

/* The module's checks of an ITEM record, then it holds the item. */
static void t_take_item(T *t, const struct bus1_engine_hdr *hdr)
{
	const struct bus1_engine_item *item = (const void *)(hdr + 1);
	const uint8_t *payload = (const void *)(item + 1);
	uint64_t size, n, ref = 0;
	TRef *r = NULL;
	TPeer *p;
	TItem *held;

	assert_int_equal(hdr->seq, 0);
	assert_int_equal(hdr->error, 0);
	assert_true(hdr->size >= sizeof(*hdr) + sizeof(*item));
	p = t_peer(t, hdr->peer);
	t_phase(t, hdr, T_PHASE_ITEM, 'I');

	assert_true(item->n_transfers <= (hdr->size - sizeof(*hdr) -
					  sizeof(*item)) / 8);
	if (item->n_data >= BUS1_ENGINE_DATA_REF_MIN) {
		/* by reference: one the engine owns, of this size */
		size = sizeof(*hdr) + sizeof(*item) + item->n_transfers * 8 + 8;
		assert_int_equal(hdr->size, size);
		memcpy(&ref, payload + item->n_transfers * 8, 8);
		r = t_ref(t, ref);
		assert_non_null(r);
		assert_true(r->state == T_REF_OWNED ||
			    (r->state == T_REF_PENDING && ref == t->send_ref));
		assert_int_equal(r->n_data, item->n_data);
	} else {
		size = sizeof(*hdr) + sizeof(*item) + item->n_transfers * 8 +
		       ((item->n_data + 7) & ~7ULL);
		assert_true(item->n_data <= hdr->size);
		assert_int_equal(hdr->size, size);
		for (n = item->n_data; n % 8; ++n)
			assert_int_equal(payload[item->n_transfers * 8 + n], 0);
	}
	switch (item->type) {
	case BUS1_MESSAGE_TYPE_USER:
		break;
	case BUS1_MESSAGE_TYPE_NODE_RELEASE:
	case BUS1_MESSAGE_TYPE_HANDLE_RELEASE:
		assert_int_equal(item->account, BUS1_INVALID);
		assert_int_equal(item->n_transfers, 0);
		assert_int_equal(item->n_data, 0);
		break;
	default:
		fail_msg("ITEM of unknown type %llu",
			 (unsigned long long)item->type);
	}
	assert_true(item->token > p->last_token);
	/* what the module accepts before one more */
	assert_true(p->n_held < BUS1_ENGINE_MAX_LENT_ITEMS);
	assert_true(p->held_bytes < BUS1_ENGINE_MAX_LENT_BYTES);

	held = malloc(sizeof(*held) + size);
	assert_non_null(held);
	*held = (TItem){
		.token = item->token,
		.type = item->type,
		.id = item->id,
		.account = item->account,
		.n_transfers = item->n_transfers,
		.n_data = item->n_data,
		.ref = ref,
		.size = size,
	};
	if (r)
		++r->n_held;
	memcpy(held->payload, payload, size - sizeof(*hdr) - sizeof(*item));
	p->held[p->n_held++] = held;
	p->held_bytes += size;
	p->last_token = item->token;
	++t->n_items;
}

/* RETRACT: only the peer's own requests take items back, and the module
 * has settled all it received before any of them, so it holds the item. */
static void t_take_retract(T *t, const struct bus1_engine_hdr *hdr)
{
	const struct bus1_engine_retract *r = (const void *)(hdr + 1);
	TPeer *p;
	size_t i;

	assert_int_equal(hdr->size, sizeof(*hdr) + sizeof(*r));
	assert_int_equal(hdr->seq, 0);
	assert_int_equal(hdr->error, 0);
	p = t_peer(t, hdr->peer);
	t_phase(t, hdr, T_PHASE_RETRACT, 'R');
	for (i = 0; i < p->n_held && p->held[i]->token != r->token; ++i)
		;
	assert_true(i < p->n_held);
	p->held_bytes -= p->held[i]->size;
	t_drop_item(t, p->held[i]);
	memmove(p->held + i, p->held + i + 1,
		(p->n_held - i - 1) * sizeof(p->held[0]));
	--p->n_held;
	++t->n_retracts;
}

/*
 * DATA_RELEASE: of a reference the engine owns, once, never while an item
 * naming it is held (the engine retracts or has them received first).
 */
static void t_take_data_release(T *t, const struct bus1_engine_hdr *hdr)
{
	const struct bus1_engine_data_release *d = (const void *)(hdr + 1);
	TRef *r;
	size_t n;

	assert_int_equal(hdr->size, sizeof(*hdr) + sizeof(*d));
	assert_int_equal(hdr->seq, 0);
	assert_int_equal(hdr->error, 0);
	assert_int_equal(hdr->peer, 0);
	r = t_ref(t, d->ref);
	assert_non_null(r);
	assert_int_equal(r->state, T_REF_OWNED);
	assert_int_equal(r->n_held, 0);
	r->state = T_REF_RELEASED;
	++t->n_data_releases;
	n = strlen(t->order);
	snprintf(t->order + n, sizeof(t->order) - n, "D%llu ",
		 (unsigned long long)d->ref);
}

TRoute *t_route(T *t, uint64_t id)
{
	size_t i;

	for (i = 0; i < t->n_routes; ++i)
		if (t->routes[i].id == id)
			return &t->routes[i];
	return NULL;
}

/* The route the module holds, not revoked, for @sender's @handle. */
TRoute *t_route_of(T *t, uint64_t sender, uint64_t handle)
{
	size_t i;

	for (i = 0; i < t->n_routes; ++i)
		if (t->routes[i].sender == sender && !t->routes[i].revoked &&
		    t->routes[i].rec.handle == handle)
			return &t->routes[i];
	return NULL;
}

static void t_order(T *t, char letter, uint64_t v)
{
	size_t n = strlen(t->order);

	snprintf(t->order + n, sizeof(t->order) - n, "%c%llu ", letter,
		 (unsigned long long)v);
}

/* ROUTE: the module's checks (EINVAL otherwise), then it holds it. */
static void t_take_route(T *t, const struct bus1_engine_hdr *hdr)
{
	const struct bus1_engine_route *r = (const void *)(hdr + 1);
	TRoute *route;

	assert_int_equal(hdr->size, sizeof(*hdr) + sizeof(*r));
	assert_int_equal(hdr->seq, 0);
	assert_int_equal(hdr->error, 0);
	assert_int_not_equal(r->route, 0);
	assert_null(t_route(t, r->route));
	assert_null(t_route_of(t, hdr->peer, r->handle));
	assert_true(r->handle & BUS1_MANAGED);
	assert_true(r->dst_id & BUS1_MANAGED);
	assert_true(r->credit_items >= 1);
	assert_true(r->credit_items <= BUS1_ENGINE_MAX_ROUTE_ITEMS);
	assert_true(r->credit_bytes <= BUS1_ENGINE_MAX_ROUTE_BYTES);
	++t->n_route_recs;
	t_order(t, 'G', r->route);
	if (t->reject_routes) {
		engine_record_rejected(t->engine, hdr, hdr->size);
		return;
	}
	assert_true(t->n_routes < T_MAX_ROUTES);
	route = &t->routes[t->n_routes++];
	*route = (TRoute){ .id = r->route, .sender = hdr->peer, .rec = *r };
}

/*
 * REVOKE: of a route the module holds, once. It holds no message of it,
 * so ROUTE_DONE is due at once.
 */
static void t_take_revoke(T *t, const struct bus1_engine_hdr *hdr)
{
	const struct bus1_engine_revoke *r = (const void *)(hdr + 1);
	TRoute *route;

	assert_int_equal(hdr->size, sizeof(*hdr) + sizeof(*r));
	assert_int_equal(hdr->seq, 0);
	assert_int_equal(hdr->error, 0);
	assert_int_equal(r->flags & ~BUS1_ENGINE_REVOKE_DISCARD, 0);
	route = t_route(t, r->route);
	assert_non_null(route);
	assert_false(route->revoked);
	assert_int_equal(hdr->peer, route->sender);
	route->revoked = true;
	route->flags = r->flags;
	++t->n_revoke_recs;
	t_order(t, 'V', r->route);
}

/* A reply to the SEND of @t->send_ref: the engine owns it from now on, or
 * never. */
static void t_take_send_reply(T *t, const struct bus1_engine_hdr *hdr)
{
	TRef *r;

	if (hdr->type != BUS1_ENGINE_SEND || !t->send_ref)
		return;
	r = t_ref(t, t->send_ref);
	assert_int_equal(r->state, T_REF_PENDING);
	r->state = hdr->error ? T_REF_DROPPED : T_REF_OWNED;
	t->send_ref = 0;
}

static void t_take_state(T *t, const struct bus1_engine_hdr *hdr)
{
	const struct bus1_engine_peer_state *state = (const void *)(hdr + 1);
	TPeer *p;

	assert_int_equal(hdr->size, sizeof(*hdr) + sizeof(*state));
	assert_int_equal(hdr->seq, 0);
	assert_int_equal(hdr->error, 0);
	assert_true(state->readable <= 1);
	assert_int_equal(state->reserved, 0);
	p = t_peer(t, hdr->peer);
	t_phase(t, hdr, T_PHASE_STATE, 'S');
	assert_int_not_equal(p->state, state->readable);
	p->state = state->readable;
	++t->n_states;
}

/*
 * Process @records (one request, or a batch) and check the output like
 * the module would. Returns the number of replies seen; the last reply's
 * error and payload are kept in @t. The order of records per peer is
 * checked between replies, so a batch must not hold one-way records.
 */
int t_raw(T *t, const void *records, size_t len)
{
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

	t->n_states = t->n_items = t->n_retracts = 0;
	t->n_route_recs = t->n_revoke_recs = 0;
	t->order[0] = 0;
	memset(t->phase, 0, sizeof(t->phase));
	t->error = 1;
	t->reply_last = false;
	while (off < t->out.len) {
		hdr = (const void *)(t->out.data + off);
		assert_true(hdr->size >= sizeof(*hdr));
		assert_int_equal(hdr->size % 8, 0);
		assert_true(hdr->size <= t->out.len - off);
		assert_int_equal(hdr->flags, 0);
		assert_int_equal(hdr->reserved, 0);
		if (hdr->type != BUS1_ENGINE_DATA_RELEASE)
			t->reply_last = false;
		switch (hdr->type) {
		case BUS1_ENGINE_PEER_STATE:
			t_take_state(t, hdr);
			break;
		case BUS1_ENGINE_ITEM:
			t_take_item(t, hdr);
			break;
		case BUS1_ENGINE_RETRACT:
			t_take_retract(t, hdr);
			break;
		case BUS1_ENGINE_DATA_RELEASE:
			t_take_data_release(t, hdr);
			break;
		case BUS1_ENGINE_ROUTE:
			t_take_route(t, hdr);
			break;
		case BUS1_ENGINE_REVOKE:
			t_take_revoke(t, hdr);
			break;
		default:
			t_take_send_reply(t, hdr);
			assert_true(hdr->seq > 0);
			assert_true(hdr->error <= 0);
			if (hdr->error)
				assert_int_equal(hdr->size, sizeof(*hdr));
			t->error = hdr->error;
			t->n_reply = hdr->size - sizeof(*hdr);
			assert_true(t->n_reply <= sizeof(t->reply));
			memcpy(t->reply, hdr + 1, t->n_reply);
			memset(t->phase, 0, sizeof(t->phase));
			t->reply_off = off;
			t->reply_last = true;
			++n_replies;
			break;
		}
		off += hdr->size;
	}
	return n_replies;
}

static int t_record(T *t, uint16_t type, uint64_t peer, const void *payload,
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
		/* the reply is the last record, but for DATA_RELEASE */
		assert_true(t->reply_last);
		hdr = (const void *)(t->out.data + t->reply_off);
		assert_int_equal(hdr->type, type);
		assert_int_equal(hdr->seq, t->seq);
		assert_int_equal(hdr->peer, peer);
	}
	return want_reply ? t->error : 0;
}

void t_recv_done(T *t, uint64_t peer, uint64_t token)
{
	struct bus1_engine_recv_done p = { .token = token };

	t_record(t, BUS1_ENGINE_RECV_DONE, peer, &p, sizeof(p), 0);
}

/* ROUTE_DONE for route @id, which the module then forgets. */
void t_route_done(T *t, uint64_t id)
{
	struct bus1_engine_route_done p = { .route = id };
	TRoute *route = t_route(t, id);
	uint64_t sender;

	assert_non_null(route);
	sender = route->sender;
	*route = t->routes[--t->n_routes];
	t_record(t, BUS1_ENGINE_ROUTE_DONE, sender, &p, sizeof(p), 0);
}

/* ROUTE_DONE for every revoked route the module holds. */
void t_route_done_all(T *t)
{
	uint64_t ids[T_MAX_ROUTES];
	size_t i, n = 0;

	for (i = 0; i < t->n_routes; ++i)
		if (t->routes[i].revoked)
			ids[n++] = t->routes[i].id;
	for (i = 0; i < n; ++i)
		t_route_done(t, ids[i]);
}

/*
 * The RECV_DONE and ROUTE_DONE records the module queued go before any
 * later request.
 */
void t_settle(T *t)
{
	uint64_t peer, token;
	size_t i;

	for (i = 0; i < t->n_pending; ++i) {
		peer = t->pending[i];
		token = t->peers[peer].done;
		t->peers[peer].done = 0;
		if (token)
			t_recv_done(t, peer, token);
	}
	t->n_pending = 0;
	if (!t->hold_route_done)
		t_route_done_all(t);
}

static int t_request(T *t, uint16_t type, uint64_t peer, const void *payload,
		     size_t n_payload, int want_reply)
{
	t_settle(t);
	return t_record(t, type, peer, payload, n_payload, want_reply);
}

int t_peer_new(T *t, uint64_t peer, uint32_t uid)
{
	struct bus1_engine_peer_new p = { .uid = uid, .pid = 1 };

	return t_request(t, BUS1_ENGINE_PEER_NEW, peer, &p, sizeof(p), 1);
}

/* The module forgets a released peer, and what it held of it. */
void t_peer_release(T *t, uint64_t peer)
{
	TPeer *p = t_peer(t, peer);

	/* the module drops the items of a closed peer before it asks */
	t_settle(t);
	t_drop_held(t, p);
	t_request(t, BUS1_ENGINE_PEER_RELEASE, peer, NULL, 0, 0);
	p->state = 0;
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
	uint64_t ref = 0;
	bool by_ref;
	uint8_t *q;
	int r;

	by_ref = n_data >= BUS1_ENGINE_DATA_REF_MIN;
	size = sizeof(*p) + n_dst * 8 + n_transfers * 16 + (by_ref ? 8 : n_data);
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
	if (by_ref) {
		t_settle(t);
		ref = t_new_ref(t, data, n_data);
		memcpy(q + n_dst * 8 + n_transfers * 16, &ref, 8);
		t->send_ref = ref;
	} else if (n_data) {
		memcpy(q + n_dst * 8 + n_transfers * 16, data, n_data);
	}
	r = t_request(t, BUS1_ENGINE_SEND, peer, p, size, 1);
	free(p);
	if (by_ref) {
		assert_int_equal(t->send_ref, 0);
		/* released already if no message took it */
		if (r)
			assert_int_equal(t_ref(t, ref)->state, T_REF_DROPPED);
		else
			assert_int_not_equal(t_ref(t, ref)->state,
					     T_REF_DROPPED);
	}
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

/* FETCH, whatever the module holds. Return: the reply's error. */
int t_fetch(T *t, uint64_t peer)
{
	int r;

	r = t_request(t, BUS1_ENGINE_FETCH, peer, NULL, 0, 1);
	assert_int_equal(t->n_reply, 0);
	return r;
}

/*
 * RECV as the module serves it: FETCH if it holds nothing while the engine
 * said readable, then take the head item, if any, and settle it as
 * @settle says. Return: 0, -EAGAIN, or the FETCH's error.
 */
int t_recv_full(T *t, uint64_t peer, int settle, TRecv *r)
{
	TPeer *p = t_peer(t, peer);
	TItem *item;
	TRecv dummy;
	int err;

	if (!r)
		r = &dummy;
	memset(r, 0, sizeof(*r));
	if (!p->n_held && p->state) {
		err = t_fetch(t, peer);
		if (err)
			return err;
	}
	if (!p->n_held)
		return -EAGAIN;

	item = p->held[0];
	memmove(p->held, p->held + 1, --p->n_held * sizeof(p->held[0]));
	p->held_bytes -= item->size;
	r->token = item->token;
	r->type = item->type;
	r->id = item->id;
	r->account = item->account;
	r->n_transfers = item->n_transfers;
	r->n_data = item->n_data;
	r->ref = item->ref;
	memcpy(r->ids, item->payload,
	       (item->n_transfers < T_MAX_ITEMS ? item->n_transfers :
		T_MAX_ITEMS) * 8);
	if (item->ref)
		/* the module copies out the bytes it kept */
		r->sum = t_ref(t, item->ref)->sum;
	else
		memcpy(r->data, item->payload + item->n_transfers * 8,
		       item->n_data < sizeof(r->data) ? item->n_data :
		       sizeof(r->data));
	t_drop_item(t, item);

	if (!p->done)
		t->pending[t->n_pending++] = peer;
	p->done = r->token;
	if (settle == T_COMMIT)
		t_settle(t);
	return 0;
}

int t_recv(T *t, uint64_t peer, TRecv *r)
{
	return t_recv_full(t, peer, T_COMMIT, r);
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

/* Whether the peer polls readable: the module holds an item, or the
 * engine said it has queued items not lent. */
bool t_readable(T *t, uint64_t peer)
{
	TPeer *p = t_peer(t, peer);

	return p->n_held || p->state;
}

size_t t_held(T *t, uint64_t peer)
{
	return t_peer(t, peer)->n_held;
}

/*
 * The module's view matches the engine: the last PEER_STATE is the
 * engine's readable state; the engine's lent items are those received and
 * not yet settled, then exactly those the module holds, in order; and,
 * unless lending ever ran out of memory, the window is full whenever items
 * stay queued.
 */
void t_check(T *t, uint64_t peer)
{
	Peer *ep = bus_find_peer(engine_bus(t->engine), peer);
	TPeer *p = t_peer(t, peer);
	RecvInfo info;
	Item *item;
	size_t i = 0;

	if (!ep) {
		assert_int_equal(p->n_held, 0);
		assert_int_equal(p->state, 0);
		return;
	}
	assert_int_equal(p->state, ep->n_queued > 0);
	assert_true(ep->n_lent <= LEND_MAX_ITEMS);
	TAILQ_FOREACH(item, &ep->lent, link) {
		if (item->token <= p->done)
			continue;
		assert_true(i < p->n_held);
		assert_int_equal(item->token, p->held[i]->token);
		++i;
	}
	assert_int_equal(i, p->n_held);
	if (ep->n_queued && !engine_counters(t->engine)->lend_failures) {
		assert_null(recv_lendable(ep, &info));
		assert_true(ep->n_lent > 0);
	}
}

void t_assert_readable(T *t, uint64_t peer, int readable)
{
	assert_int_equal(t_readable(t, peer), readable);
	t_check(t, peer);
}

void t_expect_user(T *t, uint64_t peer, uint64_t node, const char *data,
		   size_t n_transfers, uint64_t *ids)
{
	TRecv r;

	assert_true(t_readable(t, peer));
	assert_int_equal(t_recv(t, peer, &r), 0);
	assert_int_equal(r.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(r.id, node);
	assert_int_equal(r.n_data, strlen(data));
	assert_memory_equal(r.data, data, r.n_data);
	assert_int_equal(r.n_transfers, n_transfers);
	if (ids)
		memcpy(ids, r.ids, n_transfers * 8);
}

/* Receive a large message of @n_data bytes by reference. */
void t_expect_big(T *t, uint64_t peer, uint64_t node, const void *data,
		  size_t n_data)
{
	TRecv r;

	assert_true(t_readable(t, peer));
	assert_int_equal(t_recv(t, peer, &r), 0);
	assert_int_equal(r.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(r.id, node);
	assert_int_equal(r.n_data, n_data);
	assert_int_not_equal(r.ref, 0);
	assert_int_equal(r.sum, t_sum(data, n_data));
}

void t_expect_notify(T *t, uint64_t peer, uint64_t type, uint64_t id)
{
	TRecv r;

	assert_true(t_readable(t, peer));
	assert_int_equal(t_recv(t, peer, &r), 0);
	assert_int_equal(r.type, type);
	assert_int_equal(r.id, id);
	assert_int_equal(r.account, BUS1_INVALID);
	assert_int_equal(r.n_transfers, 0);
	assert_int_equal(r.n_data, 0);
}

void t_expect_empty(T *t, uint64_t peer)
{
	assert_false(t_readable(t, peer));
	assert_int_equal(t_recv(t, peer, NULL), -EAGAIN);
	t_check(t, peer);
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

/* Whether the failure set up by t_fail_alloc() has happened. */
bool t_fail_fired(void)
{
	return t_fail_counter < 0;
}

void t_fail_none(void)
{
	core_alloc_set_fail_hook(NULL, NULL);
}
