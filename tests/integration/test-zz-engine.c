/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Engine lifecycle (runs last: it stops and restarts the engine). While the
 * engine runs the control device is busy; when it dies every peer created
 * under it is dead for good (ENOTCONN from every ioctl, POLLERR|POLLHUP,
 * close works) and new opens fail with ENXIO until a new engine attaches,
 * under which new peers work. Leaves the engine running.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "util.h"

static int engine_ctl(const char *what)
{
	const char *top = getenv("BUS1_TOP");
	char cmd[4096];
	int r;

	if (!top)
		top = "../..";
	snprintf(cmd, sizeof(cmd), "'%s'/scripts/guest-engine.sh %s", top,
		 what);
	fflush(stdout);
	r = system(cmd);
	return r;
}

static void test_engine_busy(void **state)
{
	int fd;

	(void)state;
	fd = open("/dev/bus1-engine", O_RDWR | O_CLOEXEC);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EBUSY);
}

static void assert_dead(int fd, int other)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;
	struct bus1_metadata meta;
	struct bus1_message msg = { .type = BUS1_INVALID };
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };
	uint64_t id = 1;
	int32_t err;

	assert_int_equal(bus1_cmd_transfer(0, fd, -1, 1, &src, &dst),
			 -ENOTCONN);
	assert_int_equal(bus1_cmd_transfer(0, fd, other, 1, &src, &dst),
			 -ENOTCONN);
	assert_int_equal(bus1_cmd_release(fd, 1, &id), -ENOTCONN);
	assert_int_equal(bus1_cmd_release(fd, 0, NULL), -ENOTCONN);
	msg.type = BUS1_MESSAGE_TYPE_USER;
	assert_int_equal(bus1_cmd_send(fd, 1, &id, &err, &msg), -ENOTCONN);
	msg.type = BUS1_INVALID;
	assert_int_equal(bus1_cmd_recv(fd, &meta, &msg), -ENOTCONN);
	assert_int_equal(test_raw_recv(fd, 0, &meta, &msg), -ENOTCONN);

	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLERR);
	assert_true(pfd.revents & POLLHUP);
}

/* Waits up to @ms for @pid to exit; returns its status or -1. */
static int wait_child(pid_t pid, int ms)
{
	int status, i;

	for (i = 0; i < ms; i += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		usleep(10 * 1000);
	}
	return -1;
}

/*
 * A caller waiting for the engine is killable: with the engine stopped, a
 * SEND blocks; SIGKILL ends the wait at once. The peer is usable
 * afterwards. bus1(7) does not say what becomes of the killed call; that
 * its request is abandoned, not withdrawn, so the engine still applies it
 * once it runs again and the message is delivered exactly once, is a
 * project decision (docs/decisions.md, "Killed callers").
 */
static void test_abandoned_request(void **state)
{
	uint64_t node, own, h;
	pid_t engine, child;
	int a, b, status;

	(void)state;
	a = test_peer();
	b = test_peer();
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	engine = test_engine_pid();
	assert_true(engine > 0);

	assert_int_equal(kill(engine, SIGSTOP), 0);
	child = test_fork();
	if (child == 0) {
		test_send(b, 1, &h, "abandoned", 9, 0, NULL);
		test_child_exit(false);
	}
	/* The child is blocked in the ioctl, not done. */
	usleep(300 * 1000);
	assert_int_equal(waitpid(child, &status, WNOHANG), 0);
	assert_int_equal(kill(child, SIGKILL), 0);
	status = wait_child(child, 5000);
	assert_int_equal(kill(engine, SIGCONT), 0);
	assert_true(status != -1);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* docs/decisions.md, "Killed callers": its effect stands */
	test_expect_user(a, node, "abandoned", 9);
	test_send_ok(b, h, "after", 5);
	test_expect_user(a, node, "after", 5);
	test_expect_empty(a);
	close(a);
	close(b);
}

/*
 * The engine dies while a request is in flight: the caller gets ENOTCONN
 * and does not hang. guest-engine.sh kills it, so that its death counts
 * as asked for rather than as a crash.
 */
