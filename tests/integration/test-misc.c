/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * The file itself: unknown ioctls, the command argument pointer, raw ioctl
 * return values, and a peer shared by several descriptors.
 */

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "util.h"

static void test_enotty(void **state)
{
	char buf[64] = { 0 };
	int fd = test_peer();

	(void)state;
	assert_int_equal(test_raw_ioctl(fd, _IOWR(BUS1_IOCTL_MAGIC, 0x04,
						  struct bus1_cmd_recv), buf),
			 -ENOTTY);
	assert_int_equal(test_raw_ioctl(fd, _IOWR(BUS1_IOCTL_MAGIC, 0x80,
						  struct bus1_cmd_recv), buf),
			 -ENOTTY);
	/* Right number, wrong size or direction. */
	assert_int_equal(test_raw_ioctl(fd, _IOWR(BUS1_IOCTL_MAGIC, 0x00,
						  char[32]), buf),
			 -ENOTTY);
	assert_int_equal(test_raw_ioctl(fd, _IOR(BUS1_IOCTL_MAGIC, 0x03,
						 struct bus1_cmd_recv), buf),
			 -ENOTTY);
	assert_int_equal(test_raw_ioctl(fd, _IO(BUS1_IOCTL_MAGIC, 0x01), buf),
			 -ENOTTY);
	/* Another magic. */
	assert_int_equal(test_raw_ioctl(fd, _IOWR('X', 0x02,
						  struct bus1_cmd_send), buf),
			 -ENOTTY);
	assert_int_equal(test_raw_ioctl(fd, TCGETS, buf), -ENOTTY);
	/* The peer is fine afterwards. */
	test_assert_next_after(fd, 0);
	close(fd);
}

static void test_cmd_pointer(void **state)
{
	int fd = test_peer();

	(void)state;
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_TRANSFER, NULL), -EFAULT);
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_RELEASE, NULL), -EFAULT);
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_SEND, NULL), -EFAULT);
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_RECV, NULL), -EFAULT);
	assert_int_equal(test_raw_ioctl(fd, BUS1_CMD_RECV, test_bad_ptr()),
			 -EFAULT);
	test_assert_next_after(fd, 0);
	close(fd);
}

static void test_peer_new_fd(void **state)
{
	int fd = bus1_peer_new(), fl;

	(void)state;
	assert_true(fd >= 0);
	fl = fcntl(fd, F_GETFD);
	assert_true(fl & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(bus1_peer_free(fd), -1);
	assert_int_equal(bus1_peer_free(-1), -1);
	/* Each open is a distinct peer with its own ID namespace. */
	{
		int a = test_peer(), b = test_peer();

		test_assert_next_after(a, 0);
		test_assert_next_after(b, 0);
		close(a);
		close(b);
	}
}

static void test_shared_description(void **state)
{
	uint64_t node, own;
	int fd = test_peer(), fd2, fd3;

	(void)state;
	fd2 = dup(fd);
	fd3 = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	assert_true(fd2 >= 0 && fd3 >= 0);
	test_node(fd, -1, &node, &own);
	/* Same peer behind every descriptor. */
	test_send_ok(fd2, own, "dup", 3);
	test_expect_user(fd3, node, "dup", 3);
	/* Transfer to the same peer through another descriptor. */
	{
		uint64_t h = test_handle(fd, fd2, own);

		test_send_ok(fd3, h, "h", 1);
		test_expect_user(fd, node, "h", 1);
	}
	close(fd);
	close(fd2);
	close(fd3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enotty),
		cmocka_unit_test(test_cmd_pointer),
		cmocka_unit_test(test_peer_new_fd),
		cmocka_unit_test(test_shared_description),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
