/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Non-fatal signals while a call waits for the engine. bus1(7) gives every
 * command one result, and docs/decisions.md ("Killed callers") says only
 * fatal signals interrupt a wait for the engine: any other signal must
 * neither end the wait nor turn the result into EINTR.
 *
 * Each test stops the engine (SIGSTOP on the PID in /run/bus1d.pid; it is
 * continued, never killed), starts one call in a thread and waits until
 * that thread sleeps in the kernel. The
 * thread then gets SIGUSR1 several times, with a handler installed without
 * SA_RESTART: the signal stays pending and the handler does not run while
 * the call waits. Once the engine continues, the call returns its real
 * result, the handler runs after it, and the call's effect is there
 * exactly once. The calls: open, TRANSFER, SEND, RELEASE, a RECV that has
 * to FETCH from the engine, and a second call of one peer, which waits
 * for the first to be settled.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

/* Signals sent to a waiting call, 10 ms apart. */
#define N_SIGNALS 20
/* More messages than the engine lends ahead (16): the rest needs FETCH. */
#define N_QUEUED 24

static atomic_int n_handled;

static void on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&n_handled, 1);
}

/* Field 3 of /proc/@path/stat: R, S, D, T, ... or '?'. */
static char proc_state(const char *path)
{
	char buf[512], *p;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static char thread_state(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	return proc_state(path);
}

/* Stops the engine and waits until it is stopped. */
static void engine_stop(void)
{
	pid_t pid = test_engine_pid();
	char path[64];
	int i;

	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 500 && proc_state(path) != 'T'; ++i)
		usleep(10000);
	assert_int_equal(proc_state(path), 'T');
}

static void engine_continue(void)
{
	pid_t pid = test_engine_pid();

	if (pid > 0)
		kill(pid, SIGCONT);
}

/* Whether SIGUSR1 is pending for thread @tid (its SigPnd mask). */
static bool sigusr1_pending(pid_t tid)
{
	unsigned long long mask = 0;
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigPnd: %llx", &mask) == 1)
			found = true;
	fclose(f);
	assert_true(found);
	return mask & (1ULL << (SIGUSR1 - 1));
}

/*
 * The call under test, run by a thread. It lives outside any stack frame:
 * a failed assertion leaves the thread running and must not leave it a
 * dangling pointer.
 */
struct call {
	pthread_t thread;
	int (*op)(void *arg);
	void *arg;
	atomic_int tid;
	atomic_bool done;
	int r;
};

static struct call calls[2];

static void *call_thread(void *arg)
{
	struct call *c = arg;

	atomic_store(&c->tid, gettid());
	c->r = c->op(c->arg);
	atomic_store(&c->done, true);
	return NULL;
}

static void call_start(struct call *c, int (*op)(void *), void *arg)
{
	c->op = op;
	c->arg = arg;
	atomic_store(&c->tid, 0);
	atomic_store(&c->done, false);
	c->r = -EPROTO;
	assert_int_equal(pthread_create(&c->thread, NULL, call_thread, c), 0);
}

/* Whether @tid sleeps ('S' or 'D'; the module's wait is 'D', killable). */
static bool thread_sleeps(pid_t tid)
{
	char state = thread_state(tid);

	return state == 'S' || state == 'D';
}

/*
 * Whether @c's thread sleeps in its call: in five samples in a row, 20 ms
 * apart, within TEST_TIMEOUT_MS. With the engine stopped, nothing else
 * keeps it asleep that long.
 */
static bool call_waits(struct call *c)
{
	double deadline = test_now() + TEST_TIMEOUT_MS / 1000.0;
	int in_a_row = 0;

	while (in_a_row < 5 && test_now() < deadline) {
		pid_t tid = atomic_load(&c->tid);

		if (atomic_load(&c->done))
			return false;
		in_a_row = tid && thread_sleeps(tid) ? in_a_row + 1 : 0;
		usleep(20000);
	}
	return in_a_row == 5;
}

/*
 * Signals @c's thread N_SIGNALS times while it waits for the stopped
 * engine and checks that none of them ended the wait or ran the handler.
 */
static void signal_waiting(struct call *c)
{
	int i;

	assert_true(call_waits(c));
	for (i = 0; i < N_SIGNALS; ++i) {
		assert_int_equal(pthread_kill(c->thread, SIGUSR1), 0);
		usleep(10000);
	}
	if (atomic_load(&c->done))
		fail_msg("a signal ended the wait for the stopped engine: the call returned %d (%s)",
			 c->r, strerror(-c->r));
	assert_true(thread_sleeps(atomic_load(&c->tid)));
	assert_true(sigusr1_pending(atomic_load(&c->tid)));
}

