/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Resource accounting end to end. The engine is restarted with small
 * limits (8 MiB, 4096 objects per UID) so floods end quickly, and the
 * default engine is restored at the end.
 *
 * bus1(7) promises EDQUOT and that a refused operation leaves the bus as
 * if it never happened; the exact quotas are implementation specific and
 * "monitoring of bus accounting is not considered a programmatic
 * interface". So the tests check the properties that accounting.md fixes
 * (a foreign UID never exhausts another, a third UID still gets a share,
 * peers of one UID cannot take more than half of it, every charge comes
 * back) with bounds rather than exact counts, check that a refused call
 * created nothing, consumed no ID and queued nothing, and read the
 * engine's stats with json-c by member name (util.c), never as text.
 *
 * Peers of other UIDs are opened under a temporary effective UID (the
 * peer keeps it); floods run in a child that has dropped to that UID.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include "util.h"

#define FLOOD_UID 65534
#define THIRD_UID 65533
#define MAX_BYTES (8ULL << 20)
#define MAX_OBJECTS 4096
#define CHUNK (64 * 1024)
/* Largest TRANSFER the object floods issue; they halve it down to 1. */
#define BATCH 64
/* Handles carried by each message of the handle flood. */
#define CARRIED (TEST_MAX_TRANSFERS - 1)
#define SETTLE_S 2.0

static char chunk[CHUNK];

static int engine_restart(const char *args)
{
	const char *top = getenv("BUS1_TOP");
	char cmd[1024];

	if (!top)
		top = "../..";
	snprintf(cmd, sizeof(cmd), "BUS1D_ARGS='%s' '%s'/scripts/guest-engine.sh restart >/dev/null",
		 args, top);
	return system(cmd);
}

static int setup(void **state)
{
	(void)state;
	if (engine_restart("--max-bytes 8M --max-objects 4096"))
		return -1;
	return test_setup_device(state);
}

static int teardown(void **state)
{
	(void)state;
	return engine_restart("") ? -1 : 0;
}

/*
 * What claimant UID @claimant has charged on user @uid in slot @slot
 * ("objects" or "bytes") of the stats document @doc; 0 if nothing.
 */
static uint64_t charged(struct json_object *doc, unsigned int uid,
			unsigned int claimant, const char *slot)
{
	struct json_object *u = test_json_user(doc, uid), *charges, *c;
	char path[32];
	size_t i, n;

	if (!u)
		return 0;
	charges = test_json_at(u, "charges");
	assert_non_null(charges);
	n = json_object_array_length(charges);
	for (i = 0; i < n; ++i) {
		c = json_object_array_get_idx(charges, i);
		if (test_json_u64(c, "claimant") != claimant)
			continue;
		snprintf(path, sizeof(path), "%s.used", slot);
		return test_json_u64(c, path);
	}
	return 0;
}

/* Bytes that claimant UID @claimant has charged on user @uid, now. */
static uint64_t charged_bytes(unsigned int uid, unsigned int claimant)
{
	struct json_object *doc = test_stats_json();
	uint64_t v = charged(doc, uid, claimant, "bytes");

	json_object_put(doc);
	return v;
}

/*
 * The charge once the engine has settled what the receiver got: the module
 * tells it with quiet RECV_DONE records, read within a few milliseconds
 * (see the control header), so the stats may lag a drain briefly.
 */
static uint64_t settled_bytes(unsigned int uid, unsigned int claimant,
			      uint64_t want)
{
	uint64_t got = charged_bytes(uid, claimant);
	double deadline = test_now() + SETTLE_S;

	while (got != want && test_now() < deadline) {
		usleep(2000);
		got = charged_bytes(uid, claimant);
	}
	return got;
}

/*
 * What the bus holds, from the engine's totals. A refused call must leave
 * it unchanged (bus1(7), "Errors"); the quota counters themselves may
 * move, so they are not part of it.
 */
struct bus_state {
	uint64_t peers, nodes, handles, items, messages, message_bytes;
};

static struct bus_state bus_state(void)
{
	struct json_object *doc = test_stats_json();
	struct bus_state s = {
		.peers = test_json_u64(doc, "totals.peers"),
		.nodes = test_json_u64(doc, "totals.nodes"),
		.handles = test_json_u64(doc, "totals.handles"),
		.items = test_json_u64(doc, "totals.queued") +
			 test_json_u64(doc, "totals.lent"),
		.messages = test_json_u64(doc, "totals.messages"),
		.message_bytes = test_json_u64(doc, "totals.message_bytes"),
	};

