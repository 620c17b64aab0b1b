/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * SEND: payload gathering, handle transfers, multicast (every destination,
 * duplicates, fresh handles per receiver), and every documented error with
 * a check that no receiver saw anything and no ID was consumed.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "util.h"

/*
 * A sender s with handles h[0], h[1] to nodes n[0], n[1] of two receivers
 * r[0], r[1] (each also keeps its own handle), and a node sn of its own
 * with handle sh, to carry in messages.
 */
struct fx {
	int s, r[2];
	uint64_t n[2], h[2], sn, sh;
};

static void fx_init(struct fx *f)
{
	uint64_t own;
	int i;

	f->s = test_peer();
	for (i = 0; i < 2; ++i) {
		f->r[i] = test_peer();
		test_node(f->r[i], -1, &f->n[i], &own);
		f->h[i] = test_handle(f->r[i], f->s, own);
	}
	test_node(f->s, -1, &f->sn, &f->sh);
	assert_int_equal(f->h[0], 1);
	assert_int_equal(f->h[1], 3);
	assert_int_equal(f->sn < f->sh ? f->sn : f->sh, 5);
}

/* After a failed send: nothing arrived, no ID consumed, all still works. */
static void fx_check_untouched(struct fx *f)
{
	int i;

	for (i = 0; i < 2; ++i)
		test_expect_empty(f->r[i]);
	test_expect_empty(f->s);
	assert_int_equal(test_send(f->s, 2, f->h, "after", 5, 0, NULL), 0);
	for (i = 0; i < 2; ++i) {
		test_expect_user(f->r[i], f->n[i], "after", 5);
		test_expect_empty(f->r[i]);
		test_assert_next_after(f->r[i], 3);
	}
	test_assert_next_after(f->s, 7);
}

static void fx_deinit(struct fx *f)
{
	close(f->s);
	close(f->r[0]);
	close(f->r[1]);
}

static void test_send_basic(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	assert_int_equal(test_send(f.s, 1, &f.h[0], "hello", 5, 0, NULL), 0);
	test_expect_user(f.r[0], f.n[0], "hello", 5);
	test_expect_empty(f.r[0]);
	test_expect_empty(f.r[1]);

	/* An empty payload is a message too. */
	assert_int_equal(test_send(f.s, 1, &f.h[1], NULL, 0, 0, NULL), 0);
	test_expect_user(f.r[1], f.n[1], NULL, 0);

	/* n_destinations == 0: nothing happens. */
	assert_int_equal(test_send(f.s, 0, NULL, "x", 1, 0, NULL), 0);
	assert_int_equal(test_send(f.s, 0, f.h, "x", 1, 1, &f.sh), 0);
	fx_check_untouched(&f);
	fx_deinit(&f);
}

static void test_send_exact_n_data(void **state)
{
	struct iovec vec[4] = {
		{ "abc", 3 }, { "", 0 }, { "defgh", 5 }, { "TRAILING", 8 },
	};
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = 7,
		.n_data_vecs = 4,
		.ptr_data_vecs = BUS1_FROM_PTR(vec),
	};
	int32_t err = 77;
	struct fx f;

	(void)state;
	fx_init(&f);
	/* Only the first n_data bytes of the iovecs are the payload. */
	assert_int_equal(bus1_cmd_send(f.s, 1, &f.h[0], &err, &msg), 0);
	assert_int_equal(err, 0);
	test_expect_user(f.r[0], f.n[0], "abcdefg", 7);

	msg.n_data = 16;
	assert_int_equal(test_raw_send(f.s, 0, 1, &f.h[0], &err, &msg), 0);
	test_expect_user(f.r[0], f.n[0], "abcdefghTRAILING", 16);
	test_expect_empty(f.r[0]);
	fx_deinit(&f);
}

