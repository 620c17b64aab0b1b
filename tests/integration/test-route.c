/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Routes (control protocol version 4): after a plain unicast SEND through
 * the engine, the engine grants the sender a route for that handle, and the
 * module then queues later plain sends through it itself (unicasts, and
 * multicasts whose every destination has a route), within a credit,
 * without asking the engine. None of that may be visible to an
 * application: every message arrives exactly once, intact, with the right
 * metadata, in the one total order of the bus; releases, closes and bad
 * input behave as without routes. What tells that the fast path was taken
 * are the module's debugfs counters (/sys/kernel/debug/bus1/engine:
 * "routes", "route_sends") and the engine's stats (route counters, quota
 * charges).
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include "util.h"

/* The engine's stats members for its route counters (daemon/stats.c). */
#define STAT_ROUTES_LIVE "totals.routes_live"
#define STAT_ROUTES_KEPT "totals.routes_kept"
#define STAT_ROUTES_GRANTED "engine.routes_granted"
#define STAT_ROUTES_REVOKED "engine.routes_revoked"
#define STAT_ROUTE_FAILURES "engine.route_failures"

#define FOREIGN_UID 65534
#define BUF_SIZE (64u << 10)
#define REF_MIN (32u << 10) /* BUS1_ENGINE_DATA_REF_MIN */
#define SETTLE_S 2.0

static unsigned char rbuf[BUF_SIZE];
static unsigned char sbuf[BUF_SIZE];

/* ---- counters ---------------------------------------------------------- */

/* The module's debugfs counters (test_debugfs() mounts debugfs). */
static unsigned long long route_sends(void)
{
	return test_debugfs("route_sends");
}

static unsigned long long mod_routes(void)
{
	return test_debugfs("routes");
}

/* The engine's stats member at @path, read now (looked up by name). */
static unsigned long long stat_value(const char *path)
{
	return test_stats_u64(path);
}

struct snap {
	unsigned long long routes;	/* module */
	unsigned long long live;	/* engine: not revoked */
	unsigned long long kept;	/* engine: until ROUTE_DONE */
	unsigned long long credit[2];	/* engine: charged for credits */
	unsigned long long used[4];	/* quota: uid 0 / FOREIGN, objects / bytes */
};

/* The module's routes, then the engine's counters from one document. */
static void snap_take(struct snap *s)
{
	struct json_object *doc;

	s->routes = mod_routes();
	doc = test_stats_json();
	s->live = test_json_u64(doc, STAT_ROUTES_LIVE);
	s->kept = test_json_u64(doc, STAT_ROUTES_KEPT);
	s->credit[0] = test_json_u64(doc, "totals.route_credit_objects");
	s->credit[1] = test_json_u64(doc, "totals.route_credit_bytes");
	s->used[0] = test_json_slot(doc, 0, "objects").used;
	s->used[1] = test_json_slot(doc, 0, "bytes").used;
	s->used[2] = test_json_slot(doc, FOREIGN_UID, "objects").used;
	s->used[3] = test_json_slot(doc, FOREIGN_UID, "bytes").used;
	json_object_put(doc);
}

static bool snap_equal(const struct snap *a, const struct snap *b, bool quota)
{
	return a->routes == b->routes && a->live == b->live &&
	       a->kept == b->kept &&
	       !memcmp(a->credit, b->credit, sizeof(a->credit)) &&
	       (!quota || !memcmp(a->used, b->used, sizeof(a->used)));
}

/*
 * Waits (up to SETTLE_S) until routes, and with @quota the quota charges,
 * are back at @base: closes and RECV_DONE/ROUTE_DONE records reach the
 * engine asynchronously.
 */
static void settle(const struct snap *base, bool quota)
{
	double deadline = test_now() + SETTLE_S;
	struct snap now;

	for (;;) {
		snap_take(&now);
		if (snap_equal(&now, base, quota) || test_now() > deadline)
			break;
		usleep(5000);
	}
	if (!snap_equal(&now, base, quota))
		print_error("not settled: module routes %llu (was %llu), engine routes_live %llu (was %llu), "
			    "routes_kept %llu (was %llu), route_credit %llu/%llu (was %llu/%llu), "
			    "uid 0 objects %llu/%llu bytes %llu/%llu, uid %u objects %llu/%llu bytes %llu/%llu\n",
			    now.routes, base->routes, now.live, base->live,
			    now.kept, base->kept, now.credit[0], now.credit[1],
			    base->credit[0], base->credit[1],
			    now.used[0], base->used[0], now.used[1], base->used[1],
			    FOREIGN_UID, now.used[2], base->used[2], now.used[3],
			    base->used[3]);
	assert_int_equal(now.routes, base->routes);
	assert_int_equal(now.live, base->live);
	assert_int_equal(now.kept, base->kept);
	assert_memory_equal(now.credit, base->credit, sizeof(now.credit));
	if (quota)
		assert_memory_equal(now.used, base->used, sizeof(now.used));
}

/* ---- messages ---------------------------------------------------------- */

/* Payload of message @tag: the tag, then a pattern derived from it. */
static void fill(unsigned char *buf, size_t size, uint64_t tag)
{
	size_t k;

	for (k = 0; k < size; ++k)
		buf[k] = k < sizeof(tag) ? (unsigned char)(tag >> (8 * k)) :
					   (unsigned char)(tag * 131 + k * 7);
}

static bool check(const unsigned char *buf, size_t size, uint64_t tag)
{
	size_t k;

	for (k = 0; k < size; ++k)
		if (buf[k] != (k < sizeof(tag) ? (unsigned char)(tag >> (8 * k)) :
						 (unsigned char)(tag * 131 + k * 7)))
			return false;
	return true;
}

/* The tag a payload starts with (short payloads: the bytes it has). */
static uint64_t tag_of(const unsigned char *buf, size_t size)
{
	uint64_t tag = 0;
	size_t k;

	for (k = 0; k < size && k < sizeof(tag); ++k)
		tag |= (uint64_t)buf[k] << (8 * k);
	return tag;
}

static int send_tag(int fd, uint64_t h, uint64_t tag, size_t size)
{
	assert_true(size <= sizeof(sbuf));
	fill(sbuf, size, tag);
	return test_send(fd, 1, &h, sbuf, size, 0, NULL);
}

static void send_tag_ok(int fd, uint64_t h, uint64_t tag, size_t size)
{
	assert_int_equal(send_tag(fd, h, tag, size), 0);
}

struct rmsg {
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct bus1_transfer transfers[TEST_MAX_TRANSFERS];
};

/* Receive into rbuf, not waiting. */
static int recv_now(int fd, struct rmsg *m)
{
	struct iovec vec = { rbuf, sizeof(rbuf) };

	memset(m, 0, sizeof(*m));
	m->meta = (struct bus1_metadata){ 7, 7, 7 };
	m->msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_transfers = TEST_MAX_TRANSFERS,
		.ptr_transfers = BUS1_FROM_PTR(m->transfers),
		.n_data = sizeof(rbuf),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	return bus1_cmd_recv(fd, &m->meta, &m->msg);
}

/* Receive into rbuf (waiting up to TEST_TIMEOUT_MS for it). */
static int recv_big(int fd, struct rmsg *m)
{
	int r = test_wait(fd, TEST_TIMEOUT_MS);

	return r < 0 ? r : recv_now(fd, m);
}

/* The next item is user message @tag of @size bytes with @n_transfers. */
static void expect_msg_tx(int fd, uint64_t node, uint64_t account,
			  uint64_t tag, size_t size, size_t n_transfers)
{
	struct rmsg m;
	ssize_t i;

	i = recv_big(fd, &m);
	if (i)
		fail_msg("expected message %llu of %zu bytes, recv failed: %s",
			 (unsigned long long)tag, size, strerror(-(int)i));
	if (m.msg.type != BUS1_MESSAGE_TYPE_USER)
		fail_msg("expected message %llu of %zu bytes, got an item of type %llu, id %llu, %llu bytes",
			 (unsigned long long)tag, size,
			 (unsigned long long)m.msg.type,
			 (unsigned long long)m.meta.id,
			 (unsigned long long)m.msg.n_data);
	assert_int_equal(m.meta.flags, 0);
	assert_int_equal(m.meta.id, node);
	assert_int_equal(m.meta.account, account);
	if (m.msg.n_data != size || !check(rbuf, size, tag))
		fail_msg("expected message %llu of %zu bytes, got %llu bytes starting with %llu",
			 (unsigned long long)tag, size,
			 (unsigned long long)m.msg.n_data,
			 (unsigned long long)tag_of(rbuf, m.msg.n_data));
	assert_int_equal(m.msg.n_transfers, n_transfers);
	for (i = 0; i < (ssize_t)n_transfers; ++i) {
		assert_int_equal(m.transfers[i].flags, 0);
		assert_true(m.transfers[i].id & BUS1_MANAGED);
	}
}

