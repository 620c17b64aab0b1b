/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Faults in the engine. Each case restarts the engine with a fault
 * (bus1d --fault, through BUS1D_ARGS and guest-engine.sh), runs traffic
 * from several processes, and checks that every process got a documented
 * outcome in bounded time: success, or the errno the fault must cause
 * (ENOTCONN/ENXIO after a crash, ETIMEDOUT/ENOTCONN after a hang, EIO for a
 * lying reply, ENOMEM for a failed allocation). A damaged ITEM record (a
 * lent item the kernel refuses) loses that one item for its receiver,
 * whose RECV finds nothing, and nothing else: the engine's counts, read
 * from its stats socket, show the item lent until a later item's RECV_DONE
 * or the peer's release takes it, and return to zero once every peer is
 * closed. Then a normal engine is started and must serve new peers. The
 * harness checks the kernel log. The faulty engines grant no routes
 * (--route-items 0), so every send reaches them; one case gives routes and
 * kills the engine at the first ROUTE_DONE, with routes live and revoked:
 * the module must drop them all. Leaves a normal engine running and the
 * default request timeout set.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/bus1-engine.h>
#include "util.h"

#define N_WORKERS 4
#define TIMEOUT_PARAM "/sys/module/bus1/parameters/request_timeout_ms"
/* what the engine lends at once (LEND_MAX_ITEMS, daemon/core/recv.h) */
#define WINDOW 16
/* more than that, so a RECV needs FETCH */
#define BURST 20

static const char *top(void)
{
	const char *t = getenv("BUS1_TOP");

	return t ? t : "../..";
}

/*
 * Stop, start or restart the engine (guest-engine.sh starts it in a session
 * of its own, so it outlives this program).
 */
static int engine_ctl(const char *what, const char *args)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "BUS1D_ARGS='%s' '%s'/scripts/guest-engine.sh %s",
		 args ? args : "", top(), what);
	fflush(stdout);
	return system(cmd);
}

static void set_timeout_ms(unsigned int ms)
{
	FILE *f = fopen(TIMEOUT_PARAM, "we");

	assert_non_null(f);
	assert_true(fprintf(f, "%u\n", ms) > 0);
	assert_int_equal(fclose(f), 0);
}

static void fault_engine(const char *fault)
{
	char args[512];

	snprintf(args, sizeof(args), "--route-items 0 --fault %s", fault);
	assert_int_equal(engine_ctl("restart", args), 0);
}

/* A normal engine serves a new peer: node, send, receive. */
static void assert_fresh_engine_works(void)
{
	uint64_t node, handle;
	int fd;

	assert_int_equal(engine_ctl("restart", NULL), 0);
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "fresh", 5);
	test_expect_user(fd, node, "fresh", 5);
	close(fd);
}

/*
 * One worker: a peer with a node, then @n rounds of @burst sends to itself
 * and as many receives. Exits with 0, or the positive errno of the first
 * failure.
 */
static void worker(unsigned int n, unsigned int burst)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct pollfd pfd;
	char buf[64];
	struct iovec iov = { buf, sizeof(buf) };
	uint64_t handle;
	int32_t err;
	unsigned int i, k;
	int fd, r;

	fd = bus1_peer_new();
	if (fd < 0)
		_exit(-fd);
	r = bus1_cmd_transfer(0, fd, -1, 1, &src, &dst);
	if (r < 0)
		_exit(-r);
	handle = dst.id;
	for (i = 0; i < n * burst; ++i) {
		for (k = 0; !(i % burst) && k < burst; ++k) {
			msg = (struct bus1_message){
				.type = BUS1_MESSAGE_TYPE_USER,
				.n_data = 8,
				.n_data_vecs = 1,
				.ptr_data_vecs = (uintptr_t)&iov,
			};
			r = bus1_cmd_send(fd, 1, &handle, &err, &msg);
			if (r < 0)
				_exit(-r);
			if (err)
				_exit(-err);
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, TEST_TIMEOUT_MS) != 1)
			_exit(ETIME);
		if (pfd.revents & (POLLERR | POLLHUP))
			_exit(ENOTCONN);
		msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_data = sizeof(buf),
			.n_data_vecs = 1,
			.ptr_data_vecs = (uintptr_t)&iov,
		};
		r = bus1_cmd_recv(fd, &meta, &msg);
		if (r < 0)
			_exit(-r);
	}
	close(fd);
	_exit(0);
}

