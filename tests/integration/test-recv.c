/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * RECV: argument checks before the queue, EAGAIN, EMSGSIZE with both sizes
 * written back, short iovecs, EFAULT for every pointer, and in every
 * failure the item stays at the head so a correct recv gets it intact.
 */

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "util.h"

/* A receiver r with node n; the message queued on it carries a handle. */
struct fx {
	int s, r;
	uint64_t n, h, sn, sh;
};

static void fx_init(struct fx *f, const char *text)
{
	uint64_t own;

	f->s = test_peer();
	f->r = test_peer();
	test_node(f->r, -1, &f->n, &own);
	f->h = test_handle(f->r, f->s, own);
	test_node(f->s, -1, &f->sn, &f->sh);
	if (text) {
		assert_int_equal(test_send(f->s, 1, &f->h, text, strlen(text),
					   1, &f->sh), 0);
		assert_true(test_wait(f->r, TEST_TIMEOUT_MS) > 0);
	}
}

/* The queued message is still there, intact, and its handle works. */
static void fx_check_intact(struct fx *f, const char *text)
{
	struct test_item item;

	/* POLLIN right after a failed recv is checked in test-order. */
	assert_int_equal(test_recv(f->r, &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.meta.id, f->n);
	assert_int_equal(item.meta.account, geteuid());
	assert_int_equal(item.msg.n_data, strlen(text));
	assert_memory_equal(item.data, text, strlen(text));
	assert_int_equal(item.msg.n_transfers, 1);
	test_send_ok(f->r, item.transfers[0].id, "back", 4);
	test_expect_user(f->s, f->sn, "back", 4);
	test_expect_empty(f->r);
}

static void fx_deinit(struct fx *f)
{
	close(f->s);
	close(f->r);
}

static void test_recv_success_fields(void **state)
{
	char a[3], b[3], c[8];
	struct iovec vec[3] = { { a, 3 }, { b, 3 }, { c, 8 } };
	struct iovec copy[3];
	struct bus1_transfer tr[3] = { { 5, 5 }, { 5, 5 }, { 5, 5 } };
	struct bus1_metadata meta = { 9, 9, 9 };
	struct bus1_message msg = {
		.type = BUS1_INVALID,
		.n_transfers = 3,
		.ptr_transfers = BUS1_FROM_PTR(tr),
		.n_data = 14,
		.n_data_vecs = 3,
		.ptr_data_vecs = BUS1_FROM_PTR(vec),
	};
	struct fx f;

	(void)state;
	fx_init(&f, "1234567");
	memset(c, 'x', sizeof(c));
	memcpy(copy, vec, sizeof(vec));
	assert_int_equal(test_raw_recv(f.r, 0, &meta, &msg), 0);

	assert_int_equal(meta.flags, 0);
	assert_int_equal(meta.id, f.n);
	assert_int_equal(meta.account, geteuid());
	assert_int_equal(msg.flags, 0);
	assert_int_equal(msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(msg.n_transfers, 1);
	assert_int_equal(msg.n_data, 7);
	assert_int_equal(msg.n_data_vecs, 3);
	assert_int_equal(msg.ptr_data_vecs, BUS1_FROM_PTR(vec));
	assert_int_equal(msg.ptr_transfers, BUS1_FROM_PTR(tr));
	/* The iovecs are never modified; data scattered over them in order. */
	assert_memory_equal(copy, vec, sizeof(vec));
	assert_memory_equal(a, "123", 3);
	assert_memory_equal(b, "456", 3);
	assert_int_equal(c[0], '7');
	assert_int_equal(c[1], 'x');
	assert_int_equal(tr[0].flags, 0);
	assert_true(tr[0].id & BUS1_MANAGED);
	/* Slots beyond n_transfers are not the receiver's business. */
	test_send_ok(f.r, tr[0].id, "via", 3);
	test_expect_user(f.s, f.sn, "via", 3);
	test_expect_empty(f.r);
	fx_deinit(&f);
}

static void test_recv_eagain(void **state)
{
	struct bus1_metadata meta;
	struct bus1_message msg = { .type = BUS1_INVALID };
	int fd = test_peer();

	(void)state;
	assert_int_equal(bus1_cmd_recv(fd, &meta, &msg), -EAGAIN);
	assert_int_equal(test_raw_recv(fd, 0, &meta, &msg), -EAGAIN);
	close(fd);
}

static void test_recv_einval(void **state)
{
	static char space[1025];
	static struct iovec vecs[1025];
	struct bus1_metadata meta;
	struct bus1_message msg = { .type = BUS1_INVALID };
	struct fx f;
	int pass, i;

	(void)state;
	for (i = 0; i < 1025; ++i)
		vecs[i] = (struct iovec){ &space[i], 1 };
	/* Pass 0: empty queue (EINVAL, not EAGAIN). Pass 1: an item queued. */
	for (pass = 0; pass < 2; ++pass) {
		fx_init(&f, pass ? "queued" : NULL);
		msg = (struct bus1_message){ .type = BUS1_INVALID };
		assert_int_equal(test_raw_recv(f.r, 1, &meta, &msg), -EINVAL);
		assert_int_equal(test_raw_recv(f.r, 1ULL << 63, &meta, &msg),
				 -EINVAL);
		msg.flags = 1;
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EINVAL);
		msg.flags = 0;
		msg.type = BUS1_MESSAGE_TYPE_USER;
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EINVAL);
		msg.type = BUS1_MESSAGE_TYPE_NODE_RELEASE;
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EINVAL);
		msg.type = 77;
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EINVAL);
		/* More iovecs than UIO_MAXIOV. */
		msg.type = BUS1_INVALID;
		msg.n_data_vecs = 1025;
		msg.ptr_data_vecs = BUS1_FROM_PTR(vecs);
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EINVAL);
		if (pass)
			fx_check_intact(&f, "queued");
		else
			test_expect_empty(f.r);
		fx_deinit(&f);
	}
}