static void expect_msg(int fd, uint64_t node, uint64_t tag, size_t size)
{
	expect_msg_tx(fd, node, geteuid(), tag, size, 0);
}

/* Sizes of the stream messages: small, varied, all below REF_MIN. */
static size_t small_size(uint64_t i)
{
	return 8 + (i * 37) % 300;
}

/*
 * Everything queued on @fd, as text: "tag" for user messages ("tag/size"
 * if the size is not small_size(tag)), "N<id>" and "H<id>" for
 * NODE_RELEASE and HANDLE_RELEASE; a "!" after a user message whose id is
 * not @node or whose account is not @account. Each of the first
 * @n_expected items is waited for (up to TEST_TIMEOUT_MS: a notification
 * a close caused reaches the queue asynchronously), then what is there
 * besides is taken.
 */
static const char *dump_queue(int fd, uint64_t node, uint64_t account,
			      uint64_t n_expected)
{
	static char text[1 << 18];
	uint64_t n = 0;
	size_t len = 0;
	struct rmsg m;
	int r;

	text[0] = '\0';
	r = recv_big(fd, &m);
	while (!r && len + 64 < sizeof(text)) {
		if (m.msg.type == BUS1_MESSAGE_TYPE_USER) {
			uint64_t tag = tag_of(rbuf, m.msg.n_data);

			len += snprintf(text + len, sizeof(text) - len, " %llu",
					(unsigned long long)tag);
			if (m.msg.n_data != small_size(tag))
				len += snprintf(text + len, sizeof(text) - len,
						"/%llu",
						(unsigned long long)m.msg.n_data);
			if (m.meta.id != node || m.meta.account != account ||
			    !check(rbuf, m.msg.n_data, tag))
				len += snprintf(text + len, sizeof(text) - len, "!");
		} else {
			len += snprintf(text + len, sizeof(text) - len, " %c%llu",
					m.msg.type == BUS1_MESSAGE_TYPE_NODE_RELEASE ?
						'N' : 'H',
					(unsigned long long)m.meta.id);
		}
		r = ++n < n_expected ? recv_big(fd, &m) : recv_now(fd, &m);
	}
	return text;
}


/* ---- fixtures ---------------------------------------------------------- */

/* A receiver r owning node, a sender s holding the only handle h to it. */
struct fx {
	int s, r;
	uint64_t node, h;
};

static void fx_init(struct fx *f)
{
	f->s = test_peer();
	f->r = test_peer();
	test_node(f->r, f->s, &f->node, &f->h);
}

/*
 * Sends message 0 (through the engine, which grants the route) and then
 * @n more (tags 1..n), which the module must queue itself: route_sends
 * grows by exactly @n.
 */
static void send_stream(int s, uint64_t h, uint64_t n)
{
	unsigned long long before;
	uint64_t i;

	send_tag_ok(s, h, 0, small_size(0));
	before = route_sends();
	for (i = 1; i <= n; ++i)
		send_tag_ok(s, h, i, small_size(i));
	assert_int_equal(route_sends(), before + n);
}

/* Fails showing where @want and @got part (with some context). */
static void fail_diff(const char *what, const char *want, const char *got)
{
	size_t i = 0, from;

	while (want[i] && want[i] == got[i])
		++i;
	from = i > 120 ? i - 120 : 0;
	fail_msg("%s: queue mismatch at offset %zu\n  want: ...%.240s\n  got:  ...%.240s",
		 what, i, want + from, got + from);
}

/*
 * Messages 0..@n of a stream, then (if @type is not BUS1_INVALID) one
 * notification of @type about @id, then nothing: compared as a whole, so
 * a failure shows what arrived.
 */
static void expect_stream_then(int r, uint64_t node, uint64_t account,
			       uint64_t n, uint64_t type, uint64_t id)
{
	static char want[1 << 18];
	const char *got;
	size_t len = 0;
	uint64_t i;

	want[0] = '\0';
	for (i = 0; i <= n; ++i)
		len += snprintf(want + len, sizeof(want) - len, " %llu",
				(unsigned long long)i);
	if (type != BUS1_INVALID)
		snprintf(want + len, sizeof(want) - len, " %c%llu",
			 type == BUS1_MESSAGE_TYPE_NODE_RELEASE ? 'N' : 'H',
			 (unsigned long long)id);
	got = dump_queue(r, node, account,
			 n + 1 + (type != BUS1_INVALID));
	if (strcmp(want, got))
		fail_diff("stream", want, got);
}

/* Messages @from..@to of a stream of the receiver's UID. */
static void expect_stream_tail(int r, uint64_t node, uint64_t from, uint64_t to)
{
	uint64_t i;

	for (i = from; i <= to; ++i)
		expect_msg_tx(r, node, geteuid(), i, small_size(i), 0);
}

static void expect_stream(int r, uint64_t node, uint64_t account, uint64_t n)
{
	uint64_t i;

	for (i = 0; i <= n; ++i)
		expect_msg_tx(r, node, account, i, small_size(i), 0);
}

/* ---- setup ------------------------------------------------------------- */

/*
 * The cases count the credit, so they run bus1d with this one rather than
 * its default; later arguments override it.
 */
#define CREDIT_ARGS "--route-items 256 --route-bytes 256K"

static int engine_restart_with(const char *args)
{
	const char *top = getenv("BUS1_TOP");
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "BUS1D_ARGS='%s' '%s'/scripts/guest-engine.sh restart >/dev/null",
		 args, top ? top : "../..");
	return system(cmd);
}

static int engine_restart(const char *args)
{
	char all[512];

	snprintf(all, sizeof(all), CREDIT_ARGS " %s", args);
	return engine_restart_with(all);
}

static int setup(void **state)
{
	return test_setup_device(state) ?: engine_restart("");
}

/* Leave the engine as guest-integration.sh started it. */
static int teardown(void **state)
{
	(void)state;
	return engine_restart_with("") ? -1 : 0;
}

/* ---- cases ------------------------------------------------------------- */

/*
 * 1. After one send through the engine, the next sends on the handle are
 * queued by the module: route_sends grows by exactly their number, and the
 * receiver gets them all in order with the metadata the engine would give
 * (id = the node, account = the sender's UID), payload intact, errors[0]
 * == 0 (test_send checks). Payload sizes from 0 to REF_MIN - 1 bytes,
 * gathered from several iovecs, and a sender of another UID.
 */
static void test_fast_path(void **state)
{
	static const size_t sizes[] = { 0, 1, 7, 8, 9, 100, 4095, 4096, 4097,
					REF_MIN - 1, 12345, 64 };
	const size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);
	unsigned long long before;
	struct iovec vecs[3];
	struct bus1_message msg;
	int32_t errors[1];
	struct fx f;
	size_t i;
	int s2;

	(void)state;
	fx_init(&f);
	before = route_sends();
	send_stream(f.s, f.h, 100);
	/* the first one went to the engine: no route before it */
	assert_int_equal(route_sends(), before + 100);
	assert_true(mod_routes() >= 1);
	assert_true(stat_value(STAT_ROUTES_LIVE) >= 1);
	expect_stream(f.r, f.node, geteuid(), 100);
	test_expect_empty(f.r);

	/* payload sizes around the edges, one receive after each */
	before = route_sends();
	for (i = 0; i < n_sizes; ++i) {
		send_tag_ok(f.s, f.h, 1000 + i, sizes[i]);
		expect_msg(f.r, f.node, 1000 + i, sizes[i]);
	}
	assert_int_equal(route_sends(), before + n_sizes);

	/* three iovecs holding more than n_data: exactly n_data bytes */
	fill(sbuf, 3000, 2000);
	vecs[0] = (struct iovec){ sbuf, 10 };
	vecs[1] = (struct iovec){ sbuf + 10, 0 };
	vecs[2] = (struct iovec){ sbuf + 10, 5000 };
	msg = (struct bus1_message){
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = 3000,
		.n_data_vecs = 3,
		.ptr_data_vecs = BUS1_FROM_PTR(vecs),
	};
	errors[0] = 0x5a5a;
	before = route_sends();
	assert_int_equal(bus1_cmd_send(f.s, 1, &f.h, errors, &msg), 0);
	assert_int_equal(errors[0], 0);
	assert_int_equal(route_sends(), before + 1);
	expect_msg(f.r, f.node, 2000, 3000);
	test_expect_empty(f.r);

	/* a sender of another UID: account is its UID, not the receiver's */
	s2 = test_peer_as(FOREIGN_UID);
	{
		uint64_t node2, h2;

		test_node(f.r, s2, &node2, &h2);
		send_stream(s2, h2, 20);
		expect_stream(f.r, node2, FOREIGN_UID, 20);
		test_expect_empty(f.r);
	}
	close(s2);
	close(f.s);
	close(f.r);
}