/* Outcomes of a run: how many workers ended with each errno (0 = ok). */
struct outcome {
	unsigned int n[256];
	double secs;
};

static void run_burst_workers(struct outcome *o, unsigned int rounds,
			      unsigned int burst, int max_ms)
{
	pid_t pids[N_WORKERS];
	double start = test_now();
	int status, i, left = N_WORKERS;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < N_WORKERS; ++i) {
		pids[i] = test_fork();
		if (!pids[i])
			worker(rounds, burst);
	}
	while (left && (test_now() - start) * 1000 < max_ms) {
		for (i = 0; i < N_WORKERS; ++i) {
			if (pids[i] <= 0 ||
			    waitpid(pids[i], &status, WNOHANG) != pids[i])
				continue;
			pids[i] = 0;
			--left;
			if (WIFEXITED(status))
				o->n[WEXITSTATUS(status)]++;
			else
				o->n[255]++;
		}
		usleep(5000);
	}
	o->secs = test_now() - start;
	for (i = 0; i < N_WORKERS; ++i) {
		if (pids[i] <= 0)
			continue;
		fprintf(stderr, "worker %d hung\n", pids[i]);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
	}
	assert_int_equal(left, 0);
}

static void run_workers(struct outcome *o, unsigned int rounds, int max_ms)
{
	run_burst_workers(o, rounds, 1, max_ms);
}

/* Every worker ended with one of the @n_allowed errnos (0: success). */
static void assert_outcomes(const struct outcome *o, const int *allowed,
			    size_t n_allowed)
{
	unsigned int total = 0;
	size_t j;
	int e;

	for (e = 0; e < 256; ++e) {
		if (!o->n[e])
			continue;
		for (j = 0; j < n_allowed; ++j)
			if (allowed[j] == e)
				break;
		if (j == n_allowed)
			fprintf(stderr, "%u worker(s) ended with %d (%s)\n",
				o->n[e], e, strerror(e));
		assert_true(j < n_allowed);
		total += o->n[e];
	}
	assert_int_equal(total, N_WORKERS);
}

#define ASSERT_OUTCOMES(_o, ...) do {					\
		const int _a[] = { __VA_ARGS__ };			\
		assert_outcomes((_o), _a, sizeof(_a) / sizeof(_a[0]));	\
	} while (0)

/* The number after @key (with its quotes and colon) in @from. */
static uint64_t stats_number(const char *from, const char *key)
{
	const char *p = strstr(from, key);

	assert_non_null(p);
	return strtoull(p + strlen(key), NULL, 10);
}

/* "totals"."@key" */
static uint64_t stats_total(const char *key)
{
	char k[64];
	const char *totals = strstr(test_stats(), "\"totals\":{");

	assert_non_null(totals);
	snprintf(k, sizeof(k), "\"%s\":", key);
	return stats_number(totals, k);
}

/* A counter of the "engine" object, @key with quotes and colon. */
static uint64_t stats_engine_count(const char *key)
{
	const char *engine = strstr(test_stats(), "\"engine\":{");

	assert_non_null(engine);
	return stats_number(engine, key);
}

/* The engine applies a peer's release after close() returns: wait. */
static bool stats_wait_total(const char *key, uint64_t want)
{
	int i;

	for (i = 0; i < 500; ++i) {
		if (stats_total(key) == want)
			return true;
		usleep(10000);
	}
	return false;
}

/* No peer, and nothing of one left behind. */
static void assert_stats_empty(void)
{
	static const char *const keys[] = { "peers", "nodes", "handles",
		"queued", "lent", "messages", "message_bytes", "users" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i) {
		if (stats_total(keys[i]))
			fprintf(stderr, "stats: totals.%s = %llu\n", keys[i],
				(unsigned long long)stats_total(keys[i]));
		assert_int_equal(stats_total(keys[i]), 0);
	}
}

