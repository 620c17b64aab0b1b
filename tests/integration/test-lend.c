/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * RECV served by the module from items the engine lent ahead (control
 * protocol version 2): more items than the engine's window, items larger
 * than it, several threads receiving on one peer, a failed copy-out in the
 * middle of a window, a streaming sender in another process, and a peer
 * closed with items lent, and large payloads, which the module keeps by
 * reference, multicast to several receivers. Every message must arrive
 * exactly once, intact and in order.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "util.h"

#define BIG_SIZE (300u << 10)

struct fx {
	int s, r;
	uint64_t node, h;
};

static void fx_init(struct fx *f)
{
	uint64_t own;

	f->s = test_peer();
	f->r = test_peer();
	test_node(f->r, -1, &f->node, &own);
	f->h = test_handle(f->r, f->s, own);
}

static void fx_deinit(struct fx *f)
{
	close(f->s);
	close(f->r);
}

/* Message @i: its number, then a pattern derived from it, @size bytes. */
static void fill(uint8_t *buf, size_t size, uint32_t i)
{
	size_t k;

	memcpy(buf, &i, sizeof(i));
	for (k = sizeof(i); k < size; ++k)
		buf[k] = (uint8_t)(i * 31 + k);
}

static bool check(const uint8_t *buf, size_t size, uint32_t *i)
{
	size_t k;

	if (size < sizeof(*i))
		return false;
	memcpy(i, buf, sizeof(*i));
	for (k = sizeof(*i); k < size; ++k)
		if (buf[k] != (uint8_t)(*i * 31 + k))
			return false;
	return true;
}

static size_t size_of(uint32_t i)
{
	return i % 25 == 3 ? BIG_SIZE : 16 + i % 200;
}

static int send_numbered(int fd, uint64_t h, uint32_t i, uint8_t *buf)
{
	size_t size = size_of(i);

	fill(buf, size, i);
	return test_send(fd, 1, &h, buf, size, 0, NULL);
}

/* Receive into @buf (BIG_SIZE bytes); return the size or a negative errno. */
static ssize_t recv_big(int fd, uint8_t *buf)
{
	struct iovec vec = { buf, BIG_SIZE };
	struct bus1_metadata meta;
	struct bus1_message msg = {
		.type = BUS1_INVALID,
		.n_data = BIG_SIZE,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int r;

	r = bus1_cmd_recv(fd, &meta, &msg);
	if (r < 0)
		return r;
	if (msg.type != BUS1_MESSAGE_TYPE_USER)
		return -EBADMSG;
	return msg.n_data;
}

/* Many more items, and larger ones, than the engine lends at once. */
static void test_lend_beyond_window(void **state)
{
	uint8_t *buf = malloc(BIG_SIZE);
	struct fx f;
	uint32_t i, v;
	ssize_t n;

	(void)state;
	assert_non_null(buf);
	fx_init(&f);
	for (i = 0; i < 200; ++i)
		assert_int_equal(send_numbered(f.s, f.h, i, buf), 0);
	for (i = 0; i < 200; ++i) {
		assert_true(test_readable(f.r));
		n = recv_big(f.r, buf);
		assert_int_equal(n, size_of(i));
		assert_true(check(buf, n, &v));
		assert_int_equal(v, i);
	}
	test_expect_empty(f.r);
	assert_false(test_readable(f.r));
	fx_deinit(&f);
	free(buf);
}

/* A failed copy-out in the middle of a window keeps the order. */
static void test_lend_efault_mid_window(void **state)
{
	struct bus1_message msg = { .type = BUS1_INVALID };
	uint8_t *buf = malloc(BIG_SIZE);
	struct fx f;
	uint32_t i, v;
	ssize_t n;

	(void)state;
	assert_non_null(buf);
	fx_init(&f);
	for (i = 0; i < 40; ++i)
		assert_int_equal(send_numbered(f.s, f.h, i, buf), 0);
	for (i = 0; i < 40; ++i) {
		if (i % 5 == 0) {
			struct iovec bad = { test_bad_ptr(), BIG_SIZE };
			struct bus1_metadata meta;

			msg.n_data = BIG_SIZE;
			msg.n_data_vecs = 1;
			msg.ptr_data_vecs = BUS1_FROM_PTR(&bad);
			assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg),
					 -EFAULT);
			assert_true(test_readable(f.r));
		}
		n = recv_big(f.r, buf);
		assert_int_equal(n, size_of(i));
		assert_true(check(buf, n, &v));
		assert_int_equal(v, i);
	}
	test_expect_empty(f.r);
	fx_deinit(&f);
	free(buf);
}

#define N_THREADS 3
#define N_SHARED 600

struct receiver {
	int fd;
	unsigned int n_got;
	bool ok;
	uint8_t seen[N_SHARED];
	uint8_t *buf;
};

static unsigned int shared_total(struct receiver *rs)
{
	unsigned int i, n = 0;

	for (i = 0; i < N_THREADS; ++i)
		n += __atomic_load_n(&rs[i].n_got, __ATOMIC_RELAXED);
	return n;
}

static struct receiver *all_receivers;

/*
 * Receive until every message arrived somewhere; each thread must see
 * increasing numbers (one queue, taken in order), and no number twice.
 */