enum { K_PLAIN, K_TRANSFER, K_MULTI, K_BIG, K_REF, K_PLAIN2, K_DOUBLE, K_NOROUTE };

/*
 * 2. Route-able sends (unicasts, multicasts to handles that all have a
 * route: two handles of the node, the same handle twice) interleaved with
 * sends that must go to the engine (a transfer, 40 KiB and exactly REF_MIN
 * payloads, a first send through a second handle, a multicast including a
 * handle without a route): the receiver sees exactly the send order, and
 * none of the engine's sends counts as a route send.
 */
static void test_mixed_order(void **state)
{
	static const int pattern[] = {
		K_PLAIN, K_PLAIN, K_TRANSFER, K_PLAIN, K_MULTI, K_PLAIN,
		K_BIG, K_PLAIN, K_REF, K_PLAIN, K_PLAIN2, K_PLAIN, K_PLAIN2,
		K_DOUBLE, K_PLAIN, K_PLAIN,
	};
	const size_t n_pattern = sizeof(pattern) / sizeof(pattern[0]);
	struct { uint64_t tag; size_t size, n_tx; } exp[256];
	unsigned long long before, fast = 0, n_plain = 0, wrong = 0;
	size_t n_exp = 0, i, round;
	uint64_t h2, h3, dst[2], tag = 0;
	struct fx f;

	(void)state;
	fx_init(&f);
	h2 = test_handle(f.s, f.s, f.h);
	for (round = 0; round < 4; ++round) {
		for (i = 0; i < n_pattern; ++i) {
			size_t size = small_size(tag);
			int k = pattern[i];

			if (k == K_BIG)
				size = 40u << 10;
			else if (k == K_REF)
				size = REF_MIN;
			fill(sbuf, size, tag);
			before = route_sends();
			switch (k) {
			case K_PLAIN:
			case K_BIG:
			case K_REF:
				assert_int_equal(test_send(f.s, 1, &f.h, sbuf, size, 0, NULL), 0);
				break;
			case K_PLAIN2:
				assert_int_equal(test_send(f.s, 1, &h2, sbuf, size, 0, NULL), 0);
				break;
			case K_TRANSFER:
				assert_int_equal(test_send(f.s, 1, &f.h, sbuf, size, 1, &h2), 0);
				break;
			case K_MULTI:
				dst[0] = f.h;
				dst[1] = h2;
				assert_int_equal(test_send(f.s, 2, dst, sbuf, size, 0, NULL), 0);
				break;
			case K_DOUBLE:
				dst[0] = f.h;
				dst[1] = f.h;
				assert_int_equal(test_send(f.s, 2, dst, sbuf, size, 0, NULL), 0);
				break;
			case K_NOROUTE:
				/* a fresh handle, never used alone: no route */
				h3 = test_handle(f.s, f.s, f.h);
				dst[0] = f.h;
				dst[1] = h3;
				assert_int_equal(test_send(f.s, 2, dst, sbuf, size, 0, NULL), 0);
				break;
			}
			if (k == K_PLAIN || k == K_PLAIN2 || k == K_MULTI ||
			    k == K_DOUBLE) {
				fast += route_sends() - before;
				++n_plain;
			} else if (route_sends() != before) {
				print_error("round %zu, send %zu (kind %d) was served by a route\n",
					    round, i, k);
				++wrong;
			}
			assert_true(n_exp + 2 <= sizeof(exp) / sizeof(exp[0]));
			exp[n_exp++] = (typeof(exp[0])){ tag, size, k == K_TRANSFER };
			if (k == K_MULTI || k == K_DOUBLE || k == K_NOROUTE)
				exp[n_exp++] = (typeof(exp[0])){ tag, size, 0 };
			++tag;
		}
	}
	print_message("mixed: %llu of %llu route-able sends went through a route\n",
		      fast, n_plain);
	assert_true(fast > 0);

	for (i = 0; i < n_exp; ++i)
		expect_msg_tx(f.r, f.node, geteuid(), exp[i].tag, exp[i].size,
			      exp[i].n_tx);
	test_expect_empty(f.r);
	if (wrong)
		fail_msg("%llu sends that must go to the engine were served by a route",
			 wrong);
	close(f.s);
	close(f.r);
}

#define N_MC 400

/*
 * 2b. Multicasts to two receivers through routes: each receiver gets its
 * copies in send order, interleaved with unicasts; and two senders
 * multicasting at once to the same two receivers: both receivers see the
 * multicasts in the same order (a multicast is seen atomically).
 */
static void test_multicast_routes(void **state)
{
	static uint64_t seq1[2 * N_MC], seq2[2 * N_MC];
	unsigned long long before;
	uint64_t n1, n2, d[2], t[2], i, next[2] = { 0, 0 };
	int s, r1, r2, s2, k;
	struct rmsg m;
	pid_t pid[2];

	(void)state;
	s = test_peer();
	r1 = test_peer();
	r2 = test_peer();
	test_node(r1, s, &n1, &d[0]);
	test_node(r2, s, &n2, &d[1]);
	send_tag_ok(s, d[0], 0, 8);
	send_tag_ok(s, d[1], 0, 8);
	before = route_sends();
	for (i = 1; i <= 50; ++i) {
		fill(sbuf, small_size(i), i);
		assert_int_equal(test_send(s, 2, d, sbuf, small_size(i), 0, NULL), 0);
		send_tag_ok(s, d[i % 2], 1000 + i, small_size(1000 + i));
	}
	print_message("multicast: %llu of 100 sends through routes\n",
		      route_sends() - before);
	assert_true(route_sends() > before);
	expect_msg(r1, n1, 0, 8);
	expect_msg(r2, n2, 0, 8);
	for (i = 1; i <= 50; ++i) {
		expect_msg(r1, n1, i, small_size(i));
		expect_msg(r2, n2, i, small_size(i));
		expect_msg(i % 2 ? r2 : r1, i % 2 ? n2 : n1, 1000 + i,
			   small_size(1000 + i));
	}
	test_expect_empty(r1);
	test_expect_empty(r2);

	/* two multicasting senders; the first send of each grants routes */
	s2 = test_peer();
	t[0] = test_handle(s, s2, d[0]);
	t[1] = test_handle(s, s2, d[1]);
	for (k = 0; k < 2; ++k) {
		pid[k] = test_fork();
		if (pid[k] == 0) {
			int fd = k ? s2 : s;
			uint64_t *h = k ? t : d;
			bool ok = true;
			uint64_t j;
			int e;

			for (j = 0; ok && j < N_MC; ++j) {
				uint64_t tag = ((uint64_t)(k + 1) << 32) | j;

				fill(sbuf, 16, tag);
				while ((e = test_send(fd, 2, h, sbuf, 16, 0,
						      NULL)) == -EDQUOT)
					usleep(1000);
				ok = e == 0;
			}
			test_child_exit(ok);
		}
	}
	for (k = 0; k < 2; ++k)
		test_join(pid[k]);
	for (i = 0; i < 2 * N_MC; ++i) {
		assert_int_equal(recv_big(r1, &m), 0);
		assert_int_equal(m.msg.n_data, 16);
		seq1[i] = tag_of(rbuf, 16);
		assert_int_equal(recv_big(r2, &m), 0);
		assert_int_equal(m.msg.n_data, 16);
		seq2[i] = tag_of(rbuf, 16);
	}
	test_expect_empty(r1);
	test_expect_empty(r2);
	for (i = 0; i < 2 * N_MC; ++i) {
		k = (seq1[i] >> 32) - 1;
		assert_true(k == 0 || k == 1);
		if ((seq1[i] & 0xffffffffu) != next[k])
			fail_msg("sender %d: message %llu where %llu was due", k,
				 (unsigned long long)(seq1[i] & 0xffffffffu),
				 (unsigned long long)next[k]);
		++next[k];
	}
	for (i = 0; i < 2 * N_MC; ++i)
		if (seq1[i] != seq2[i])
			fail_msg("receivers disagree at %llu: %llx vs %llx",
				 (unsigned long long)i,
				 (unsigned long long)seq1[i],
				 (unsigned long long)seq2[i]);
	close(s);
	close(s2);
	close(r1);
	close(r2);
}