static void crash(const char *fault)
{
	struct outcome o;

	fault_engine(fault);
	run_workers(&o, 100, 10000);
	/* The engine died under the workers: nobody finished. */
	ASSERT_OUTCOMES(&o, ENOTCONN, ENXIO);
	assert_true(o.n[ENOTCONN] > 0);
	assert_int_not_equal(engine_ctl("status >/dev/null", NULL), 0);
	assert_int_equal(bus1_peer_new(), -ENXIO);
	assert_fresh_engine_works();
}

/*
 * With routes: the workers' sends go through the module, and their
 * closes revoke the routes; the engine dies at the first ROUTE_DONE,
 * leaving routes revoked and live behind. The module drops them all.
 */
static void test_abort_type_route_done(void **state)
{
	struct outcome o;
	int i;

	(void)state;
	assert_int_equal(engine_ctl("restart",
				    "--fault abort,type=route-done"), 0);
	run_workers(&o, 100, 10000);
	/* the engine dies when the first worker closes; later opens fail */
	ASSERT_OUTCOMES(&o, 0, ENOTCONN, ENXIO);
	for (i = 0; i < 500 && !engine_ctl("status >/dev/null", NULL); ++i)
		usleep(10000);
	assert_int_not_equal(engine_ctl("status >/dev/null", NULL), 0);
	assert_int_equal(test_debugfs("routes"), 0);
	assert_fresh_engine_works();
}

static void test_abort_before(void **state)
{
	(void)state;
	crash("abort,at=40");
}

static void test_abort_after(void **state)
{
	(void)state;
	crash("abort,at=40,point=after");
}

/* RECV_DONE is one-way: applied, and the engine dies before the next. */
static void test_abort_type_recv_done(void **state)
{
	(void)state;
	crash("abort,type=recv-done,point=after");
}

/*
 * FETCH comes when a burst outgrows what the engine lends at once and the
 * engine has not read the RECV_DONE records since (nothing else woke it):
 * the RECV that sent it fails with ENOTCONN when the engine dies.
 */
static void test_abort_type_fetch(void **state)
{
	struct test_item item;
	uint64_t node, handle;
	int fd, i;

	(void)state;
	fault_engine("abort,type=fetch");
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	for (i = 0; i < BURST; ++i)
		test_send_ok(fd, handle, "burst", 5);
	for (i = 0; i < WINDOW; ++i)
		test_expect_user(fd, node, "burst", 5);
	assert_int_equal(test_recv(fd, &item), -ENOTCONN);
	close(fd);
	assert_int_not_equal(engine_ctl("status >/dev/null", NULL), 0);
	assert_int_equal(bus1_peer_new(), -ENXIO);
	assert_fresh_engine_works();
}

/*
 * Without faults, bursts are received in full and in order: the engine
 * lends what its window holds, and the RECV that finds nothing more lent
 * sends FETCH, once per burst when nothing else talks to the engine
 * (without routes: the module would queue these sends itself).
 */
static void test_burst(void **state)
{
	uint64_t node, handle;
	char buf[16];
	struct outcome o;
	int fd, round, i;

	(void)state;
	assert_int_equal(engine_ctl("restart", "--route-items 0"), 0);
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	for (round = 0; round < 3; ++round) {
		for (i = 0; i < BURST; ++i) {
			snprintf(buf, sizeof(buf), "b%02d", i);
			test_send_ok(fd, handle, buf, 3);
		}
		for (i = 0; i < BURST; ++i) {
			snprintf(buf, sizeof(buf), "b%02d", i);
			test_expect_user(fd, node, buf, 3);
		}
		test_expect_empty(fd);
	}
	assert_int_equal(stats_engine_count("\"fetch\":"), 3);
	close(fd);
	run_burst_workers(&o, 5, BURST, 30000);
	ASSERT_OUTCOMES(&o, 0);
	assert_true(stats_wait_total("peers", 0));
	assert_stats_empty();
}

static void test_abort_type_send(void **state)
{
	(void)state;
	crash("abort,type=send");
}

/*
 * The engine stops reading and answering: after the timeout the request
 * that waited longest fails with ETIMEDOUT, every other with ENOTCONN, and
 * every peer is dead. A new engine attaches while the hung one still holds
 * its control file.
 */
