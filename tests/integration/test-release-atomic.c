/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * A RELEASE of several IDs, seen from the other peers it concerns. bus1(7):
 * "All these nodes and handles will be released in a single atomic
 * transaction", a transaction is "an atomic transmission of messages,
 * which can include release notifications", and "Whenever an error
 * appears, the operation will have been cancelled entirely";
 * semantics.md adds that a multicast is seen atomically by all its
 * receivers and that a RELEASE naming an unknown ID releases nothing.
 *
 * So while peer a releases its nodes (heard by b and c, which hold handles
 * to them) and its handles to d's nodes (d hears the last one go) in one
 * call, an observer thread polling b, c and d must find, from the moment
 * it has any of those notifications, all the others ready at once, in
 * all three peers, each once, never a part; meanwhile another peer
 * streams user messages to b, which may come between them. A RELEASE that
 * fails (one bad ID anywhere, or flags) releases nothing: a later RELEASE
 * issued after it returned is the first thing every observer hears, and
 * every ID still works.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

#define MAX_NODES 24	/* more than the engine lends ahead (16) */
#define N_D_NODES 4
#define ROUNDS 40
#define STREAM 8	/* user messages to b per round */

/* One peer the observer watches, and what it must hear. */
struct watched {
	int fd;
	uint64_t type;
	unsigned int n;
	uint64_t ids[MAX_NODES];
	bool seen[MAX_NODES];
	unsigned int got;
};

struct observer {
	pthread_t thread;
	struct watched peer[3];	/* b, c, d */
	unsigned int n_user;	/* user messages taken from b */
	char error[256];
};

/*
 * Take one item of @w without waiting: 1 for one of its notifications
 * (each once), 2 for a user message (counted), 0 for nothing queued, -1
 * (with @o->error set) for anything else.
 */
static int take(struct observer *o, struct watched *w)
{
	struct test_item item;
	unsigned int i;
	int r;

	r = test_recv(w->fd, &item);
	if (r == -EAGAIN)
		return 0;
	if (r) {
		snprintf(o->error, sizeof(o->error), "recv on fd %d: %s", w->fd,
			 strerror(-r));
		return -1;
	}
	if (item.msg.type == BUS1_MESSAGE_TYPE_USER) {
		++o->n_user;
		return 2;
	}
	for (i = 0; i < w->n; ++i)
		if (!w->seen[i] && w->ids[i] == item.meta.id)
			break;
	if (item.msg.type != w->type || i == w->n ||
	    item.meta.account != BUS1_INVALID) {
		snprintf(o->error, sizeof(o->error),
			 "fd %d: unexpected item type %llu id %llu", w->fd,
			 (unsigned long long)item.msg.type,
			 (unsigned long long)item.meta.id);
		return -1;
	}
	w->seen[i] = true;
	++w->got;
	return 1;
}

/* Waits (up to TEST_TIMEOUT_MS) for the first notification of any peer. */
static bool observe_first(struct observer *o)
{
	double deadline = test_now() + TEST_TIMEOUT_MS / 1000.0;
	struct pollfd pfd[3];
	int i, r;

	for (i = 0; i < 3; ++i)
		pfd[i] = (struct pollfd){ .fd = o->peer[i].fd, .events = POLLIN };
	while (test_now() < deadline) {
		poll(pfd, 3, 100);
		for (i = 0; i < 3; ++i) {
			while ((r = take(o, &o->peer[i])) == 2)
				;
			if (r)
				return r > 0;
		}
	}
	snprintf(o->error, sizeof(o->error), "no notification within %d ms",
		 TEST_TIMEOUT_MS);
	return false;
}

/*
 * The transaction is visible: every other notification of it must be
 * ready in every peer, now, and nothing more than it.
 */
static void observe_rest(struct observer *o)
{
	struct watched *w;
	int i, r;

	for (i = 0; i < 3; ++i) {
		w = &o->peer[i];
		while (w->got < w->n) {
			r = take(o, w);
			if (r < 0)
				return;
			if (!r) {
				snprintf(o->error, sizeof(o->error),
					 "fd %d had %u of its %u notifications ready once one was seen",
					 w->fd, w->got, w->n);
				return;
			}
		}
		while ((r = take(o, w)) == 2)
			;
		if (r) {
			if (r > 0)
				snprintf(o->error, sizeof(o->error),
					 "fd %d: a notification too many", w->fd);
			return;
		}
	}
}

static void *observe(void *arg)
{
	struct observer *o = arg;

	if (observe_first(o))
		observe_rest(o);
	return NULL;
}

static void watch(struct watched *w, int fd, uint64_t type, unsigned int n,
		  const uint64_t *ids)
{
	*w = (struct watched){ .fd = fd, .type = type, .n = n };
	memcpy(w->ids, ids, n * sizeof(*ids));
}

