/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Dispatch: the control protocol byte for byte (RETRACT, ITEM and
 * PEER_STATE records before replies), batches, batches applied in parts,
 * idempotent seqs and malformed records.
 */

#include <stdio.h>
#include <string.h>
#include "util.h"

typedef struct Batch {
	uint64_t buf[4096];
	size_t len;
} Batch;

static void add(Batch *b, uint16_t type, uint64_t seq, uint64_t peer,
		const void *payload, size_t n_payload)
{
	b->len += t_rec((uint8_t *)b->buf + b->len, type, seq, peer,
			payload, n_payload);
}

static void add_peer_new(Batch *b, uint64_t seq, uint64_t peer)
{
	struct bus1_engine_peer_new p = { .uid = 1000 + peer, .pid = 7 };

	add(b, BUS1_ENGINE_PEER_NEW, seq, peer, &p, sizeof(p));
}

static void add_create(Batch *b, uint64_t seq, uint64_t peer, uint64_t to)
{
	struct {
		struct bus1_engine_transfer t;
		struct bus1_transfer src;
	} p = { { 0, to, 1 }, { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID } };

	add(b, BUS1_ENGINE_TRANSFER, seq, peer, &p, sizeof(p));
}

static void add_send(Batch *b, uint64_t seq, uint64_t peer, uint64_t dst,
		     const char *data)
{
	struct {
		struct bus1_engine_send s;
		uint64_t dst;
		char data[64];
	} p = { { .n_destinations = 1, .n_data = strlen(data) }, dst, {} };

	memcpy(p.data, data, strlen(data));
	add(b, BUS1_ENGINE_SEND, seq, peer, &p, sizeof(p.s) + 8 + strlen(data));
}

static void add_fetch(Batch *b, uint64_t seq, uint64_t peer)
{
	add(b, BUS1_ENGINE_FETCH, seq, peer, NULL, 0);
}

static void add_recv_done(Batch *b, uint64_t seq, uint64_t peer,
			  uint64_t token)
{
	struct bus1_engine_recv_done p = { token };

	add(b, BUS1_ENGINE_RECV_DONE, seq, peer, &p, sizeof(p));
}

/* Expected output, built record by record. */
static void want(Batch *b, uint16_t type, int error, uint64_t seq,
		 uint64_t peer, const void *payload, size_t n_payload)
{
	struct bus1_engine_hdr *hdr;

	add(b, type, seq, peer, payload, n_payload);
	hdr = (void *)((uint8_t *)b->buf + b->len - sizeof(*hdr) -
		       ((n_payload + 7) & ~(size_t)7));
	hdr->error = error;
}

static void want_state(Batch *b, uint64_t peer, uint32_t readable)
{
	struct bus1_engine_peer_state p = { readable, 0 };

	want(b, BUS1_ENGINE_PEER_STATE, 0, 0, peer, &p, sizeof(p));
}

static void want_item(Batch *b, uint64_t peer, uint64_t token, uint64_t type,
		      uint64_t id, uint64_t account, const char *data)
{
	struct {
		struct bus1_engine_item i;
		char data[64];
	} p = { { token, type, id, account, 0, data ? strlen(data) : 0 }, {} };

	if (data)
		memcpy(p.data, data, strlen(data));
	want(b, BUS1_ENGINE_ITEM, 0, 0, peer, &p, sizeof(p.i) + p.i.n_data);
}

static void want_retract(Batch *b, uint64_t peer, uint64_t token)
{
	struct bus1_engine_retract p = { token };

	want(b, BUS1_ENGINE_RETRACT, 0, 0, peer, &p, sizeof(p));
}

static void want_route(Batch *b, uint64_t peer, uint64_t route,
		       uint64_t handle, uint64_t dst_peer, uint64_t dst_id,
		       uint64_t account)
{
	struct bus1_engine_route p = {
		route, handle, dst_peer, dst_id, account,
		ENGINE_DEFAULT_ROUTE_ITEMS, ENGINE_DEFAULT_ROUTE_BYTES,
	};

	want(b, BUS1_ENGINE_ROUTE, 0, 0, peer, &p, sizeof(p));
}

static void process(Engine *e, Outbuf *out, const Batch *in, const Batch *exp)
{
	outbuf_clear(out);
	assert_int_equal(engine_process(e, in->buf, in->len, out), 0);
	assert_int_equal(out->len, exp->len);
	assert_memory_equal(out->data, exp->buf, exp->len);
}

