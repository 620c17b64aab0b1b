/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Faults in the engine. Each case restarts the engine with a fault
 * (bus1d --fault, through BUS1D_ARGS and guest-engine.sh), runs traffic
 * from several processes, and checks three things.
 *
 * The fault fired: bus1d counts what its injector did (the "faults"
 * object of its stats), the module counts the records it refused
 * (debugfs records_rejected), and each case checks both against what the
 * applications saw. An abort proves itself by the engine's death, a stall
 * by a call that waited through it. A fault that never fires fails its
 * case (scripts/tests/guest-plant-fault.sh shows it).
 *
 * Every outcome comes from the kernel: each worker reports the errno of
 * the call that ended it (ENOTCONN after a crash, and ENXIO for a peer
 * opened after it; ETIMEDOUT and ENOTCONN after a hang; EIO for a damaged
 * reply; ENOMEM for a failed allocation) and which call it was.
 *
 * The applications got what they should: each worker sends numbered
 * messages to a node of its own and checks every message it receives
 * (user message, its node, a payload it sent and has not received yet,
 * in the order it sent them: bus1(7) orders causally related
 * transactions), and at the end that its queue is empty. A request that
 * failed with EIO was still applied by the engine (docs/decisions.md, "A
 * damaged reply's request was applied"): a SEND that got EIO did queue its
 * message, and the worker must receive it; one that failed with ENOMEM was
 * not (docs/decisions.md, "Out of memory in the engine"), and the worker
 * must not. Once every peer is closed the engine holds nothing.
 *
 * A damaged ITEM record (a lent item the kernel refuses) loses that one
 * item for its receiver, whose RECV finds nothing, and nothing else: the
 * engine's counts show the item lent until a later item's RECV_DONE or the
 * peer's release takes it. Then a normal engine is started and must serve
 * new peers. The harness checks the kernel log. The faulty engines grant
 * no routes (--route-items 0), so every send reaches them; one case gives
 * routes and kills the engine at the first ROUTE_DONE, with routes live
 * and revoked: the module must drop them all. Leaves a normal engine
 * running and the default request timeout set.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include <linux/bus1-engine.h>
#include "util.h"

#define N_WORKERS 4
#define TIMEOUT_PARAM "/sys/module/bus1/parameters/request_timeout_ms"
#define DEFAULT_TIMEOUT_MS 30000
/*
 * More than the engine lends at once, so a RECV needs FETCH: it lends 16
 * items per peer (docs/decisions.md, "RECV is served by the module"); the
 * cases read the window from the engine's stats instead of copying it.
 */
#define BURST 20
/* what one worker may send in one run */
#define MAX_SENDS 256
/* "bus1flt\0": marks the payloads of this program */
#define PAYLOAD_MAGIC 0x00746c6631737562ULL

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

static bool engine_running(void)
{
	return engine_ctl("status >/dev/null", NULL) == 0;
}

/* Wait (up to 5 s) until no engine is attached: an open fails with ENXIO. */
static bool wait_engine_gone(void)
{
	double deadline = test_now() + 5;
	int fd;

	while ((fd = bus1_peer_new()) >= 0 && test_now() < deadline) {
		close(fd);
		usleep(10000);
	}
	if (fd >= 0)
		close(fd);
	return fd == -ENXIO;
}

static void set_timeout_ms(unsigned int ms)
{
	FILE *f = fopen(TIMEOUT_PARAM, "we");

	assert_non_null(f);
	assert_true(fprintf(f, "%u\n", ms) > 0);
	assert_int_equal(fclose(f), 0);
}

/* The module's generation of the engine fault_engine() started last. */
static uint64_t fault_generation;

static void fault_engine(const char *fault)
{
	char args[512];

	snprintf(args, sizeof(args), "--route-items 0 --fault %s", fault);
	assert_int_equal(engine_ctl("restart", args), 0);
	fault_generation = test_debugfs("generation");
}

/* An engine is attached: a peer opens (and is closed again). */
static bool engine_attached(void)
{
	int fd = bus1_peer_new();

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * The engine fault_engine() started is still the one attached: nothing
 * timed out, nothing crashed. Cheaper than asking guest-engine.sh, which
 * takes seconds in a loaded VM.
 */
static void assert_same_engine(void)
{
	assert_int_equal(test_debugfs("generation"), fault_generation);
	assert_true(engine_attached());
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
 * Counters of the engine (its stats, read with json-c) and of the module
 * (debugfs). The engine's "faults" object says what its injector did.
 */

/* faults.@key of the engine's stats. */
static uint64_t faults(const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "faults.%s", key);
	return test_stats_u64(path);
}

/* The engine's error replies with errno @name; it lists only those sent. */
static uint64_t engine_errors(const char *name)
{
	struct json_object *doc = test_stats_json();
	struct json_object *errors = test_json_at(doc, "engine.errors");
	uint64_t n = 0;

	assert_non_null(errors);
	if (test_json_at(errors, name))
		n = test_json_u64(errors, name);
	json_object_put(doc);
	return n;
}

/* Requests the engine read, of the types in @types (NULL: every type). */
static uint64_t engine_requests(const char *const *types)
{
	struct json_object *doc = test_stats_json();
	struct json_object *requests = test_json_at(doc, "engine.requests");
	uint64_t n = 0;

	assert_non_null(requests);
	if (types) {
		for (; *types; ++types)
			n += test_json_u64(requests, *types);
	} else {
		json_object_object_foreach(requests, key, val) {
			(void)key;
			n += json_object_get_uint64(val);
		}
	}
	json_object_put(doc);
	return n;
}

/* Replies the engine wrote: one per two-way request. */
static uint64_t engine_replies(void)
{
	static const char *const two_way[] = { "peer_new", "transfer",
		"release", "send", "fetch", NULL };

	return engine_requests(two_way);
}

/* Print what the injector and the module counted, for the run's log. */
static void show_counts(const char *when)
{
	struct json_object *doc = test_stats_json();
	struct json_object *counts = test_json_at(doc, "faults");

	assert_non_null(counts);
	printf("# %s: faults", when);
	json_object_object_foreach(counts, key, val)
		printf(" %s=%llu", key,
		       (unsigned long long)json_object_get_uint64(val));
	printf("; module requests=%llu records_written=%llu records_rejected=%llu\n",
	       (unsigned long long)test_debugfs("requests"),
	       (unsigned long long)test_debugfs("records_written"),
	       (unsigned long long)test_debugfs("records_rejected"));
	json_object_put(doc);
}

/* Wait (bounded) until the stats show @want at @path. */
static bool stats_wait_u64(const char *path, uint64_t want)
{
	int i;

	for (i = 0; i < 500; ++i) {
		if (test_stats_u64(path) == want)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * The module refused the @n records the fault made bad, each counted once,
 * by the write() that returned its errno (the engine's loop writes again
 * from a refused record to learn it). That write() may come after a reply
 * that already woke the application: wait for it.
 */
static void assert_rejected(uint64_t n)
{
	int i;

	for (i = 0; i < 500 && test_debugfs("records_rejected") < n; ++i)
		usleep(10000);
	assert_int_equal(test_debugfs("records_rejected"), n);
}

/*
 * The engine read every request the module queued since it attached:
 * nothing was lost on the way. One-way records wait up to about 10 ms to
 * be read, so wait for them.
 */
static void assert_engine_read_all(void)
{
	int i;

	for (i = 0; i < 500; ++i) {
		if (test_debugfs("requests") == engine_requests(NULL))
			return;
		usleep(10000);
	}
	assert_int_equal(test_debugfs("requests"), engine_requests(NULL));
}

/* No peer, and nothing of one left behind. */
static void assert_stats_empty(void)
{
	static const char *const keys[] = { "peers", "nodes", "handles",
		"queued", "lent", "messages", "message_bytes", "users" };
	struct json_object *doc = test_stats_json();
	struct json_object *totals = test_json_at(doc, "totals");
	uint64_t v;
	size_t i;

	assert_non_null(totals);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i) {
		v = test_json_u64(totals, keys[i]);
		if (v)
			fprintf(stderr, "stats: totals.%s = %llu\n", keys[i],
				(unsigned long long)v);
		assert_int_equal(v, 0);
	}
	json_object_put(doc);
}

/* Once every peer is closed (which the engine applies later): nothing left. */
static void assert_empty_once_closed(void)
{
	assert_true(stats_wait_u64("totals.peers", 0));
	assert_stats_empty();
}

/*
 * Workers: processes with a peer and a node each, sending numbered
 * messages to their own node and receiving them, rounds of @burst sends
 * then as many receives. Each reports in memory shared with the test; a
 * cmocka assert in a child would return into the parent's runner.
 */

/* What every message of a worker carries. */
struct payload {
	uint64_t magic;
	uint32_t worker;
	uint32_t seq;
};

/* Where a worker ended. */
enum step {
	STEP_DONE,	/* every round, and its queue was empty */
	STEP_OPEN,
	STEP_NODE,
	STEP_START,	/* waiting for the test to start the traffic */
	STEP_SEND,
	STEP_WAIT,	/* poll() for a message it queued */
	STEP_RECV,
	STEP_CHECK,	/* a wrong message, or one too many */
};

static const char *const step_names[] = {
	[STEP_DONE]	= "done",
	[STEP_OPEN]	= "open",
	[STEP_NODE]	= "node",
	[STEP_START]	= "start",
	[STEP_SEND]	= "send",
	[STEP_WAIT]	= "wait",
	[STEP_RECV]	= "recv",
	[STEP_CHECK]	= "check",
};

/*
 * What one worker did: the errno that ended it at @step (0 if done); SENDs
 * answered with success; calls answered EIO and ENOMEM (counted wherever
 * they happened); messages received and found right; the longest call,
 * waits for the engine included; what was wrong with a wrong message.
 */
struct report {
	int error;
	int step;
	bool killed;
	unsigned int sent;
	unsigned int eio;
	unsigned int enomem;
	unsigned int received;
	unsigned int longest_ms;
	char wrong[160];
};

/* N_WORKERS reports, shared with the workers; mapped by setup(). */
static struct report *reports;

struct worker {
	struct report *report;
	uint32_t index;
	int ready_fd;
	int fd;
	uint64_t node;
	uint64_t handle;
	/* the messages the engine queued, in the order they were sent */
	uint32_t queued[MAX_SENDS];
	unsigned int n_queued;
	unsigned int n_received;
};

static void worker_took(struct worker *w, double start)
{
	unsigned int ms = (test_now() - start) * 1000;

	if (ms > w->report->longest_ms)
		w->report->longest_ms = ms;
}

/*
 * Tell the test this worker is set up, or gave up trying; the test counts
 * these, so a failed write needs no report of its own.
 */
static void worker_ready(struct worker *w)
{
	if (w->ready_fd < 0)
		return;
	(void)!write(w->ready_fd, "r", 1);
	close(w->ready_fd);
	w->ready_fd = -1;
}

static void __attribute__((noreturn)) worker_end(struct worker *w, int step,
						 int error)
{
	w->report->step = step;
	w->report->error = error;
	worker_ready(w);
	_exit(error < 255 ? error : 255);
}

/* Count an errno every call may see; the caller decides what it means. */
static void worker_saw(struct worker *w, int r)
{
	if (r == -EIO)
		++w->report->eio;
	else if (r == -ENOMEM)
		++w->report->enomem;
}

static void worker_setup(struct worker *w)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;
	double start = test_now();
	int r;

	w->fd = bus1_peer_new();
	worker_took(w, start);
	worker_saw(w, w->fd);
	if (w->fd < 0)
		worker_end(w, STEP_OPEN, -w->fd);
	start = test_now();
	r = bus1_cmd_transfer(0, w->fd, -1, 1, &src, &dst);
	worker_took(w, start);
	worker_saw(w, r);
	if (r < 0)
		worker_end(w, STEP_NODE, -r);
	w->node = src.id;
	w->handle = dst.id;
}

/*
 * Send message @seq. Whether the engine queued it decides whether the
 * worker must receive it: yes after success, and after EIO (the engine
 * applied the request, only its reply was damaged); not after ENOMEM (the
 * engine applies nothing it cannot afford).
 */
static void worker_send(struct worker *w, uint32_t seq)
{
	struct payload p = { PAYLOAD_MAGIC, w->index, seq };
	struct iovec iov = { &p, sizeof(p) };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = sizeof(p),
		.n_data_vecs = 1,
		.ptr_data_vecs = (uintptr_t)&iov,
	};
	int32_t err = 0x5a5a;
	double start = test_now();
	int r;

	r = bus1_cmd_send(w->fd, 1, &w->handle, &err, &msg);
	worker_took(w, start);
	worker_saw(w, r);
	if (!r && err) {
		snprintf(w->report->wrong, sizeof(w->report->wrong),
			 "SEND #%u succeeded with errors[0] = %d", seq, err);
		worker_end(w, STEP_CHECK, EBADMSG);
	}
	if (!r)
		++w->report->sent;
	else if (r != -EIO && r != -ENOMEM)
		worker_end(w, STEP_SEND, -r);
	if (r != -ENOMEM)
		w->queued[w->n_queued++] = seq;
}

/* The received message is the next one the engine queued. */
static void worker_check(struct worker *w, const struct bus1_metadata *meta,
			 const struct bus1_message *msg, const void *data)
{
	char *why = w->report->wrong;
	size_t n = sizeof(w->report->wrong);
	struct payload p;

	memcpy(&p, data, sizeof(p));
	if (msg->type != BUS1_MESSAGE_TYPE_USER)
		snprintf(why, n, "type %llu, not a user message",
			 (unsigned long long)msg->type);
	else if (meta->id != w->node)
		snprintf(why, n, "for node %llu, not %llu",
			 (unsigned long long)meta->id,
			 (unsigned long long)w->node);
	else if (meta->account != geteuid())
		snprintf(why, n, "account %llu, not %u",
			 (unsigned long long)meta->account, geteuid());
	else if (msg->n_data != sizeof(p) || msg->n_transfers ||
		 p.magic != PAYLOAD_MAGIC)
		snprintf(why, n, "%llu bytes, %llu handles: not a payload sent here",
			 (unsigned long long)msg->n_data,
			 (unsigned long long)msg->n_transfers);
	else if (p.worker != w->index)
		snprintf(why, n, "#%u of worker %u", p.seq, p.worker);
	else if (w->n_received == w->n_queued)
		snprintf(why, n, "#%u, after every message queued", p.seq);
	else if (p.seq != w->queued[w->n_received])
		snprintf(why, n, "#%u, expected #%u", p.seq,
			 w->queued[w->n_received]);
	else
		return;
	worker_end(w, STEP_CHECK, EBADMSG);
}

/*
 * RECV into @buf. One that fails with ENOMEM (the engine could not lend
 * the item it was asked for with FETCH) took nothing: ask again.
 */
static int worker_recv(struct worker *w, struct bus1_metadata *meta,
		       struct bus1_message *msg, unsigned char *buf,
		       size_t size)
{
	struct iovec iov = { buf, size };
	unsigned int tries;
	double start;
	int r;

	for (tries = 0; tries < 100; ++tries) {
		*msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_data = size,
			.n_data_vecs = 1,
			.ptr_data_vecs = (uintptr_t)&iov,
		};
		start = test_now();
		r = bus1_cmd_recv(w->fd, meta, msg);
		worker_took(w, start);
		worker_saw(w, r);
		if (r != -ENOMEM)
			break;
	}
	return r;
}

