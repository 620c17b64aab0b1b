/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Ordering and poll: FIFO per sender, causal order across processes linked
 * only by a pipe (for messages and for notifications), and poll() wake-ups
 * across processes: POLLIN exactly when recv would succeed, POLLOUT always.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "util.h"

static int poll_now(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

	assert_int_equal(poll(&pfd, 1, 0), 1);
	return pfd.revents;
}

static void test_fifo(void **state)
{
	uint64_t node, own, h;
	struct test_item item;
	int a = test_peer(), b = test_peer();
	uint32_t i;

	(void)state;
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	for (i = 0; i < 500; ++i)
		assert_int_equal(test_send(b, 1, &h, &i, sizeof(i), 0, NULL),
				 0);
	for (i = 0; i < 500; ++i) {
		uint32_t v;

		assert_int_equal(test_recv(a, &item), 0);
		assert_int_equal(item.msg.n_data, sizeof(v));
		memcpy(&v, item.data, sizeof(v));
		assert_int_equal(v, i);
	}
	test_expect_empty(a);
	close(a);
	close(b);
}

static bool read_byte(int fd)
{
	char c;

	return read(fd, &c, 1) == 1;
}

static bool write_byte(int fd)
{
	return write(fd, "x", 1) == 1;
}

/*
 * A sends to C, then tells B over a pipe; B then sends to C. C must see A's
 * message first, every round.
 */
static void test_causal_pipe(void **state)
{
	enum { ROUNDS = 300 };
	uint64_t node, own, ha, hb;
	int a = test_peer(), b = test_peer(), c = test_peer();
	int ab[2], i, pos_a[ROUNDS], pos_b[ROUNDS], n;
	struct test_item item;
	pid_t pa, pb;

	(void)state;
	test_node(c, -1, &node, &own);
	ha = test_handle(c, a, own);
	hb = test_handle(c, b, own);
	assert_int_equal(pipe(ab), 0);

	pa = test_fork();
	if (pa == 0) {
		bool ok = true;
		uint32_t tag;

		close(b);
		close(c);
		close(ab[0]);
		for (i = 0; i < ROUNDS && ok; ++i) {
			tag = (uint32_t)i;
			ok = test_send(a, 1, &ha, &tag, 4, 0, NULL) == 0 &&
			     write_byte(ab[1]);
		}
		test_child_exit(ok);
	}
	pb = test_fork();
	if (pb == 0) {
		bool ok = true;
		uint32_t tag;

		close(a);
		close(c);
		close(ab[1]);
		for (i = 0; i < ROUNDS && ok; ++i) {
			tag = 0x80000000u | (uint32_t)i;
			ok = read_byte(ab[0]) &&
			     test_send(b, 1, &hb, &tag, 4, 0, NULL) == 0;
		}
		test_child_exit(ok);
	}
	close(ab[0]);
	close(ab[1]);

	for (i = 0; i < ROUNDS; ++i)
		pos_a[i] = pos_b[i] = -1;
	for (n = 0; n < 2 * ROUNDS; ++n) {
		uint32_t tag;

		assert_int_equal(test_recv_wait(c, &item), 0);
		assert_int_equal(item.msg.n_data, 4);
		memcpy(&tag, item.data, 4);
		if (tag & 0x80000000u) {
			assert_true((tag & 0x7fffffffu) < ROUNDS);
			assert_int_equal(pos_b[tag & 0x7fffffffu], -1);
			pos_b[tag & 0x7fffffffu] = n;
		} else {
			assert_true(tag < ROUNDS);
			assert_int_equal(pos_a[tag], -1);
			pos_a[tag] = n;
		}
	}
	for (i = 0; i < ROUNDS; ++i) {
		assert_true(pos_a[i] >= 0 && pos_b[i] >= 0);
		assert_true(pos_a[i] < pos_b[i]);
		/* FIFO per sender as well. */
		if (i)
			assert_true(pos_a[i - 1] < pos_a[i] &&
				    pos_b[i - 1] < pos_b[i]);
	}
	test_join(pa);
	test_join(pb);
	test_expect_empty(c);
	close(a);
	close(b);
	close(c);
}