static void test_bytes(void **state)
{
	Batch in = {}, exp = {};
	Outbuf out = OUTBUF_NULL;
	struct bus1_transfer tr[2];
	uint64_t zero = 0, seq, token;
	char data[8];
	Engine *e;
	int i;

	(void)state;
	assert_int_equal(engine_new(&e), 0);

	add_peer_new(&in, 1, 1);
	want(&exp, BUS1_ENGINE_PEER_NEW, 0, 1, 1, NULL, 0);
	process(e, &out, &in, &exp);
	assert_int_equal(out.len, 32);

	in.len = exp.len = 0;
	add_peer_new(&in, 2, 2);
	add_create(&in, 3, 2, 1);
	add_send(&in, 4, 1, ID(0), "hello");
	add_recv_done(&in, 5, 2, 1);
	add_fetch(&in, 6, 2);
	add_send(&in, 7, 1, ID(0), "a");

	want(&exp, BUS1_ENGINE_PEER_NEW, 0, 2, 2, NULL, 0);
	tr[0] = (struct bus1_transfer){ 0, ID(0) };
	tr[1] = (struct bus1_transfer){ 0, ID(0) };
	want(&exp, BUS1_ENGINE_TRANSFER, 0, 3, 2, tr, sizeof(tr));
	/* the item is lent before the SEND reply; nothing stays queued, so
	 * no PEER_STATE */
	want_item(&exp, 2, 1, BUS1_MESSAGE_TYPE_USER, ID(0), 1001, "hello");
	/* a plain unicast earns its handle a route, after the item */
	want_route(&exp, 1, 1, ID(0), 2, ID(0), 1001);
	want(&exp, BUS1_ENGINE_SEND, 0, 4, 1, &zero, 4);
	/* RECV_DONE: nothing to write; FETCH with nothing queued: 0 */
	want(&exp, BUS1_ENGINE_FETCH, 0, 6, 2, NULL, 0);
	want_item(&exp, 2, 2, BUS1_MESSAGE_TYPE_USER, ID(0), 1001, "a");
	want(&exp, BUS1_ENGINE_SEND, 0, 7, 1, &zero, 4);
	process(e, &out, &in, &exp);

	/* the window: 15 more fit behind token 2, the 16th is queued and
	 * reported readable before its reply */
	in.len = exp.len = 0;
	seq = 8;
	for (i = 0; i < 16; ++i) {
		snprintf(data, sizeof(data), "w%d", i);
		add_send(&in, seq, 1, ID(0), data);
		if (i < 15)
			want_item(&exp, 2, 3 + i, BUS1_MESSAGE_TYPE_USER,
				  ID(0), 1001, data);
		else
			want_state(&exp, 2, 1);
		want(&exp, BUS1_ENGINE_SEND, 0, seq++, 1, &zero, 4);
	}
	token = 3 + 14;
	/* received up to the last token: the queued one is lent, then the
	 * peer is reported unreadable */
	add_recv_done(&in, seq++, 2, token);
	want_item(&exp, 2, token + 1, BUS1_MESSAGE_TYPE_USER, ID(0), 1001,
		  "w15");
	want_state(&exp, 2, 0);
	process(e, &out, &in, &exp);

	/* releasing the node takes the lent item back first, then the
	 * holder hears NODE_RELEASE, then its route is revoked, discarding,
	 * then the reply */
	in.len = exp.len = 0;
	{
		struct {
			struct bus1_engine_release r;
			uint64_t id;
		} p = { { 0, 1 }, ID(0) };
		add(&in, BUS1_ENGINE_RELEASE, seq, 2, &p, sizeof(p));
	}
	want_retract(&exp, 2, token + 1);
	want_item(&exp, 1, 1, BUS1_MESSAGE_TYPE_NODE_RELEASE, ID(0),
		  BUS1_INVALID, NULL);
	{
		struct bus1_engine_revoke v = { 1, BUS1_ENGINE_REVOKE_DISCARD };
		want(&exp, BUS1_ENGINE_REVOKE, 0, 0, 1, &v, sizeof(v));
	}
	want(&exp, BUS1_ENGINE_RELEASE, 0, seq++, 2, NULL, 0);
	process(e, &out, &in, &exp);
	assert_int_equal(engine_last_seq(e), seq - 1);
	assert_int_equal(engine_counters(e)->items_lent, 19);
	assert_int_equal(engine_counters(e)->items_received, 17);
	assert_int_equal(engine_counters(e)->items_retracted, 1);

	/* releasing a peer reports nothing for it, only for others */
	in.len = exp.len = 0;
	add(&in, BUS1_ENGINE_PEER_RELEASE, seq++, 1, NULL, 0);
	add(&in, BUS1_ENGINE_PEER_RELEASE, seq++, 2, NULL, 0);
	process(e, &out, &in, &exp);

	outbuf_deinit(&out);
	engine_free(e);
}

