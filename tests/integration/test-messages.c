/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Message count: 20000 messages from four processes into one peer, drained
 * while they are sent, with every sequence number accounted for: nothing
 * lost, nothing duplicated, FIFO per sender; and two processes draining
 * one peer concurrently, each message delivered exactly once.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

static void test_many_messages(void **state)
{
	enum { SENDERS = 4, PER_SENDER = 5000 };
	uint64_t node, own, h[SENDERS];
	uint32_t next[SENDERS] = { 0 };
	int fd[SENDERS], c = test_peer(), i, total;
	struct test_item item;
	pid_t pid[SENDERS];

	double t0 = test_now();

	(void)state;
	test_node(c, -1, &node, &own);
	for (i = 0; i < SENDERS; ++i) {
		fd[i] = test_peer();
		h[i] = test_handle(c, fd[i], own);
	}
	for (i = 0; i < SENDERS; ++i) {
		pid[i] = test_fork();
		if (pid[i] == 0) {
			uint32_t tag[2] = { (uint32_t)i, 0 };
			bool ok = true;

			for (; tag[1] < PER_SENDER && ok; ++tag[1])
				ok = test_send(fd[i], 1, &h[i], tag,
					       sizeof(tag), 0, NULL) == 0;
			test_child_exit(ok);
		}
	}
	for (i = 0; i < SENDERS; ++i)
		close(fd[i]);

	for (total = 0; total < SENDERS * PER_SENDER; ++total) {
		uint32_t tag[2];
		int r = test_recv(c, &item);

		if (r == -EAGAIN)
			r = test_recv_wait(c, &item);
		assert_int_equal(r, 0);
		assert_int_equal(item.msg.n_data, sizeof(tag));
		assert_int_equal(item.meta.id, node);
		memcpy(tag, item.data, sizeof(tag));
		assert_true(tag[0] < SENDERS);
		/* Nothing lost, nothing duplicated, per-sender FIFO. */
		assert_int_equal(tag[1], next[tag[0]]);
		++next[tag[0]];
	}
	for (i = 0; i < SENDERS; ++i) {
		test_join(pid[i]);
		assert_int_equal(next[i], PER_SENDER);
	}
	/* The senders are gone: their handles went with them, and c's own
	 * handle is the last. */
	test_expect_empty(c);
	assert_int_equal(bus1_cmd_release(c, 1, &own), 0);
	test_expect_notify(c, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node);
	close(c);
	print_message("%s: %.2f s\n", __func__, test_now() - t0);
}

/*
 * Two processes receive from one peer (one file description) at the same
 * time: every message is delivered exactly once.
 */
static void test_concurrent_receivers(void **state)
{
	enum { N = 4000, RECEIVERS = 2 };
	static uint8_t seen[N];
	uint64_t node, own, h;
	int r = test_peer(), s = test_peer(), p[2], i, got = 0;
	pid_t pid[RECEIVERS];
	uint32_t v;

	(void)state;
	test_node(r, -1, &node, &own);
	h = test_handle(r, s, own);
	for (v = 0; v < N; ++v)
		assert_int_equal(test_send(s, 1, &h, &v, sizeof(v), 0, NULL),
				 0);
	assert_int_equal(pipe(p), 0);
	for (i = 0; i < RECEIVERS; ++i) {
		pid[i] = test_fork();
		if (pid[i] == 0) {
			struct test_item item;
			bool ok = true;
			int k;

			close(p[0]);
			/* Nothing is sent any more: EAGAIN means drained. */
			while ((k = test_recv(r, &item)) == 0 && ok)
				ok = item.msg.n_data == sizeof(v) &&
				     write(p[1], item.data, sizeof(v)) ==
					     sizeof(v);
			test_child_exit(ok && k == -EAGAIN);
		}
	}
	close(p[1]);
	while (read(p[0], &v, sizeof(v)) == sizeof(v)) {
		assert_true(v < N);
		assert_int_equal(seen[v], 0);
		seen[v] = 1;
		++got;
	}
	close(p[0]);
	for (i = 0; i < RECEIVERS; ++i)
		test_join(pid[i]);
	assert_int_equal(got, N);
	test_expect_empty(r);
	close(r);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_messages),
		cmocka_unit_test(test_concurrent_receivers),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
