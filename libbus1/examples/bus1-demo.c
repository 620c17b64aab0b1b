/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * bus1-demo: a small tour of bus1 through libbus1, printed as a transcript.
 *
 * A "server" and two clients, "client A" and "client B", each in its own
 * process. The server opens all three peers, creates its service node and
 * hands each client a handle to it with a TRANSFER between the peers; then
 * it forks the clients, each keeping only its own peer. Every client
 * creates a reply node and sends "hello" to the service, carrying a handle
 * to its reply node in the message. The server answers both clients with
 * one multicast through the handles it received. Then the server releases
 * its service node (each client gets NODE_RELEASE for its handle) and the
 * handles to the reply nodes, which are the last ones (each client gets
 * HANDLE_RELEASE for its reply node).
 *
 * Every wait is a poll() with a timeout; every step is checked, and the
 * demo exits 0 only if all of them behaved as bus1(7) says.
 */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "libbus1.h"

#define DEMO_TIMEOUT_MS 5000

struct demo_item {
	struct bus1_metadata meta;
	uint64_t type;
	size_t n_transfers;
	struct bus1_transfer transfers[4];
	char data[256];
};

static const char *demo_who = "server";

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("[%-8s] ", demo_who);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int fail(const char *what, int r)
{
	say("FAILED: %s: %s", what, r < 0 ? strerror(-r) : "unexpected");
	return -1;
}

static const char *type_name(uint64_t type)
{
	switch (type) {
	case BUS1_MESSAGE_TYPE_USER:
		return "USER";
	case BUS1_MESSAGE_TYPE_NODE_RELEASE:
		return "NODE_RELEASE";
	case BUS1_MESSAGE_TYPE_HANDLE_RELEASE:
		return "HANDLE_RELEASE";
	default:
		return "?";
	}
}

/* Waits up to DEMO_TIMEOUT_MS for the peer to be readable, then receives. */
static int demo_recv(int fd, struct demo_item *item)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct iovec vec = { item->data, sizeof(item->data) - 1 };
	struct bus1_message msg = {
		.type = BUS1_INVALID,
		.n_transfers = 4,
		.ptr_transfers = BUS1_FROM_PTR(item->transfers),
		.n_data = sizeof(item->data) - 1,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int r;

	r = poll(&pfd, 1, DEMO_TIMEOUT_MS);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;

	memset(item->data, 0, sizeof(item->data));
	r = bus1_cmd_recv(fd, &item->meta, &msg);
	if (r < 0)
		return r;

	item->type = msg.type;
	item->n_transfers = msg.n_transfers;
	if (msg.type == BUS1_MESSAGE_TYPE_USER)
		say("received %s on node %#" PRIx64 " from uid %" PRIu64
		    ": \"%s\" (%zu handle(s) attached)",
		    type_name(msg.type), item->meta.id, item->meta.account,
		    item->data, item->n_transfers);
	else
		say("received %s about %#" PRIx64, type_name(msg.type),
		    item->meta.id);
	return 0;
}

static int demo_send(int fd, size_t n_dst, uint64_t *dst, const char *text,
		     size_t n_transfers, struct bus1_transfer *transfers)
{
	struct iovec vec = { (void *)text, strlen(text) };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_transfers = n_transfers,
		.ptr_transfers = BUS1_FROM_PTR(transfers),
		.n_data = strlen(text),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int32_t errors[4] = { -1, -1, -1, -1 };
	size_t i;
	int r;

	r = bus1_cmd_send(fd, n_dst, dst, errors, &msg);
	if (r < 0)
		return r;
	for (i = 0; i < n_dst; ++i)
		if (errors[i] != 0)
			return -EPROTO;
	return 0;
}

static int expect(const struct demo_item *item, uint64_t type, uint64_t id)
{
	if (item->type != type || item->meta.id != id) {
		say("FAILED: expected %s about %#" PRIx64, type_name(type), id);
		return -1;
	}
	return 0;
}

static int client(const char *name, int fd, uint64_t service)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst, carry;
	struct demo_item item;
	uint64_t node, own;
	char hello[64];
	int r;

	demo_who = name;
	say("holds handle %#" PRIx64 " to the service", service);

	r = bus1_cmd_transfer(0, fd, -1, 1, &src, &dst);
	if (r < 0)
		return fail("create reply node", r);
	node = src.id;
	own = dst.id;
	say("created reply node %#" PRIx64 " (own handle %#" PRIx64 ")",
	    node, own);

	snprintf(hello, sizeof(hello), "hello from %s", name);
	carry = (struct bus1_transfer){ 0, own };
	say("sending \"%s\" through %#" PRIx64 ", carrying a handle to %#"
	    PRIx64, hello, service, node);
	r = demo_send(fd, 1, &service, hello, 1, &carry);
	if (r < 0)
		return fail("send hello", r);

	/* The server's copy is now the only handle to the reply node. */
	r = bus1_cmd_release(fd, 1, &own);
	if (r < 0)
		return fail("release own handle", r);
	say("released own handle %#" PRIx64, own);

	if ((r = demo_recv(fd, &item)) < 0)
		return fail("wait for the multicast", r);
	if (expect(&item, BUS1_MESSAGE_TYPE_USER, node) < 0 ||
	    strcmp(item.data, "welcome, everybody") != 0 ||
	    item.meta.account != (uint64_t)geteuid() || item.n_transfers != 0)
		return fail("multicast content", 0);

	if ((r = demo_recv(fd, &item)) < 0)
		return fail("wait for NODE_RELEASE", r);
	if (expect(&item, BUS1_MESSAGE_TYPE_NODE_RELEASE, service) < 0)
		return -1;

	/* The handle is retired by the notification: using it must fail. */
	r = demo_send(fd, 1, &service, "anyone?", 0, NULL);
	if (r != -EBADRQC)
		return fail("send through a retired handle", r);
	say("sending through retired handle %#" PRIx64 " fails: EBADRQC",
	    service);

	if ((r = demo_recv(fd, &item)) < 0)
		return fail("wait for HANDLE_RELEASE", r);
	if (expect(&item, BUS1_MESSAGE_TYPE_HANDLE_RELEASE, node) < 0)
		return -1;

	say("done");
	return 0;
}