static void test_idempotent(void **state)
{
	Batch in = {}, exp = {};
	Outbuf out = OUTBUF_NULL;
	uint64_t fp;
	Engine *e;

	(void)state;
	assert_int_equal(engine_new(&e), 0);
	add_peer_new(&in, 10, 1);
	add_create(&in, 11, 1, 1);
	want(&exp, BUS1_ENGINE_PEER_NEW, 0, 10, 1, NULL, 0);
	{
		struct bus1_transfer tr[2] = { { 0, ID(0) }, { 0, ID(1) } };
		want(&exp, BUS1_ENGINE_TRANSFER, 0, 11, 1, tr, sizeof(tr));
	}
	process(e, &out, &in, &exp);
	fp = engine_fingerprint(e);

	/* re-delivered (same or older seq): not applied, answered -EINVAL */
	in.len = exp.len = 0;
	add_create(&in, 11, 1, 1);
	add_peer_new(&in, 10, 1);
	add_send(&in, 5, 1, ID(1), "x");
	add(&in, BUS1_ENGINE_PEER_RELEASE, 9, 1, NULL, 0);
	add_recv_done(&in, 11, 1, 3);
	want(&exp, BUS1_ENGINE_TRANSFER, -EINVAL, 11, 1, NULL, 0);
	want(&exp, BUS1_ENGINE_PEER_NEW, -EINVAL, 10, 1, NULL, 0);
	want(&exp, BUS1_ENGINE_SEND, -EINVAL, 5, 1, NULL, 0);
	process(e, &out, &in, &exp);
	assert_int_equal(engine_fingerprint(e), fp);
	assert_int_equal(engine_last_seq(e), 11);

	/* seqs may skip: only "not above the last" counts */
	in.len = exp.len = 0;
	add_create(&in, 100, 1, 1);
	{
		struct bus1_transfer tr[2] = { { 0, ID(2) }, { 0, ID(3) } };
		want(&exp, BUS1_ENGINE_TRANSFER, 0, 100, 1, tr, sizeof(tr));
	}
	process(e, &out, &in, &exp);
	assert_int_equal(engine_last_seq(e), 100);

	outbuf_deinit(&out);
	engine_free(e);
}

