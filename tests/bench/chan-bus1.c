/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * bus1 as a channel: two peers, each holding a handle to a node of the
 * other, opened by the parent before fork(). A message is one SEND to that
 * handle; receiving is poll() for POLLIN, then RECV, as an application
 * would do it.
 *
 * With n_attach set, side 0 sends that many handles (to nodes of its own)
 * with every message; side 1 releases the handles it got in one RELEASE
 * before it sends its next message (the stream acknowledgement), so
 * handles do not pile up and the release cost is part of the figure.
 */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "bench.h"
#include "libbus1.h"

#define BUS1_CHAN_MAX_ATTACH 16
#define BUS1_CHAN_MAX_PENDING 1024

struct bus1_chan {
	uint64_t attach[BUS1_CHAN_MAX_ATTACH];
	uint64_t pending[BUS1_CHAN_MAX_PENDING];
	size_t n_pending;
};

static int bus1_chan_setup(struct chan *c)
{
	struct bus1_transfer src[BUS1_CHAN_MAX_ATTACH], dst[BUS1_CHAN_MAX_ATTACH];
	struct bus1_chan *b;
	unsigned int i;
	int r;

	c->fd[0] = c->fd[1] = c->fd[2] = c->fd[3] = -1;
	if (c->n_attach > BUS1_CHAN_MAX_ATTACH)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	c->priv = b;

	c->fd[0] = bus1_peer_new();
	if (c->fd[0] < 0)
		return c->fd[0];
	c->fd[1] = bus1_peer_new();
	if (c->fd[1] < 0)
		return c->fd[1];

	/* A node of one peer whose first handle goes to the other. */
	for (i = 0; i < 2; ++i) {
		src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
		r = bus1_cmd_transfer(0, c->fd[!i], c->fd[i], 1, src, dst);
		if (r < 0)
			return r;
		c->handle[i] = dst[0].id;
	}

	for (i = 0; i < c->n_attach; ++i)
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
	if (c->n_attach) {
		r = bus1_cmd_transfer(0, c->fd[0], -1, c->n_attach, src, dst);
		if (r < 0)
			return r;
		for (i = 0; i < c->n_attach; ++i)
			b->attach[i] = dst[i].id;
	}
	return 0;
}

static int bus1_chan_side(struct chan *c, int side)
{
	c->side = side;
	c->fd[!side] = bus1_peer_free(c->fd[!side]);
	return 0;
}

static int bus1_chan_flush(struct chan *c)
{
	struct bus1_chan *b = c->priv;
	int r;

	if (!b->n_pending)
		return 0;
	r = bus1_cmd_release(c->fd[c->side], b->n_pending, b->pending);
	b->n_pending = 0;
	return r;
}

static int bus1_chan_send(struct chan *c, const void *buf, size_t n)
{
	struct bus1_chan *b = c->priv;
	struct bus1_transfer t[BUS1_CHAN_MAX_ATTACH];
	struct iovec vec = { (void *)buf, n };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = n,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int32_t err = -1;
	unsigned int i;
	int r;

	r = bus1_chan_flush(c);
	if (r < 0)
		return r;
	if (c->side == 0 && c->n_attach) {
		for (i = 0; i < c->n_attach; ++i)
			t[i] = (struct bus1_transfer){ 0, b->attach[i] };
		msg.n_transfers = c->n_attach;
		msg.ptr_transfers = BUS1_FROM_PTR(t);
	}
	r = bus1_cmd_send(c->fd[c->side], 1, &c->handle[c->side], &err, &msg);
	if (r < 0)
		return r;
	return err ? -EPROTO : 0;
}

static ssize_t bus1_chan_recv(struct chan *c, void *buf, size_t n)
{
	struct bus1_chan *b = c->priv;
	struct bus1_transfer t[BUS1_CHAN_MAX_ATTACH];
	struct pollfd pfd = { .fd = c->fd[c->side], .events = POLLIN };
	struct iovec vec = { buf, n };
	struct bus1_metadata meta;
	struct bus1_message msg;
	size_t i;
	int r;

	if (poll(&pfd, 1, -1) < 0)
		return -errno;
	msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_transfers = BUS1_CHAN_MAX_ATTACH,
		.ptr_transfers = BUS1_FROM_PTR(t),
		.n_data = n,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	r = bus1_cmd_recv(c->fd[c->side], &meta, &msg);
	if (r < 0)
		return r;
	if (msg.type != BUS1_MESSAGE_TYPE_USER)
		return -EPROTO;
	if (msg.n_transfers > BUS1_CHAN_MAX_PENDING - b->n_pending) {
		r = bus1_chan_flush(c);
		if (r < 0)
			return r;
	}
	for (i = 0; i < msg.n_transfers; ++i)
		b->pending[b->n_pending++] = t[i].id;
	return msg.n_data;
}

static void bus1_chan_close(struct chan *c)
{
	size_t i;

	for (i = 0; i < 2; ++i)
		c->fd[i] = bus1_peer_free(c->fd[i]);
	free(c->priv);
	c->priv = NULL;
}

const struct chan_ops chan_bus1 = {
	.name = "bus1",
	.max_msg = SIZE_MAX,
	.setup = bus1_chan_setup,
	.side = bus1_chan_side,
	.send = bus1_chan_send,
	.recv = bus1_chan_recv,
	.close = bus1_chan_close,
};