/*
 * Receive and check the next message. poll() first, so a message that
 * never comes ends the worker in bounded time; its POLLERR only says that
 * RECV will fail, RECV says how.
 */
static void worker_take(struct worker *w)
{
	struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
	struct bus1_metadata meta;
	struct bus1_message msg;
	unsigned char buf[64];
	int r;

	r = poll(&pfd, 1, TEST_TIMEOUT_MS);
	if (r <= 0)
		worker_end(w, STEP_WAIT, r ? errno : ETIME);
	r = worker_recv(w, &meta, &msg, buf, sizeof(buf));
	if (r < 0)
		worker_end(w, STEP_RECV, -r);
	worker_check(w, &meta, &msg, buf);
	++w->n_received;
	++w->report->received;
}

/* Everything queued was received: RECV finds nothing more. */
static void worker_expect_empty(struct worker *w)
{
	struct bus1_metadata meta;
	struct bus1_message msg;
	unsigned char buf[64];
	int r;

	r = worker_recv(w, &meta, &msg, buf, sizeof(buf));
	if (!r) {
		snprintf(w->report->wrong, sizeof(w->report->wrong),
			 "a message of type %llu after all were received",
			 (unsigned long long)msg.type);
		worker_end(w, STEP_CHECK, EBADMSG);
	}
	if (r != -EAGAIN)
		worker_end(w, STEP_RECV, -r);
}