static void *receive_shared(void *arg)
{
	struct receiver *self = arg;
	double deadline = test_now() + 60.0;
	int64_t last = -1;
	uint32_t v;
	ssize_t n;

	self->ok = true;
	while (shared_total(all_receivers) < N_SHARED && self->ok) {
		if (test_now() > deadline) {
			self->ok = false;
			break;
		}
		n = recv_big(self->fd, self->buf);
		if (n == -EAGAIN) {
			struct pollfd pfd = { self->fd, POLLIN, 0 };

			poll(&pfd, 1, 10);
			continue;
		}
		if (n < 0 || !check(self->buf, n, &v) || v >= N_SHARED ||
		    (int64_t)v <= last || n != (ssize_t)size_of(v)) {
			self->ok = false;
			break;
		}
		last = v;
		self->seen[v] = 1;
		__atomic_add_fetch(&self->n_got, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_lend_threads_share_peer(void **state)
{
	struct receiver rs[N_THREADS] = {};
	pthread_t th[N_THREADS];
	uint8_t *buf = malloc(BIG_SIZE);
	unsigned int i, t, copies;
	pid_t pid;
	struct fx f;

	(void)state;
	assert_non_null(buf);
	fx_init(&f);
	all_receivers = rs;
	for (t = 0; t < N_THREADS; ++t) {
		rs[t].fd = f.r;
		rs[t].buf = malloc(BIG_SIZE);
		assert_non_null(rs[t].buf);
		assert_int_equal(pthread_create(&th[t], NULL, receive_shared,
						&rs[t]), 0);
	}
	pid = test_fork();
	if (pid == 0) {
		bool ok = true;

		for (i = 0; i < N_SHARED && ok; ++i)
			ok = send_numbered(f.s, f.h, i, buf) == 0;
		test_child_exit(ok);
	}
	test_join(pid);
	for (t = 0; t < N_THREADS; ++t) {
		assert_int_equal(pthread_join(th[t], NULL), 0);
		assert_true(rs[t].ok);
	}
	for (i = 0; i < N_SHARED; ++i) {
		copies = 0;
		for (t = 0; t < N_THREADS; ++t)
			copies += rs[t].seen[i];
		assert_int_equal(copies, 1);
	}
	test_expect_empty(f.r);
	for (t = 0; t < N_THREADS; ++t)
		free(rs[t].buf);
	fx_deinit(&f);
	free(buf);
}

/*
 * A peer closed with items lent to the module: they go with it, and the
 * sender's handle gets its NODE_RELEASE; a new receiver works as before.
 */
static void test_lend_close_with_items(void **state)
{
	uint8_t buf[64];
	struct fx f;
	uint32_t i;

	(void)state;
	memset(buf, 0, sizeof(buf));
	fx_init(&f);
	for (i = 0; i < 50; ++i)
		assert_int_equal(test_send(f.s, 1, &f.h, buf, sizeof(buf), 0,
					   NULL), 0);
	assert_true(test_readable(f.r));
	close(f.r);
	test_expect_notify(f.s, BUS1_MESSAGE_TYPE_NODE_RELEASE, f.h);
	test_expect_empty(f.s);

	f.r = test_peer();
	{
		uint64_t own;

		test_node(f.r, -1, &f.node, &own);
		f.h = test_handle(f.r, f.s, own);
	}
	test_send_ok(f.s, f.h, "after", 5);
	test_expect_user(f.r, f.node, "after", 5);
	fx_deinit(&f);
}

/*
 * One large payload (kept by the module, sent by reference) to three
 * receivers; one of them closes without receiving. The others get it
 * intact, and so does a receiver of a second send after that.
 */
static void test_lend_large_multicast(void **state)
{
	uint8_t *buf = malloc(BIG_SIZE);
	int s = test_peer(), r[3];
	uint64_t node[3], own, h[3];
	int32_t errors[3];
	unsigned int i;
	uint32_t v;
	ssize_t n;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < 3; ++i) {
		r[i] = test_peer();
		test_node(r[i], -1, &node[i], &own);
		h[i] = test_handle(r[i], s, own);
	}
	fill(buf, BIG_SIZE, 7);
	{
		struct iovec vec = { buf, BIG_SIZE };
		struct bus1_message msg = {
			.type = BUS1_MESSAGE_TYPE_USER,
			.n_data = BIG_SIZE,
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};

		assert_int_equal(bus1_cmd_send(s, 3, h, errors, &msg), 0);
	}
	for (i = 0; i < 3; ++i)
		assert_int_equal(errors[i], 0);
	close(r[2]);
	for (i = 0; i < 2; ++i) {
		memset(buf, 0, BIG_SIZE);
		n = recv_big(r[i], buf);
		assert_int_equal(n, BIG_SIZE);
		assert_true(check(buf, n, &v));
		assert_int_equal(v, 7);
		test_expect_empty(r[i]);
	}
	test_expect_notify(s, BUS1_MESSAGE_TYPE_NODE_RELEASE, h[2]);
	assert_int_equal(send_numbered(s, h[0], 3, buf), 0);
	n = recv_big(r[0], buf);
	assert_int_equal(n, size_of(3));
	assert_true(check(buf, n, &v));
	assert_int_equal(v, 3);
	close(r[0]);
	close(r[1]);
	close(s);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lend_beyond_window),
		cmocka_unit_test(test_lend_efault_mid_window),
		cmocka_unit_test(test_lend_threads_share_peer),
		cmocka_unit_test(test_lend_close_with_items),
		cmocka_unit_test(test_lend_large_multicast),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