/* Sends @n plain messages @tag.. without receiving; returns route sends. */
static unsigned long long burst(int s, uint64_t h, uint64_t tag, uint64_t n)
{
	unsigned long long before = route_sends();
	uint64_t i;

	for (i = 0; i < n; ++i)
		send_tag_ok(s, h, tag + i, small_size(tag + i));
	return route_sends() - before;
}

static void expect_tags(int r, uint64_t node, uint64_t tag, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; ++i)
		expect_msg(r, node, tag + i, small_size(tag + i));
}

/*
 * 2c. All or none: a multicast one of whose receivers cannot take it from
 * the module (its route lacks credit, or the engine holds unlent items of
 * it) goes to the engine whole; the routes that could have taken it keep
 * all their credit, and the order holds.
 */
static void test_multicast_all_or_none(void **state)
{
	uint64_t n1, n2, a, b, carry, d[2], i;
	unsigned long long before;
	int s, r1, r2, s1;

	(void)state;
	s = test_peer();
	r1 = test_peer();
	r2 = test_peer();
	test_node(r1, s, &n1, &a);
	test_node(r2, s, &n2, &b);
	send_tag_ok(s, a, 0, small_size(0));
	send_tag_ok(s, b, 0, small_size(0));
	expect_msg(r1, n1, 0, small_size(0));
	expect_msg(r2, n2, 0, small_size(0));

	/* [a, a] with one credit left: the engine's */
	assert_int_equal(burst(s, a, 1, 255), 255);
	before = route_sends();
	d[0] = d[1] = a;
	fill(sbuf, small_size(256), 256);
	assert_int_equal(test_send(s, 2, d, sbuf, small_size(256), 0, NULL), 0);
	assert_int_equal(route_sends(), before);
	assert_int_equal(burst(s, a, 257, 1), 1);	/* the last credit */
	assert_int_equal(burst(s, a, 258, 1), 0);	/* none left */
	expect_tags(r1, n1, 1, 255);
	expect_msg(r1, n1, 256, small_size(256));
	expect_tags(r1, n1, 256, 3);
	test_expect_empty(r1);
	/* the whole credit is back */
	assert_int_equal(burst(s, a, 300, 260), 256);
	expect_tags(r1, n1, 300, 260);
	test_expect_empty(r1);

	/* [a, b] while the engine holds unlent items of r2 */
	s1 = test_peer();
	test_node(s1, -1, &i, &carry);
	carry = test_handle(s, s1, b);
	for (i = 0; i < 100; ++i) {
		uint64_t self;

		test_node(s1, -1, NULL, &self);
		fill(sbuf, 16, 1000 + i);
		assert_int_equal(test_send(s1, 1, &carry, sbuf, 16, 1, &self), 0);
	}
	before = route_sends();
	d[0] = a;
	d[1] = b;
	fill(sbuf, small_size(2000), 2000);
	assert_int_equal(test_send(s, 2, d, sbuf, small_size(2000), 0, NULL), 0);
	assert_int_equal(route_sends(), before);
	/* r1 alone is fine again */
	assert_int_equal(burst(s, a, 2001, 5), 5);
	expect_msg(r1, n1, 2000, small_size(2000));
	expect_tags(r1, n1, 2001, 5);
	test_expect_empty(r1);
	for (i = 0; i < 100; ++i)
		expect_msg_tx(r2, n2, geteuid(), 1000 + i, 16, 1);
	expect_msg(r2, n2, 2000, small_size(2000));
	test_expect_empty(r2);
	/* and a's credit is whole */
	assert_int_equal(burst(s, a, 3000, 260), 256);
	expect_tags(r1, n1, 3000, 260);
	test_expect_empty(r1);
	close(s);
	close(s1);
	close(r1);
	close(r2);
}

/*
 * 3. More messages than the credit, none received meanwhile: all succeed,
 * the module serves no more than the credit (256 items, 256 KiB; see
 * CREDIT_ARGS), all arrive in order; once received, the credit is back.
 */
static void test_credit_exhaustion(void **state)
{
	unsigned long long before, d;
	struct fx f;
	uint64_t i;

	(void)state;
	fx_init(&f);

	/* items: 600 small messages */
	before = route_sends();
	for (i = 0; i < 600; ++i)
		send_tag_ok(f.s, f.h, i, 64);
	d = route_sends() - before;
	print_message("items: %llu of 600 sends through the route\n", d);
	assert_true(d >= 1 && d <= 256);
	for (i = 0; i < 600; ++i)
		expect_msg(f.r, f.node, i, 64);
	test_expect_empty(f.r);
	/* all received: the credit is whole again */
	before = route_sends();
	send_tag_ok(f.s, f.h, 600, 64);
	assert_int_equal(route_sends(), before + 1);
	expect_msg(f.r, f.node, 600, 64);
	test_expect_empty(f.r);

	/* bytes: 300 messages of 2000 bytes, 600000 bytes > 256 KiB */
	before = route_sends();
	for (i = 0; i < 300; ++i)
		send_tag_ok(f.s, f.h, 1000 + i, 2000);
	d = route_sends() - before;
	print_message("bytes: %llu of 300 sends of 2000 bytes through the route\n", d);
	assert_true(d >= 1 && d <= (256u << 10) / 2000);
	for (i = 0; i < 300; ++i)
		expect_msg(f.r, f.node, 1000 + i, 2000);
	test_expect_empty(f.r);
	before = route_sends();
	send_tag_ok(f.s, f.h, 2000, 2000);
	assert_int_equal(route_sends(), before + 1);
	expect_msg(f.r, f.node, 2000, 2000);
	test_expect_empty(f.r);

	close(f.s);
	close(f.r);
}

/*
 * 4. The sender releases its handle with route messages queued: they stay
 * queued and arrive, then (last handle) the owner's HANDLE_RELEASE. The
 * route goes away in the module and the engine once drained. With another
 * handle left, no HANDLE_RELEASE, and the other handle keeps working.
 */
static void test_handle_release(void **state)
{
	unsigned long long revoked, granted;
	struct snap base, now;
	uint64_t h2;
	struct fx f;

	(void)state;
	snap_take(&base);
	revoked = stat_value(STAT_ROUTES_REVOKED);
	granted = stat_value(STAT_ROUTES_GRANTED);
	fx_init(&f);
	send_stream(f.s, f.h, 30);
	snap_take(&now);
	assert_int_equal(now.routes, base.routes + 1);
	assert_int_equal(now.live, base.live + 1);
	assert_int_equal(stat_value(STAT_ROUTES_GRANTED), granted + 1);

	assert_int_equal(bus1_cmd_release(f.s, 1, &f.h), 0);
	assert_int_equal(stat_value(STAT_ROUTES_REVOKED), revoked + 1);
	assert_int_equal(send_tag(f.s, f.h, 99, 8), -EBADRQC);
	expect_stream_then(f.r, f.node, geteuid(), 30,
			   BUS1_MESSAGE_TYPE_HANDLE_RELEASE, f.node);
	test_expect_empty(f.r);
	test_expect_empty(f.s);
	settle(&base, false);

	/* a second handle stays: the messages arrive, no HANDLE_RELEASE */
	test_node(f.r, f.s, &f.node, &f.h);
	h2 = test_handle(f.s, f.s, f.h);
	send_stream(f.s, f.h, 30);
	assert_int_equal(bus1_cmd_release(f.s, 1, &f.h), 0);
	expect_stream(f.r, f.node, geteuid(), 30);
	test_expect_empty(f.r);
	/* h2 works, and gets a route of its own */
	send_stream(f.s, h2, 5);
	expect_stream(f.r, f.node, geteuid(), 5);
	test_expect_empty(f.r);
	close(f.s);
	close(f.r);
	settle(&base, true);
}

/*
 * 5. The owner releases the node with route messages queued to it: they
 * are discarded with the engine's (the owner's queue is empty when RELEASE
 * returns; a node released by its owner gives it no HANDLE_RELEASE). The
 * sender gets NODE_RELEASE; a send through the handle before it received
 * that succeeds silently, through the engine, and delivers nothing.
 * Also with part of the messages received first.
 */
static void test_node_release(void **state)
{
	unsigned long long before;
	struct snap base;
	struct fx f;
	int pass;

	(void)state;
	snap_take(&base);
	fx_init(&f);
	for (pass = 0; pass < 2; ++pass) {
		send_stream(f.s, f.h, 30);
		if (pass == 1) {
			uint64_t i;

			for (i = 0; i < 10; ++i)
				expect_msg(f.r, f.node, i, small_size(i));
		}
		assert_int_equal(bus1_cmd_release(f.r, 1, &f.node), 0);
		test_expect_empty(f.r);

		before = route_sends();
		assert_int_equal(send_tag(f.s, f.h, 77, 8), 0);
		assert_int_equal(route_sends(), before);
		test_expect_empty(f.r);
		test_expect_notify(f.s, BUS1_MESSAGE_TYPE_NODE_RELEASE, f.h);
		test_expect_empty(f.s);
		assert_int_equal(send_tag(f.s, f.h, 78, 8), -EBADRQC);
		test_expect_empty(f.r);
		assert_int_equal(route_sends(), before);
		settle(&base, false);
		/* a new node for the next pass */
		test_node(f.r, f.s, &f.node, &f.h);
	}
	close(f.s);
	close(f.r);
	settle(&base, true);
}

