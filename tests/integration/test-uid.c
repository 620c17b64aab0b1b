/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Resource contexts: a peer's account is the effective UID pinned at open.
 * A child that drops to another UID before opening its peer sends messages
 * whose metadata.account is that UID; a peer opened under a temporary euid
 * keeps it after the process switches back.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include "util.h"

#define OTHER_UID 65534

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { "f", 1 };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	char c;
	struct iovec iov = { &c, 1 };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static bool child_main(int sock)
{
	struct test_item item;
	uint64_t to_parent = 1, my_node = 3;
	char c;
	int fd;

	if (setresgid(OTHER_UID, OTHER_UID, OTHER_UID) < 0 ||
	    setresuid(OTHER_UID, OTHER_UID, OTHER_UID) < 0 ||
	    geteuid() != OTHER_UID) {
		fprintf(stderr, "child: cannot drop privileges: %m\n");
		return false;
	}
	fd = bus1_peer_new();
	if (fd < 0) {
		fprintf(stderr, "child: bus1_peer_new: %s\n", strerror(-fd));
		return false;
	}
	if (send_fd(sock, fd) < 0 || read(sock, &c, 1) != 1)
		return false;
	/* The parent gave us handle 1 to its node and node 3 of our own. */
	if (test_send(fd, 1, &to_parent, "from nobody", 11, 0, NULL) < 0) {
		fprintf(stderr, "child: send failed\n");
		return false;
	}
	if (test_recv_wait(fd, &item) < 0 ||
	    item.msg.type != BUS1_MESSAGE_TYPE_USER ||
	    item.meta.id != my_node || item.meta.account != 0 ||
	    item.msg.n_data != 9 || memcmp(item.data, "from root", 9)) {
		fprintf(stderr, "child: unexpected reply\n");
		return false;
	}
	return true;
}

static void test_two_uids_processes(void **state)
{
	struct bus1_transfer src, dst;
	uint64_t node, child_node, to_child;
	struct test_item item;
	int sv[2], p, fdc;
	pid_t pid;

	(void)state;
	assert_int_equal(geteuid(), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	p = test_peer();

	pid = test_fork();
	if (pid == 0) {
		close(sv[0]);
		close(p);
		test_child_exit(child_main(sv[1]));
	}
	close(sv[1]);
	fdc = recv_fd(sv[0]);
	assert_true(fdc >= 0);

	/* A node of ours with its first handle in the child's peer. */
	src = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	assert_int_equal(bus1_cmd_transfer(0, p, fdc, 1, &src, &dst), 0);
	node = src.id;
	assert_int_equal(dst.id, 1);
	/* A node of the child's with a handle for us. */
	src = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	assert_int_equal(bus1_cmd_transfer(0, fdc, p, 1, &src, &dst), 0);
	child_node = src.id;
	to_child = dst.id;
	assert_int_equal(child_node, 3);
	close(fdc);
	assert_int_equal(write(sv[0], "g", 1), 1);

	assert_int_equal(test_recv_wait(p, &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.meta.id, node);
	assert_int_equal(item.meta.account, OTHER_UID);
	assert_int_equal(item.msg.n_data, 11);
	assert_memory_equal(item.data, "from nobody", 11);

	assert_int_equal(test_send(p, 1, &to_child, "from root", 9, 0, NULL),
			 0);
	test_join(pid);
	close(sv[0]);
	close(p);
}

static void test_pinned_at_open(void **state)
{
	uint64_t node, own, h;
	struct test_item item;
	int root_peer, other;

	(void)state;
	root_peer = test_peer();
	assert_int_equal(setresuid(-1, OTHER_UID, -1), 0);
	other = bus1_peer_new();
	assert_int_equal(setresuid(-1, 0, -1), 0);
	assert_true(other >= 0);
	assert_int_equal(geteuid(), 0);

	test_node(root_peer, -1, &node, &own);
	h = test_handle(root_peer, other, own);
	/* Sent now, by a root process, through the peer opened as 65534. */
	assert_int_equal(test_send(other, 1, &h, "pinned", 6, 0, NULL), 0);
	assert_int_equal(test_recv_wait(root_peer, &item), 0);
	assert_int_equal(item.meta.account, OTHER_UID);
	/* And the root peer's own messages are accounted to root. */
	test_send_ok(root_peer, own, "root", 4);
	assert_int_equal(test_recv_wait(root_peer, &item), 0);
	assert_int_equal(item.meta.account, 0);
	/* Notifications carry no account. */
	assert_int_equal(bus1_cmd_release(root_peer, 1, &node), 0);
	test_expect_notify(other, BUS1_MESSAGE_TYPE_NODE_RELEASE, h);
	close(other);
	close(root_peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_uids_processes),
		cmocka_unit_test(test_pinned_at_open),
	};

	return cmocka_run_group_tests(tests, test_setup_device, NULL);
}
