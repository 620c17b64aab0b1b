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
 * back) with bounds rather than exact counts, and read the engine's stats
 * with json-c by member name (util.c), never as text.
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
		cmocka_unit_test(test_all_closed),
		cmocka_unit_test(test_peer_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