/*
 * Set up, wait until the test says go (@go_fd reaches EOF), then @rounds
 * rounds of @burst sends and as many receives.
 */
static void __attribute__((noreturn)) worker(uint32_t index, int ready_fd,
					     int go_fd, unsigned int rounds,
					     unsigned int burst)
{
	struct worker w = {
		.report = &reports[index],
		.index = index,
		.ready_fd = ready_fd,
	};
	unsigned int i, k;
	char c;

	worker_setup(&w);
	worker_ready(&w);
	if (read(go_fd, &c, 1) != 0)
		worker_end(&w, STEP_START, EPIPE);
	close(go_fd);
	for (i = 0; i < rounds; ++i) {
		for (k = 0; k < burst; ++k)
			worker_send(&w, i * burst + k);
		while (w.n_received < w.n_queued)
			worker_take(&w);
	}
	worker_expect_empty(&w);
	close(w.fd);
	worker_end(&w, STEP_DONE, 0);
}

/* How many workers ended with each errno (0: done); 255: killed. */
struct outcome {
	unsigned int n[256];
	double secs;
};

/* Wait until every worker is set up or gave up; return how many did. */
static unsigned int wait_ready(int fd, double deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned int n = 0;
	char buf[N_WORKERS];
	ssize_t r;

	while (n < N_WORKERS && test_now() < deadline) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		n += r;
	}
	return n;
}