static void test_send_transfer(void **state)
{
	uint64_t carried[2];
	struct test_item item;
	struct fx f;

	(void)state;
	fx_init(&f);
	carried[0] = f.sh;
	carried[1] = f.h[1];
	assert_int_equal(test_send(f.s, 1, &f.h[0], "T", 1, 2, carried), 0);
	assert_int_equal(test_recv_wait(f.r[0], &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.msg.n_transfers, 2);
	assert_int_equal(item.transfers[0].flags, 0);
	assert_int_equal(item.transfers[1].flags, 0);
	/* Fresh handles in r[0]: its IDs so far were 1 and 3. */
	assert_int_equal(item.transfers[0].id, 5);
	assert_int_equal(item.transfers[1].id, 7);

	/* The new handles reach the sender's node and r[1]'s node. */
	test_send_ok(f.r[0], item.transfers[0].id, "back", 4);
	test_expect_user(f.s, f.sn, "back", 4);
	test_send_ok(f.r[0], item.transfers[1].id, "side", 4);
	test_expect_user(f.r[1], f.n[1], "side", 4);

	/* The sender keeps its own handles. */
	test_send_ok(f.s, f.sh, "own", 3);
	test_expect_user(f.s, f.sn, "own", 3);
	test_send_ok(f.s, f.h[1], "h1", 2);
	test_expect_user(f.r[1], f.n[1], "h1", 2);
	fx_deinit(&f);
}

static void test_send_multicast(void **state)
{
	struct test_item item[4];
	uint64_t dst[4];
	struct fx f;
	int i;

	(void)state;
	fx_init(&f);
	/* r[0] listed twice: two copies, each with its own fresh handle. */
	dst[0] = f.h[0];
	dst[1] = f.h[1];
	dst[2] = f.h[0];
	dst[3] = f.sh;
	assert_int_equal(test_send(f.s, 4, dst, "multi", 5, 1, &f.sh), 0);

	assert_int_equal(test_recv_wait(f.r[0], &item[0]), 0);
	assert_int_equal(test_recv_wait(f.r[0], &item[1]), 0);
	assert_int_equal(test_recv_wait(f.r[1], &item[2]), 0);
	assert_int_equal(test_recv_wait(f.s, &item[3]), 0);
	for (i = 0; i < 4; ++i) {
		assert_int_equal(item[i].msg.type, BUS1_MESSAGE_TYPE_USER);
		assert_int_equal(item[i].msg.n_data, 5);
		assert_memory_equal(item[i].data, "multi", 5);
		assert_int_equal(item[i].msg.n_transfers, 1);
		assert_int_equal(item[i].meta.account, geteuid());
	}
	assert_int_equal(item[0].meta.id, f.n[0]);
	assert_int_equal(item[1].meta.id, f.n[0]);
	assert_int_equal(item[2].meta.id, f.n[1]);
	assert_int_equal(item[3].meta.id, f.sn);
	assert_int_not_equal(item[0].transfers[0].id, item[1].transfers[0].id);
	test_expect_empty(f.r[0]);
	test_expect_empty(f.r[1]);
	test_expect_empty(f.s);

	/* Every copy's handle works on its own. */
	test_send_ok(f.r[0], item[0].transfers[0].id, "0", 1);
	test_send_ok(f.r[0], item[1].transfers[0].id, "1", 1);
	test_send_ok(f.r[1], item[2].transfers[0].id, "2", 1);
	test_send_ok(f.s, item[3].transfers[0].id, "3", 1);
	test_expect_user(f.s, f.sn, "0", 1);
	test_expect_user(f.s, f.sn, "1", 1);
	test_expect_user(f.s, f.sn, "2", 1);
	test_expect_user(f.s, f.sn, "3", 1);
	fx_deinit(&f);
}

static void test_send_multicast_wide(void **state)
{
	enum { N = 40 };
	uint64_t dst[N], node[N], own;
	int peer[N], s = test_peer(), i;

	(void)state;
	for (i = 0; i < N; ++i) {
		peer[i] = test_peer();
		test_node(peer[i], -1, &node[i], &own);
		dst[i] = test_handle(peer[i], s, own);
	}
	assert_int_equal(test_send(s, N, dst, "wide", 4, 0, NULL), 0);
	for (i = 0; i < N; ++i) {
		test_expect_user(peer[i], node[i], "wide", 4);
		test_expect_empty(peer[i]);
		close(peer[i]);
	}
	close(s);
}

static void send_msg(struct fx *f, int expected, uint64_t cmd_flags,
		     struct bus1_message *msg, size_t n_dst, uint64_t *dst)
{
	int32_t errors[4] = { 99, 99, 99, 99 };
	int r;

	if (cmd_flags)
		r = test_raw_send(f->s, cmd_flags, n_dst, dst, errors, msg);
	else
		r = bus1_cmd_send(f->s, n_dst, dst, errors, msg);
	assert_int_equal(r, expected);
	/* errors[] is written only on success. */
	assert_int_equal(errors[0], 99);
	fx_check_untouched(f);
}

static void test_send_einval(void **state)
{
	struct bus1_transfer tr[2];
	struct iovec vec = { "data", 4 };
	struct bus1_message msg;
	uint64_t types[] = { 1, 2, 3, BUS1_INVALID };
	struct fx f;
	size_t i;

	(void)state;
	for (i = 0; i < 8; ++i) {
		fx_init(&f);
		tr[0] = (struct bus1_transfer){ 0, f.sh };
		tr[1] = (struct bus1_transfer){ 0, f.h[1] };
		msg = (struct bus1_message){
			.type = BUS1_MESSAGE_TYPE_USER,
			.n_transfers = 2,
			.ptr_transfers = BUS1_FROM_PTR(tr),
			.n_data = 4,
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};
		switch (i) {
		case 0:
			send_msg(&f, -EINVAL, 1, &msg, 2, f.h);
			break;
		case 1:
			msg.flags = 1;
			send_msg(&f, -EINVAL, 0, &msg, 2, f.h);
			break;
		case 2:
			tr[1].flags = BUS1_TRANSFER_FLAG_CREATE;
			send_msg(&f, -EINVAL, 0, &msg, 2, f.h);
			break;
		case 3:
			tr[1].flags = 4;
			send_msg(&f, -EINVAL, 0, &msg, 2, f.h);
			break;
		default:
			msg.type = types[i - 4];
			send_msg(&f, -EINVAL, 0, &msg, 2, f.h);
			break;
		}
		fx_deinit(&f);
	}
}

static void test_send_ebadrqc(void **state)
{
	struct bus1_transfer tr[2];
	struct iovec vec = { "data", 4 };
	struct bus1_message msg;
	uint64_t dst[3];
	struct fx f;
	int i;

	(void)state;
	for (i = 0; i < 6; ++i) {
		fx_init(&f);
		tr[0] = (struct bus1_transfer){ 0, f.sh };
		tr[1] = (struct bus1_transfer){ 0, f.h[1] };
		msg = (struct bus1_message){
			.type = BUS1_MESSAGE_TYPE_USER,
			.n_transfers = 2,
			.ptr_transfers = BUS1_FROM_PTR(tr),
			.n_data = 4,
			.n_data_vecs = 1,
			.ptr_data_vecs = BUS1_FROM_PTR(&vec),
		};
		dst[0] = f.h[0];
		dst[1] = f.h[1];
		dst[2] = f.h[0];
		switch (i) {
		case 0: /* unknown destination last */
			dst[2] = 101;
			break;
		case 1: /* the sender's own node as destination */
			dst[1] = f.sn;
			break;
		case 2: /* unknown transfer */
			tr[1].id = 103;
			break;
		case 3: /* a node as transfer */
			tr[0].id = f.sn;
			break;
		case 4: /* an even (unmanaged) ID */
			dst[0] = 2;
			break;
		case 5: /* BUS1_INVALID */
			tr[1].id = BUS1_INVALID;
			break;
		}
		send_msg(&f, -EBADRQC, 0, &msg, 3, dst);
		fx_deinit(&f);
	}
}

static void test_send_emsgsize_einval_limits(void **state)
{
	uint64_t max_data = test_param("max_data");
	uint64_t max_items = test_param("max_items");
	struct iovec vec[1025];
	struct bus1_message msg;
	struct bus1_transfer tr;
	struct fx f;
	int i;

	(void)state;
	for (i = 0; i < 1025; ++i)
		vec[i] = (struct iovec){ "v", 1 };

	for (i = 0; i < 7; ++i) {
		fx_init(&f);
		tr = (struct bus1_transfer){ 0, f.sh };
		msg = (struct bus1_message){
			.type = BUS1_MESSAGE_TYPE_USER,
			.n_transfers = 1,
			.ptr_transfers = BUS1_FROM_PTR(&tr),
			.n_data = 4,
			.n_data_vecs = 4,
			.ptr_data_vecs = BUS1_FROM_PTR(vec),
		};
		switch (i) {
		case 0: /* iovecs hold 4 bytes, n_data 5 */
			msg.n_data = 5;
			send_msg(&f, -EMSGSIZE, 0, &msg, 2, f.h);
			break;
		case 1: /* no iovecs at all */
			msg.n_data_vecs = 0;
			send_msg(&f, -EMSGSIZE, 0, &msg, 2, f.h);
			break;
		case 2: /* beyond max_data */
			msg.n_data = max_data + 1;
			send_msg(&f, -EMSGSIZE, 0, &msg, 2, f.h);
			break;
		case 3: /* more iovecs than UIO_MAXIOV */
			msg.n_data_vecs = 1025;
			send_msg(&f, -EINVAL, 0, &msg, 2, f.h);
			break;
		case 4: /* more transfers than max_items */
			msg.n_transfers = max_items + 1;
			send_msg(&f, -EINVAL, 0, &msg, 2, f.h);
			break;
		case 5: /* more destinations than max_items */
			send_msg(&f, -EINVAL, 0, &msg, max_items + 1, f.h);
			break;
		case 6: /* absurd counts */
			msg.n_transfers = BUS1_INVALID;
			send_msg(&f, -EINVAL, 0, &msg, 2, f.h);
			break;
		}
		fx_deinit(&f);
	}
}

static void test_send_efault(void **state)
{
	struct iovec vec[2] = { { "data", 4 }, { "more", 4 } };
	struct iovec badvec[1];
	struct bus1_message msg;
	struct bus1_transfer tr;
	void *bad = test_bad_ptr();
	int32_t errors[2];
	struct fx f;
	int i;

	(void)state;
	for (i = 0; i < 8; ++i) {
		fx_init(&f);
		tr = (struct bus1_transfer){ 0, f.sh };
		msg = (struct bus1_message){
			.type = BUS1_MESSAGE_TYPE_USER,
			.n_transfers = 1,
			.ptr_transfers = BUS1_FROM_PTR(&tr),
			.n_data = 8,
			.n_data_vecs = 2,
			.ptr_data_vecs = BUS1_FROM_PTR(vec),
		};
		switch (i) {
		case 0: /* destinations */
			send_msg(&f, -EFAULT, 0, &msg, 2, bad);
			break;
		case 1: /* message */
			send_msg(&f, -EFAULT, 0, bad, 2, f.h);
			break;
		case 2: /* transfers */
			msg.ptr_transfers = BUS1_FROM_PTR(bad);
			send_msg(&f, -EFAULT, 0, &msg, 2, f.h);
			break;
		case 3: /* iovec array */
			msg.ptr_data_vecs = BUS1_FROM_PTR(bad);
			send_msg(&f, -EFAULT, 0, &msg, 2, f.h);
			break;
		case 4: /* iovec base */
			badvec[0] = (struct iovec){ bad, 8 };
			msg.ptr_data_vecs = BUS1_FROM_PTR(badvec);
			msg.n_data_vecs = 1;
			send_msg(&f, -EFAULT, 0, &msg, 2, f.h);
			break;
		case 5: /* errors: written after the send, must still be atomic */
			assert_int_equal(bus1_cmd_send(f.s, 2, f.h, bad, &msg),
					 -EFAULT);
			fx_check_untouched(&f);
			break;
		case 6: /* the command itself */
			assert_int_equal(test_raw_ioctl(f.s, BUS1_CMD_SEND, bad),
					 -EFAULT);
			fx_check_untouched(&f);
			break;
		case 7: /* NULL message with a good rest */
			assert_int_equal(bus1_cmd_send(f.s, 2, f.h, errors,
						       NULL), -EFAULT);
			fx_check_untouched(&f);
			break;
		}
		fx_deinit(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_basic),
		cmocka_unit_test(test_send_exact_n_data),
		cmocka_unit_test(test_send_transfer),
		cmocka_unit_test(test_send_multicast),
		cmocka_unit_test(test_send_multicast_wide),
		cmocka_unit_test(test_send_einval),
		cmocka_unit_test(test_send_ebadrqc),
		cmocka_unit_test(test_send_emsgsize_einval_limits),
		cmocka_unit_test(test_send_efault),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