static void test_hang(void **state)
{
	struct outcome o;
	uint64_t node, handle;
	pid_t second;
	int fd, i;

	(void)state;
	set_timeout_ms(500);
	fault_engine("stop-reading,at=30");
	run_workers(&o, 200, 15000);
	ASSERT_OUTCOMES(&o, ETIMEDOUT, ENOTCONN, ENXIO);
	assert_int_equal(o.n[ETIMEDOUT], 1);
	/* Bounded by the timeout, not by the 30 s default. */
	assert_true(o.secs < 10.0);
	/* The hung engine still runs; a second one attaches anyway. */
	assert_int_equal(engine_ctl("status >/dev/null", NULL), 0);
	assert_int_equal(bus1_peer_new(), -ENXIO);

	second = test_fork();
	if (!second) {
		char path[4096];
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		snprintf(path, sizeof(path), "%s/daemon/bus1d", top());
		execl(path, "bus1d", (char *)NULL);
		_exit(127);
	}
	for (i = 0, fd = -ENXIO; fd == -ENXIO && i < 500; ++i) {
		usleep(10000);
		fd = bus1_peer_new();
	}
	assert_true(fd >= 0);
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "second", 6);
	test_expect_user(fd, node, "second", 6);
	close(fd);
	assert_int_equal(kill(second, SIGTERM), 0);
	test_join(second);

	set_timeout_ms(30000);
	assert_fresh_engine_works();
}

/* A slow engine is only slow: no spurious timeout below the limit. */
static void test_slow(void **state)
{
	struct outcome o;

	(void)state;
	set_timeout_ms(2000);
	fault_engine("delay,ms=2;stop-reading,at=20,for=400");
	run_workers(&o, 40, 20000);
	ASSERT_OUTCOMES(&o, 0);
	set_timeout_ms(30000);
	assert_int_equal(engine_ctl("status >/dev/null", NULL), 0);
	assert_fresh_engine_works();
}

/* Extra bogus records are refused; no application notices. */
static void lie_harmless(const char *kind)
{
	struct outcome o;
	char fault[128];

	snprintf(fault, sizeof(fault), "corrupt,kind=%s,count=0", kind);
	fault_engine(fault);
	run_workers(&o, 25, 20000);
	ASSERT_OUTCOMES(&o, 0);
	assert_int_equal(engine_ctl("status >/dev/null", NULL), 0);
	assert_fresh_engine_works();
}

/* Damaged replies fail exactly the request they answer, with EIO. */
static void lie_damaging(const char *kind, unsigned int at)
{
	struct outcome o;
	char fault[128];

	snprintf(fault, sizeof(fault), "corrupt,kind=%s,at=%u", kind, at);
	fault_engine(fault);
	run_workers(&o, 25, 20000);
	ASSERT_OUTCOMES(&o, 0, EIO);
	assert_int_equal(o.n[EIO], 1);
	snprintf(fault, sizeof(fault), "corrupt,kind=%s,count=0", kind);
	fault_engine(fault);
	run_workers(&o, 25, 20000);
	ASSERT_OUTCOMES(&o, EIO);
	assert_fresh_engine_works();
}

static void test_lie_unknown_seq(void **state)
{
	(void)state;
	lie_harmless("unknown-seq");
}

static void test_lie_duplicate(void **state)
{
	(void)state;
	lie_harmless("duplicate");
}

static void test_lie_unknown_type(void **state)
{
	(void)state;
	lie_harmless("unknown-type");
}

static void test_lie_garbage(void **state)
{
	(void)state;
	lie_harmless("garbage");
}

static void test_lie_wrong_type(void **state)
{
	(void)state;
	lie_damaging("wrong-type", 30);
}

static void test_lie_truncated(void **state)
{
	(void)state;
	lie_damaging("truncated", 30);
}

static void test_lie_oversized(void **state)
{
	(void)state;
	lie_damaging("oversized", 30);
}

/*
 * A damaged ITEM record: the kernel refuses it, the loop skips it and
 * writes the SEND reply behind it. The receiver's RECV finds nothing, is
 * not readable, and everything else works; the engine keeps the item lent
 * until a RECV_DONE for a later token commits it with that one, or until
 * the peer is released. Every count returns to zero once the peers close.
 */