static const char *report_outcome(const struct report *r)
{
	const char *name;

	if (r->killed)
		return "killed";
	if (!r->error)
		return "ok";
	name = strerrorname_np(r->error);
	return name ? name : "unknown errno";
}

static void show_workers(const struct outcome *o)
{
	const struct report *r;
	unsigned int i;

	printf("# %u workers in %.1f s\n", N_WORKERS, o->secs);
	for (i = 0; i < N_WORKERS; ++i) {
		r = &reports[i];
		printf("# worker %u: %s at %s: sent %u, EIO %u, ENOMEM %u, received %u, longest call %u ms%s%s\n",
		       i, report_outcome(r), step_names[r->step], r->sent,
		       r->eio, r->enomem, r->received, r->longest_ms,
		       r->wrong[0] ? ", wrong message: " : "", r->wrong);
	}
}

/* Reap the workers; kill those still running at @deadline. */
static unsigned int reap_workers(struct outcome *o, const pid_t *pids,
				 double deadline)
{
	bool reaped[N_WORKERS] = { false };
	unsigned int i, left = N_WORKERS;
	int status;

	while (left && test_now() < deadline) {
		for (i = 0; i < N_WORKERS; ++i) {
			if (reaped[i] ||
			    waitpid(pids[i], &status, WNOHANG) != pids[i])
				continue;
			reaped[i] = true;
			--left;
			if (WIFEXITED(status) &&
			    WEXITSTATUS(status) == (reports[i].error < 255 ?
						    reports[i].error : 255))
				o->n[WEXITSTATUS(status)]++;
			else
				o->n[255]++;
		}
		usleep(5000);
	}
	for (i = 0; i < N_WORKERS; ++i) {
		if (reaped[i])
			continue;
		fprintf(stderr, "worker %d hung\n", pids[i]);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
		reports[i].killed = true;
		o->n[255]++;
	}
	return left;
}

/*
 * Run the workers: all set up first, then all traffic at once, so the
 * first 2 * N_WORKERS requests the engine reads are their PEER_NEW and
 * TRANSFER, and every later one comes from the traffic. Fails if a worker
 * hung past @max_ms or received a wrong message.
 */