/*
 * 6a. The receiver closes with route messages queued: the sender gets
 * NODE_RELEASE, a send before that is silently dropped, routes and quota
 * charges go back to where they were.
 */
static void test_close_receiver(void **state)
{
	unsigned long long before;
	struct snap base;
	struct fx f;

	(void)state;
	snap_take(&base);
	fx_init(&f);
	send_stream(f.s, f.h, 40);
	close(f.r);
	before = route_sends();
	assert_int_equal(send_tag(f.s, f.h, 77, 8), 0);
	assert_int_equal(route_sends(), before);
	test_expect_notify(f.s, BUS1_MESSAGE_TYPE_NODE_RELEASE, f.h);
	test_expect_empty(f.s);
	assert_int_equal(route_sends(), before);
	settle(&base, false);
	close(f.s);
	settle(&base, true);
}

/*
 * 6b. The sender closes with route messages queued: the receiver still gets
 * them all, then HANDLE_RELEASE; routes and charges go back.
 */
static void test_close_sender(void **state)
{
	struct snap base;
	struct fx f;

	(void)state;
	snap_take(&base);
	fx_init(&f);
	send_stream(f.s, f.h, 40);
	close(f.s);
	expect_stream_then(f.r, f.node, geteuid(), 40,
			   BUS1_MESSAGE_TYPE_HANDLE_RELEASE, f.node);
	test_expect_empty(f.r);
	settle(&base, false);
	close(f.r);
	settle(&base, true);

	/* the same with a sender of another UID, charging root's quota */
	f.r = test_peer();
	f.s = test_peer_as(FOREIGN_UID);
	test_node(f.r, f.s, &f.node, &f.h);
	send_stream(f.s, f.h, 40);
	close(f.s);
	expect_stream_then(f.r, f.node, FOREIGN_UID, 40,
			   BUS1_MESSAGE_TYPE_HANDLE_RELEASE, f.node);
	test_expect_empty(f.r);
	close(f.r);
	settle(&base, true);
}

/*
 * 7. Bad input on a handle that has a route fails as without it, and
 * changes nothing: no route send counted, nothing queued, errors[] not
 * written. The route still works afterwards.
 */
static void test_bad_inputs(void **state)
{
	struct bus1_transfer tx = { 1, 0 };
	struct bus1_message msg;
	unsigned long long before;
	struct iovec vec, bad_vec;
	uint64_t dst[2], bad_id, h0;
	int32_t errors[2];
	void *bad = test_bad_ptr();
	int step, pass, got[32] = { 0 };
	struct fx f;

	(void)state;
	fx_init(&f);
	send_stream(f.s, f.h, 1);
	expect_stream(f.r, f.node, geteuid(), 1);
	test_expect_empty(f.r);
	bad_id = (f.h + 200) | BUS1_MANAGED;
	/* a handle without a route: the same input must fail the same way */
	h0 = test_handle(f.s, f.s, f.h);
	before = route_sends();

	for (pass = 0; pass < 2; ++pass)
	for (step = 0; step < 21; ++step) {
		uint64_t use = pass ? h0 : f.h;
		int want, r;

		fill(sbuf, 100, 5000 + step);
		vec = (struct iovec){ sbuf, 100 };
		msg = (struct bus1_message){
			.type = BUS1_MESSAGE_TYPE_USER,
			.n_data = 100,
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};
		dst[0] = use;
		dst[1] = use;
		errors[0] = errors[1] = 0x5a5a;
		switch (step) {
		case 0:
			r = test_raw_send(f.s, 1, 1, dst, errors, &msg);
			want = -EINVAL;
			break;
		case 1:
			r = test_raw_send(f.s, 1ULL << 63, 1, dst, errors, &msg);
			want = -EINVAL;
			break;
		case 2:
			msg.flags = 1;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EINVAL;
			break;
		case 3:
			msg.type = BUS1_MESSAGE_TYPE_NODE_RELEASE;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EINVAL;
			break;
		case 4:
			msg.type = 77;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EINVAL;
			break;
		case 5:
			dst[0] = bad_id;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EBADRQC;
			break;
		case 6:
			dst[0] = f.h ^ BUS1_MANAGED; /* not a managed ID */
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EBADRQC;
			break;
		case 7:
			dst[1] = bad_id;
			r = test_raw_send(f.s, 0, 2, dst, errors, &msg);
			want = -EBADRQC;
			break;
		case 8:
			r = test_raw_send(f.s, 0, 1, dst, bad, &msg);
			want = -EFAULT;
			break;
		case 9:
			r = test_raw_send(f.s, 0, 1, dst, NULL, &msg);
			want = -EFAULT;
			break;
		case 10:
			r = test_raw_send(f.s, 0, 1, bad, errors, &msg);
			want = -EFAULT;
			break;
		case 11:
			r = test_raw_send(f.s, 0, 1, dst, errors, bad);
			want = -EFAULT;
			break;
		case 12:
			msg.ptr_data_vecs = BUS1_FROM_PTR(bad);
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EFAULT;
			break;
		case 13:
			bad_vec = (struct iovec){ bad, 100 };
			msg.ptr_data_vecs = BUS1_FROM_PTR(&bad_vec);
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EFAULT;
			break;
		case 14:
			vec.iov_len = 99;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EMSGSIZE;
			break;
		case 15:
			r = test_raw_ioctl(f.s, BUS1_CMD_SEND, bad);
			want = -EFAULT;
			break;
		case 18:
			/* more iovecs than the kernel takes */
			msg.n_data_vecs = 1025;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = 0; /* whatever it is, the same on both paths */
			break;
		case 19:
			/* more than max_data, iovec too short anyway */
			msg.n_data = test_param("max_data") + 1;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EMSGSIZE;
			break;
		case 20:
			/* more destinations than max_items */
			r = test_raw_send(f.s, 0, test_param("max_items") + 1,
					  dst, errors, &msg);
			want = 0;
			break;
		case 16:
			msg.n_data_vecs = 0;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EMSGSIZE;
			break;
		default:
			msg.n_transfers = 1;
			msg.ptr_transfers = BUS1_FROM_PTR(&tx);
			tx.id = f.h;
			r = test_raw_send(f.s, 0, 1, dst, errors, &msg);
			want = -EINVAL;
			break;
		}
		if (!want && !pass && r < 0)
			got[step] = r;
		else if (!want && pass)
			want = got[step];
		if (want && r != want)
			fail_msg("%s, step %d: got %d (%s), want %d (%s)",
				 pass ? "no route" : "route", step, r,
				 strerror(-r), want, strerror(-want));
		if (!want && r >= 0)
			fail_msg("step %d: succeeded", step);
		if (errors[0] != 0x5a5a || errors[1] != 0x5a5a)
			fail_msg("step %d: errors[] written on failure", step);
		if (route_sends() != before)
			fail_msg("step %d: counted as a route send", step);
		test_expect_empty(f.r);
	}

	/* a no-op: no destinations */
	vec = (struct iovec){ sbuf, 100 };
	msg = (struct bus1_message){
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = 100,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	assert_int_equal(test_raw_send(f.s, 0, 0, dst, errors, &msg), 0);
	assert_int_equal(route_sends(), before);
	test_expect_empty(f.r);

	/* the route still works */
	send_tag_ok(f.s, f.h, 6000, 100);
	assert_int_equal(route_sends(), before + 1);
	expect_msg(f.r, f.node, 6000, 100);
	test_expect_empty(f.r);
	close(f.s);
	close(f.r);
}

#define N_SENDERS 4
#define N_PER_SENDER 1500

/*
 * 8. Four sender processes stream through their own handles to one node
 * while the receiver drains: every message arrives once, each sender's in
 * its order.
 */
static void test_concurrent(void **state)
{
	uint64_t node, own, h[N_SENDERS], next[N_SENDERS] = { 0 };
	unsigned long long before, total = 0;
	pid_t pid[N_SENDERS];
	int r, s[N_SENDERS], i;
	double t0;

	(void)state;
	r = test_peer();
	test_node(r, -1, &node, &own);
	for (i = 0; i < N_SENDERS; ++i) {
		s[i] = test_peer();
		h[i] = test_handle(r, s[i], own);
	}
	before = route_sends();
	t0 = test_now();
	for (i = 0; i < N_SENDERS; ++i) {
		pid[i] = test_fork();
		if (pid[i] == 0) {
			bool ok = true;
			uint64_t k;
			int e;

			for (k = 0; ok && k < N_PER_SENDER; ++k) {
				uint64_t tag = ((uint64_t)i << 32) | k;

				fill(sbuf, small_size(k), tag);
				while ((e = test_send(s[i], 1, &h[i], sbuf,
						      small_size(k), 0, NULL)) == -EDQUOT)
					usleep(1000);
				ok = e == 0;
			}
			test_child_exit(ok);
		}
	}
	for (i = 0; i < N_SENDERS; ++i)
		close(s[i]);

	while (total < N_SENDERS * N_PER_SENDER) {
		struct rmsg m;
		uint64_t tag, k;
		int who;

		assert_int_equal(recv_big(r, &m), 0);
		assert_int_equal(m.msg.type, BUS1_MESSAGE_TYPE_USER);
		assert_int_equal(m.meta.id, node);
		assert_int_equal(m.meta.account, geteuid());
		tag = tag_of(rbuf, m.msg.n_data);
		who = tag >> 32;
		k = tag & 0xffffffffu;
		assert_true(who >= 0 && who < N_SENDERS);
		if (k != next[who])
			fail_msg("sender %d: got message %llu, expected %llu", who,
				 (unsigned long long)k,
				 (unsigned long long)next[who]);
		assert_int_equal(m.msg.n_data, small_size(k));
		assert_true(check(rbuf, m.msg.n_data, tag));
		++next[who];
		++total;
	}
	for (i = 0; i < N_SENDERS; ++i)
		test_join(pid[i]);
	for (i = 0; i < N_SENDERS; ++i)
		assert_int_equal(next[i], N_PER_SENDER);
	print_message("concurrent: %d messages in %.2f s, %llu through routes\n",
		      N_SENDERS * N_PER_SENDER, test_now() - t0,
		      route_sends() - before);
	assert_true(route_sends() > before);
	/* the senders closed, but r still holds a handle: no HANDLE_RELEASE */
	test_expect_empty(r);
	close(r);
}

/*
 * 9. A handle to the peer's own node gets a route too; a send-receive
 * ping-pong stays on the route, the credit coming back with every RECV.
 */
static void test_self_send(void **state)
{
	unsigned long long before;
	struct snap base;
	uint64_t node, h, i;
	int p;

	(void)state;
	snap_take(&base);
	p = test_peer();
	test_node(p, -1, &node, &h);
	send_stream(p, h, 50);
	expect_stream(p, node, geteuid(), 50);
	test_expect_empty(p);

	before = route_sends();
	for (i = 0; i < 1000; ++i) {
		send_tag_ok(p, h, 100 + i, small_size(i));
		expect_msg(p, node, 100 + i, small_size(i));
	}
	assert_int_equal(route_sends(), before + 1000);
	test_expect_empty(p);

	/* releasing the node discards the peer's own route messages */
	send_tag_ok(p, h, 5000, 8);
	send_tag_ok(p, h, 5001, 8);
	assert_int_equal(bus1_cmd_release(p, 1, &node), 0);
	test_expect_notify(p, BUS1_MESSAGE_TYPE_NODE_RELEASE, h);
	test_expect_empty(p);
	close(p);
	settle(&base, true);
}

/*
 * After every case: close the peers a failed case left open (a cmocka
 * failure skips its close() calls), and wait until their routes are gone,
 * so that the next case starts from a quiet bus. Routes that outlive
 * every peer are a leak, which fails the case.
 */
static int cleanup(void **state)
{
	unsigned long long routes, kept;
	char path[64], target[64];
	double deadline;
	ssize_t n;
	int fd;

	(void)state;
	for (fd = 3; fd < 1024; ++fd) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, "/dev/bus1"))
			close(fd);
	}
	deadline = test_now() + SETTLE_S;
	while ((mod_routes() || stat_value(STAT_ROUTES_KEPT)) &&
	       test_now() < deadline)
		usleep(5000);
	routes = mod_routes();
	kept = stat_value(STAT_ROUTES_KEPT);
	if (!routes && !kept)
		return 0;
	print_error("route leak: %llu routes in the module, %llu kept by the engine, %.1f s after every peer closed\n",
		    routes, kept, SETTLE_S);
	return -1;
}

