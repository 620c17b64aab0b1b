/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Routes as the module sees them, with the test as the engine: it stops
 * bus1d, attaches to the control device itself, and writes ROUTE, REVOKE
 * and PEER_STATE records by hand. Checks what the module must do whatever
 * the engine says: malformed routes are refused with EINVAL; a send the
 * route may carry never reaches the engine and arrives with the route's
 * metadata; one beyond its credit, with flags, or to a receiver the engine
 * holds items for goes to the engine; ROUTE_DONE comes once a revoked
 * route holds nothing, and at once with REVOKE_DISCARD; a closed receiver
 * and a gone engine drop what the routes queued. Restarts bus1d at the end.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/bus1-engine.h>
#include "util.h"

#define HANDLE 0x3
#define NODE 0x5
#define ACCOUNT 4242

/*
 * The module's debugfs counters, a project decision (docs/decisions.md,
 * "Routes (module side)", debugfs): route_sends counts the SENDs served
 * through routes, a multicast once; routes counts the routes alive now.
 * While this test is the engine no other peer exists, so they are exact.
 */
static uint64_t route_sends(void)
{
	return test_debugfs("route_sends");
}

static uint64_t module_routes(void)
{
	return test_debugfs("routes");
}

struct fake_engine {
	int ctl;
	size_t max_record;
	char *buf;
	size_t len;
	size_t off;
};

static struct fake_engine engine = { .ctl = -1 };

static int engine_ctl(const char *what)
{
	const char *top = getenv("BUS1_TOP");
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "'%s'/scripts/guest-engine.sh %s",
		 top ? top : "../..", what);
	fflush(stdout);
	return system(cmd);
}

/*
 * The next record from the module within @timeout_ms, or NULL. Records
 * of one read() are handed out one by one.
 */
static const struct bus1_engine_hdr *engine_next(int timeout_ms)
{
	const struct bus1_engine_hdr *hdr;
	struct pollfd pfd = { .fd = engine.ctl, .events = POLLIN };
	ssize_t n;

	if (engine.off >= engine.len) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return NULL;
		n = read(engine.ctl, engine.buf, engine.max_record);
		assert_true(n >= (ssize_t)sizeof(*hdr));
		engine.len = n;
		engine.off = 0;
	}
	hdr = (const void *)(engine.buf + engine.off);
	assert_true(hdr->size >= sizeof(*hdr));
	assert_true(hdr->size <= engine.len - engine.off);
	engine.off += hdr->size;
	return hdr;
}

/*
 * The next record of @type within @timeout_ms, or NULL; one-way records
 * of other types (PEER_RELEASE, RECV_DONE) are skipped, anything else
 * fails the test.
 */
static const struct bus1_engine_hdr *engine_expect(uint16_t type,
						   int timeout_ms)
{
	const struct bus1_engine_hdr *hdr;

	while ((hdr = engine_next(timeout_ms))) {
		if (hdr->type == type)
			return hdr;
		assert_true(hdr->type == BUS1_ENGINE_PEER_RELEASE ||
			    hdr->type == BUS1_ENGINE_RECV_DONE);
	}
	return NULL;
}

/* Write one record; return 0 or the negative errno of write(). */
static int engine_write(uint16_t type, uint64_t seq, uint64_t peer,
			int32_t error, const void *payload, size_t size)
{
	struct {
		struct bus1_engine_hdr hdr;
		uint64_t payload[8];
	} rec = {
		.hdr = {
			.size = sizeof(rec.hdr) + size,
			.type = type,
			.error = error,
			.seq = seq,
			.peer = peer,
		},
	};

	assert_true(size <= sizeof(rec.payload) && size % 8 == 0);
	memcpy(rec.payload, payload, size);
	if (write(engine.ctl, &rec, rec.hdr.size) < 0)
		return -errno;
	return 0;
}

static int route_write(uint64_t src, const struct bus1_engine_route *rt)
{
	return engine_write(BUS1_ENGINE_ROUTE, 0, src, 0, rt, sizeof(*rt));
}

static int revoke_write(uint64_t src, uint64_t route, uint64_t flags)
{
	struct bus1_engine_revoke rv = { route, flags };

	return engine_write(BUS1_ENGINE_REVOKE, 0, src, 0, &rv, sizeof(rv));
}