static void test_malformed(void **state)
{
	Batch in = {}, exp = {};
	Outbuf out = OUTBUF_NULL;
	struct bus1_engine_hdr *hdr;
	uint64_t seq = 1, fp;
	Engine *e;

	(void)state;
	assert_int_equal(engine_new(&e), 0);
	add_peer_new(&in, seq++, 1);
	add_create(&in, seq++, 1, 1);
	add_send(&in, seq++, 1, ID(1), "q");
	outbuf_clear(&out);
	assert_int_equal(engine_process(e, in.buf, in.len, &out), 0);
	fp = engine_fingerprint(e);

	in.len = exp.len = 0;
	/* TRANSFER whose n does not match the size */
	{
		struct {
			struct bus1_engine_transfer t;
			struct bus1_transfer src;
		} p = { { 0, 1, 2 }, { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID } };
		add(&in, BUS1_ENGINE_TRANSFER, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_TRANSFER, -EINVAL, seq++, 1, NULL, 0);
		p.t.n = UINT64_MAX / 8;
		add(&in, BUS1_ENGINE_TRANSFER, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_TRANSFER, -EINVAL, seq++, 1, NULL, 0);
		add(&in, BUS1_ENGINE_TRANSFER, seq, 1, &p, 8);
		want(&exp, BUS1_ENGINE_TRANSFER, -EINVAL, seq++, 1, NULL, 0);
	}
	/* RELEASE with too many IDs */
	{
		struct {
			struct bus1_engine_release r;
			uint64_t id;
		} p = { { 0, 2 }, ID(0) };
		add(&in, BUS1_ENGINE_RELEASE, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_RELEASE, -EINVAL, seq++, 1, NULL, 0);
	}
	/* SEND: counts beyond the record, data not padded right, or
	 * nonzero padding */
	{
		struct {
			struct bus1_engine_send s;
			uint64_t dst;
			uint64_t data;
		} p = { { .n_destinations = 1, .n_data = 3 }, ID(1), 0x636261 };
		add(&in, BUS1_ENGINE_SEND, seq, 1, &p, sizeof(p));
		want_item(&exp, 1, 2, BUS1_MESSAGE_TYPE_USER, ID(0), 1001,
			  "abc");
		want(&exp, BUS1_ENGINE_SEND, 0, seq++, 1, (uint32_t[2]){}, 8);
		p.s.n_data = 9;
		add(&in, BUS1_ENGINE_SEND, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_SEND, -EINVAL, seq++, 1, NULL, 0);
		p.s.n_data = 0;
		add(&in, BUS1_ENGINE_SEND, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_SEND, -EINVAL, seq++, 1, NULL, 0);
		p.s.n_data = 2;
		add(&in, BUS1_ENGINE_SEND, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_SEND, -EINVAL, seq++, 1, NULL, 0);
		p.s.n_data = 3;
		p.s.n_destinations = 3;
		add(&in, BUS1_ENGINE_SEND, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_SEND, -EINVAL, seq++, 1, NULL, 0);
		p.s.n_destinations = 0;
		p.s.n_transfers = UINT64_MAX;
		add(&in, BUS1_ENGINE_SEND, seq, 1, &p, sizeof(p));
		want(&exp, BUS1_ENGINE_SEND, -EINVAL, seq++, 1, NULL, 0);
	}
	/* FETCH with a payload, or for an unknown peer */
	add(&in, BUS1_ENGINE_FETCH, seq, 1, "12345678", 8);
	want(&exp, BUS1_ENGINE_FETCH, -EINVAL, seq++, 1, NULL, 0);
	add_fetch(&in, seq, 9);
	want(&exp, BUS1_ENGINE_FETCH, -EINVAL, seq++, 9, NULL, 0);
	/* PEER_NEW of the wrong size */
	add(&in, BUS1_ENGINE_PEER_NEW, seq, 3, NULL, 0);
	want(&exp, BUS1_ENGINE_PEER_NEW, -EINVAL, seq++, 3, NULL, 0);
	/* nonzero header flags, error, reserved */
	add_peer_new(&in, seq, 4);
	hdr = (void *)((uint8_t *)in.buf + in.len - 40);
	hdr->flags = 1;
	want(&exp, BUS1_ENGINE_PEER_NEW, -EINVAL, seq++, 4, NULL, 0);
	add_peer_new(&in, seq, 4);
	hdr = (void *)((uint8_t *)in.buf + in.len - 40);
	hdr->error = -1;
	want(&exp, BUS1_ENGINE_PEER_NEW, -EINVAL, seq++, 4, NULL, 0);
	add_peer_new(&in, seq, 4);
	hdr = (void *)((uint8_t *)in.buf + in.len - 40);
	hdr->reserved = 1;
	want(&exp, BUS1_ENGINE_PEER_NEW, -EINVAL, seq++, 4, NULL, 0);
	/* no seq, not a request type, malformed one-way: skipped */
	add_peer_new(&in, 0, 4);
	{
		struct bus1_engine_peer_state p = { 1, 0 };
		add(&in, BUS1_ENGINE_PEER_STATE, seq++, 1, &p, sizeof(p));
		add(&in, 99, seq++, 1, NULL, 0);
	}
	add(&in, BUS1_ENGINE_RECV_DONE, seq++, 1, (uint64_t[2]){ 2 }, 16);
	add_recv_done(&in, seq, 1, 2);
	hdr = (void *)((uint8_t *)in.buf + in.len - 40);
	hdr->flags = 1;
	++seq;
	add(&in, BUS1_ENGINE_PEER_RELEASE, seq++, 1, "12345678", 8);
	process(e, &out, &in, &exp);
	/* nothing changed except the valid SEND's copy */
	assert_int_not_equal(engine_fingerprint(e), fp);

	/* both items are still lent: commit them now */
	in.len = exp.len = 0;
	add_recv_done(&in, seq++, 1, 2);
	process(e, &out, &in, &exp);
	assert_int_equal(engine_counters(e)->items_received, 2);

	/* an unframed record ends the batch */
	in.len = exp.len = 0;
	add_peer_new(&in, seq, 5);
	want(&exp, BUS1_ENGINE_PEER_NEW, 0, seq++, 5, NULL, 0);
	hdr = (void *)((uint8_t *)in.buf + in.len);
	add_peer_new(&in, seq++, 6);
	hdr->size = 36;
	add_peer_new(&in, seq++, 7);
	process(e, &out, &in, &exp);
	in.len = exp.len = 0;
	add_peer_new(&in, seq++, 6);
	hdr = (void *)in.buf;
	hdr->size = 16;
	process(e, &out, &in, &exp);
	in.len = exp.len = 0;
	add_peer_new(&in, seq++, 6);
	hdr = (void *)in.buf;
	hdr->size = 48;
	process(e, &out, &in, &exp);

	/* misaligned input is refused whole */
	in.len = 0;
	add_peer_new(&in, seq++, 8);
	assert_int_equal(engine_process(e, (uint8_t *)in.buf + 1, in.len - 8, &out), -EINVAL);

	outbuf_deinit(&out);
	engine_free(e);
}