/* A peer streaming STREAM user messages to b while the release happens. */
struct streamer {
	pthread_t thread;
	int fd;
	uint64_t handle;
	int error;
};

static void *stream(void *arg)
{
	struct streamer *s = arg;
	unsigned int i;

	for (i = 0; i < STREAM && !s->error; ++i)
		s->error = test_send(s->fd, 1, &s->handle, "stream", 6, 0, NULL);
	return NULL;
}

/* What one round releases, and who hears it. */
struct scene {
	int a, b, c, d;
	unsigned int n;			/* a's nodes */
	uint64_t node[MAX_NODES];	/* of a */
	uint64_t in_b[MAX_NODES];	/* b's handles to them */
	uint64_t in_c[MAX_NODES];	/* c's handles to them */
	uint64_t d_node[N_D_NODES];	/* of d */
	uint64_t to_d[N_D_NODES];	/* a's handles to them, the only ones */
};

/* @n new nodes of @from with their first handles in @to. */
static void create_nodes(int from, int to, unsigned int n, uint64_t *node,
			 uint64_t *handle)
{
	struct bus1_transfer src[MAX_NODES], dst[MAX_NODES];
	unsigned int i;

	for (i = 0; i < n; ++i)
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
	assert_int_equal(bus1_cmd_transfer(0, from, to, n, src, dst), 0);
	for (i = 0; i < n; ++i) {
		node[i] = src[i].id;
		handle[i] = dst[i].id;
	}
}

static void scene_build(struct scene *s, unsigned int n)
{
	struct bus1_transfer src[MAX_NODES], dst[MAX_NODES];
	unsigned int i;

	s->n = n;
	create_nodes(s->a, s->b, n, s->node, s->in_b);
	for (i = 0; i < n; ++i)
		src[i] = (struct bus1_transfer){ 0, s->in_b[i] };
	assert_int_equal(bus1_cmd_transfer(0, s->b, s->c, n, src, dst), 0);
	for (i = 0; i < n; ++i)
		s->in_c[i] = dst[i].id;
	create_nodes(s->d, s->a, N_D_NODES, s->d_node, s->to_d);
}

/* The IDs a releases: its nodes, then its handles to d's nodes. */
static unsigned int scene_ids(const struct scene *s, uint64_t *ids)
{
	memcpy(ids, s->node, s->n * sizeof(*ids));
	memcpy(ids + s->n, s->to_d, N_D_NODES * sizeof(*ids));
	return s->n + N_D_NODES;
}

static void scene_watch(const struct scene *s, struct observer *o)
{
	memset(o, 0, sizeof(*o));
	watch(&o->peer[0], s->b, BUS1_MESSAGE_TYPE_NODE_RELEASE, s->n, s->in_b);
	watch(&o->peer[1], s->c, BUS1_MESSAGE_TYPE_NODE_RELEASE, s->n, s->in_c);
	watch(&o->peer[2], s->d, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, N_D_NODES,
	      s->d_node);
}

/* Nothing is queued on @fd; else fail saying what is. */
static void expect_quiet(int fd, const char *who)
{
	struct test_item item;
	bool readable = test_readable(fd);
	int r = test_recv(fd, &item);

	if (readable || r != -EAGAIN)
		fail_msg("%s: readable %d, recv %d: type %llu id %llu n_data %llu",
			 who, readable, r, (unsigned long long)item.msg.type,
			 (unsigned long long)item.meta.id,
			 (unsigned long long)item.msg.n_data);
}

static void scene_open(struct scene *s)
{
	s->a = test_peer();
	s->b = test_peer();
	s->c = test_peer();
	s->d = test_peer();
}

static void scene_close(struct scene *s)
{
	expect_quiet(s->a, "a");
	expect_quiet(s->b, "b");
	expect_quiet(s->c, "c");
	expect_quiet(s->d, "d");
	close(s->a);
	close(s->b);
	close(s->c);
	close(s->d);
}

/* @n user messages "stream" on b's @node, waiting for each. */
static void expect_stream(int b, uint64_t node, unsigned int n)
{
	while (n--)
		test_expect_user(b, node, "stream", 6);
}

/*
 * Rounds of a RELEASE of 2, 13 or 24 nodes and 4 handles, raced by the
 * observer and by a stream of user messages to b.
 */