static void lie_item(const char *kind)
{
	struct test_item item;
	uint64_t node, handle, other, oh;
	char fault[128];
	int fd, fd2;

	/* only the second item lent is damaged */
	snprintf(fault, sizeof(fault), "corrupt,kind=%s,at=2", kind);
	fault_engine(fault);
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "one", 3);
	test_expect_user(fd, node, "one", 3);
	test_send_ok(fd, handle, "two", 3);
	assert_false(test_readable(fd));
	assert_int_equal(test_recv(fd, &item), -EAGAIN);
	assert_int_equal(stats_total("lent"), 1);
	assert_int_equal(stats_total("messages"), 1);
	/* the bus still works, for this peer and others */
	fd2 = test_peer();
	test_node(fd2, -1, &other, &oh);
	test_send_ok(fd2, oh, "other", 5);
	test_expect_user(fd2, other, "other", 5);
	test_send_ok(fd, handle, "three", 5);
	test_expect_user(fd, node, "three", 5);
	assert_int_equal(test_recv(fd, &item), -EAGAIN);
	/* the RECV_DONE for "three", read with the next request, committed
	 * "two" with it */
	test_node(fd2, -1, &other, &oh);
	assert_int_equal(stats_total("lent"), 0);
	assert_int_equal(stats_total("messages"), 0);
	close(fd2);
	close(fd);
	assert_true(stats_wait_total("peers", 0));
	assert_stats_empty();

	/* every item damaged: each stays lent until its peer goes */
	snprintf(fault, sizeof(fault), "corrupt,kind=%s,count=0", kind);
	fault_engine(fault);
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "lost", 4);
	test_send_ok(fd, handle, "lost", 4);
	assert_int_equal(test_wait(fd, 100), -ETIMEDOUT);
	assert_int_equal(test_recv(fd, &item), -EAGAIN);
	assert_int_equal(stats_total("lent"), 2);
	assert_int_equal(stats_total("queued"), 0);
	/* taken back with their node (RETRACT of items the kernel never
	 * held is accepted); the NODE_RELEASE for the peer's own handle is
	 * lost like them */
	assert_int_equal(test_raw_release(fd, 0, 1, &node), 0);
	assert_int_equal(stats_total("lent"), 1);
	assert_int_equal(stats_total("messages"), 0);
	assert_int_equal(test_recv(fd, &item), -EAGAIN);
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "lost", 4);
	assert_int_equal(stats_total("lent"), 2);
	assert_int_equal(stats_total("messages"), 1);
	/* or with their peer */
	close(fd);
	assert_true(stats_wait_total("peers", 0));
	assert_stats_empty();
	assert_fresh_engine_works();
}

static void test_lie_item_counts(void **state)
{
	(void)state;
	lie_item("counts");
}

static void test_lie_item_type(void **state)
{
	(void)state;
	lie_item("item-type");
}

static void test_lie_item_token(void **state)
{
	(void)state;
	lie_item("item-token");
}

static void test_lie_bogus_peer(void **state)
{
	(void)state;
	lie_damaging("bogus-peer", 30);
}

/* An allocation failure is ENOMEM for that one operation. */
static void test_alloc_nth(void **state)
{
	struct outcome o;
	unsigned int nth;
	char fault[64];

	(void)state;
	for (nth = 5; nth <= 25; nth += 20) {
		snprintf(fault, sizeof(fault), "alloc,nth=%u", nth);
		fault_engine(fault);
		run_workers(&o, 25, 20000);
		ASSERT_OUTCOMES(&o, 0, ENOMEM);
		assert_int_equal(o.n[ENOMEM], 1);
		assert_int_equal(engine_ctl("status >/dev/null", NULL), 0);
	}
	assert_fresh_engine_works();
}

/*
 * Random allocation failures: each operation succeeds or fails with
 * ENOMEM; if even an error reply cannot be allocated the engine exits,
 * which the applications see as an engine gone.
 */
static void test_alloc_random(void **state)
{
	struct outcome o;

	(void)state;
	fault_engine("alloc,p=0.02,seed=7");
	run_workers(&o, 40, 20000);
	ASSERT_OUTCOMES(&o, 0, ENOMEM, ENOTCONN, ENXIO);
	assert_fresh_engine_works();
}