static pid_t spawn(const char *name, int keep, int close1, int close2,
		   uint64_t service)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid != 0)
		return pid;
	close(close1);
	close(close2);
	_exit(client(name, keep, service) < 0 ? 1 : 0);
}

static int server(void)
{
	struct bus1_transfer src, dst;
	uint64_t service, own, handle_a, handle_b, reply[2];
	struct demo_item item;
	int fd, fd_a, fd_b, r, status, ok = 1;
	pid_t pid_a, pid_b;
	size_t i;

	fd = bus1_peer_new();
	fd_a = bus1_peer_new();
	fd_b = bus1_peer_new();
	if (fd < 0 || fd_a < 0 || fd_b < 0)
		return fail("open /dev/bus1", fd < 0 ? fd : fd_a < 0 ? fd_a : fd_b);
	say("opened three peers: server fd %d, client A fd %d, client B fd %d",
	    fd, fd_a, fd_b);

	src = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	r = bus1_cmd_transfer(0, fd, -1, 1, &src, &dst);
	if (r < 0)
		return fail("create service node", r);
	service = src.id;
	own = dst.id;
	say("created service node %#" PRIx64 " (own handle %#" PRIx64 ")",
	    service, own);

	src = (struct bus1_transfer){ 0, own };
	r = bus1_cmd_transfer(0, fd, fd_a, 1, &src, &dst);
	if (r < 0)
		return fail("transfer to client A", r);
	handle_a = dst.id;
	src = (struct bus1_transfer){ 0, own };
	r = bus1_cmd_transfer(0, fd, fd_b, 1, &src, &dst);
	if (r < 0)
		return fail("transfer to client B", r);
	handle_b = dst.id;
	say("copied handle %#" PRIx64 " to client A (as %#" PRIx64
	    ") and client B (as %#" PRIx64 ")", own, handle_a, handle_b);

	r = bus1_cmd_release(fd, 1, &own);
	if (r < 0)
		return fail("release own handle", r);
	say("released own handle %#" PRIx64, own);

	pid_a = spawn("client A", fd_a, fd_b, fd, handle_a);
	pid_b = spawn("client B", fd_b, fd_a, fd, handle_b);
	if (pid_a < 0 || pid_b < 0)
		return fail("fork", -errno);
	/* The clients own their peers now. */
	fd_a = bus1_peer_free(fd_a);
	fd_b = bus1_peer_free(fd_b);

	for (i = 0; i < 2; ++i) {
		r = demo_recv(fd, &item);
		if (r < 0)
			return fail("wait for hello", r);
		if (expect(&item, BUS1_MESSAGE_TYPE_USER, service) < 0 ||
		    item.n_transfers != 1 || strncmp(item.data, "hello", 5))
			return fail("hello content", 0);
		reply[i] = item.transfers[0].id;
		say("got handle %#" PRIx64 " to the sender's reply node",
		    reply[i]);
	}

	say("multicasting \"welcome, everybody\" to %#" PRIx64 " and %#" PRIx64,
	    reply[0], reply[1]);
	r = demo_send(fd, 2, reply, "welcome, everybody", 0, NULL);
	if (r < 0)
		return fail("multicast", r);

	r = bus1_cmd_release(fd, 1, &service);
	if (r < 0)
		return fail("release service node", r);
	say("released service node %#" PRIx64, service);

	r = bus1_cmd_release(fd, 2, reply);
	if (r < 0)
		return fail("release reply handles", r);
	say("released handles %#" PRIx64 " and %#" PRIx64
	    " (the last ones to the reply nodes)", reply[0], reply[1]);

	/* The service node is gone, nothing ever sent a HANDLE_RELEASE for it. */
	r = bus1_cmd_recv(fd, &item.meta, &(struct bus1_message){
				  .type = BUS1_INVALID });
	if (r != -EAGAIN)
		return fail("server queue should be empty", r);
	say("server queue is empty, as expected");

	if (waitpid(pid_a, &status, 0) != pid_a || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		ok = 0;
	if (waitpid(pid_b, &status, 0) != pid_b || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		ok = 0;
	bus1_peer_free(fd);

	if (!ok)
		return fail("a client failed", 0);
	return 0;
}

int main(void)
{
	if (server() < 0) {
		say("demo FAILED");
		return EXIT_FAILURE;
	}
	say("demo completed: every step behaved as expected");
	return EXIT_SUCCESS;
}