static void run_burst_workers(struct outcome *o, unsigned int rounds,
			      unsigned int burst, int max_ms)
{
	double start = test_now(), deadline = start + max_ms / 1000.0;
	pid_t pids[N_WORKERS];
	int ready[2], go[2];
	unsigned int i, n_ready, left;

	assert_true(rounds * burst <= MAX_SENDS);
	memset(o, 0, sizeof(*o));
	memset(reports, 0, N_WORKERS * sizeof(*reports));
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	for (i = 0; i < N_WORKERS; ++i) {
		pids[i] = test_fork();
		if (!pids[i]) {
			close(ready[0]);
			close(go[1]);
			worker(i, ready[1], go[0], rounds, burst);
		}
	}
	close(ready[1]);
	close(go[0]);
	n_ready = wait_ready(ready[0], deadline);
	close(go[1]);
	close(ready[0]);
	left = reap_workers(o, pids, deadline);
	o->secs = test_now() - start;
	show_workers(o);
	assert_int_equal(n_ready, N_WORKERS);
	assert_int_equal(left, 0);
	for (i = 0; i < N_WORKERS; ++i)
		assert_false(reports[i].wrong[0]);
}

static void run_workers(struct outcome *o, unsigned int rounds, int max_ms)
{
	run_burst_workers(o, rounds, 1, max_ms);
}

/* Every worker ended with one of the @n_allowed errnos (0: done). */
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

/* Workers that ended with @error at @step. */
static unsigned int ended(int error, enum step step)
{
	unsigned int i, n = 0;

	for (i = 0; i < N_WORKERS; ++i)
		n += !reports[i].killed && reports[i].error == error &&
		     reports[i].step == (int)step;
	return n;
}

/* The sum of one counter of struct report over the workers. */
static unsigned int reports_sum(size_t offset)
{
	unsigned int i, sum = 0;

	for (i = 0; i < N_WORKERS; ++i)
		sum += *(const unsigned int *)((const char *)&reports[i] +
					       offset);
	return sum;
}

#define REPORTS_SUM(_field) reports_sum(offsetof(struct report, _field))

/*
 * The engine died under the workers: each saw ENOTCONN from the ioctl it
 * was in (all of them opened before the traffic started), and no new peer
 * can open.
 */
static void crash(const char *fault)
{
	struct outcome o;

	fault_engine(fault);
	run_workers(&o, 100, 10000);
	ASSERT_OUTCOMES(&o, ENOTCONN);
	assert_int_equal(ended(ENOTCONN, STEP_SEND) +
			 ended(ENOTCONN, STEP_RECV), N_WORKERS);
	assert_false(engine_running());
	assert_int_equal(bus1_peer_new(), -ENXIO);
	assert_fresh_engine_works();
}

/*
 * With routes: the workers' sends go through the module, and their
 * closes revoke the routes; the engine dies at the first ROUTE_DONE,
 * which only a worker that finished and closed can cause, leaving routes
 * revoked and live behind. The module drops them all.
 */
