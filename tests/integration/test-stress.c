/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Volume: a 16 MiB message through several iovecs with its content
 * verified, a message of exactly max_data, and 250 peers open at once that
 * all talk. (Message count is test-messages.c, which needs its own time.)
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>
#include "util.h"

static unsigned char pattern(size_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL;

	return (unsigned char)(x >> 56) ^ (unsigned char)i;
}

static void test_large_message(void **state)
{
	const size_t size = 16u << 20;
	const size_t out_parts[4] = { 1u << 20, 6u << 20, 3u << 20, 6u << 20 };
	const size_t in_parts[3] = { 5u << 20, 7u << 20, (4u << 20) + 4096 };
	struct iovec out[4], in[3];
	unsigned char *src, *dst;
	struct bus1_metadata meta;
	struct bus1_message msg;
	uint64_t node, own, h;
	int a = test_peer(), b = test_peer();
	int32_t err = 5;
	size_t i, off;

	double t0 = test_now();

	(void)state;
	assert_true(test_param("max_data") >= size);
	src = malloc(size);
	dst = malloc(size + 4096);
	assert_non_null(src);
	assert_non_null(dst);
	for (i = 0; i < size; ++i)
		src[i] = pattern(i);
	memset(dst, 0, size + 4096);

	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	for (i = 0, off = 0; i < 4; off += out_parts[i], ++i)
		out[i] = (struct iovec){ src + off, out_parts[i] };
	msg = (struct bus1_message){
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = size,
		.n_data_vecs = 4,
		.ptr_data_vecs = BUS1_FROM_PTR(out),
	};
	assert_int_equal(bus1_cmd_send(b, 1, &h, &err, &msg), 0);
	assert_int_equal(err, 0);
	assert_true(test_wait(a, TEST_TIMEOUT_MS) > 0);

	for (i = 0, off = 0; i < 3; off += in_parts[i], ++i)
		in[i] = (struct iovec){ dst + off, in_parts[i] };
	/* Too small first: the needed size comes back. */
	msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_data = size - 1,
		.n_data_vecs = 3,
		.ptr_data_vecs = BUS1_FROM_PTR(in),
	};
	assert_int_equal(bus1_cmd_recv(a, &meta, &msg), -EMSGSIZE);
	assert_int_equal(msg.n_data, size);
	msg.n_data = size + 4096;
	msg.type = BUS1_INVALID;
	assert_int_equal(bus1_cmd_recv(a, &meta, &msg), 0);
	assert_int_equal(msg.n_data, size);
	assert_int_equal(meta.id, node);
	assert_memory_equal(dst, src, size);
	for (i = size; i < size + 4096; ++i)
		assert_int_equal(dst[i], 0);
	test_expect_empty(a);
	free(src);
	free(dst);
	close(a);
	close(b);
	print_message("%s: %.2f s\n", __func__, test_now() - t0);
}

static void test_max_data(void **state)
{
	uint64_t max = test_param("max_data");
	struct iovec vec;
	struct bus1_metadata meta;
	struct bus1_message msg;
	uint64_t node, own, h;
	int a = test_peer(), b = test_peer();
	int32_t err;
	char *buf;

	double t0 = test_now();

	(void)state;
	/* Exactly max_data goes through (capped at 32 MiB for the guest). */
	if (max > (32u << 20))
		max = 32u << 20;
	buf = calloc(1, max + 1);
	assert_non_null(buf);
	buf[0] = 'F';
	buf[max - 1] = 'L';
	test_node(a, -1, &node, &own);
	h = test_handle(a, b, own);
	vec = (struct iovec){ buf, max + 1 };
	msg = (struct bus1_message){
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = max,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	assert_int_equal(bus1_cmd_send(b, 1, &h, &err, &msg), 0);
	if (max == test_param("max_data")) {
		msg.n_data = max + 1;
		assert_int_equal(bus1_cmd_send(b, 1, &h, &err, &msg),
				 -EMSGSIZE);
	}
	memset(buf, 0, max + 1);
	msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_data = max + 1,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	assert_int_equal(bus1_cmd_recv(a, &meta, &msg), 0);
	assert_int_equal(msg.n_data, max);
	assert_int_equal(buf[0], 'F');
	assert_int_equal(buf[max - 1], 'L');
	test_expect_empty(a);
	free(buf);
	close(a);
	close(b);
	print_message("%s: %.2f s\n", __func__, test_now() - t0);
}

static void test_many_peers(void **state)
{
	enum { N = 250 };
	uint64_t hub_node, hub_own, to_hub[N], node[N], own, reply[N];
	struct test_item item;
	struct rlimit rl;
	int fd[N], hub, i;

	double t0 = test_now();

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < N + 64) {
		rl.rlim_cur = rl.rlim_max < N + 64 ? rl.rlim_max : N + 64;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}

	hub = test_peer();
	test_node(hub, -1, &hub_node, &hub_own);
	for (i = 0; i < N; ++i) {
		fd[i] = test_peer();
		to_hub[i] = test_handle(hub, fd[i], hub_own);
		test_node(fd[i], -1, &node[i], &own);
		/* Each peer introduces itself with a handle to its node. */
		assert_int_equal(test_send(fd[i], 1, &to_hub[i], &i,
					   sizeof(i), 1, &own), 0);
		assert_int_equal(bus1_cmd_release(fd[i], 1, &own), 0);
	}
	for (i = 0; i < N; ++i) {
		int v;

		assert_int_equal(test_recv(hub, &item), 0);
		memcpy(&v, item.data, sizeof(v));
		assert_int_equal(v, i);
		assert_int_equal(item.msg.n_transfers, 1);
		reply[i] = item.transfers[0].id;
	}
	test_expect_empty(hub);
	/* One multicast back to all of them, then each answers alone. */
	assert_int_equal(test_send(hub, 50, reply, "all", 3, 0, NULL), 0);
	assert_int_equal(test_send(hub, 50, reply + 50, "all", 3, 0, NULL), 0);
	assert_int_equal(test_send(hub, 50, reply + 100, "all", 3, 0, NULL),
			 0);
	assert_int_equal(test_send(hub, 50, reply + 150, "all", 3, 0, NULL),
			 0);
	assert_int_equal(test_send(hub, 50, reply + 200, "all", 3, 0, NULL),
			 0);
	for (i = 0; i < N; ++i) {
		test_expect_user(fd[i], node[i], "all", 3);
		test_send_ok(fd[i], to_hub[i], "ack", 3);
	}
	for (i = 0; i < N; ++i)
		test_expect_user(hub, hub_node, "ack", 3);

	/* Closing them all: each last handle to a peer's node goes with the
	 * hub's release, each handle to the hub goes with its peer. */
	assert_int_equal(bus1_cmd_release(hub, N, reply), 0);
	for (i = 0; i < N; ++i) {
		test_expect_notify(fd[i], BUS1_MESSAGE_TYPE_HANDLE_RELEASE,
				   node[i]);
		close(fd[i]);
	}
	assert_int_equal(bus1_cmd_release(hub, 1, &hub_own), 0);
	test_expect_notify(hub, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, hub_node);
	test_expect_empty(hub);
	close(hub);
	print_message("%s: %.2f s\n", __func__, test_now() - t0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_large_message),
		cmocka_unit_test(test_max_data),
		cmocka_unit_test(test_many_peers),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