/* Joins @c; its handler ran once it returned. Returns its result. */
static int call_join(struct call *c)
{
	assert_int_equal(pthread_join(c->thread, NULL), 0);
	assert_true(atomic_load(&c->done));
	return c->r;
}

/*
 * Runs @op(@arg) in a thread while the engine is stopped, signals it
 * while it waits, continues the engine and returns the op's result.
 */
static int call_signalled(int (*op)(void *), void *arg)
{
	struct call *c = &calls[0];

	atomic_store(&n_handled, 0);
	engine_stop();
	call_start(c, op, arg);
	signal_waiting(c);
	assert_int_equal(atomic_load(&n_handled), 0);
	engine_continue();
	return call_join(c);
}

static int setup(void **state)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	/* no SA_RESTART: an interrupted call would show EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return -1;
	return test_setup_device(state);
}

/* Whatever failed, the engine runs again. */
static int engine_continue_teardown(void **state)
{
	(void)state;
	engine_continue();
	return 0;
}

static int op_open(void *arg)
{
	int fd = open("/dev/bus1", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	*(int *)arg = fd;
	return 0;
}

static void test_signal_open(void **state)
{
	uint64_t node, handle;
	int fd = -1;

	(void)state;
	assert_int_equal(call_signalled(op_open, &fd), 0);
	assert_true(atomic_load(&n_handled) >= 1);
	assert_true(fd >= 0);
	/* one working peer, whose IDs start afresh */
	test_node(fd, -1, &node, &handle);
	assert_int_equal(node < handle ? node : handle, 1);
	test_send_ok(fd, handle, "open", 4);
	test_expect_user(fd, node, "open", 4);
	test_expect_empty(fd);
	close(fd);
}

struct transfer_args {
	int from;
	uint64_t to;
	struct bus1_transfer src, dst;
};

static int op_transfer(void *arg)
{
	struct transfer_args *a = arg;

	return test_raw_transfer(a->from, 0, a->to, 1, &a->src, &a->dst);
}

/* A node created for another peer: one node, one handle, no more. */
static void test_signal_transfer(void **state)
{
	static struct transfer_args t;
	uint64_t n, h;
	int a, b;

	(void)state;
	a = test_peer();
	b = test_peer();
	t = (struct transfer_args){
		.from = a,
		.to = b,
		.src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID },
		.dst = { 7, 7 },
	};
	assert_int_equal(call_signalled(op_transfer, &t), 0);
	assert_true(atomic_load(&n_handled) >= 1);
	assert_int_equal(t.src.flags, 0);
	assert_int_equal(t.dst.flags, 0);
	assert_int_equal(t.src.id, 1);
	assert_int_equal(t.dst.id, 1);

	/* the handle reaches the node; each peer's next ID is the next one */
	test_send_ok(b, t.dst.id, "transfer", 8);
	test_expect_user(a, t.src.id, "transfer", 8);
	test_assert_next_after(a, t.src.id);
	test_node(b, -1, &n, &h);
	assert_int_equal(n < h ? n : h, t.dst.id + 2);
	test_expect_empty(a);
	test_expect_empty(b);
	close(a);
	close(b);
}

struct send_args {
	int fd;
	uint64_t dst;
	uint64_t carried;
	int r;
};

/* A message with data and a handle: it always goes to the engine. */
static int op_send(void *arg)
{
	struct send_args *s = arg;

	return test_send(s->fd, 1, &s->dst, "signalled", 9, 1, &s->carried);
}