	json_object_put(doc);
	return s;
}

static void assert_bus_state(const struct bus_state *was)
{
	struct bus_state now = bus_state();

	assert_int_equal(now.peers, was->peers);
	assert_int_equal(now.nodes, was->nodes);
	assert_int_equal(now.handles, was->handles);
	assert_int_equal(now.items, was->items);
	assert_int_equal(now.messages, was->messages);
	assert_int_equal(now.message_bytes, was->message_bytes);
}

/* Whether every total that counts something held on the bus is 0. */
static bool totals_zero(struct json_object *doc)
{
	static const char *const held[] = {
		"peers", "nodes", "handles", "queued", "lent", "messages",
		"message_bytes", "users", "routes_live", "routes_kept",
		"route_credit_objects", "route_credit_bytes",
	};
	char path[64];
	size_t i;

	for (i = 0; i < sizeof(held) / sizeof(*held); ++i) {
		snprintf(path, sizeof(path), "totals.%s", held[i]);
		if (test_json_u64(doc, path))
			return false;
	}
	return json_object_array_length(test_json_at(doc, "users")) == 0 &&
	       json_object_array_length(test_json_at(doc, "peers")) == 0;
}

/*
 * Whether the engine holds nothing, waiting up to SETTLE_S: a close
 * reaches it as an asynchronous PEER_RELEASE, and the stats may lag a
 * receive (see settled_bytes()).
 */
static bool bus_empty(void)
{
	double deadline = test_now() + SETTLE_S;
	struct json_object *doc;
	bool empty;

	for (;;) {
		doc = test_stats_json();
		assert_non_null(test_json_at(doc, "users"));
		assert_non_null(test_json_at(doc, "peers"));
		empty = totals_zero(doc);
		json_object_put(doc);
		if (empty || test_now() > deadline)
			return empty;
		usleep(10000);
	}
}

/*
 * Runs `bus1ctl @args`, its output in @out (NUL-terminated, cut at @size);
 * returns its exit status, or -1 if it did not exit.
 */
static int bus1ctl(const char *args, char *out, size_t size)
{
	const char *top = getenv("BUS1_TOP");
	char cmd[1024], rest[4096];
	size_t len;
	int status;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s'/daemon/bus1ctl %s 2>/dev/null",
		 top ? top : "../..", args);
	f = popen(cmd, "r");
	assert_non_null(f);
	len = fread(out, 1, size - 1, f);
	out[len] = '\0';
	/* what did not fit is read too, so that bus1ctl can exit */
	while (fread(rest, 1, sizeof(rest), f) > 0)
		;
	status = pclose(f);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether @text has a line containing @label and the number @value. */
static bool shows(const char *text, const char *label, uint64_t value)
{
	const char *line, *end, *p;
	char *num;

	for (line = text; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		p = strstr(line, label);
		if (!p || p >= end)
			continue;
		for (p = line; p < end; ++p) {
			if (*p < '0' || *p > '9' ||
			    (p > line && p[-1] >= '0' && p[-1] <= '9'))
				continue;
			if (strtoull(p, &num, 10) == value && num <= end)
				return true;
		}
	}
	return false;
}

/*
 * What bus1ctl(8) promises after test_foreign_flood()'s flood of @n
 * messages: --json is the document for programs, the same facts the
 * stats hold; the views are for humans and are only checked for saying
 * the facts somewhere, in whatever layout; the exit status is 0, and 1 if
 * the engine cannot be reached.
 */
static void check_bus1ctl(int n)
{
	static char out[1 << 16];
	struct json_object *doc;

	assert_int_equal(bus1ctl("--json", out, sizeof(out)), 0);
	doc = json_tokener_parse(out);
	assert_non_null(doc);
	assert_int_equal(charged(doc, 0, FLOOD_UID, "bytes"),
			 (uint64_t)n * CHUNK);
	/* decisions.md, Routes: quota_failures counts refused requests */
	assert_int_equal(test_json_u64(doc, "totals.quota_failures"), 1);
	assert_non_null(test_json_user(doc, FLOOD_UID));
	json_object_put(doc);

	assert_int_equal(bus1ctl("status", out, sizeof(out)), 0);
	assert_true(shows(out, "refused", 1));
	assert_int_equal(bus1ctl("users", out, sizeof(out)), 0);
	assert_true(shows(out, "", FLOOD_UID));
	assert_true(shows(out, "", (uint64_t)n * CHUNK));
	assert_int_equal(bus1ctl("peers", out, sizeof(out)), 0);
	assert_true(shows(out, "", FLOOD_UID));
	assert_int_equal(bus1ctl("--socket /nonexistent/stats.sock", out,
				 sizeof(out)), 1);
}