/*
 * A releases its node (C holds a handle: NODE_RELEASE), then tells B; B
 * sends to C. C must see the notification first.
 */
static void test_causal_notification(void **state)
{
	enum { ROUNDS = 50 };
	uint64_t anode[ROUNDS], aown, hc[ROUNDS], cnode, cown, hb;
	int a = test_peer(), b = test_peer(), c = test_peer();
	struct test_item item;
	int ab[2], i;
	pid_t pa, pb;

	(void)state;
	test_node(c, -1, &cnode, &cown);
	hb = test_handle(c, b, cown);
	for (i = 0; i < ROUNDS; ++i) {
		test_node(a, -1, &anode[i], &aown);
		hc[i] = test_handle(a, c, aown);
		assert_int_equal(bus1_cmd_release(a, 1, &aown), 0);
	}
	assert_int_equal(pipe(ab), 0);

	pa = test_fork();
	if (pa == 0) {
		bool ok = true;

		close(b);
		close(c);
		close(ab[0]);
		for (i = 0; i < ROUNDS && ok; ++i)
			ok = bus1_cmd_release(a, 1, &anode[i]) == 0 &&
			     write_byte(ab[1]);
		test_child_exit(ok);
	}
	pb = test_fork();
	if (pb == 0) {
		bool ok = true;
		uint32_t tag;

		close(a);
		close(c);
		close(ab[1]);
		for (i = 0; i < ROUNDS && ok; ++i) {
			tag = (uint32_t)i;
			ok = read_byte(ab[0]) &&
			     test_send(b, 1, &hb, &tag, 4, 0, NULL) == 0;
		}
		test_child_exit(ok);
	}
	close(ab[0]);
	close(ab[1]);

	{
		bool released[ROUNDS] = { false };
		int n;

		for (n = 0; n < 2 * ROUNDS; ++n) {
			assert_int_equal(test_recv_wait(c, &item), 0);
			if (item.msg.type == BUS1_MESSAGE_TYPE_NODE_RELEASE) {
				for (i = 0; i < ROUNDS; ++i)
					if (hc[i] == item.meta.id)
						break;
				assert_true(i < ROUNDS);
				assert_false(released[i]);
				released[i] = true;
			} else {
				uint32_t tag;

				assert_int_equal(item.msg.type,
						 BUS1_MESSAGE_TYPE_USER);
				memcpy(&tag, item.data, 4);
				assert_true(tag < ROUNDS);
				assert_true(released[tag]);
			}
		}
	}
	test_join(pa);
	test_join(pb);
	test_expect_empty(c);
	close(a);
	close(b);
	close(c);
}