static void test_abort_type_route_done(void **state)
{
	uint64_t routed = test_debugfs("route_sends");
	struct outcome o;

	(void)state;
	assert_int_equal(engine_ctl("restart",
				    "--fault abort,type=route-done"), 0);
	run_workers(&o, 100, 10000);
	ASSERT_OUTCOMES(&o, 0, ENOTCONN);
	assert_true(o.n[0] >= 1);
	assert_int_equal(ended(ENOTCONN, STEP_SEND) +
			 ended(ENOTCONN, STEP_RECV), o.n[ENOTCONN]);
	assert_true(test_debugfs("route_sends") > routed);
	assert_true(wait_engine_gone());
	assert_false(engine_running());
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

/* Send "b00", "b01", ... to @handle. */
static void send_numbered(int fd, uint64_t handle, unsigned int n)
{
	char buf[16];
	unsigned int i;

	for (i = 0; i < n; ++i) {
		snprintf(buf, sizeof(buf), "b%02u", i);
		test_send_ok(fd, handle, buf, 3);
	}
}

/* Receive "b@from", ... up to "b@to" - 1, in order. */
static void expect_numbered(int fd, uint64_t node, unsigned int from,
			    unsigned int to)
{
	char buf[16];

	for (; from < to; ++from) {
		snprintf(buf, sizeof(buf), "b%02u", from);
		test_expect_user(fd, node, buf, 3);
	}
}

/*
 * How many items the engine lends a peer at once: what the stats show lent
 * after a burst that nobody received yet. It must be less than the burst,
 * so the burst's receiver has to FETCH.
 */
static unsigned int lending_window(void)
{
	uint64_t window = test_stats_u64("totals.lent");

	assert_true(window > 0 && window < BURST);
	return window;
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
	unsigned int window;
	int fd;

	(void)state;
	fault_engine("abort,type=fetch");
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	send_numbered(fd, handle, BURST);
	window = lending_window();
	expect_numbered(fd, node, 0, window);
	assert_int_equal(test_recv(fd, &item), -ENOTCONN);
	close(fd);
	assert_false(engine_running());
	assert_int_equal(bus1_peer_new(), -ENXIO);
	assert_fresh_engine_works();
}

/*
 * Without faults, bursts are received in full and in order. The RECV that
 * finds nothing more lent sends FETCH, once per burst when nothing else
 * talks to the engine meanwhile (without routes: the module would queue
 * these sends itself). That count pins our implementation, not bus1(7):
 * docs/decisions.md, "RECV is served by the module".
 */
static void test_burst(void **state)
{
	uint64_t node, handle;
	struct outcome o;
	int fd, round;

	(void)state;
	assert_int_equal(engine_ctl("restart", "--route-items 0"), 0);
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	for (round = 0; round < 3; ++round) {
		send_numbered(fd, handle, BURST);
		if (!round)
			lending_window();
		expect_numbered(fd, node, 0, BURST);
		test_expect_empty(fd);
	}
	assert_int_equal(test_stats_u64("engine.requests.fetch"), 3);
	close(fd);
	run_burst_workers(&o, 5, BURST, 30000);
	ASSERT_OUTCOMES(&o, 0);
	assert_int_equal(REPORTS_SUM(received), N_WORKERS * 5 * BURST);
	assert_empty_once_closed();
}

static void test_abort_type_send(void **state)
{
	(void)state;
	crash("abort,type=send");
}

/* A second engine started by the hang case, stopped by it or its teardown. */
static pid_t second_engine;

static pid_t start_second_engine(void)
{
	const char *engine = getenv("BUS1D");
	char path[4096];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/daemon/bus1d", top());
	pid = test_fork();
	if (!pid) {
		/* its log goes with the test's output */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execl(engine ? engine : path, "bus1d", (char *)NULL);
		_exit(127);
	}
	return pid;
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
	pid_t pid;
	int fd, i;

	(void)state;
	set_timeout_ms(500);
	fault_engine("stop-reading,at=30");
	run_workers(&o, 200, 15000);
	ASSERT_OUTCOMES(&o, ETIMEDOUT, ENOTCONN);
	/* after setup, the only requests with a reply are SENDs */
	assert_int_equal(ended(ETIMEDOUT, STEP_SEND), 1);
	assert_int_equal(ended(ENOTCONN, STEP_SEND) +
			 ended(ENOTCONN, STEP_RECV), N_WORKERS - 1);
	/* Bounded by the timeout, not by the 30 s default. */
	assert_true(o.secs < 10.0);
	/* The hung engine still runs: it says on its stats socket that it
	 * stopped reading. */
	show_counts("hung engine");
	assert_int_equal(faults("stopped"), 1);
	assert_int_equal(bus1_peer_new(), -ENXIO);

	second_engine = start_second_engine();
	for (i = 0, fd = -ENXIO; fd == -ENXIO && i < 500; ++i) {
		usleep(10000);
		fd = bus1_peer_new();
	}
	assert_true(fd >= 0);
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "second", 6);
	test_expect_user(fd, node, "second", 6);
	close(fd);
	/* it exits 0 on SIGTERM, like every engine without faults */
	pid = second_engine;
	second_engine = 0;
	assert_int_equal(kill(pid, SIGTERM), 0);
	test_join(pid);

	set_timeout_ms(DEFAULT_TIMEOUT_MS);
	assert_fresh_engine_works();
}

/* The longest call any worker made, in ms. */
static unsigned int longest_call_ms(void)
{
	unsigned int i, ms = 0;

	for (i = 0; i < N_WORKERS; ++i)
		if (reports[i].longest_ms > ms)
			ms = reports[i].longest_ms;
	return ms;
}

/*
 * A slow engine is only slow: it pauses 400 ms and delays every batch of
 * replies, a call waits through the pause, and no request times out below
 * the limit.
 */
static void test_slow(void **state)
{
	struct outcome o;

	(void)state;
	set_timeout_ms(2000);
	fault_engine("delay,ms=2;stop-reading,at=20,for=400");
	run_workers(&o, 40, 20000);
	ASSERT_OUTCOMES(&o, 0);
	show_counts("slow engine");
	assert_int_equal(faults("stalls"), 1);
	assert_true(faults("delays") > 0);
	assert_true(faults("delays") <= test_stats_u64("engine.batches"));
	/* request 20 came from the traffic: a worker waited through it */
	assert_true(longest_call_ms() >= 400);
	assert_same_engine();
	assert_engine_read_all();
	assert_empty_once_closed();
	set_timeout_ms(DEFAULT_TIMEOUT_MS);
	assert_fresh_engine_works();
}

/*
 * An extra bogus record after every reply: the module refuses each one,
 * and no application notices.
 */
static void lie_harmless(const char *kind)
{
	struct outcome o;
	char fault[128];

	snprintf(fault, sizeof(fault), "corrupt,kind=%s,count=0", kind);
	fault_engine(fault);
	run_workers(&o, 25, 20000);
	ASSERT_OUTCOMES(&o, 0);
	assert_int_equal(REPORTS_SUM(eio), 0);
	assert_int_equal(REPORTS_SUM(received), N_WORKERS * 25);
	show_counts(kind);
	assert_int_equal(faults("records_added"), engine_replies());
	assert_int_equal(faults("replies_damaged"), 0);
	assert_int_equal(faults("items_damaged"), 0);
	assert_rejected(faults("records_added"));
	assert_same_engine();
	assert_engine_read_all();
	assert_empty_once_closed();
	assert_fresh_engine_works();
}