/*
 * 11. Causal order with the engine's queue in the way: a sender fills the
 * receiver's queue through the engine beyond what the module may hold lent
 * (transfers, so never through a route), then returns; another sender,
 * whose route has credit, sends: its message must come after all of them.
 */
static void test_causal_behind_engine(void **state)
{
	uint64_t node, own, h1, h2, i, carry;
	struct fx f;
	int s1;

	(void)state;
	fx_init(&f);
	s1 = test_peer();
	test_node(f.r, -1, &node, &own);
	h1 = test_handle(f.r, s1, own);
	h2 = test_handle(f.r, f.s, own);
	carry = test_handle(s1, s1, h1);
	/* f.s gets its route, and the receiver drains */
	send_tag_ok(f.s, h2, 0, 8);
	send_tag_ok(f.s, h2, 1, 8);
	expect_msg(f.r, node, 0, 8);
	expect_msg(f.r, node, 1, 8);
	test_expect_empty(f.r);

	for (i = 0; i < 100; ++i) {
		fill(sbuf, 16, 100 + i);
		assert_int_equal(test_send(s1, 1, &h1, sbuf, 16, 1, &carry), 0);
	}
	send_tag_ok(f.s, h2, 1000, 16);
	for (i = 0; i < 100; ++i)
		expect_msg_tx(f.r, node, geteuid(), 100 + i, 16, 1);
	expect_msg(f.r, node, 1000, 16);
	test_expect_empty(f.r);
	close(s1);
	close(f.s);
	close(f.r);
}

/*
 * 12. A route message that does not fit the receiver's buffer, or whose
 * copy-out faults, stays at the head of the queue; a correct RECV then
 * gets it, and the rest follow in order.
 */
static void test_recv_failures(void **state)
{
	struct iovec vec = { rbuf, 1 };
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct fx f;

	(void)state;
	fx_init(&f);
	send_stream(f.s, f.h, 5);
	expect_msg(f.r, f.node, 0, small_size(0));
	/* message 1 is the module's own */
	msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_data = 1,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EMSGSIZE);
	assert_int_equal(msg.n_data, small_size(1));
	assert_int_equal(msg.n_transfers, 0);
	vec = (struct iovec){ test_bad_ptr(), sizeof(rbuf) };
	msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_data = sizeof(rbuf),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EFAULT);
	assert_int_equal(bus1_cmd_recv(f.r, test_bad_ptr(), &msg), -EFAULT);
	expect_stream_tail(f.r, f.node, 1, 5);
	test_expect_empty(f.r);
	close(f.s);
	close(f.r);
}

/*
 * 13. The engine goes away with route messages queued: the peers are dead
 * (ENOTCONN), the module drops the routes; under a new engine, routes work
 * again.
 */
static void test_engine_gone(void **state)
{
	struct test_item item;
	double deadline;
	struct fx f;

	(void)state;
	fx_init(&f);
	send_stream(f.s, f.h, 20);
	assert_true(mod_routes() >= 1);
	assert_int_equal(engine_restart(""), 0);
	assert_int_equal(test_recv(f.r, &item), -ENOTCONN);
	assert_int_equal(send_tag(f.s, f.h, 99, 8), -ENOTCONN);
	deadline = test_now() + SETTLE_S;
	while (mod_routes() && test_now() < deadline)
		usleep(5000);
	assert_int_equal(mod_routes(), 0);
	close(f.s);
	close(f.r);

	fx_init(&f);
	send_stream(f.s, f.h, 20);
	expect_stream(f.r, f.node, geteuid(), 20);
	test_expect_empty(f.r);
	close(f.s);
	close(f.r);
}

/* ---- races -------------------------------------------------------------- */

struct race {
	int s, r;
	uint64_t h, node;
	atomic_ulong n_sent;		/* sends that returned 0 */
	atomic_ulong n_recv;
	atomic_bool stop;
	atomic_bool released;		/* set once RELEASE returned */
	int err;			/* first unexpected errno, or 0 */
	unsigned long bad;		/* wrong items seen */
	unsigned long max;
};