static void test_recv_emsgsize(void **state)
{
	char buf[64];
	struct iovec vec = { buf, sizeof(buf) };
	struct bus1_transfer tr[2];
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct fx f;
	int i;

	(void)state;
	for (i = 0; i < 4; ++i) {
		fx_init(&f, "sixteen-bytes!!!");
		msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_transfers = 2,
			.ptr_transfers = BUS1_FROM_PTR(tr),
			.n_data = 64,
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};
		switch (i) {
		case 0: /* data too small */
			msg.n_data = 15;
			break;
		case 1: /* transfers too small */
			msg.n_transfers = 0;
			break;
		case 2: /* both */
			msg.n_data = 0;
			msg.n_transfers = 0;
			break;
		case 3: /* data space one short, through the raw ioctl */
			msg.n_data = 15;
			msg.n_transfers = 1;
			break;
		}
		if (i == 3)
			assert_int_equal(test_raw_recv(f.r, 0, &meta, &msg),
					 -EMSGSIZE);
		else
			assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg),
					 -EMSGSIZE);
		/* Both needed sizes are written back, whichever was short. */
		assert_int_equal(msg.n_data, 16);
		assert_int_equal(msg.n_transfers, 1);
		/* Again: still at the head, same answer. */
		msg.n_data = 1;
		msg.n_transfers = 0;
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EMSGSIZE);
		assert_int_equal(msg.n_data, 16);
		assert_int_equal(msg.n_transfers, 1);
		/* The written-back sizes are exactly enough. */
		msg.type = BUS1_INVALID;
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), 0);
		assert_int_equal(msg.n_data, 16);
		assert_memory_equal(buf, "sixteen-bytes!!!", 16);
		test_expect_empty(f.r);
		fx_deinit(&f);
	}
}

static void test_recv_short_iovec(void **state)
{
	char b1[4], b2[4];
	struct iovec vec[2] = { { b1, 4 }, { b2, 4 } };
	struct bus1_transfer tr[2];
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct fx f;
	int pass;

	(void)state;
	for (pass = 0; pass < 2; ++pass) {
		fx_init(&f, pass ? "tiny" : NULL);
		/* The iovecs hold 8 bytes, the caller claims 100. */
		msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_transfers = 2,
			.ptr_transfers = BUS1_FROM_PTR(tr),
			.n_data = 100,
			.n_data_vecs = 2,
			.ptr_data_vecs = BUS1_FROM_PTR(vec),
		};
		if (!pass) {
			assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg),
					 -EAGAIN);
			fx_deinit(&f);
			continue;
		}
		/* Even though the 4-byte item would fit in 8 bytes. */
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EMSGSIZE);
		assert_int_equal(msg.n_data, 4);
		assert_int_equal(msg.n_transfers, 1);
		msg.n_data_vecs = 0;
		msg.n_data = 100;
		assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EMSGSIZE);
		fx_check_intact(&f, "tiny");
		fx_deinit(&f);
	}
}