/*
 * The test is the engine: it attaches, leaves a PEER_NEW unanswered, and
 * sees its own connection declared broken after the timeout: read(),
 * write() and ATTACH fail with ENOTCONN, poll() reports POLLERR|POLLHUP,
 * and a second control file can attach while the first is still open.
 */
static void test_broken_control_file(void **state)
{
	struct bus1_engine_attach attach = { .version = BUS1_ENGINE_VERSION };
	struct bus1_engine_hdr hdr = { .size = sizeof(hdr) };
	struct pollfd pfd;
	pid_t opener;
	int ctl, ctl2;
	ssize_t n;
	char *buf;

	(void)state;
	assert_int_equal(engine_ctl("stop", NULL), 0);
	set_timeout_ms(300);
	ctl = open("/dev/bus1-engine", O_RDWR | O_CLOEXEC);
	assert_true(ctl >= 0);
	assert_int_equal(ioctl(ctl, BUS1_ENGINE_IOCTL_ATTACH, &attach), 0);
	buf = malloc(attach.max_record);
	assert_non_null(buf);

	opener = test_fork();
	if (!opener) {
		int fd = bus1_peer_new();

		_exit(fd == -ETIMEDOUT ? 0 : 1);
	}
	n = read(ctl, buf, attach.max_record);
	assert_true(n >= (ssize_t)sizeof(hdr));
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.type, BUS1_ENGINE_PEER_NEW);

	test_join(opener);
	assert_int_equal(read(ctl, buf, attach.max_record), -1);
	assert_int_equal(errno, ENOTCONN);
	hdr.size = sizeof(hdr);
	assert_int_equal(write(ctl, &hdr, sizeof(hdr)), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(ioctl(ctl, BUS1_ENGINE_IOCTL_ATTACH, &attach), -1);
	assert_int_equal(errno, ENOTCONN);
	pfd = (struct pollfd){ .fd = ctl, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLERR);
	assert_true(pfd.revents & POLLHUP);
	assert_int_equal(bus1_peer_new(), -ENXIO);

	ctl2 = open("/dev/bus1-engine", O_RDWR | O_CLOEXEC);
	assert_true(ctl2 >= 0);
	attach = (struct bus1_engine_attach){ .version = BUS1_ENGINE_VERSION };
	assert_int_equal(ioctl(ctl2, BUS1_ENGINE_IOCTL_ATTACH, &attach), 0);
	close(ctl2);
	close(ctl);
	free(buf);

	set_timeout_ms(30000);
	assert_fresh_engine_works();
}

static int setup(void **state)
{
	struct rlimit no_core = { 0, 0 };

	/* Aborting engines must not drop core files into the tree. */
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -1;
	return test_setup_device(state);
}

/* Whatever happened above, leave a normal engine and the default timeout. */
static int teardown(void **state)
{
	FILE *f = fopen(TIMEOUT_PARAM, "we");

	(void)state;
	if (f) {
		fprintf(f, "30000\n");
		fclose(f);
	}
	return engine_ctl("restart", NULL) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abort_before),
		cmocka_unit_test(test_abort_after),
		cmocka_unit_test(test_abort_type_recv_done),
		cmocka_unit_test(test_abort_type_fetch),
		cmocka_unit_test(test_abort_type_send),
		cmocka_unit_test(test_abort_type_route_done),
		cmocka_unit_test(test_hang),
		cmocka_unit_test(test_slow),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_lie_unknown_seq),
		cmocka_unit_test(test_lie_duplicate),
		cmocka_unit_test(test_lie_unknown_type),
		cmocka_unit_test(test_lie_garbage),
		cmocka_unit_test(test_lie_wrong_type),
		cmocka_unit_test(test_lie_truncated),
		cmocka_unit_test(test_lie_oversized),
		cmocka_unit_test(test_lie_item_counts),
		cmocka_unit_test(test_lie_item_type),
		cmocka_unit_test(test_lie_item_token),
		cmocka_unit_test(test_lie_bogus_peer),
		cmocka_unit_test(test_alloc_nth),
		cmocka_unit_test(test_alloc_random),
		cmocka_unit_test(test_broken_control_file),
	};

	/* TEST_FILTER=pattern runs a subset while working on one fault. */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