static void test_poll_states(void **state)
{
	uint64_t node, own, h;
	struct bus1_metadata meta;
	struct bus1_message msg;
	char buf[16];
	struct iovec vec = { buf, sizeof(buf) };
	int a = test_peer(), b = test_peer();

	(void)state;
	/* POLLOUT always; POLLIN never on an empty queue. */
	assert_int_equal(poll_now(a) & (POLLIN | POLLOUT), POLLOUT);
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	assert_int_equal(poll_now(a) & (POLLIN | POLLOUT), POLLOUT);

	/* Readable as soon as the send returned, for as long as items wait. */
	test_send_ok(b, h, "1", 1);
	test_send_ok(b, h, "2", 1);
	assert_int_equal(poll_now(a) & (POLLIN | POLLOUT), POLLIN | POLLOUT);
	assert_int_equal(poll_now(b) & (POLLIN | POLLOUT), POLLOUT);

	/* A failed recv leaves the item queued and the peer readable. */
	msg = (struct bus1_message){ .type = BUS1_INVALID };
	assert_int_equal(bus1_cmd_recv(a, &meta, &msg), -EMSGSIZE);
	assert_true(poll_now(a) & POLLIN);
	msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_data = sizeof(buf),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	assert_int_equal(bus1_cmd_recv(a, test_bad_ptr(), &msg), -EFAULT);
	assert_true(poll_now(a) & POLLIN);

	test_expect_user(a, node, "1", 1);
	assert_true(poll_now(a) & POLLIN);
	test_expect_user(a, node, "2", 1);
	assert_int_equal(poll_now(a) & (POLLIN | POLLOUT), POLLOUT);

	/* A dropped notification clears POLLIN again. */
	assert_int_equal(bus1_cmd_release(a, 1, &node), 0);
	assert_true(poll_now(b) & POLLIN);
	assert_int_equal(bus1_cmd_release(b, 1, &h), 0);
	assert_int_equal(poll_now(b) & (POLLIN | POLLOUT), POLLOUT);
	test_expect_notify(a, BUS1_MESSAGE_TYPE_NODE_RELEASE, own);
	assert_int_equal(poll_now(a) & (POLLIN | POLLOUT), POLLOUT);
	close(a);
	close(b);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A child blocks in poll(); the parent's send wakes it. Many rounds. */
static void test_poll_wakeup_cross_process(void **state)
{
	enum { ROUNDS = 100 };
	uint64_t node, own, h, back_node, back_own, back;
	int a = test_peer(), b = test_peer();
	struct test_item item;
	pid_t pid;
	int i;

	(void)state;
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	test_node(b, -1, &back_node, &back_own);
	back = test_handle(b, a, back_own);

	pid = test_fork();
	if (pid == 0) {
		bool ok = true;

		close(b);
		for (i = 0; i < ROUNDS && ok; ++i) {
			struct pollfd pfd = { .fd = a, .events = POLLIN };

			/* Nothing queued until we ask for it. */
			ok = poll(&pfd, 1, 0) == 0 &&
			     test_send(a, 1, &back, &i, sizeof(i), 0,
				       NULL) == 0 &&
			     poll(&pfd, 1, TEST_TIMEOUT_MS) == 1 &&
			     (pfd.revents & POLLIN) &&
			     test_recv(a, &item) == 0 &&
			     item.msg.n_data == sizeof(i) &&
			     memcmp(item.data, &i, sizeof(i)) == 0 &&
			     test_recv(a, &item) == -EAGAIN;
			if (!ok)
				fprintf(stderr, "child: round %d failed\n", i);
		}
		test_child_exit(ok);
	}
	close(a);

	for (i = 0; i < ROUNDS; ++i) {
		struct timespec t0;
		int v;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(test_recv_wait(b, &item), 0);
		assert_true(elapsed_ms(&t0) < TEST_TIMEOUT_MS);
		assert_int_equal(item.meta.id, back_node);
		memcpy(&v, item.data, sizeof(v));
		assert_int_equal(v, i);
		/* Let the child block in poll() before the reply arrives. */
		if (i % 10 == 0)
			usleep(2000);
		assert_int_equal(test_send(b, 1, &h, &i, sizeof(i), 0, NULL),
				 0);
	}
	test_join(pid);
	close(b);
}

/* One poll() over many peers reports exactly the ones with items. */
static void test_poll_many(void **state)
{
	enum { N = 16 };
	uint64_t node[N], own, h[N];
	struct pollfd pfd[N];
	int fd[N], s = test_peer(), i;

	(void)state;
	for (i = 0; i < N; ++i) {
		fd[i] = test_peer();
		test_node(fd[i], -1, &node[i], &own);
		h[i] = test_handle(fd[i], s, own);
	}
	for (i = 0; i < N; i += 3)
		test_send_ok(s, h[i], "p", 1);
	for (i = 0; i < N; ++i)
		pfd[i] = (struct pollfd){ .fd = fd[i], .events = POLLIN };
	assert_int_equal(poll(pfd, N, 0), (N + 2) / 3);
	for (i = 0; i < N; ++i) {
		assert_int_equal(!!(pfd[i].revents & POLLIN), i % 3 == 0);
		if (i % 3 == 0)
			test_expect_user(fd[i], node[i], "p", 1);
		close(fd[i]);
	}
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_causal_pipe),
		cmocka_unit_test(test_causal_notification),
		cmocka_unit_test(test_poll_states),
		cmocka_unit_test(test_poll_wakeup_cross_process),
		cmocka_unit_test(test_poll_many),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