/* Case @i of the failing recvs: one bad pointer each. */
static int recv_bad(struct fx *f, int i)
{
	char buf[64];
	struct iovec vec = { buf, sizeof(buf) };
	struct iovec badvec;
	struct bus1_transfer tr[2];
	struct bus1_metadata meta;
	struct bus1_message msg = {
		.type = BUS1_INVALID,
		.n_transfers = 2,
		.ptr_transfers = BUS1_FROM_PTR(tr),
		.n_data = sizeof(buf),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	void *bad = test_bad_ptr();

	switch (i) {
	case 0: /* data iovec base */
		badvec = (struct iovec){ bad, 64 };
		msg.ptr_data_vecs = BUS1_FROM_PTR(&badvec);
		return bus1_cmd_recv(f->r, &meta, &msg);
	case 1: /* iovec array */
		msg.ptr_data_vecs = BUS1_FROM_PTR(bad);
		return bus1_cmd_recv(f->r, &meta, &msg);
	case 2: /* transfers */
		msg.ptr_transfers = BUS1_FROM_PTR(bad);
		return bus1_cmd_recv(f->r, &meta, &msg);
	case 3: /* metadata */
		return bus1_cmd_recv(f->r, bad, &msg);
	case 4: /* message */
		return bus1_cmd_recv(f->r, &meta, bad);
	case 5: /* the command */
		return test_raw_ioctl(f->r, BUS1_CMD_RECV, bad);
	default: /* data iovec partly valid: second part unmapped */
		badvec = (struct iovec){ (char *)bad - 4, 64 };
		msg.ptr_data_vecs = BUS1_FROM_PTR(&badvec);
		return bus1_cmd_recv(f->r, &meta, &msg);
	}
}

#define RECV_BAD_CASES 7

static void test_recv_efault(void **state)
{
	struct fx f;
	int i;

	(void)state;
	for (i = 0; i < RECV_BAD_CASES; ++i) {
		fx_init(&f, "keep me safe");
		assert_int_equal(recv_bad(&f, i), -EFAULT);
		fx_check_intact(&f, "keep me safe");
		fx_deinit(&f);
	}
}

/*
 * POLLIN exactly when recv would return an item: that holds the moment the
 * failed recv returned, with the item as the only one queued.
 */
static void test_recv_efault_pollin(void **state)
{
	int i, not_readable = 0;
	struct fx f;

	(void)state;
	for (i = 0; i < RECV_BAD_CASES; ++i) {
		fx_init(&f, "keep me safe");
		assert_int_equal(recv_bad(&f, i), -EFAULT);
		if (!test_readable(f.r)) {
			print_error("EFAULT case %d: not readable right after "
				    "the failed recv\n", i);
			++not_readable;
		}
		fx_check_intact(&f, "keep me safe");
		fx_deinit(&f);
	}
	assert_int_equal(not_readable, 0);
}

static void test_recv_fifo_after_failure(void **state)
{
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct test_item item;
	struct fx f;

	(void)state;
	fx_init(&f, "first");
	test_send_ok(f.s, f.h, "second", 6);
	msg = (struct bus1_message){ .type = BUS1_INVALID };
	assert_int_equal(bus1_cmd_recv(f.r, &meta, &msg), -EMSGSIZE);
	assert_int_equal(msg.n_data, 5);
	assert_int_equal(bus1_cmd_recv(f.r, test_bad_ptr(), NULL), -EFAULT);
	/* The failed attempts did not reorder or drop anything. */
	assert_int_equal(test_recv(f.r, &item), 0);
	assert_int_equal(item.msg.n_data, 5);
	assert_memory_equal(item.data, "first", 5);
	assert_int_equal(item.msg.n_transfers, 1);
	test_expect_user(f.r, f.n, "second", 6);
	test_expect_empty(f.r);
	fx_deinit(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recv_success_fields),
		cmocka_unit_test(test_recv_eagain),
		cmocka_unit_test(test_recv_einval),
		cmocka_unit_test(test_recv_emsgsize),
		cmocka_unit_test(test_recv_short_iovec),
		cmocka_unit_test(test_recv_efault),
		cmocka_unit_test(test_recv_efault_pollin),
		cmocka_unit_test(test_recv_fifo_after_failure),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
