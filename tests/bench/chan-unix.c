/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Kernel-only channels, the floor bus1 is measured against: an AF_UNIX
 * socketpair (SOCK_SEQPACKET for messages, SOCK_STREAM for bulk data, where
 * a 1 MiB datagram would exceed the socket buffer) and a pair of pipes.
 *
 * With n_attach set, side 0 of a SEQPACKET channel sends that many file
 * descriptors (SCM_RIGHTS) with every message and side 1 closes what it
 * receives: the fd-passing counterpart of bus1 handle transfers.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench.h"

#define UNIX_MAX_FDS 16

static int unix_pair(struct chan *c, int type)
{
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, c->fd) < 0)
		return -errno;
	c->fd[2] = c->fd[3] = -1;
	if (c->n_attach > UNIX_MAX_FDS)
		return -EINVAL;
	if (c->n_attach) {
		c->fd[2] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (c->fd[2] < 0)
			return -errno;
	}
	return 0;
}

static int seqpacket_setup(struct chan *c)
{
	return unix_pair(c, SOCK_SEQPACKET);
}

static int stream_setup(struct chan *c)
{
	return unix_pair(c, SOCK_STREAM);
}

static int pipe_setup(struct chan *c)
{
	if (pipe2(c->fd, O_CLOEXEC) < 0 || pipe2(c->fd + 2, O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int unix_side(struct chan *c, int side)
{
	c->side = side;
	close(c->fd[!side]);
	c->fd[!side] = -1;
	return 0;
}

/* Pipe 0->1 is fd[0] (read) / fd[1] (write), pipe 1->0 is fd[2] / fd[3]. */
static int pipe_side(struct chan *c, int side)
{
	c->side = side;
	close(c->fd[side ? 1 : 0]);
	close(c->fd[side ? 2 : 3]);
	c->fd[side ? 1 : 0] = c->fd[side ? 2 : 3] = -1;
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t l;

	while (n) {
		l = write(fd, p, n);
		if (l < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += l;
		n -= l;
	}
	return 0;
}

static ssize_t read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t left = n;
	ssize_t l;

	while (left) {
		l = read(fd, p, left);
		if (l < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (l == 0)
			return -EPIPE;
		p += l;
		left -= l;
	}
	return n;
}

static int seqpacket_send(struct chan *c, const void *buf, size_t n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * UNIX_MAX_FDS)];
	struct iovec iov = { (void *)buf, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	unsigned int i;

	if (c->side == 0 && c->n_attach) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * c->n_attach);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * c->n_attach);
		for (i = 0; i < c->n_attach; ++i)
			memcpy(CMSG_DATA(cm) + i * sizeof(int), &c->fd[2],
			       sizeof(int));
	}
	if (sendmsg(c->fd[c->side], &mh, MSG_NOSIGNAL) != (ssize_t)n)
		return -errno ?: -EIO;
	return 0;
}

static ssize_t seqpacket_recv(struct chan *c, void *buf, size_t n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * UNIX_MAX_FDS)];
	struct iovec iov = { buf, n };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	size_t i, n_fds;
	ssize_t l;
	int fd;

	l = recvmsg(c->fd[c->side], &mh, MSG_CMSG_CLOEXEC);
	if (l < 0)
		return -errno;
	if (l == 0)
		return -EPIPE;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n_fds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n_fds; ++i) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			close(fd);
		}
	}
	return l;
}

static int stream_send(struct chan *c, const void *buf, size_t n)
{
	return write_all(c->fd[c->side], buf, n);
}

static ssize_t stream_recv(struct chan *c, void *buf, size_t n)
{
	return read_all(c->fd[c->side], buf, n);
}

static int pipe_send(struct chan *c, const void *buf, size_t n)
{
	return write_all(c->fd[c->side ? 3 : 1], buf, n);
}

static ssize_t pipe_recv(struct chan *c, void *buf, size_t n)
{
	return read_all(c->fd[c->side ? 0 : 2], buf, n);
}

static void unix_close(struct chan *c)
{
	size_t i;

	for (i = 0; i < 4; ++i) {
		if (c->fd[i] >= 0)
			close(c->fd[i]);
		c->fd[i] = -1;
	}
}

const struct chan_ops chan_seqpacket = {
	.name = "socketpair",
	.max_msg = 64 * 1024,
	.setup = seqpacket_setup,
	.side = unix_side,
	.send = seqpacket_send,
	.recv = seqpacket_recv,
	.close = unix_close,
};

const struct chan_ops chan_stream = {
	.name = "socketpair",
	.max_msg = SIZE_MAX,
	.setup = stream_setup,
	.side = unix_side,
	.send = stream_send,
	.recv = stream_recv,
	.close = unix_close,
};

const struct chan_ops chan_pipe = {
	.name = "pipe",
	.max_msg = SIZE_MAX,
	.setup = pipe_setup,
	.side = pipe_side,
	.send = pipe_send,
	.recv = pipe_recv,
	.close = unix_close,
};