static int send_chunk(int fd, uint64_t dst)
{
	return test_send(fd, 1, &dst, chunk, sizeof(chunk), 0, NULL);
}

/* Send until it fails; return how many were sent, *@err the failure. */
static int flood(int fd, uint64_t dst, int *err)
{
	int n, r = 0;

	for (n = 0; n < 100000 && !(r = send_chunk(fd, dst)); ++n)
		;
	*err = r;
	return n;
}

static int drain(int fd)
{
	static unsigned char buf[CHUNK];
	struct iovec vec = { buf, sizeof(buf) };
	struct bus1_metadata meta;
	struct bus1_message msg;
	int n = 0, r;

	for (;;) {
		msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_data = sizeof(buf),
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};
		r = bus1_cmd_recv(fd, &meta, &msg);
		if (r == -EAGAIN)
			return n;
		assert_int_equal(r, 0);
		++n;
	}
}

/*
 * A child running as FLOOD_UID floods a root peer that never reads: it
 * gets EDQUOT long before root's user is exhausted. A third UID can still
 * send; once the receiver drains, the flooder can send again.
 */
static void test_foreign_flood(void **state)
{
	uint64_t node, self, to_r, to_r3, avail;
	int r, f, t, p[2], q[2], n, err;
	struct json_object *doc;
	char c;
	pid_t pid;

	(void)state;
	r = test_peer();
	f = test_peer_as(FLOOD_UID);
	t = test_peer_as(THIRD_UID);
	test_node(r, r, &node, &self);
	to_r = test_handle(r, f, self);
	to_r3 = test_handle(r, t, self);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);

	pid = test_fork();
	if (pid == 0) {
		bool ok;

		ok = !setresgid(FLOOD_UID, FLOOD_UID, FLOOD_UID) &&
		     !setresuid(FLOOD_UID, FLOOD_UID, FLOOD_UID);
		n = ok ? flood(f, to_r, &err) : -1;
		ok = ok && n > 0 && err == -EDQUOT &&
		     write(p[1], &n, sizeof(n)) == sizeof(n) &&
		     read(q[0], &c, 1) == 1 && !send_chunk(f, to_r);
		test_child_exit(ok);
	}
	assert_int_equal(read(p[0], &n, sizeof(n)), sizeof(n));
	/*
	 * A foreign UID gets a share that starts at about 1/18 of the
	 * receiver's limit (decisions.md, Accounting): a few 64 KiB
	 * messages, well below half of 8 MiB.
	 */
	assert_true(n > 0 && n < 64);
	doc = test_stats_json();
	assert_int_equal(charged(doc, 0, FLOOD_UID, "bytes"),
			 (uint64_t)n * CHUNK);
	avail = test_json_slot(doc, 0, "bytes").available;
	json_object_put(doc);
	assert_true(avail >= MAX_BYTES / 2);
	print_message("flooder sent %d messages of 64 KiB, root keeps %llu of %llu bytes\n",
		      n, (unsigned long long)avail, MAX_BYTES);
	check_bus1ctl(n);

	/* a third UID still gets through */
	assert_int_equal(send_chunk(t, to_r3), 0);
	assert_int_equal(drain(r), n + 1);
	assert_int_equal(settled_bytes(0, FLOOD_UID, 0), 0);

	/* drained: the flooder can send again */
	assert_int_equal(write(q[1], "g", 1), 1);
	test_join(pid);
	assert_int_equal(drain(r), 1);

	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	close(t);
	close(f);
	close(r);
}

/*
 * Two peers of one UID: a flooding the other takes at most half of the
 * UID's bytes (accounting.md: the exponential allocator between actors of
 * one UID), and the victim can still send.
 */