/* Sends tags 0.. through r->h until EBADRQC, r->stop or r->max. */
static void *race_sender(void *arg)
{
	struct race *r = arg;
	unsigned char buf[512];
	unsigned long k;
	int e;

	for (k = 0; k < r->max && !atomic_load(&r->stop); ++k) {
		fill(buf, small_size(k), k);
		e = test_send(r->s, 1, &r->h, buf, small_size(k), 0, NULL);
		if (e == -EBADRQC)
			break;
		if (e) {
			r->err = e;
			break;
		}
		atomic_store(&r->n_sent, k + 1);
	}
	return NULL;
}

/*
 * 14. The sender releases its handle while another of its threads streams
 * through it: every send that returned 0 is delivered, in order, before
 * the HANDLE_RELEASE; every send after the RELEASE fails with EBADRQC.
 */
static void test_race_handle_release(void **state)
{
	static char want[1 << 18], got[1 << 18];
	unsigned long k, n;
	struct snap base;
	struct race rc = { .max = 100000 };
	pthread_t th;
	struct fx f;
	size_t len;
	int round;

	(void)state;
	snap_take(&base);
	for (round = 0; round < 5; ++round) {
		fx_init(&f);
		rc.s = f.s;
		rc.h = f.h;
		atomic_store(&rc.n_sent, 0);
		assert_int_equal(pthread_create(&th, NULL, race_sender, &rc), 0);
		while (atomic_load(&rc.n_sent) < 20u + 37u * round)
			sched_yield();
		assert_int_equal(bus1_cmd_release(f.s, 1, &f.h), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(rc.err, 0);
		n = atomic_load(&rc.n_sent);
		/* compare as text: a failure shows what arrived */
		len = 0;
		for (k = 0; k < n && len + 32 < sizeof(want); ++k)
			len += snprintf(want + len, sizeof(want) - len, " %lu", k);
		snprintf(want + len, sizeof(want) - len, " H%llu",
			 (unsigned long long)f.node);
		snprintf(got, sizeof(got), "%s",
			 dump_queue(f.r, f.node, geteuid(), n + 1));
		if (strcmp(want, got)) {
			print_error("round %d: %lu sends succeeded\n", round, n);
			fail_diff("handle release race", want, got);
		}
		test_expect_empty(f.r);
		close(f.s);
		close(f.r);
	}
	settle(&base, true);
}

/*
 * 15. The receiver closes while the sender streams: every send succeeds
 * (the sender has not received its NODE_RELEASE), the sender then gets
 * NODE_RELEASE, and routes and charges return to where they were.
 */
static void test_race_receiver_close(void **state)
{
	struct race rc = { .max = 3000 };
	struct snap base;
	pthread_t th;
	struct fx f;
	int round;

	(void)state;
	snap_take(&base);
	for (round = 0; round < 5; ++round) {
		fx_init(&f);
		rc.s = f.s;
		rc.h = f.h;
		atomic_store(&rc.n_sent, 0);
		assert_int_equal(pthread_create(&th, NULL, race_sender, &rc), 0);
		while (atomic_load(&rc.n_sent) < 10u + 50u * round)
			sched_yield();
		close(f.r);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(rc.err, 0);
		assert_int_equal(atomic_load(&rc.n_sent), rc.max);
		test_expect_notify(f.s, BUS1_MESSAGE_TYPE_NODE_RELEASE, f.h);
		test_expect_empty(f.s);
		close(f.s);
	}
	settle(&base, true);
}

/* Receives on r->r until r->stop and empty; checks what comes after release. */
static void *race_receiver(void *arg)
{
	struct race *r = arg;
	struct iovec vec;
	struct bus1_metadata meta;
	struct bus1_message msg;
	unsigned char *buf = malloc(BUF_SIZE);
	bool after;
	int e;

	if (!buf) {
		r->err = -ENOMEM;
		return NULL;
	}
	for (;;) {
		after = atomic_load(&r->released);
		vec = (struct iovec){ buf, BUF_SIZE };
		msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_data = BUF_SIZE,
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};
		e = bus1_cmd_recv(r->r, &meta, &msg);
		if (e == -EAGAIN) {
			if (atomic_load(&r->stop))
				break;
			test_wait(r->r, 10);
			continue;
		}
		if (e) {
			r->err = e;
			break;
		}
		/* a RECV begun after RELEASE returned gets none of the node's */
		if (after && msg.type == BUS1_MESSAGE_TYPE_USER &&
		    meta.id == r->node)
			++r->bad;
		/* and before it, the stream in order */
		if (msg.type == BUS1_MESSAGE_TYPE_USER &&
		    tag_of(buf, msg.n_data) != atomic_load(&r->n_recv))
			++r->bad;
		if (msg.type == BUS1_MESSAGE_TYPE_USER)
			atomic_fetch_add(&r->n_recv, 1);
		else
			++r->bad; /* no notification is due */
	}
	free(buf);
	return NULL;
}

/*
 * 16. The owner releases the node while one of its threads receives and a
 * sender streams: no RECV begun after the RELEASE returned yields a
 * message of the node, the messages before it arrive in order, the sender
 * gets NODE_RELEASE and its later sends succeed silently.
 */
static void test_race_node_release(void **state)
{
	struct race rr = { 0 }, rs = { .max = 4000 };
	pthread_t ts, tr;
	struct snap base;
	struct fx f;
	int round;

	(void)state;
	snap_take(&base);
	for (round = 0; round < 5; ++round) {
		fx_init(&f);
		rr = (struct race){ .r = f.r, .node = f.node };
		rs.s = f.s;
		rs.h = f.h;
		rs.err = 0;
		atomic_store(&rs.n_sent, 0);
		atomic_store(&rs.stop, false);
		assert_int_equal(pthread_create(&tr, NULL, race_receiver, &rr), 0);
		assert_int_equal(pthread_create(&ts, NULL, race_sender, &rs), 0);
		while (atomic_load(&rr.n_recv) < 20u + 40u * round &&
		       atomic_load(&rs.n_sent) < rs.max)
			sched_yield();
		assert_int_equal(bus1_cmd_release(f.r, 1, &f.node), 0);
		atomic_store(&rr.released, true);
		assert_int_equal(pthread_join(ts, NULL), 0);
		atomic_store(&rr.stop, true);
		assert_int_equal(pthread_join(tr, NULL), 0);
		assert_int_equal(rs.err, 0);
		assert_int_equal(rr.err, 0);
		assert_int_equal(rr.bad, 0);
		print_message("round %d: %lu sent, %lu received\n", round,
			      (unsigned long)atomic_load(&rs.n_sent),
			      (unsigned long)atomic_load(&rr.n_recv));
		test_expect_empty(f.r);
		test_expect_notify(f.s, BUS1_MESSAGE_TYPE_NODE_RELEASE, f.h);
		test_expect_empty(f.s);
		close(f.s);
		close(f.r);
	}
	settle(&base, true);
}

struct closer {
	int fd;
	unsigned int spin;
};

static void *close_after(void *arg)
{
	struct closer *c = arg;
	volatile unsigned int i;

	for (i = 0; i < c->spin; ++i)
		;
	close(c->fd);
	return NULL;
}

/*
 * 17. The receiver closes while the first sends through a handle are under
 * way, so the engine's ROUTE may cross the receiver's PEER_RELEASE: every
 * send succeeds, the sender gets NODE_RELEASE, and every route ends.
 */