/*
 * Damaged replies fail exactly the request they answer, with EIO, and the
 * engine applied that request all the same. Reply 30 answers a SEND (the
 * first 8 answer the workers' set-up): its message was queued, and its
 * worker must receive it.
 */
static void lie_damaging(const char *kind)
{
	struct outcome o;
	unsigned int n_open;
	char fault[128];

	snprintf(fault, sizeof(fault), "corrupt,kind=%s,at=30", kind);
	fault_engine(fault);
	run_workers(&o, 25, 20000);
	ASSERT_OUTCOMES(&o, 0);
	assert_int_equal(REPORTS_SUM(eio), 1);
	assert_int_equal(REPORTS_SUM(sent), N_WORKERS * 25 - 1);
	assert_int_equal(REPORTS_SUM(received), N_WORKERS * 25);
	show_counts(kind);
	assert_int_equal(faults("replies_damaged"), 1);
	assert_int_equal(faults("records_added"), 0);
	assert_rejected(1);
	assert_empty_once_closed();

	/*
	 * Every reply damaged: the workers fail at their open (PEER_NEW) or,
	 * where the kind leaves a reply without payload intact and adds a
	 * bogus record instead (truncated), at their first TRANSFER. The
	 * engine applied those requests too, and the module releases a peer
	 * whose open failed with EIO like any other: nothing is left.
	 */
	snprintf(fault, sizeof(fault), "corrupt,kind=%s,count=0", kind);
	fault_engine(fault);
	run_workers(&o, 25, 20000);
	ASSERT_OUTCOMES(&o, EIO);
	n_open = ended(EIO, STEP_OPEN);
	assert_int_equal(n_open + ended(EIO, STEP_NODE), N_WORKERS);
	show_counts(kind);
	assert_int_equal(faults("replies_damaged"), REPORTS_SUM(eio));
	assert_rejected(faults("replies_damaged") + faults("records_added"));
	assert_true(stats_wait_u64("totals.peers", 0));
	assert_int_equal(test_stats_u64("totals.nodes"), 0);
	assert_int_equal(test_stats_u64("totals.handles"), 0);
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
	lie_damaging("wrong-type");
}

static void test_lie_truncated(void **state)
{
	(void)state;
	lie_damaging("truncated");
}

static void test_lie_oversized(void **state)
{
	(void)state;
	lie_damaging("oversized");
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
	assert_int_equal(test_stats_u64("totals.lent"), 1);
	assert_int_equal(test_stats_u64("totals.messages"), 1);
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
	assert_int_equal(test_stats_u64("totals.lent"), 0);
	assert_int_equal(test_stats_u64("totals.messages"), 0);
	show_counts(kind);
	assert_int_equal(faults("items_damaged"), 1);
	assert_rejected(1);
	close(fd2);
	close(fd);
	assert_empty_once_closed();

	/* every item damaged: each stays lent until its peer goes */
	snprintf(fault, sizeof(fault), "corrupt,kind=%s,count=0", kind);
	fault_engine(fault);
	fd = test_peer();
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "lost", 4);
	test_send_ok(fd, handle, "lost", 4);
	assert_int_equal(test_wait(fd, 100), -ETIMEDOUT);
	assert_int_equal(test_recv(fd, &item), -EAGAIN);
	assert_int_equal(test_stats_u64("totals.lent"), 2);
	assert_int_equal(test_stats_u64("totals.queued"), 0);
	/* taken back with their node (RETRACT of items the kernel never
	 * held is accepted); the NODE_RELEASE for the peer's own handle is
	 * lost like them */
	assert_int_equal(test_raw_release(fd, 0, 1, &node), 0);
	assert_int_equal(test_stats_u64("totals.lent"), 1);
	assert_int_equal(test_stats_u64("totals.messages"), 0);
	assert_int_equal(test_recv(fd, &item), -EAGAIN);
	test_node(fd, -1, &node, &handle);
	test_send_ok(fd, handle, "lost", 4);
	assert_int_equal(test_stats_u64("totals.lent"), 2);
	assert_int_equal(test_stats_u64("totals.messages"), 1);
	show_counts(kind);
	assert_int_equal(faults("items_damaged"),
			 test_stats_u64("engine.items.lent"));
	assert_rejected(faults("items_damaged"));
	/* or with their peer */
	close(fd);
	assert_empty_once_closed();
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
	lie_damaging("bogus-peer");
}

/*
 * An allocation failure is ENOMEM for that one operation, which the engine
 * did not apply: a worker whose open or TRANSFER failed ends, one whose
 * SEND failed carries on and must not receive that message.
 */
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
		assert_int_equal(ended(ENOMEM, STEP_OPEN) +
				 ended(ENOMEM, STEP_NODE), o.n[ENOMEM]);
		assert_int_equal(REPORTS_SUM(enomem), 1);
		show_counts(fault);
		assert_int_equal(faults("allocs_failed"), 1);
		assert_int_equal(engine_errors("ENOMEM"), 1);
		assert_same_engine();
		assert_empty_once_closed();
	}
	assert_fresh_engine_works();
}