static void test_same_uid(void **state)
{
	uint64_t node_a, self_a, node_b, self_b, a_to_b, b_to_a;
	int a, b, n, err;

	(void)state;
	a = test_peer_as(FLOOD_UID);
	b = test_peer_as(FLOOD_UID);
	test_node(a, a, &node_a, &self_a);
	test_node(b, b, &node_b, &self_b);
	a_to_b = test_handle(b, a, self_b);
	b_to_a = test_handle(a, b, self_a);

	n = flood(a, a_to_b, &err);
	assert_int_equal(err, -EDQUOT);
	assert_true((unsigned long long)n * CHUNK <= MAX_BYTES / 2);
	/* lenient between peers of one UID: not refused early either */
	assert_true((unsigned long long)n * CHUNK >= MAX_BYTES / 4);
	print_message("one peer took %d messages of 64 KiB of its UID's 8 MiB\n", n);
	assert_int_equal(send_chunk(b, b_to_a), 0);
	assert_int_equal(drain(a), 1);
	assert_int_equal(drain(b), n);

	close(a);
	close(b);
}

/* TRANSFER of @n creates from @from to @to (-1: itself); 0 or -errno. */
static int create(int from, int to, size_t n, struct bus1_transfer *src,
		  struct bus1_transfer *dst)
{
	size_t i;

	for (i = 0; i < n; ++i)
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
	return bus1_cmd_transfer(0, from, to, n, src, dst);
}

/* TRANSFER of @n copies of @from's @handle to @to; 0 or -errno. */
static int copy_handle(int from, int to, uint64_t handle, size_t n,
		       struct bus1_transfer *dst)
{
	struct bus1_transfer src[BATCH];
	size_t i;

	assert_true(n <= BATCH);
	for (i = 0; i < n; ++i)
		src[i] = (struct bus1_transfer){ 0, handle };
	return bus1_cmd_transfer(0, from, to, n, src, dst);
}

static uint64_t max_id(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * Nodes and handles a peer creates for itself are objects of its own UID
 * (accounting.md): creating them ends in EDQUOT, one peer holding at most
 * half of its UID's objects. The refused TRANSFER creates nothing and
 * consumes no ID; another peer of the same UID and a peer of another UID
 * can still create.
 */
static void test_create_quota(void **state)
{
	struct bus1_transfer src[BATCH], dst[BATCH];
	uint64_t *ids, last = 0;
	struct bus_state before;
	size_t n_ids = 0, batch, i;
	int p, same, other, r;

	(void)state;
	assert_true(bus_empty());
	ids = calloc(MAX_OBJECTS, sizeof(*ids));
	assert_non_null(ids);
	p = test_peer_as(FLOOD_UID);
	for (batch = BATCH; batch; batch /= 2) {
		while (!(r = create(p, -1, batch, src, dst))) {
			assert_true(n_ids + 2 * batch <= MAX_OBJECTS);
			for (i = 0; i < batch; ++i) {
				ids[n_ids++] = src[i].id;
				ids[n_ids++] = dst[i].id;
				last = max_id(last, max_id(src[i].id, dst[i].id));
			}
		}
		assert_int_equal(r, -EDQUOT);
	}
	print_message("one peer created %zu objects of its UID's %d\n", n_ids,
		      MAX_OBJECTS);
	/* with the peer itself, one object of its UID */
	assert_true(n_ids + 1 <= MAX_OBJECTS / 2);
	assert_true(n_ids >= MAX_OBJECTS / 4);

	before = bus_state();
	assert_int_equal(create(p, -1, 1, src, dst), -EDQUOT);
	assert_int_equal(create(p, -1, BATCH, src, dst), -EDQUOT);
	assert_bus_state(&before);
	test_expect_empty(p);

	same = test_peer_as(FLOOD_UID);
	test_node(same, -1, NULL, NULL);
	other = test_peer();
	test_node(other, -1, NULL, NULL);

	/* room again: the next create gets the next ID, none was consumed */
	assert_int_equal(bus1_cmd_release(p, n_ids, ids), 0);
	test_expect_empty(p);
	test_assert_next_after(p, last);

	free(ids);
	close(other);
	close(same);
	close(p);
}

/*
 * A handle that TRANSFER creates in another peer is charged on that peer's
 * UID with the caller's UID as claimant (accounting.md): a foreign caller
 * gets EDQUOT while the receiver's UID keeps most of its objects, and the
 * refused TRANSFER creates nothing in either peer and consumes no ID there.
 * A third UID can still transfer to the same receiver.
 */
static void test_transfer_quota(void **state)
{
	uint64_t node, own, last = 0, h3, avail;
	struct bus1_transfer src[2], dst[BATCH];
	struct json_object *doc;
	struct bus_state before;
	size_t n = 0, batch, i;
	int f, q, t, r;

	(void)state;
	assert_true(bus_empty());
	f = test_peer_as(FLOOD_UID);
	q = test_peer();
	t = test_peer_as(THIRD_UID);
	test_node(f, -1, &node, &own);
	for (batch = BATCH / 4; batch; batch /= 2) {
		while (!(r = copy_handle(f, q, own, batch, dst))) {
			n += batch;
			assert_true(n <= MAX_OBJECTS);
			for (i = 0; i < batch; ++i)
				last = max_id(last, dst[i].id);
		}
		assert_int_equal(r, -EDQUOT);
	}
	doc = test_stats_json();
	assert_int_equal(charged(doc, 0, FLOOD_UID, "objects"), n);
	avail = test_json_slot(doc, 0, "objects").available;
	json_object_put(doc);
	print_message("a foreign UID put %zu handles into a root peer, root keeps %llu of %d objects\n",
		      n, (unsigned long long)avail, MAX_OBJECTS);
	assert_true(n > 0 && n < MAX_OBJECTS / 2);
	assert_true(avail >= MAX_OBJECTS / 2);

	/* a create and a copy, refused as a whole */
	before = bus_state();
	src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
					 BUS1_INVALID };
	src[1] = (struct bus1_transfer){ 0, own };
	assert_int_equal(bus1_cmd_transfer(0, f, q, 2, src, dst), -EDQUOT);
	assert_int_equal(copy_handle(f, q, own, 1, dst), -EDQUOT);
	assert_bus_state(&before);
	test_expect_empty(q);
	test_expect_empty(f);

	/* a third UID gets through; q's next ID follows the last it got */
	test_node(t, q, NULL, &h3);
	assert_int_equal(h3, last + 2);
	test_assert_next_after(f, max_id(node, own));

	close(t);
	close(q);
	close(f);
}