static void test_race_grant_close(void **state)
{
	struct snap base;
	struct closer c;
	pthread_t th;
	struct fx f;
	int round, k;

	(void)state;
	snap_take(&base);
	for (round = 0; round < 60; ++round) {
		fx_init(&f);
		c = (struct closer){ f.r, (round % 12) * 20000 };
		assert_int_equal(pthread_create(&th, NULL, close_after, &c), 0);
		for (k = 0; k < 6; ++k)
			assert_int_equal(send_tag(f.s, f.h, k, 16), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		test_expect_notify(f.s, BUS1_MESSAGE_TYPE_NODE_RELEASE, f.h);
		test_expect_empty(f.s);
		close(f.s);
	}
	settle(&base, true);
}

#define N_HANDLES 300

/*
 * 18. Many routes at once: one per handle, N_HANDLES handles of one sender
 * to one node; each carries its own stream; all go when the sender closes.
 */
static void test_many_routes(void **state)
{
	static uint64_t h[N_HANDLES];
	unsigned long long before;
	struct snap base;
	uint64_t own, i;
	struct fx f;

	(void)state;
	snap_take(&base);
	fx_init(&f);
	own = f.h;
	for (i = 0; i < N_HANDLES; ++i)
		h[i] = test_handle(f.s, f.s, own);
	for (i = 0; i < N_HANDLES; ++i)
		send_tag_ok(f.s, h[i], i, 16);
	assert_int_equal(mod_routes(), base.routes + N_HANDLES);
	assert_int_equal(stat_value(STAT_ROUTES_LIVE), base.live + N_HANDLES);
	before = route_sends();
	for (i = 0; i < N_HANDLES; ++i)
		send_tag_ok(f.s, h[i], 1000 + i, 16);
	print_message("many: %llu of %d second sends through routes\n",
		      route_sends() - before, N_HANDLES);
	for (i = 0; i < N_HANDLES; ++i)
		expect_msg(f.r, f.node, i, 16);
	for (i = 0; i < N_HANDLES; ++i)
		expect_msg(f.r, f.node, 1000 + i, 16);
	test_expect_empty(f.r);
	/* the third round: all through routes, credit came back */
	before = route_sends();
	for (i = 0; i < N_HANDLES; ++i)
		send_tag_ok(f.s, h[i], 2000 + i, 16);
	assert_int_equal(route_sends(), before + N_HANDLES);
	close(f.s);
	for (i = 0; i < N_HANDLES; ++i)
		expect_msg(f.r, f.node, 2000 + i, 16);
	test_expect_notify(f.r, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, f.node);
	test_expect_empty(f.r);
	close(f.r);
	settle(&base, true);
}

#define FLOOD_UID FOREIGN_UID
#define THIRD_UID 65533

/*
 * 19. Small quotas: a foreign sender floods a receiver that does not read
 * until EDQUOT (its route's credit counts against it, as queued messages
 * would); a third UID still gets its messages through; everything
 * arrives in order once the receiver drains; every charge comes back.
 */
static void test_quota_flood(void **state)
{
	uint64_t node1, node2, h1, h2, k, n;
	struct snap base;
	int r, f1, t, e = 0;

	(void)state;
	assert_int_equal(engine_restart("--max-bytes 2M --max-objects 4096"), 0);
	snap_take(&base);
	r = test_peer();
	f1 = test_peer_as(FLOOD_UID);
	t = test_peer_as(THIRD_UID);
	test_node(r, f1, &node1, &h1);
	test_node(r, t, &node2, &h2);
	for (n = 0; n < 100000; ++n) {
		e = send_tag(f1, h1, n, 1000);
		if (e)
			break;
	}
	assert_int_equal(e, -EDQUOT);
	print_message("flooder: %llu messages of 1000 bytes before EDQUOT; routes granted %llu, route_failures %llu\n",
		      (unsigned long long)n, stat_value(STAT_ROUTES_GRANTED),
		      stat_value(STAT_ROUTE_FAILURES));
	assert_true(n > 0);
	/* the third UID: a first send, and a few more */
	for (k = 0; k < 5; ++k)
		send_tag_ok(t, h2, 100000 + k, 100);
	for (k = 0; k < n; ++k)
		expect_msg_tx(r, node1, FLOOD_UID, k, 1000, 0);
	for (k = 0; k < 5; ++k)
		expect_msg_tx(r, node2, THIRD_UID, 100000 + k, 100, 0);
	test_expect_empty(r);
	/* drained: the flooder can send again */
	send_tag_ok(f1, h1, n, 1000);
	expect_msg_tx(r, node1, FLOOD_UID, n, 1000, 0);
	close(f1);
	close(t);
	close(r);
	settle(&base, true);
}

/* Streams through r->h until an error; 0 then only ENOTCONN is right. */
static void *gone_sender(void *arg)
{
	struct race *r = arg;
	unsigned char buf[64];
	unsigned long k;
	int e;

	for (k = 0; k < r->max; ++k) {
		fill(buf, 16, k);
		e = test_send(r->s, 1, &r->h, buf, 16, 0, NULL);
		if (e) {
			r->err = e;
			break;
		}
		atomic_store(&r->n_sent, k + 1);
	}
	return NULL;
}

/*
 * 20. The engine goes away while a sender streams through its route and
 * the receiver drains in a thread: sends succeed until they fail with
 * ENOTCONN, and so does RECV; what the receiver got is the stream's
 * beginning, in order; the module drops every route; under the next
 * engine routes work.
 */
static void test_engine_gone_streaming(void **state)
{
	struct race rc = { .max = 1000000 }, rr = { 0 };
	pthread_t th, tr;
	struct fx f;
	double deadline;

	(void)state;
	fx_init(&f);
	rc.s = f.s;
	rc.h = f.h;
	rr.r = f.r;
	rr.node = f.node;
	assert_int_equal(pthread_create(&tr, NULL, race_receiver, &rr), 0);
	assert_int_equal(pthread_create(&th, NULL, gone_sender, &rc), 0);
	while (atomic_load(&rc.n_sent) < 500)
		sched_yield();
	assert_int_equal(engine_restart(""), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	atomic_store(&rr.stop, true);
	assert_int_equal(pthread_join(tr, NULL), 0);
	assert_int_equal(rc.err, -ENOTCONN);
	assert_int_equal(rr.err, -ENOTCONN);
	assert_int_equal(rr.bad, 0);
	assert_true(atomic_load(&rr.n_recv) <= atomic_load(&rc.n_sent));
	print_message("engine gone after %lu sends, %lu received\n",
		      (unsigned long)atomic_load(&rc.n_sent),
		      (unsigned long)atomic_load(&rr.n_recv));
	deadline = test_now() + SETTLE_S;
	while (mod_routes() && test_now() < deadline)
		usleep(5000);
	assert_int_equal(mod_routes(), 0);
	close(f.s);
	close(f.r);

	fx_init(&f);
	send_stream(f.s, f.h, 20);
	expect_stream(f.r, f.node, geteuid(), 20);
	test_expect_empty(f.r);
	close(f.s);
	close(f.r);
}

static int restore_engine(void **state)
{
	int r = cleanup(state);

	return engine_restart("") || r ? -1 : 0;
}

/*
 * 10. The engine's options: a credit of 4 items, of 1000 bytes, and routes
 * disabled (0); the messages arrive in order every time.
 */
static void test_engine_options(void **state)
{
	static const struct { const char *args; unsigned long long want; size_t size; } cfg[] = {
		{ "--route-items 4", 4, 64 },
		{ "--route-bytes 1000", 3, 300 },
		{ "--route-items 0", 0, 64 },
		{ "--route-bytes 0", 0, 64 },
	};
	unsigned long long before;
	struct fx f;
	size_t c;
	uint64_t i;

	(void)state;
	for (c = 0; c < sizeof(cfg) / sizeof(cfg[0]); ++c) {
		assert_int_equal(engine_restart(cfg[c].args), 0);
		fx_init(&f);
		send_tag_ok(f.s, f.h, 0, cfg[c].size);
		before = route_sends();
		for (i = 1; i <= 20; ++i)
			send_tag_ok(f.s, f.h, i, cfg[c].size);
		if (route_sends() - before != cfg[c].want)
			fail_msg("%s: %llu route sends, want %llu", cfg[c].args,
				 route_sends() - before, cfg[c].want);
		for (i = 0; i <= 20; ++i)
			expect_msg(f.r, f.node, i, cfg[c].size);
		test_expect_empty(f.r);
		close(f.s);
		close(f.r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fast_path, cleanup),
		cmocka_unit_test_teardown(test_mixed_order, cleanup),
		cmocka_unit_test_teardown(test_multicast_routes, cleanup),
		cmocka_unit_test_teardown(test_multicast_all_or_none, cleanup),
		cmocka_unit_test_teardown(test_credit_exhaustion, cleanup),
		cmocka_unit_test_teardown(test_handle_release, cleanup),
		cmocka_unit_test_teardown(test_node_release, cleanup),
		cmocka_unit_test_teardown(test_close_receiver, cleanup),
		cmocka_unit_test_teardown(test_close_sender, cleanup),
		cmocka_unit_test_teardown(test_bad_inputs, cleanup),
		cmocka_unit_test_teardown(test_concurrent, cleanup),
		cmocka_unit_test_teardown(test_self_send, cleanup),
		cmocka_unit_test_teardown(test_causal_behind_engine, cleanup),
		cmocka_unit_test_teardown(test_recv_failures, cleanup),
		cmocka_unit_test_teardown(test_engine_gone, cleanup),
		cmocka_unit_test_teardown(test_engine_gone_streaming, cleanup),
		cmocka_unit_test_teardown(test_race_handle_release, cleanup),
		cmocka_unit_test_teardown(test_race_receiver_close, cleanup),
		cmocka_unit_test_teardown(test_race_node_release, cleanup),
		cmocka_unit_test_teardown(test_race_grant_close, cleanup),
		cmocka_unit_test_teardown(test_many_routes, cleanup),
		cmocka_unit_test_teardown(test_quota_flood, restore_engine),
		cmocka_unit_test_teardown(test_engine_options, restore_engine),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