static void state_write(uint64_t peer, uint32_t readable)
{
	struct bus1_engine_peer_state ps = { .readable = readable };

	assert_int_equal(engine_write(BUS1_ENGINE_PEER_STATE, 0, peer, 0, &ps,
				      sizeof(ps)), 0);
}

/* Answer a request with an error (no payload). */
static void engine_fail(const struct bus1_engine_hdr *req, int error)
{
	assert_int_equal(engine_write(req->type, req->seq, req->peer, error,
				      NULL, 0), 0);
}

static void *open_thread(void *arg)
{
	*(int *)arg = open("/dev/bus1", O_RDWR | O_CLOEXEC);
	return NULL;
}

/* Open a peer, answering its PEER_NEW; return its fd, its ID in *id. */
static int peer_open(uint64_t *id)
{
	const struct bus1_engine_hdr *hdr;
	pthread_t thread;
	int fd = -1;

	assert_int_equal(pthread_create(&thread, NULL, open_thread, &fd), 0);
	hdr = engine_expect(BUS1_ENGINE_PEER_NEW, TEST_TIMEOUT_MS);
	assert_non_null(hdr);
	*id = hdr->peer;
	assert_int_equal(engine_write(hdr->type, hdr->seq, hdr->peer, 0, NULL,
				      0), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_true(fd >= 0);
	return fd;
}

/* A route from @src's HANDLE to @dst's NODE. */
static struct bus1_engine_route route_of(uint64_t id, uint64_t dst,
					 uint32_t items, uint32_t bytes)
{
	return (struct bus1_engine_route){
		.route = id,
		.handle = HANDLE,
		.dst_peer = dst,
		.dst_id = NODE,
		.account = ACCOUNT,
		.credit_items = items,
		.credit_bytes = bytes,
	};
}

struct routed_pair {
	uint64_t a, b;
	int fa, fb;
};

/* Peers a and b, and route @id from a's HANDLE to b's NODE. */
static struct routed_pair routed_pair(uint64_t id, uint32_t items,
				      uint32_t bytes)
{
	struct bus1_engine_route rt;
	struct routed_pair p;

	p.fa = peer_open(&p.a);
	p.fb = peer_open(&p.b);
	rt = route_of(id, p.b, items, bytes);
	assert_int_equal(route_write(p.a, &rt), 0);
	return p;
}

#define MAX_DST 4

struct send_call {
	int fd;
	uint64_t flags;
	size_t n_data;
	size_t n_dst;
	uint64_t dst[MAX_DST];
	int32_t errors[MAX_DST];
	int r;
	pthread_t thread;
};

static void *send_thread(void *arg)
{
	struct send_call *c = arg;
	unsigned char data[256];
	struct iovec vec = { data, c->n_data };
	struct bus1_message msg = {
		.flags = c->flags,
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = c->n_data,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};

	memset(data, 0x5a, sizeof(data));
	memset(c->errors, 0xff, sizeof(c->errors));
	c->r = test_raw_send(c->fd, 0, c->n_dst, c->dst, c->errors, &msg);
	return NULL;
}

/*
 * Send @n_data bytes to @n_dst handles in a thread: it may wait for the
 * engine.
 */
static void send_start_to(struct send_call *c, int fd, uint64_t flags,
			  size_t n_data, size_t n_dst, const uint64_t *dst)
{
	*c = (struct send_call){
		.fd = fd, .flags = flags, .n_data = n_data, .n_dst = n_dst,
	};
	assert_true(n_data <= 256 && n_dst <= MAX_DST);
	memcpy(c->dst, dst, n_dst * sizeof(*dst));
	assert_int_equal(pthread_create(&c->thread, NULL, send_thread, c), 0);
}

/* Send @n_data bytes to HANDLE. */
static void send_start(struct send_call *c, int fd, uint64_t flags,
		       size_t n_data)
{
	uint64_t dst = HANDLE;

	send_start_to(c, fd, flags, n_data, 1, &dst);
}

static int send_join(struct send_call *c)
{
	assert_int_equal(pthread_join(c->thread, NULL), 0);
	return c->r;
}

/*
 * A send the module serves: it returns without the engine, which sees no
 * SEND. One that waits for the engine instead is failed (so that its
 * thread returns) and fails the test.
 */
static void send_routed(int fd, size_t n_data)
{
	const struct bus1_engine_hdr *hdr;
	struct timespec deadline;
	struct send_call c;

	send_start(&c, fd, 0, n_data);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += TEST_TIMEOUT_MS / 1000;
	if (pthread_timedjoin_np(c.thread, NULL, &deadline)) {
		hdr = engine_expect(BUS1_ENGINE_SEND, TEST_TIMEOUT_MS);
		if (hdr)
			engine_fail(hdr, -EDQUOT);
		assert_int_equal(pthread_join(c.thread, NULL), 0);
		fail_msg("a send the route can carry %s", hdr ?
			 "was forwarded to the engine" : "did not return");
	}
	assert_int_equal(c.r, 0);
	assert_int_equal(c.errors[0], 0);
	assert_null(engine_expect(BUS1_ENGINE_SEND, 0));
}

/* A send that must reach the engine, which fails it with @error. */
static void send_engine(int fd, uint64_t flags, size_t n_data, int error)
{
	const struct bus1_engine_hdr *hdr;
	const struct bus1_engine_send *s;
	struct send_call c;

	send_start(&c, fd, flags, n_data);
	hdr = engine_expect(BUS1_ENGINE_SEND, TEST_TIMEOUT_MS);
	assert_non_null(hdr);
	s = (const void *)(hdr + 1);
	assert_int_equal(s->n_destinations, 1);
	assert_int_equal(s->n_data, n_data);
	assert_int_equal(*(const uint64_t *)(s + 1), HANDLE);
	engine_fail(hdr, error);
	assert_int_equal(send_join(&c), error);
	assert_int_equal(c.errors[0], -1);
}

static void expect_routed_item(int fd, size_t n_data)
{
	struct test_item item;
	size_t i;

	assert_int_equal(test_recv_wait(fd, &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.meta.id, NODE);
	assert_int_equal(item.meta.account, ACCOUNT);
	assert_int_equal(item.msg.n_transfers, 0);
	assert_int_equal(item.msg.n_data, n_data);
	for (i = 0; i < n_data; ++i)
		assert_int_equal(item.data[i], 0x5a);
}

static void expect_route_done(uint64_t src, uint64_t route)
{
	const struct bus1_engine_hdr *hdr;
	const struct bus1_engine_route_done *d;

	/* Queued quietly: the module wakes the engine within ~10 ms. */
	hdr = engine_expect(BUS1_ENGINE_ROUTE_DONE, 2000);
	assert_non_null(hdr);
	assert_int_equal(hdr->size, sizeof(*hdr) + sizeof(*d));
	assert_int_equal(hdr->peer, src);
	d = (const void *)(hdr + 1);
	assert_int_equal(d->route, route);
}

static void expect_no_route_done(void)
{
	assert_null(engine_expect(BUS1_ENGINE_ROUTE_DONE, 200));
}

static void test_route_malformed(void **state)
{
	struct bus1_engine_route rt;
	uint64_t a, b;
	int fa, fb;

	(void)state;
	fa = peer_open(&a);
	fb = peer_open(&b);

	rt = route_of(0, b, 1, 0);
	assert_int_equal(route_write(a, &rt), -EINVAL);
	rt = route_of(1, b, 0, 0);
	assert_int_equal(route_write(a, &rt), -EINVAL);
	rt = route_of(1, b, BUS1_ENGINE_MAX_ROUTE_ITEMS + 1, 0);
	assert_int_equal(route_write(a, &rt), -EINVAL);
	rt = route_of(1, b, 1, BUS1_ENGINE_MAX_ROUTE_BYTES + 1);
	assert_int_equal(route_write(a, &rt), -EINVAL);
	rt = route_of(1, b, 1, 0);
	rt.handle = 0x2;
	assert_int_equal(route_write(a, &rt), -EINVAL);
	rt = route_of(1, b, 1, 0);
	rt.dst_id = BUS1_INVALID;
	assert_int_equal(route_write(a, &rt), -EINVAL);
	rt = route_of(1, b, 1, 0);
	assert_int_equal(engine_write(BUS1_ENGINE_ROUTE, 0, a, 0, &rt,
				      sizeof(rt) - 8), -EINVAL);
	assert_int_equal(revoke_write(a, 1, 0), -EINVAL);

	rt = route_of(1, b, 1, 0);
	assert_int_equal(route_write(a, &rt), 0);
	/* the ID in use, and a second route for the same handle */
	assert_int_equal(route_write(a, &rt), -EINVAL);
	rt.route = 2;
	assert_int_equal(route_write(a, &rt), -EINVAL);
	assert_int_equal(revoke_write(a, 2, 0), -EINVAL);
	/* another sender's, or with unknown flags */
	assert_int_equal(revoke_write(b, 1, 0), -EINVAL);
	assert_int_equal(revoke_write(a, 1, 2), -EINVAL);

	assert_int_equal(revoke_write(a, 1, 0), 0);
	expect_route_done(a, 1);
	assert_int_equal(revoke_write(a, 1, 0), -EINVAL);
	close(fa);
	close(fb);
}

static void test_route_served(void **state)
{
	struct routed_pair p;
	uint64_t sends;

	(void)state;
	p = routed_pair(10, 2, 64);
	sends = route_sends();

	send_routed(p.fa, 10);
	assert_int_equal(route_sends(), sends + 1);
	assert_true(test_readable(p.fb));
	expect_routed_item(p.fb, 10);
	test_expect_empty(p.fb);

	/* the credit came back: two fit, the third goes to the engine */
	send_routed(p.fa, 20);
	send_routed(p.fa, 0);
	send_engine(p.fa, 0, 1, -EDQUOT);
	expect_routed_item(p.fb, 20);
	expect_routed_item(p.fb, 0);

	/* beyond the byte credit; with flags; while the engine holds items */
	send_engine(p.fa, 0, 65, -EDQUOT);
	send_engine(p.fa, 1, 1, -EINVAL);
	state_write(p.b, 1);
	send_engine(p.fa, 0, 1, -EDQUOT);
	state_write(p.b, 0);
	assert_int_equal(route_sends(), sends + 3);

	/* revoked with a message queued: ROUTE_DONE once it is received */
	send_routed(p.fa, 5);
	assert_int_equal(revoke_write(p.a, 10, 0), 0);
	send_engine(p.fa, 0, 5, -EDQUOT);
	expect_no_route_done();
	expect_routed_item(p.fb, 5);
	expect_route_done(p.a, 10);
	test_expect_empty(p.fb);
	close(p.fa);
	close(p.fb);
}

static void test_route_self(void **state)
{
	struct bus1_engine_route rt;
	uint64_t a;
	int fa;

	(void)state;
	fa = peer_open(&a);
	rt = route_of(20, a, 4, 256);
	assert_int_equal(route_write(a, &rt), 0);
	send_routed(fa, 7);
	expect_routed_item(fa, 7);
	assert_int_equal(revoke_write(a, 20, 0), 0);
	expect_route_done(a, 20);
	close(fa);
}

static void test_route_discard(void **state)
{
	struct routed_pair p;

	(void)state;
	p = routed_pair(30, 8, 256);
	send_routed(p.fa, 1);
	send_routed(p.fa, 2);
	assert_true(test_readable(p.fb));
	assert_int_equal(revoke_write(p.a, 30, BUS1_ENGINE_REVOKE_DISCARD), 0);
	expect_route_done(p.a, 30);
	assert_false(test_readable(p.fb));
	test_expect_empty(p.fb);
	close(p.fa);
	close(p.fb);
}

static void test_route_receiver_closed(void **state)
{
	struct bus1_engine_route rt;
	struct routed_pair p;

	(void)state;
	p = routed_pair(40, 8, 256);
	send_routed(p.fa, 3);
	close(p.fb);
	assert_non_null(engine_expect(BUS1_ENGINE_PEER_RELEASE,
				      TEST_TIMEOUT_MS));
	/* its messages went with it; the route is not done before REVOKE */
	send_engine(p.fa, 0, 3, -EDQUOT);
	expect_no_route_done();
	assert_int_equal(revoke_write(p.a, 40, BUS1_ENGINE_REVOKE_DISCARD), 0);
	expect_route_done(p.a, 40);

	/* a route to a receiver the module no longer holds is never used */
	rt = route_of(41, p.b, 8, 256);
	assert_int_equal(route_write(p.a, &rt), 0);
	send_engine(p.fa, 0, 3, -EDQUOT);
	assert_int_equal(revoke_write(p.a, 41, 0), 0);
	expect_route_done(p.a, 41);
	close(p.fa);
}

static void test_route_sender_closed(void **state)
{
	struct routed_pair p;

	(void)state;
	p = routed_pair(50, 8, 256);
	send_routed(p.fa, 4);
	close(p.fa);
	assert_non_null(engine_expect(BUS1_ENGINE_PEER_RELEASE,
				      TEST_TIMEOUT_MS));
	/* what it sent stays queued, and ROUTE_DONE names the closed one */
	assert_int_equal(revoke_write(p.a, 50, 0), 0);
	expect_no_route_done();
	expect_routed_item(p.fb, 4);
	expect_route_done(p.a, 50);
	close(p.fb);
}

/*
 * A multicast through routes is served whole or goes to the engine whole:
 * one receiver out of credit sends it all to the engine, and nobody got a
 * copy.
 */
static void test_route_multicast(void **state)
{
	const struct bus1_engine_hdr *hdr;
	const uint64_t dst[3] = { HANDLE, 0x7, HANDLE };
	struct bus1_engine_route rt;
	uint64_t a, b, c, sends;
	struct send_call call;
	int fa, fb, fc;

	(void)state;
	fa = peer_open(&a);
	fb = peer_open(&b);
	fc = peer_open(&c);
	rt = route_of(70, b, 4, 256);
	assert_int_equal(route_write(a, &rt), 0);
	rt = route_of(71, c, 1, 256);
	rt.handle = 0x7;
	assert_int_equal(route_write(a, &rt), 0);
	sends = route_sends();

	send_start_to(&call, fa, 0, 9, 3, dst);
	assert_int_equal(send_join(&call), 0);
	assert_int_equal(call.errors[0], 0);
	assert_int_equal(call.errors[1], 0);
	assert_int_equal(call.errors[2], 0);
	assert_int_equal(route_sends(), sends + 1);

	/* c's route is out of credit: all of it goes to the engine */
	send_start_to(&call, fa, 0, 9, 3, dst);
	hdr = engine_expect(BUS1_ENGINE_SEND, TEST_TIMEOUT_MS);
	assert_non_null(hdr);
	assert_int_equal(((const struct bus1_engine_send *)(hdr + 1))
			 ->n_destinations, 3);
	engine_fail(hdr, -EDQUOT);
	assert_int_equal(send_join(&call), -EDQUOT);
	assert_int_equal(call.errors[0], -1);

	expect_routed_item(fb, 9);
	expect_routed_item(fb, 9);
	test_expect_empty(fb);
	expect_routed_item(fc, 9);
	test_expect_empty(fc);

	/* credit is back everywhere */
	send_start_to(&call, fa, 0, 9, 3, dst);
	assert_int_equal(send_join(&call), 0);
	assert_int_equal(route_sends(), sends + 2);
	expect_routed_item(fb, 9);
	expect_routed_item(fb, 9);
	expect_routed_item(fc, 9);

	assert_int_equal(revoke_write(a, 70, 0), 0);
	expect_route_done(a, 70);
	assert_int_equal(revoke_write(a, 71, 0), 0);
	expect_route_done(a, 71);
	close(fa);
	close(fb);
	close(fc);
}

/* Runs last: the engine goes with routes and routed messages queued. */
static void test_route_engine_gone(void **state)
{
	struct test_item item;
	struct routed_pair p;

	(void)state;
	p = routed_pair(60, 8, 256);
	send_routed(p.fa, 6);
	send_routed(p.fa, 6);
	assert_true(module_routes() >= 1);

	close(engine.ctl);
	engine.ctl = -1;
	assert_int_equal(test_recv(p.fb, &item), -ENOTCONN);
	close(p.fa);
	close(p.fb);
	/* docs/decisions.md, "Engine gone": its routes are revoked */
	assert_int_equal(module_routes(), 0);
}

static int setup(void **state)
{
	struct bus1_engine_attach attach = { .version = BUS1_ENGINE_VERSION };

	if (test_setup_device(state))
		return -1;
	if (engine_ctl("stop"))
		return -1;
	engine.ctl = open("/dev/bus1-engine", O_RDWR | O_CLOEXEC);
	if (engine.ctl < 0 ||
	    ioctl(engine.ctl, BUS1_ENGINE_IOCTL_ATTACH, &attach))
		return -1;
	engine.max_record = attach.max_record;
	engine.buf = malloc(engine.max_record);
	return engine.buf ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (engine.ctl >= 0)
		close(engine.ctl);
	free(engine.buf);
	return engine_ctl("start") ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_malformed),
		cmocka_unit_test(test_route_served),
		cmocka_unit_test(test_route_self),
		cmocka_unit_test(test_route_discard),
		cmocka_unit_test(test_route_receiver_closed),
		cmocka_unit_test(test_route_sender_closed),
		cmocka_unit_test(test_route_multicast),
		cmocka_unit_test(test_route_engine_gone),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