/* Delivered once, with its handle, and nothing else. */
static void test_signal_send(void **state)
{
	static struct send_args s;
	uint64_t node, own, h;
	struct test_item item;
	int a, b;

	(void)state;
	a = test_peer();
	b = test_peer();
	test_node(a, b, &node, &h);
	test_node(b, -1, NULL, &own);
	s = (struct send_args){ .fd = b, .dst = h, .carried = own };
	assert_int_equal(call_signalled(op_send, &s), 0);
	assert_true(atomic_load(&n_handled) >= 1);

	assert_int_equal(test_recv_wait(a, &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.meta.id, node);
	assert_int_equal(item.msg.n_data, 9);
	assert_memory_equal(item.data, "signalled", 9);
	assert_int_equal(item.msg.n_transfers, 1);
	assert_true(item.transfers[0].id & BUS1_MANAGED);
	test_expect_empty(a);
	test_assert_next_after(a, item.transfers[0].id);
	close(a);
	close(b);
}

struct release_args {
	int fd;
	uint64_t ids[2];
};

static int op_release(void *arg)
{
	struct release_args *r = arg;

	return test_raw_release(r->fd, 0, 2, r->ids);
}

/* Two nodes released in one call: each handle holder told once. */
static void test_signal_release(void **state)
{
	static struct release_args r;
	uint64_t node[2], h[2];
	int a, b;

	(void)state;
	a = test_peer();
	b = test_peer();
	test_node(a, b, &node[0], &h[0]);
	test_node(a, b, &node[1], &h[1]);
	r = (struct release_args){ .fd = a, .ids = { node[0], node[1] } };
	assert_int_equal(call_signalled(op_release, &r), 0);
	assert_true(atomic_load(&n_handled) >= 1);

	test_expect_notify_set(b, BUS1_MESSAGE_TYPE_NODE_RELEASE, 2, h);
	test_expect_empty(b);
	test_expect_empty(a);
	assert_int_equal(test_raw_release(a, 0, 1, &node[0]), -EBADRQC);
	assert_int_equal(test_raw_release(a, 0, 1, &node[1]), -EBADRQC);
	close(a);
	close(b);
}

struct recv_args {
	int fd;
	uint64_t node;
	unsigned int n_got;
	int r;
};

/*
 * Receive N_QUEUED messages tagged 0..N_QUEUED-1, in order; the first
 * beyond what the engine lent waits for its FETCH.
 */
static int op_recv_all(void *arg)
{
	struct recv_args *a = arg;
	struct test_item item;
	int r;

	for (a->n_got = 0; a->n_got < N_QUEUED; ++a->n_got) {
		r = test_recv(a->fd, &item);
		if (r)
			return r;
		if (item.msg.type != BUS1_MESSAGE_TYPE_USER ||
		    item.meta.id != a->node || item.msg.n_data != 1 ||
		    item.data[0] != a->n_got)
			return -EPROTO;
	}
	return 0;
}

static void test_signal_recv_fetch(void **state)
{
	static struct recv_args r;
	uint64_t node, h, dst;
	unsigned char tag;
	int a, b;

	(void)state;
	a = test_peer();
	b = test_peer();
	test_node(a, b, &node, &h);
	/* with a handle each, so the engine queues them all, no route */
	test_node(b, -1, NULL, &dst);
	for (tag = 0; tag < N_QUEUED; ++tag)
		assert_int_equal(test_send(b, 1, &h, &tag, 1, 1, &dst), 0);
	assert_true(test_wait(a, TEST_TIMEOUT_MS) > 0);

	r = (struct recv_args){ .fd = a, .node = node };
	assert_int_equal(call_signalled(op_recv_all, &r), 0);
	assert_true(atomic_load(&n_handled) >= 1);
	assert_int_equal(r.n_got, N_QUEUED);
	test_expect_empty(a);
	close(a);
	close(b);
}

/*
 * Two calls of one peer: the second waits for the first to be settled,
 * also killably; both are signalled, both complete.
 */
static void test_signal_busy(void **state)
{
	static struct transfer_args t;
	static struct send_args s;
	uint64_t node, h, own;
	struct test_item item;
	int a, b;

	(void)state;
	a = test_peer();
	b = test_peer();
	test_node(a, b, &node, &h);
	test_node(b, -1, NULL, &own);
	s = (struct send_args){ .fd = b, .dst = h, .carried = own };
	t = (struct transfer_args){
		.from = b,
		.to = BUS1_INVALID,
		.src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID },
		.dst = { 7, 7 },
	};

	atomic_store(&n_handled, 0);
	engine_stop();
	call_start(&calls[0], op_send, &s);
	assert_true(call_waits(&calls[0]));
	call_start(&calls[1], op_transfer, &t);
	signal_waiting(&calls[1]);
	signal_waiting(&calls[0]);
	assert_int_equal(atomic_load(&n_handled), 0);
	engine_continue();
	assert_int_equal(call_join(&calls[0]), 0);
	assert_int_equal(call_join(&calls[1]), 0);
	assert_true(atomic_load(&n_handled) >= 2);

	assert_int_equal(test_recv_wait(a, &item), 0);
	assert_int_equal(item.meta.id, node);
	assert_int_equal(item.msg.n_transfers, 1);
	test_expect_empty(a);
	assert_int_equal(t.src.flags, 0);
	assert_int_equal(t.dst.flags, 0);
	test_assert_next_after(b, t.src.id > t.dst.id ? t.src.id : t.dst.id);
	close(a);
	close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_signal_open,
					  engine_continue_teardown),
		cmocka_unit_test_teardown(test_signal_transfer,
					  engine_continue_teardown),
		cmocka_unit_test_teardown(test_signal_send,
					  engine_continue_teardown),
		cmocka_unit_test_teardown(test_signal_release,
					  engine_continue_teardown),
		cmocka_unit_test_teardown(test_signal_recv_fetch,
					  engine_continue_teardown),
		cmocka_unit_test_teardown(test_signal_busy,
					  engine_continue_teardown),
	};

	return cmocka_run_group_tests(tests, setup, engine_continue_teardown);
}
