/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * What one user may hold in the module before the engine's quota applies
 * (module parameters max_user_requests and max_user_bytes, counted per
 * effective UID at open, shown in /sys/kernel/debug/bus1/users), and a
 * flood that must not make a busy engine look hung:
 *
 *  - with the engine stopped (SIGSTOP), one user's calls on more peers
 *    than max_user_requests allows fail with EDQUOT at once, while
 *    another user's call is still taken; an abandoned request (its
 *    caller killed) stays counted until the engine answers it, and every
 *    count returns to zero;
 *  - a payload that would take a user beyond max_user_bytes fails with
 *    EDQUOT and leaves nothing behind;
 *  - one user floods the engine from many peers with expensive requests
 *    (thousands of nodes created and released per request), building a
 *    backlog longer than request_timeout_ms: the engine keeps working, so
 *    it is not declared broken, nobody gets ENOTCONN or ETIMEDOUT, and
 *    another user's calls, which only the engine serves, are still
 *    served (their latencies and the flood's throughput are printed).
 *
 * Leaves the engine running and the default parameters set.
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "util.h"

#define PARAMS "/sys/module/bus1/parameters/"
#define FLOOD_UID 65534
#define DEFAULT_REQUESTS 1024
#define DEFAULT_BYTES (256UL << 20)
#define DEFAULT_TIMEOUT_MS 30000

static void set_param(const char *name, unsigned long value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	f = fopen(path, "we");
	assert_non_null(f);
	assert_true(fprintf(f, "%lu\n", value) > 0);
	assert_int_equal(fclose(f), 0);
}

/*
 * The counts of @uid in /sys/kernel/debug/bus1/users (debugfs is mounted
 * by test_debugfs()); 0 and 0 if the user has no peer.
 */
static void user_counts(unsigned int uid, unsigned long *requests,
			unsigned long *bytes)
{
	unsigned long u, r, b;
	FILE *f;

	test_debugfs("routes");
	f = fopen("/sys/kernel/debug/bus1/users", "re");
	assert_non_null(f);
	*requests = *bytes = 0;
	while (fscanf(f, "%lu %lu %lu", &u, &r, &b) == 3) {
		if (u == uid) {
			*requests = r;
			*bytes = b;
		}
	}
	fclose(f);
}

/* Wait until @uid holds nothing in the module. */
static bool user_drained(unsigned int uid)
{
	unsigned long r, b;
	int i;

	for (i = 0; i < 300; ++i) {
		user_counts(uid, &r, &b);
		if (!r && !b)
			return true;
		usleep(10000);
	}
	fprintf(stderr, "uid %u still holds %lu requests, %lu bytes\n", uid,
		r, b);
	return false;
}

/* Send @n bytes from @fd to @h; the call's result. */
static int send_bytes(int fd, uint64_t h, size_t n)
{
	static unsigned char buf[4 << 20];
	struct iovec vec = { buf, n };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = n,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int32_t err = 0;

	assert_true(n <= sizeof(buf));
	return bus1_cmd_send(fd, 1, &h, &err, &msg) ?: err;
}

#define N_BLOCKED 6
#define MAX_REQUESTS 4

/*
 * With the engine stopped, MAX_REQUESTS calls of one user wait for it and
 * the others fail with EDQUOT at once; another user is not affected. One
 * waiting caller is killed: its abandoned request stays counted until the
 * engine answers.
 */
static void test_requests_bound(void **state)
{
	int fds[N_BLOCKED], status, i, other, edquot = 0;
	pid_t children[N_BLOCKED], engine, root_call;
	unsigned long r, b;
	uint64_t node, h;

	(void)state;
	other = test_peer();
	test_node(other, -1, &node, &h);
	for (i = 0; i < N_BLOCKED; ++i) {
		fds[i] = test_peer_as(FLOOD_UID);
		test_handle(other, fds[i], h);
	}
	/* IDs in each receiving peer start at 1: the handle is 1 there. */
	set_param("max_user_requests", MAX_REQUESTS);
	engine = test_engine_pid();
	assert_true(engine > 0);
	assert_int_equal(kill(engine, SIGSTOP), 0);

	for (i = 0; i < N_BLOCKED; ++i) {
		children[i] = test_fork();
		if (!children[i])
			test_child_exit(send_bytes(fds[i], 1, 8) == 0);
	}
	/* The calls beyond the bound fail at once; the others wait. */
	for (i = 0; i < N_BLOCKED; ++i) {
		int k;

		for (k = 0; k < 100; ++k) {
			if (waitpid(children[i], &status, WNOHANG) ==
			    children[i])
				break;
			usleep(10000);
		}
		if (k < 100) {
			/* ended: it must have failed (EDQUOT) */
			assert_true(WIFEXITED(status) && WEXITSTATUS(status));
			children[i] = 0;
			++edquot;
		}
	}
	assert_int_equal(edquot, N_BLOCKED - MAX_REQUESTS);
	user_counts(FLOOD_UID, &r, &b);
	assert_int_equal(r, MAX_REQUESTS);
	assert_true(b > 0);

	/* Another user's call is taken (it waits for the engine too). */
	root_call = test_fork();
	if (!root_call)
		test_child_exit(send_bytes(other, h, 8) == 0);
	for (i = 0; i < 100; ++i) {
		user_counts(0, &r, &b);
		if (r)
			break;
		usleep(10000);
	}
	assert_int_equal(r, 1);

	/* A killed caller's request stays counted: it is still the engine's. */
	for (i = 0; i < N_BLOCKED && !children[i]; ++i)
		;
	assert_true(i < N_BLOCKED);
	assert_int_equal(kill(children[i], SIGKILL), 0);
	assert_int_equal(waitpid(children[i], &status, 0), children[i]);
	children[i] = 0;
	user_counts(FLOOD_UID, &r, &b);
	assert_int_equal(r, MAX_REQUESTS);

	assert_int_equal(kill(engine, SIGCONT), 0);
	assert_int_equal(waitpid(root_call, &status, 0), root_call);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (i = 0; i < N_BLOCKED; ++i) {
		if (!children[i])
			continue;
		assert_int_equal(waitpid(children[i], &status, 0), children[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_true(user_drained(FLOOD_UID));
	set_param("max_user_requests", DEFAULT_REQUESTS);
	/*
	 * The abandoned send was applied too: MAX_REQUESTS messages arrived,
	 * and the other user's.
	 */
	for (i = 0; i < MAX_REQUESTS + 1; ++i) {
		struct test_item item;

		assert_int_equal(test_recv_wait(other, &item), 0);
		assert_int_equal(item.meta.id, node);
	}
	test_expect_empty(other);
	for (i = 0; i < N_BLOCKED; ++i)
		close(fds[i]);
	close(other);
}

/*
 * A payload beyond max_user_bytes fails with EDQUOT before the engine
 * hears of it; one within it is sent. Nothing stays counted.
 */
static void test_bytes_bound(void **state)
{
	uint64_t node, h;
	int fd, i;

	(void)state;
	fd = test_peer_as(FLOOD_UID);
	test_node(fd, -1, &node, &h);
	/* Earlier peers' releases reach the engine asynchronously. */
	for (i = 0; i < 300 && test_stats_u64("totals.peers") != 1; ++i)
		usleep(10000);
	assert_int_equal(test_stats_u64("totals.messages"), 0);
	set_param("max_user_bytes", 1UL << 20);
	assert_int_equal(send_bytes(fd, h, 2UL << 20), -EDQUOT);
	assert_true(user_drained(FLOOD_UID));
	assert_int_equal(test_stats_u64("totals.messages"), 0);
	assert_int_equal(send_bytes(fd, h, 512UL << 10), 0);
	set_param("max_user_bytes", DEFAULT_BYTES);
	assert_int_equal(test_stats_u64("totals.messages"), 1);
	close(fd);
	assert_true(user_drained(FLOOD_UID));
}

#define FLOOD_PEERS 96
#define FLOOD_NODES 2048
#define FLOOD_WARMUP_SECONDS 2
#define FLOOD_SECONDS 8
#define FLOOD_MIN_TIMEOUT_MS 150
#define FLOOD_MAX_TIMEOUT_MS 1000

struct flood {
	int fds[FLOOD_PEERS];
	_Atomic bool stop;
	_Atomic unsigned long requests;
	_Atomic unsigned long failures;	/* ENOTCONN, ETIMEDOUT, ... */
	_Atomic int first_errno;
};

struct flooder {
	struct flood *f;
	int fd;
};

/*
 * Create FLOOD_NODES nodes with a handle each in one TRANSFER, release
 * them all in one RELEASE, handles first (their HANDLE_RELEASE is then
 * dropped with the node, so nothing piles up in the queue).
 */
static void *flood_run(void *arg)
{
	static __thread struct bus1_transfer src[FLOOD_NODES], dst[FLOOD_NODES];
	static __thread uint64_t ids[2 * FLOOD_NODES];
	struct flooder *w = arg;
	struct flood *f = w->f;
	int i, r;

	while (!f->stop) {
		for (i = 0; i < FLOOD_NODES; ++i)
			src[i] = (struct bus1_transfer){
				BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
		r = bus1_cmd_transfer(0, w->fd, -1, FLOOD_NODES, src, dst);
		if (!r) {
			for (i = 0; i < FLOOD_NODES; ++i) {
				ids[i] = dst[i].id;
				ids[FLOOD_NODES + i] = src[i].id;
			}
			f->requests++;
			r = bus1_cmd_release(w->fd, 2 * FLOOD_NODES, ids);
		}
		if (!r) {
			f->requests++;
		} else if (r != -EDQUOT) {
			int none = 0;

			atomic_compare_exchange_strong(&f->first_errno, &none,
						       -r);
			f->failures++;
			break;
		}
	}
	return NULL;
}

/*
 * The probe's node create and release, two calls only the engine serves,
 * behind the backlog: their round trip in seconds.
 */
static double probe_trip(int probe)
{
	uint64_t ids[2];
	double t = test_now();

	test_node(probe, -1, &ids[1], &ids[0]);
	assert_int_equal(bus1_cmd_release(probe, 2, ids), 0);
	return test_now() - t;
}

/*
 * One user floods the engine; the timeout is shorter than the backlog.
 * The engine keeps working, so it is not hung: nobody loses it, and
 * another user's round trips go through. How long the backlog is depends
 * on the machine, so a warm-up under the default timeout measures the
 * probe's round trip first, and the timeout is then set to half of it
 * (within FLOOD_MIN_TIMEOUT_MS, above the engine's 50 ms slices, and
 * FLOOD_MAX_TIMEOUT_MS).
 */
static void test_flood_not_hung(void **state)
{
	static struct flooder workers[FLOOD_PEERS];
	static pthread_t threads[FLOOD_PEERS];
	static struct flood f;
	double start, t, worst = 0, sum = 0, warm = 0;
	unsigned int trips = 0, warm_trips = 0, timeout_ms;
	uint64_t gen;
	int probe, i;

	(void)state;
	memset(&f, 0, sizeof(f));
	for (i = 0; i < FLOOD_PEERS; ++i)
		f.fds[i] = test_peer_as(FLOOD_UID);
	probe = test_peer();
	gen = test_debugfs("generation");

	for (i = 0; i < FLOOD_PEERS; ++i) {
		workers[i] = (struct flooder){ &f, f.fds[i] };
		assert_int_equal(pthread_create(&threads[i], NULL, flood_run,
						&workers[i]), 0);
	}
	start = test_now();
	while (test_now() - start < FLOOD_WARMUP_SECONDS && !f.failures) {
		warm += probe_trip(probe);
		++warm_trips;
	}
	timeout_ms = warm_trips ? 1000 * warm / warm_trips / 2 : 0;
	if (timeout_ms < FLOOD_MIN_TIMEOUT_MS)
		timeout_ms = FLOOD_MIN_TIMEOUT_MS;
	if (timeout_ms > FLOOD_MAX_TIMEOUT_MS)
		timeout_ms = FLOOD_MAX_TIMEOUT_MS;
	set_param("request_timeout_ms", timeout_ms);

	start = test_now();
	while (test_now() - start < FLOOD_SECONDS && !f.failures) {
		t = probe_trip(probe);
		sum += t;
		worst = t > worst ? t : worst;
		++trips;
	}
	f.stop = true;
	for (i = 0; i < FLOOD_PEERS; ++i)
		pthread_join(threads[i], NULL);
	set_param("request_timeout_ms", DEFAULT_TIMEOUT_MS);

	printf("# flood: %d peers of uid %d, %lu requests of %d nodes in %.1f s (%.0f/s); "
	       "probe of uid 0: warm-up mean %.0f ms, then %u node create+release, mean %.0f ms, worst %.0f ms; timeout %u ms\n",
	       FLOOD_PEERS, FLOOD_UID, f.requests, FLOOD_NODES,
	       test_now() - start + FLOOD_WARMUP_SECONDS,
	       f.requests / (test_now() - start + FLOOD_WARMUP_SECONDS),
	       warm_trips ? 1000 * warm / warm_trips : 0, trips,
	       trips ? 1000 * sum / trips : 0, 1000 * worst, timeout_ms);
	if (f.failures)
		fail_msg("%lu flood requests failed, first with %s", f.failures,
			 strerror(f.first_errno));
	/* The backlog did outlast the timeout, or this proved nothing. */
	assert_true(worst * 1000 > timeout_ms);
	assert_true(trips > 0);
	assert_int_equal(test_debugfs("generation"), gen);
	for (i = 0; i < FLOOD_PEERS; ++i)
		close(f.fds[i]);
	close(probe);
	assert_true(user_drained(FLOOD_UID));
}

static int teardown(void **state)
{
	FILE *f;

	(void)state;
	f = fopen(PARAMS "max_user_requests", "we");
	if (f) {
		fprintf(f, "%d\n", DEFAULT_REQUESTS);
		fclose(f);
	}
	f = fopen(PARAMS "max_user_bytes", "we");
	if (f) {
		fprintf(f, "%lu\n", DEFAULT_BYTES);
		fclose(f);
	}
	f = fopen(PARAMS "request_timeout_ms", "we");
	if (!f)
		return -1;
	fprintf(f, "%d\n", DEFAULT_TIMEOUT_MS);
	fclose(f);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_bound),
		cmocka_unit_test(test_bytes_bound),
		cmocka_unit_test(test_flood_not_hung),
	};

	return cmocka_run_group_tests(tests, test_setup_device, teardown);
}