static void test_release_seen_whole(void **state)
{
	uint64_t ids[MAX_NODES + N_D_NODES], b_node, e_handle;
	static struct observer o;
	struct streamer e;
	unsigned int round, n_ids, n_user = 0;
	struct scene s;

	(void)state;
	scene_open(&s);
	e.fd = test_peer();
	test_node(s.b, e.fd, &b_node, &e_handle);
	for (round = 0; round < ROUNDS; ++round) {
		scene_build(&s, 2 + (round % 3) * 11);
		n_ids = scene_ids(&s, ids);
		scene_watch(&s, &o);
		e = (struct streamer){ .fd = e.fd, .handle = e_handle };
		assert_int_equal(pthread_create(&o.thread, NULL, observe, &o), 0);
		assert_int_equal(pthread_create(&e.thread, NULL, stream, &e), 0);
		assert_int_equal(test_raw_release(s.a, 0, n_ids, ids), 0);
		assert_int_equal(pthread_join(e.thread, NULL), 0);
		assert_int_equal(pthread_join(o.thread, NULL), 0);
		if (o.error[0])
			fail_msg("round %u: %s", round, o.error);
		assert_int_equal(e.error, 0);
		n_user += STREAM - o.n_user;
		expect_quiet(s.c, "c");
		expect_quiet(s.d, "d");
	}
	expect_stream(s.b, b_node, n_user);
	/* b first: e's close would tell it its node lost its last handle */
	scene_close(&s);
	close(e.fd);
}

/*
 * After a failed RELEASE, a RELEASE of a sentinel node (heard by b and c)
 * and of a's handle to a sentinel node of d must be the first thing each
 * observer hears: had the failed one released anything, its notifications
 * would come first (bus1(7): causal order).
 */
static void expect_sentinel_first(struct scene *s)
{
	uint64_t node, b_handle, c_handle, d_node, a_handle, ids[2];

	test_node(s->a, s->b, &node, &b_handle);
	c_handle = test_handle(s->b, s->c, b_handle);
	test_node(s->d, s->a, &d_node, &a_handle);
	ids[0] = node;
	ids[1] = a_handle;
	assert_int_equal(bus1_cmd_release(s->a, 2, ids), 0);
	test_expect_notify(s->b, BUS1_MESSAGE_TYPE_NODE_RELEASE, b_handle);
	test_expect_notify(s->c, BUS1_MESSAGE_TYPE_NODE_RELEASE, c_handle);
	test_expect_notify(s->d, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, d_node);
	test_expect_empty(s->a);
	test_expect_empty(s->b);
	test_expect_empty(s->c);
	test_expect_empty(s->d);
}

/* Every ID of the scene still works: each handle reaches its node. */
static void expect_scene_alive(struct scene *s)
{
	unsigned int i;

	for (i = 0; i < s->n; ++i) {
		test_send_ok(s->b, s->in_b[i], "b", 1);
		test_expect_user(s->a, s->node[i], "b", 1);
		test_send_ok(s->c, s->in_c[i], "c", 1);
		test_expect_user(s->a, s->node[i], "c", 1);
	}
	for (i = 0; i < N_D_NODES; ++i) {
		test_send_ok(s->a, s->to_d[i], "a", 1);
		test_expect_user(s->d, s->d_node[i], "a", 1);
	}
}

/*
 * A RELEASE with one bad ID (unknown, reserved, retired, at the start, in
 * the middle or at the end) or with flags set fails and releases none of
 * them, as seen from every peer concerned; then the same IDs release as
 * one transaction.
 */
static void test_release_failed_none(void **state)
{
	uint64_t ids[MAX_NODES + N_D_NODES + 1], retired, other, bad[4];
	static struct observer o;
	unsigned int n_ids, i, at, pos;
	struct scene s;

	(void)state;
	scene_open(&s);
	scene_build(&s, 13);
	test_node(s.a, -1, &retired, &other);
	assert_int_equal(bus1_cmd_release(s.a, 1, &retired), 0);
	test_expect_notify(s.a, BUS1_MESSAGE_TYPE_NODE_RELEASE, other);
	bad[0] = (other > retired ? other : retired) + 1000;	/* unknown */
	bad[1] = 2;						/* reserved */
	bad[2] = retired;
	bad[3] = other;		/* retired by its NODE_RELEASE */

	for (i = 0; i < 4; ++i) {
		for (at = 0; at <= 2; ++at) {
			/* the bad ID first, in the middle, or last */
			n_ids = scene_ids(&s, ids);
			pos = at * n_ids / 2;
			if (pos < n_ids)
				ids[n_ids] = ids[pos];
			ids[pos] = bad[i];
			assert_int_equal(bus1_cmd_release(s.a, n_ids + 1, ids),
					 -EBADRQC);
		}
		expect_sentinel_first(&s);
	}
	n_ids = scene_ids(&s, ids);
	assert_int_equal(test_raw_release(s.a, 1, n_ids, ids), -EINVAL);
	expect_sentinel_first(&s);
	expect_scene_alive(&s);

	scene_watch(&s, &o);
	assert_int_equal(bus1_cmd_release(s.a, n_ids, ids), 0);
	observe(&o);
	if (o.error[0])
		fail_msg("%s", o.error);
	assert_int_equal(o.n_user, 0);
	scene_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_seen_whole),
		cmocka_unit_test(test_release_failed_none),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