static void test_enomem(void **state)
{
	Batch in = {}, exp = {};
	Outbuf out = OUTBUF_NULL;
	uint64_t fp;
	Engine *e;

	(void)state;
	assert_int_equal(engine_new(&e), 0);
	fp = engine_fingerprint(e);

	/* no room for the output: answered -ENOMEM, not applied */
	add_peer_new(&in, 1, 1);
	want(&exp, BUS1_ENGINE_PEER_NEW, -ENOMEM, 1, 1, NULL, 0);
	t_fail_alloc(0);
	process(e, &out, &in, &exp);
	t_fail_none();
	assert_int_equal(engine_fingerprint(e), fp);

	/* the peer itself cannot be allocated: -ENOMEM */
	in.len = exp.len = 0;
	add_peer_new(&in, 2, 1);
	want(&exp, BUS1_ENGINE_PEER_NEW, -ENOMEM, 2, 1, NULL, 0);
	t_fail_alloc(0);
	process(e, &out, &in, &exp);
	t_fail_none();
	assert_int_equal(engine_fingerprint(e), fp);

	outbuf_deinit(&out);
	engine_free(e);
}

/* Stop after every record: the loop's clock at its most impatient. */
static bool yield_always(void *userdata)
{
	++*(unsigned int *)userdata;
	return true;
}

/*
 * A batch applied in parts (the loop writes the output of a long batch
 * slice by slice) gives the output and the state the whole batch gives.
 */
static void test_parts(void **state)
{
	Outbuf whole = OUTBUF_NULL, parts = OUTBUF_NULL;
	unsigned int yields = 0, calls = 0;
	Batch in = {};
	size_t off = 0, done;
	Engine *a, *b;

	(void)state;
	assert_int_equal(engine_new(&a), 0);
	assert_int_equal(engine_new(&b), 0);
	add_peer_new(&in, 1, 1);
	add_create(&in, 2, 1, 1);
	add_send(&in, 3, 1, ID(1), "one");
	add_send(&in, 4, 1, ID(1), "two");
	add_fetch(&in, 5, 1);

	assert_int_equal(engine_process(a, in.buf, in.len, &whole), 0);
	while (off < in.len) {
		assert_int_equal(engine_process_part(b, (uint8_t *)in.buf + off,
						     in.len - off, &parts,
						     yield_always, &yields,
						     &done), 0);
		assert_true(done > 0);
		off += done;
		++calls;
	}
	assert_int_equal(off, in.len);
	assert_int_equal(calls, 5);
	/* not asked after the last record: nothing is left to stop before */
	assert_int_equal(yields, 4);
	assert_int_equal(parts.len, whole.len);
	assert_memory_equal(parts.data, whole.data, whole.len);
	assert_int_equal(engine_fingerprint(a), engine_fingerprint(b));

	outbuf_deinit(&whole);
	outbuf_deinit(&parts);
	engine_free(a);
	engine_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