/*
 * One message of test_send_handles_quota() received from @r: from
 * @account on @node, with @n_carried handles numbered on from *@last
 * (IDs are created at send time, in order, and never skipped).
 */
static void expect_carrying(int r, uint64_t node, uint64_t account,
			    size_t n_carried, uint64_t *last)
{
	struct test_item item;
	size_t j;

	assert_int_equal(test_recv_wait(r, &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.meta.id, node);
	assert_int_equal(item.meta.account, account);
	assert_int_equal(item.msg.n_transfers, n_carried);
	for (j = 0; j < n_carried; ++j) {
		assert_int_equal(item.transfers[j].flags, 0);
		assert_int_equal(item.transfers[j].id, *last + 2);
		*last = item.transfers[j].id;
	}
}

/*
 * Send messages carrying @n_carried copies of @carry from @f through @h
 * until the engine refuses; return how many were sent.
 */
static size_t flood_handles(int f, uint64_t h, uint64_t carry,
			    size_t n_carried)
{
	uint64_t handles[CARRIED];
	size_t i, n = 0;
	int e;

	for (i = 0; i < n_carried; ++i)
		handles[i] = carry;
	while (!(e = test_send(f, 1, &h, "h", 1, n_carried, handles)))
		assert_true(++n * (n_carried + 1) <= MAX_OBJECTS);
	assert_int_equal(e, -EDQUOT);
	return n;
}

/*
 * Handles carried by a message are objects of the receiver's UID, charged
 * at send time with the sender's UID as claimant (accounting.md): a
 * foreign sender of messages carrying handles gets EDQUOT, and the refused
 * SEND leaves nothing behind: no message, no handle, no ID in the
 * receiver; a multicast that includes a receiver with room reaches nobody.
 * A third UID still gets through, and once the receiver has released what
 * it got, the sender can send again.
 */
static void test_send_handles_quota(void **state)
{
	uint64_t node_r, h_r, node_t, h_t, node_f, own_f, node_r3, h_r3;
	uint64_t dst[2], last, *got;
	struct bus_state before;
	size_t i, n_big, n_small, n_got;
	double deadline;
	int r, f, t, e;

	(void)state;
	assert_true(bus_empty());
	r = test_peer();
	f = test_peer_as(FLOOD_UID);
	t = test_peer_as(THIRD_UID);
	test_node(r, f, &node_r, &h_r);
	test_node(t, f, &node_t, &h_t);
	test_node(f, -1, &node_f, &own_f);

	/* big messages until refused, then the smallest with a handle */
	n_big = flood_handles(f, h_r, own_f, CARRIED);
	n_small = flood_handles(f, h_r, own_f, 1);
	n_got = n_big * CARRIED + n_small;
	print_message("a foreign UID queued %zu messages of %d handles and %zu of 1\n",
		      n_big, CARRIED, n_small);
	assert_true(n_big > 0);
	assert_true(n_big + n_small + n_got < MAX_OBJECTS / 2);

	before = bus_state();
	dst[0] = h_t;
	dst[1] = h_r;
	assert_int_equal(test_send(f, 2, dst, "m", 1, 1, &own_f), -EDQUOT);
	assert_int_equal(test_send(f, 1, &h_r, "h", 1, 1, &own_f), -EDQUOT);
	assert_bus_state(&before);
	test_expect_empty(t);
	test_expect_empty(f);

	/* a third UID still gets through, with a handle */
	test_node(r, t, &node_r3, &h_r3);
	assert_int_equal(test_send(t, 1, &h_r3, "t", 1, 1, &h_r3), 0);

	/* r got the flood whole and in order, then the third UID's message */
	last = node_r;
	for (i = 0; i < n_big + n_small; ++i)
		expect_carrying(r, node_r, FLOOD_UID, i < n_big ? CARRIED : 1,
				&last);
	assert_int_equal(node_r3, last + 2);
	last = node_r3;
	expect_carrying(r, node_r3, THIRD_UID, 1, &last);
	test_expect_empty(r);

	/* released: the handles' charges are back, the flooder sends again */
	got = calloc(n_got, sizeof(*got));
	assert_non_null(got);
	for (i = 0; i < n_got; ++i)
		got[i] = node_r + 2 * (i + 1);
	assert_int_equal(bus1_cmd_release(r, n_got, got), 0);
	deadline = test_now() + SETTLE_S;
	while ((e = test_send(f, 1, &h_r, "h", 1, 1, &own_f)) == -EDQUOT &&
	       test_now() < deadline)
		usleep(10000);
	assert_int_equal(e, 0);
	expect_carrying(r, node_r, FLOOD_UID, 1, &last);
	test_expect_empty(r);
	test_expect_empty(f);

	free(got);
	close(t);
	close(f);
	close(r);
}

/* With every peer closed, every counter is back at zero. */
static void test_all_closed(void **state)
{
	uint64_t node, self, h;
	int a, b;

	(void)state;
	assert_true(bus_empty());
	a = test_peer();
	b = test_peer_as(FLOOD_UID);
	test_node(a, b, &node, &h);
	test_node(b, a, NULL, &self);
	assert_int_equal(send_chunk(b, h), 0);
	assert_int_equal(send_chunk(a, self), 0);
	assert_int_equal(test_stats_u64("totals.peers"), 2);
	assert_int_equal(test_stats_u64("totals.users"), 2);
	close(a);
	close(b);
	assert_true(bus_empty());
}

/*
 * A peer is an object of its own UID: with 8 objects per UID, some peers
 * of one UID open (at most 8), the next open fails with EDQUOT, other
 * UIDs are not affected, and a close gives the object back.
 */
static void test_peer_limit(void **state)
{
	int fds[9], i, n, fd;
	double deadline;

	(void)state;
	assert_int_equal(engine_restart("--max-objects 8"), 0);
	assert_int_equal(seteuid(FLOOD_UID), 0);
	for (n = 0; n < 9 && (fd = bus1_peer_new()) >= 0; ++n)
		fds[n] = fd;
	assert_int_equal(seteuid(0), 0);
	print_message("%d peers of one UID opened with 8 objects per UID\n", n);
	assert_true(n >= 1 && n <= 8);
	assert_int_equal(fd, -EDQUOT);
	fd = test_peer();

	/* PEER_RELEASE is asynchronous: the object comes back soon after */
	close(fds[--n]);
	deadline = test_now() + SETTLE_S;
	assert_int_equal(seteuid(FLOOD_UID), 0);
	while ((fds[n] = bus1_peer_new()) == -EDQUOT && test_now() < deadline)
		usleep(10000);
	assert_int_equal(seteuid(0), 0);
	assert_true(fds[n] >= 0);
	for (i = 0; i <= n; ++i)
		close(fds[i]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_flood),
		cmocka_unit_test(test_same_uid),
		cmocka_unit_test(test_create_quota),
		cmocka_unit_test(test_transfer_quota),
		cmocka_unit_test(test_send_handles_quota),
		cmocka_unit_test(test_all_closed),
		cmocka_unit_test(test_peer_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
