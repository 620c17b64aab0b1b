/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Resource accounting end to end. The engine is restarted with small
 * limits (8 MiB, 4096 objects per UID) so floods end quickly, and the
 * default engine is restored at the end. Counters are read from the
 * engine's stats socket, whose document layout daemon/stats.c describes.
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
#include "util.h"

#define FLOOD_UID 65534
#define THIRD_UID 65533
#define MAX_BYTES (8ULL << 20)
#define MAX_OBJECTS 4096
#define CHUNK (64 * 1024)

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

/* Bytes that claimant UID @claimant has charged on user @uid. */
static unsigned long long charged_bytes(unsigned int uid, unsigned int claimant)
{
	unsigned long long actors, ou, orsv, bu, brsv;
	const char *u, *end, *p;
	char key[64];

	u = test_stats_user(test_stats(), uid, &end);
	if (!u)
		return 0;
	snprintf(key, sizeof(key), "{\"claimant\":%u,", claimant);
	p = strstr(u, key);
	if (!p || p > end)
		return 0;
	assert_int_equal(sscanf(p + strlen(key),
				"\"actors\":%llu,\"objects\":{\"used\":%llu,\"reserved\":%llu},"
				"\"bytes\":{\"used\":%llu,\"reserved\":%llu}",
				&actors, &ou, &orsv, &bu, &brsv), 5);
	return bu;
}

/*
 * The charge once the engine has settled what the receiver got: the module
 * tells it with quiet RECV_DONE records, read within a few milliseconds
 * (see the control header), so the stats may lag a drain briefly.
 */
static unsigned long long settled_bytes(unsigned int uid, unsigned int claimant,
					unsigned long long want)
{
	unsigned long long got = charged_bytes(uid, claimant);
	double deadline = test_now() + 2.0;

	while (got != want && test_now() < deadline) {
		usleep(2000);
		got = charged_bytes(uid, claimant);
	}
	return got;
}

/* Whether `bus1ctl @view` succeeds and prints a line containing @text. */
static bool bus1ctl_shows(const char *view, const char *text)
{
	const char *top = getenv("BUS1_TOP");
	char cmd[1024], line[512];
	bool found = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s'/daemon/bus1ctl %s", top ? top : "../..",
		 view);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, text))
			found = true;
	return pclose(f) == 0 && found;
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
	uint64_t node, self, to_r, to_r3;
	int r, f, t, p[2], q[2], n, err;
	unsigned long long avail;
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
	/* a few 64 KiB messages, far below 8 MiB */
	assert_true(n > 0 && n < 64);
	assert_int_equal(charged_bytes(0, FLOOD_UID), (unsigned long long)n * CHUNK);
	avail = test_stats_slot(test_stats(), 0, "bytes").available;
	assert_true(avail >= MAX_BYTES / 2);
	print_message("flooder sent %d messages of 64 KiB, root keeps %llu of %llu bytes\n",
		      n, avail, MAX_BYTES);

	assert_true(bus1ctl_shows("users", "by UID 65534"));
	assert_true(bus1ctl_shows("peers", "65534"));
	assert_true(bus1ctl_shows("status", "refused charges:  1"));

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
 * UID's bytes, and the victim can still send.
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
	const char *doc;
	int a, b;

	(void)state;
	a = test_peer();
	b = test_peer_as(FLOOD_UID);
	test_node(a, b, &node, &h);
	test_node(b, a, NULL, &self);
	assert_int_equal(send_chunk(b, h), 0);
	assert_int_equal(send_chunk(a, self), 0);
	doc = test_stats();
	assert_null(strstr(doc, "\"users\":[]"));
	close(a);
	close(b);

	/* PEER_RELEASE is asynchronous: wait for the engine to apply it */
	for (int i = 0; i < 100; ++i) {
		doc = test_stats();
		if (strstr(doc, "\"users\":[]"))
			break;
		usleep(10000);
	}
	assert_non_null(strstr(doc, "\"users\":[]"));
	assert_non_null(strstr(doc, "\"peers\":[]"));
	assert_non_null(strstr(doc,
		"\"totals\":{\"peers\":0,\"nodes\":0,\"handles\":0,\"queued\":0,"
		"\"messages\":0,\"message_bytes\":0,\"users\":0,"));
}

/*
 * A peer is an object of its own UID: with 8 objects per UID, 7 peers fit
 * (the first's quota keeps a reserve of 1), the 8th open fails with
 * EDQUOT, and other UIDs are not affected.
 */
static void test_peer_limit(void **state)
{
	int fds[8], i, fd;

	(void)state;
	assert_int_equal(engine_restart("--max-objects 8"), 0);
	for (i = 0; i < 7; ++i)
		fds[i] = test_peer_as(FLOOD_UID);
	assert_int_equal(seteuid(FLOOD_UID), 0);
	fd = bus1_peer_new();
	assert_int_equal(seteuid(0), 0);
	assert_int_equal(fd, -EDQUOT);
	fds[7] = test_peer();
	for (i = 0; i < 8; ++i)
		close(fds[i]);
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