static void test_engine_death_inflight(void **state)
{
	uint64_t node, own, h;
	pid_t engine, child;
	int a, b, status;

	(void)state;
	a = test_peer();
	b = test_peer();
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	engine = test_engine_pid();
	assert_true(engine > 0);

	assert_int_equal(kill(engine, SIGSTOP), 0);
	child = test_fork();
	if (child == 0)
		test_child_exit(test_send(b, 1, &h, "x", 1, 0, NULL) ==
				-ENOTCONN);
	usleep(300 * 1000);
	assert_int_equal(waitpid(child, &status, WNOHANG), 0);
	assert_int_equal(engine_ctl("kill KILL"), 0);
	status = wait_child(child, 5000);
	assert_true(status != -1);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_dead(a, -1);
	assert_dead(b, -1);
	close(a);
	close(b);
	assert_int_equal(engine_ctl("start"), 0);
	a = test_peer();
	test_assert_next_after(a, 0);
	close(a);
}

static void test_engine_restart(void **state)
{
	uint64_t node, own, h, node2, own2;
	struct pollfd pfd;
	struct test_item item;
	int a, b, c, d, ctl;
	pid_t waiter;

	(void)state;
	/* Live state under the first engine: nodes, handles, a queued item. */
	a = test_peer();
	b = test_peer();
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	test_send_ok(b, h, "queued", 6);
	assert_true(test_wait(a, TEST_TIMEOUT_MS) > 0);
	c = test_peer();

	/* A child blocked in poll() on c must be woken by the engine's death. */
	waiter = test_fork();
	if (waiter == 0) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		struct timespec t0, t1;
		bool ok;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ok = poll(&p, 1, 20000) == 1 &&
		     (p.revents & (POLLERR | POLLHUP)) == (POLLERR | POLLHUP);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!ok || t1.tv_sec - t0.tv_sec > 15) {
			fprintf(stderr, "waiter: poll revents %#x\n", p.revents);
			ok = false;
		}
		test_child_exit(ok);
	}
	usleep(200 * 1000);

	assert_int_equal(engine_ctl("stop"), 0);
	test_join(waiter);

	assert_dead(a, b);
	assert_dead(b, a);
	assert_dead(c, -1);
	/* No engine: opening fails with ENXIO. */
	assert_int_equal(bus1_peer_new(), -ENXIO);

	/* A control file opened but not attached is still "no engine". */
	ctl = open("/dev/bus1-engine", O_RDWR | O_CLOEXEC);
	assert_true(ctl >= 0);
	assert_int_equal(bus1_peer_new(), -ENXIO);
	close(ctl);

	/* Closing dead peers works. */
	assert_int_equal(close(c), 0);

	assert_int_equal(engine_ctl("start"), 0);

	/* Old peers stay dead under the new engine. */
	assert_dead(a, -1);
	/* New peers work, and cannot reach old ones. */
	d = test_peer();
	test_node(d, -1, &node2, &own2);
	assert_true(node2 == 1 || own2 == 1);
	test_send_ok(d, own2, "new engine", 10);
	test_expect_user(d, node2, "new engine", 10);
	{
		struct bus1_transfer src = { 0, own2 }, dst;

		assert_int_equal(bus1_cmd_transfer(0, d, a, 1, &src, &dst),
				 -ENOTCONN);
	}
	pfd = (struct pollfd){ .fd = d, .events = POLLIN | POLLOUT };
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_int_equal(pfd.revents, POLLOUT);
	assert_int_equal(test_recv(d, &item), -EAGAIN);

	assert_int_equal(close(a), 0);
	assert_int_equal(close(b), 0);
	close(d);

	/* The new engine holds the control device too. */
	test_engine_busy(state);
}

/* Whatever happened above, leave an engine running for the runner. */
static int teardown_engine(void **state)
{
	pid_t engine = test_engine_pid();

	(void)state;
	if (engine > 0)
		kill(engine, SIGCONT);
	if (engine_ctl("status >/dev/null") != 0)
		return engine_ctl("start") == 0 ? 0 : -1;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_busy),
		cmocka_unit_test(test_engine_restart),
		cmocka_unit_test(test_abandoned_request),
		cmocka_unit_test(test_engine_death_inflight),
	};

	return cmocka_run_group_tests(tests, test_setup_device,
				      teardown_engine);
}