/*
 * Random allocation failures: each operation succeeds or fails with
 * ENOMEM, and every ENOMEM the workers saw is an error reply of the
 * engine, caused by an allocation it failed. If even an error reply
 * cannot be allocated the engine exits, which the applications see as an
 * engine gone.
 */
static void test_alloc_random(void **state)
{
	struct outcome o;

	(void)state;
	fault_engine("alloc,p=0.02,seed=7");
	run_workers(&o, 40, 20000);
	/* not by opening a peer: that could fail, and count, too */
	if (!engine_running()) {
		printf("# the engine exited for lack of memory\n");
		ASSERT_OUTCOMES(&o, 0, ENOMEM, ENOTCONN);
		assert_true(o.n[ENOTCONN] > 0);
		assert_int_equal(ended(ENOTCONN, STEP_SEND) +
				 ended(ENOTCONN, STEP_RECV), o.n[ENOTCONN]);
	} else {
		ASSERT_OUTCOMES(&o, 0, ENOMEM);
		assert_int_equal(ended(ENOMEM, STEP_OPEN) +
				 ended(ENOMEM, STEP_NODE), o.n[ENOMEM]);
		show_counts("alloc,p=0.02");
		assert_true(REPORTS_SUM(enomem) > 0);
		assert_int_equal(REPORTS_SUM(enomem), engine_errors("ENOMEM"));
		assert_true(faults("allocs_failed") >= REPORTS_SUM(enomem));
		assert_empty_once_closed();
	}
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

	set_timeout_ms(DEFAULT_TIMEOUT_MS);
	assert_fresh_engine_works();
}

/* Write the request timeout back; false if that failed. */
static bool restore_timeout(void)
{
	FILE *f = fopen(TIMEOUT_PARAM, "we");

	if (!f) {
		fprintf(stderr, "cannot open %s: %m\n", TIMEOUT_PARAM);
		return false;
	}
	fprintf(f, "%u\n", DEFAULT_TIMEOUT_MS);
	if (fclose(f)) {
		fprintf(stderr, "cannot write %s: %m\n", TIMEOUT_PARAM);
		return false;
	}
	return true;
}

/* When the current case started, to print how long it took. */
static double case_start;

static int setup_case(void **state)
{
	(void)state;
	case_start = test_now();
	return 0;
}

/*
 * After each case, also a failed one: the default timeout again, and no
 * second engine of the hang case left running (which only a failure
 * before its own stop leaves: that fails the case).
 */
static int teardown_case(void **state)
{
	pid_t pid = second_engine;
	int r = 0;

	(void)state;
	printf("# %.1f s\n", test_now() - case_start);
	if (pid) {
		second_engine = 0;
		fprintf(stderr, "killing the second engine (pid %d) left running\n",
			pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		r = -1;
	}
	if (!restore_timeout())
		r = -1;
	return r;
}

static int setup(void **state)
{
	struct rlimit no_core = { 0, 0 };

	/* Aborting engines must not drop core files into the tree. */
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -1;
	reports = mmap(NULL, N_WORKERS * sizeof(*reports),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (reports == MAP_FAILED) {
		reports = NULL;
		return -1;
	}
	return test_setup_device(state);
}

/* Whatever happened above, leave a normal engine and the default timeout. */
static int teardown(void **state)
{
	int r = 0;

	(void)state;
	if (!restore_timeout())
		r = -1;
	if (engine_ctl("restart", NULL)) {
		fprintf(stderr, "no normal engine after the fault tests\n");
		r = -1;
	}
	if (reports)
		munmap(reports, N_WORKERS * sizeof(*reports));
	return r;
}

#define FAULT_TEST(_f) \
	cmocka_unit_test_setup_teardown(_f, setup_case, teardown_case)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FAULT_TEST(test_abort_before),
		FAULT_TEST(test_abort_after),
		FAULT_TEST(test_abort_type_recv_done),
		FAULT_TEST(test_abort_type_fetch),
		FAULT_TEST(test_abort_type_send),
		FAULT_TEST(test_abort_type_route_done),
		FAULT_TEST(test_hang),
		FAULT_TEST(test_slow),
		FAULT_TEST(test_burst),
		FAULT_TEST(test_lie_unknown_seq),
		FAULT_TEST(test_lie_duplicate),
		FAULT_TEST(test_lie_unknown_type),
		FAULT_TEST(test_lie_garbage),
		FAULT_TEST(test_lie_wrong_type),
		FAULT_TEST(test_lie_truncated),
		FAULT_TEST(test_lie_oversized),
		FAULT_TEST(test_lie_item_counts),
		FAULT_TEST(test_lie_item_type),
		FAULT_TEST(test_lie_item_token),
		FAULT_TEST(test_lie_bogus_peer),
		FAULT_TEST(test_alloc_nth),
		FAULT_TEST(test_alloc_random),
		FAULT_TEST(test_broken_control_file),
	};

	/* TEST_FILTER=pattern runs a subset while working on one fault. */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
