/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Android binder as a channel, spoken in raw ioctls on /dev/binder (the
 * binder_linux module of a distribution kernel; no libbinder).
 *
 * Each side opens /dev/binder itself after fork() (a binder_proc belongs to
 * the process that opened and mapped it), maps its receive buffer, checks
 * the protocol version, sets BINDER_SET_MAX_THREADS to 0 (one thread, no
 * BR_SPAWN_LOOPER) and enters the looper. Side 1 becomes the context
 * manager, so side 0 reaches it as handle 0.
 *
 *   ping-pong  side 0: BC_TRANSACTION to handle 0, one BINDER_WRITE_READ
 *              that returns with BR_REPLY (the driver defers the sender's
 *              BR_TRANSACTION_COMPLETE until then); the reply buffer is
 *              freed with the next write. Side 1: BR_TRANSACTION, then
 *              BC_FREE_BUFFER + BC_REPLY in one write, as libbinder does.
 *   stream     side 0 sends one-way transactions (TF_ONE_WAY). Side 1 has
 *              no handle to side 0 on its own, so the first send is a
 *              synchronous "hello" carrying side 0's node (a
 *              flat_binder_object); side 1 takes a strong reference to
 *              the handle it gets and sends its acknowledgements as
 *              one-way transactions to it. The hello is one extra round
 *              trip inside the timed run.
 *   bulk       1 MiB messages as synchronous transactions, answered by an
 *              empty BC_REPLY once side 1 has copied the data out. One-way
 *              transactions cannot carry the bulk case: the driver gives
 *              them at most half of the receiver's mapping, and maps at
 *              most 4 MiB, so at most one 1 MiB one-way transaction can be
 *              in flight while the stream's window wants eight.
 *
 * Only one context manager exists per binder device, so the concurrent
 * pairs (P5) do not run over binder; and the previous run's context manager
 * is released by deferred work in the kernel after its process exited, so
 * becoming the context manager is retried while it answers EBUSY.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/android/binder.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "bench.h"

#define BND_DEVICE "/dev/binder"
/* A 1 MiB transaction and its bookkeeping fit; one-way gets half. */
#define BND_MAP_SIZE ((1 << 20) + (128 << 10))
#define BND_CODE_DATA 1
#define BND_CODE_HELLO 2
#define BND_CTX_MGR_TRIES 2000
#define BND_DEAD_GRACE_MS 1000

struct bnd {
	int fd;
	void *map;
	bool bulk;
	bool hello_done;
	bool peer_dead;
	uint32_t peer;		/* side 1: the handle of side 0's node */
	bool have_peer;
	bool reply_pending;	/* side 1: a synchronous transaction awaits BC_REPLY */
	bool stashed;
	struct binder_transaction_data stash;
	size_t wlen, rlen, rpos;
	uint8_t wbuf[512];
	uint8_t rbuf[512];
};

/* The node side 0 hands to side 1: any address of its own will do. */
static const uint8_t bnd_node_cookie;

static int bnd_setup(struct chan *c, bool bulk)
{
	struct bnd *b = calloc(1, sizeof(*b));

	c->fd[0] = c->fd[1] = c->fd[2] = c->fd[3] = -1;
	if (!b)
		return -ENOMEM;
	b->fd = -1;
	b->map = MAP_FAILED;
	b->bulk = bulk;
	c->priv = b;
	return 0;
}

static int bnd_msg_setup(struct chan *c)
{
	return bnd_setup(c, false);
}

static int bnd_bulk_setup(struct chan *c)
{
	return bnd_setup(c, true);
}

static int bnd_queue(struct bnd *b, uint32_t cmd, const void *arg, size_t n)
{
	if (b->wlen + sizeof(cmd) + n > sizeof(b->wbuf))
		return -ENOBUFS;
	memcpy(b->wbuf + b->wlen, &cmd, sizeof(cmd));
	if (n)
		memcpy(b->wbuf + b->wlen + sizeof(cmd), arg, n);
	b->wlen += sizeof(cmd) + n;
	return 0;
}

/*
 * One BINDER_WRITE_READ: writes what is queued and, if @rd and every
 * return of the last read was handled, reads. The driver updates the
 * consumed counts, so after EINTR the same call goes on where it stopped.
 */
static int bnd_io(struct bnd *b, bool rd)
{
	struct binder_write_read bwr = {
		.write_size = b->wlen,
		.write_buffer = (binder_uintptr_t)(uintptr_t)b->wbuf,
		.read_buffer = (binder_uintptr_t)(uintptr_t)b->rbuf,
	};
	int r;

	rd = rd && b->rpos >= b->rlen;
	bwr.read_size = rd ? sizeof(b->rbuf) : 0;
	do
		r = ioctl(b->fd, BINDER_WRITE_READ, &bwr);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (bwr.write_consumed != b->wlen)
		return -EIO;
	b->wlen = 0;
	if (rd) {
		b->rlen = bwr.read_consumed;
		b->rpos = 0;
	}
	return 0;
}

/* The errno behind the last failed transaction, if the driver tells. */
static int bnd_failed(struct bnd *b)
{
	struct binder_extended_error ee = { 0 };

	if (ioctl(b->fd, BINDER_GET_EXTENDED_ERROR, &ee) == 0 && ee.param < 0)
		return ee.param;
	return -EIO;
}

static int bnd_take(struct bnd *b, void *p, size_t n)
{
	if (b->rlen - b->rpos < n)
		return -EPROTO;
	memcpy(p, b->rbuf + b->rpos, n);
	b->rpos += n;
	return 0;
}

/*
 * Handles returns until one of kind @want (BR_TRANSACTION_COMPLETE,
 * BR_REPLY or BR_TRANSACTION) arrives; a reply or transaction is stored in
 * @tr. A transaction that comes while something else is awaited is kept
 * for the next call: one is the most the protocol here allows.
 */
static int bnd_wait(struct bnd *b, uint32_t want,
		    struct binder_transaction_data *tr)
{
	struct binder_transaction_data t;
	struct binder_ptr_cookie pc;
	binder_uintptr_t cookie;
	struct pollfd pfd;
	uint32_t cmd;
	int32_t err;
	int r;

	if (want == BR_TRANSACTION && b->stashed) {
		*tr = b->stash;
		b->stashed = false;
		return 0;
	}
	for (;;) {
		if (b->wlen || b->rpos >= b->rlen) {
			if (b->peer_dead && b->rpos >= b->rlen) {
				/*
				 * What the peer sent before it died may still
				 * come (a freed buffer lets the next one-way
				 * transaction through): wait a little for it.
				 */
				r = b->wlen ? bnd_io(b, false) : 0;
				if (r < 0)
					return r;
				pfd = (struct pollfd){ .fd = b->fd, .events = POLLIN };
				r = poll(&pfd, 1, BND_DEAD_GRACE_MS);
				if (r <= 0)
					return r < 0 ? -errno : -EPIPE;
			}
			r = bnd_io(b, true);
			if (r < 0)
				return r;
			continue;
		}
		r = bnd_take(b, &cmd, sizeof(cmd));
		if (r < 0)
			return r;
		switch (cmd) {
		case BR_NOOP:
		case BR_OK:
		case BR_SPAWN_LOOPER:	/* max threads 0: not expected */
		case BR_FINISHED:
		case BR_ONEWAY_SPAM_SUSPECT:
			break;
		case BR_TRANSACTION_COMPLETE:
			if (want == BR_TRANSACTION_COMPLETE)
				return 0;
			break;
		case BR_INCREFS:
		case BR_ACQUIRE:
			r = bnd_take(b, &pc, sizeof(pc));
			if (r == 0)
				r = bnd_queue(b, cmd == BR_INCREFS ? BC_INCREFS_DONE :
					      BC_ACQUIRE_DONE, &pc, sizeof(pc));
			if (r < 0)
				return r;
			break;
		case BR_DEAD_BINDER:
			r = bnd_take(b, &cookie, sizeof(cookie));
			if (r == 0)
				r = bnd_queue(b, BC_DEAD_BINDER_DONE, &cookie,
					      sizeof(cookie));
			if (r < 0)
				return r;
			b->peer_dead = true;
			break;
		case BR_TRANSACTION:
		case BR_REPLY:
			r = bnd_take(b, &t, sizeof(t));
			if (r < 0)
				return r;
			if (cmd == want) {
				*tr = t;
				return 0;
			}
			if (cmd == BR_REPLY || b->stashed)
				return -EPROTO;
			b->stash = t;
			b->stashed = true;
			break;
		case BR_DEAD_REPLY:
			return -EPIPE;
		case BR_FAILED_REPLY:
		case BR_FROZEN_REPLY:
			return bnd_failed(b);
		case BR_ERROR:
			r = bnd_take(b, &err, sizeof(err));
			return r < 0 ? r : err < 0 ? err : -EIO;
		default:
			/* BR_RELEASE, BR_DECREFS, ...: nothing to do here */
			b->rpos += _IOC_SIZE(cmd);
			if (b->rpos > b->rlen)
				return -EPROTO;
			break;
		}
	}
}

static int bnd_enter(struct bnd *b, int side)
{
	struct flat_binder_object mgr = {
		.hdr.type = BINDER_TYPE_BINDER,
		.flags = FLAT_BINDER_FLAG_ACCEPTS_FDS,
	};
	struct binder_version v = { 0 };
	uint32_t zero = 0;
	int32_t izero = 0;
	int i, r;

	b->fd = open(BND_DEVICE, O_RDWR | O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	if (ioctl(b->fd, BINDER_VERSION, &v) < 0)
		return -errno;
	if (v.protocol_version != BINDER_CURRENT_PROTOCOL_VERSION)
		return -EPROTONOSUPPORT;
	b->map = mmap(NULL, BND_MAP_SIZE, PROT_READ, MAP_PRIVATE, b->fd, 0);
	if (b->map == MAP_FAILED)
		return -errno;
	if (ioctl(b->fd, BINDER_SET_MAX_THREADS, &zero) < 0)
		return -errno;
	if (side == 1) {
		for (i = 0; i < BND_CTX_MGR_TRIES; ++i) {
			r = ioctl(b->fd, BINDER_SET_CONTEXT_MGR_EXT, &mgr);
			if (r < 0 && errno == EINVAL)
				r = ioctl(b->fd, BINDER_SET_CONTEXT_MGR, &izero);
			if (r == 0 || errno != EBUSY)
				break;
			/* the last run's manager is still being released */
			usleep(1000);
		}
		if (r < 0)
			return -errno;
	}
	r = bnd_queue(b, BC_ENTER_LOOPER, NULL, 0);
	return r < 0 ? r : bnd_io(b, false);
}

static int bnd_side(struct chan *c, int side)
{
	c->side = side;
	return bnd_enter(c->priv, side);
}

static int bnd_transact(struct bnd *b, uint32_t cmd, uint32_t handle,
			uint32_t code, uint32_t flags, const void *buf,
			size_t n, const binder_size_t *offs, size_t n_offs)
{
	struct binder_transaction_data tr = {
		.target.handle = handle,
		.code = code,
		.flags = flags,
		.data_size = n,
		.offsets_size = n_offs * sizeof(*offs),
		.data.ptr.buffer = (binder_uintptr_t)(uintptr_t)buf,
		.data.ptr.offsets = (binder_uintptr_t)(uintptr_t)offs,
	};

	return bnd_queue(b, cmd, &tr, sizeof(tr));
}

/* Copies a received buffer out and queues its release. */
static ssize_t bnd_consume(struct bnd *b, const struct binder_transaction_data *tr,
			   void *buf, size_t n)
{
	binder_uintptr_t p = tr->data.ptr.buffer;
	int r;

	if (tr->data_size && tr->data_size <= n)
		memcpy(buf, (const void *)(uintptr_t)p, tr->data_size);
	r = bnd_queue(b, BC_FREE_BUFFER, &p, sizeof(p));
	if (r < 0)
		return r;
	return tr->data_size <= n ? (ssize_t)tr->data_size : -EMSGSIZE;
}

/* A synchronous transaction to handle 0 and its reply. */
static ssize_t bnd_call(struct bnd *b, uint32_t code, const void *buf,
			size_t n, const binder_size_t *offs, size_t n_offs,
			void *rbuf, size_t rn)
{
	struct binder_transaction_data tr;
	int r;

	r = bnd_transact(b, BC_TRANSACTION, 0, code, TF_ACCEPT_FDS, buf, n,
			 offs, n_offs);
	if (r == 0)
		r = bnd_wait(b, BR_REPLY, &tr);
	if (r < 0)
		return r;
	return bnd_consume(b, &tr, rbuf, rn);
}

/*
 * Side 0 hands its node to side 1 and asks to hear of side 1's death, so
 * waiting for an acknowledgement ends if side 1 fails.
 */
static int bnd_hello(struct bnd *b)
{
	struct flat_binder_object obj = {
		.hdr.type = BINDER_TYPE_BINDER,
		.flags = 0x7f | FLAT_BINDER_FLAG_ACCEPTS_FDS,
		.binder = (binder_uintptr_t)(uintptr_t)&bnd_node_cookie,
		.cookie = (binder_uintptr_t)(uintptr_t)&bnd_node_cookie,
	};
	struct binder_handle_cookie death = { .handle = 0, .cookie = 1 };
	binder_size_t off = 0;
	uint32_t handle = 0;
	ssize_t l;
	int r;

	l = bnd_call(b, BND_CODE_HELLO, &obj, sizeof(obj), &off, 1, NULL, 0);
	if (l < 0)
		return l;
	r = bnd_queue(b, BC_INCREFS, &handle, sizeof(handle));
	if (r == 0)
		r = bnd_queue(b, BC_REQUEST_DEATH_NOTIFICATION, &death,
			      sizeof(death));
	if (r < 0)
		return r;
	b->hello_done = true;
	return 0;
}

/* Side 1: takes a strong reference to the node side 0 sent. */
static int bnd_take_peer(struct bnd *b, const struct binder_transaction_data *tr)
{
	const struct flat_binder_object *obj;
	binder_uintptr_t p = tr->data.ptr.buffer;
	binder_size_t off;
	int r;

	if (tr->offsets_size != sizeof(off) || tr->data_size < sizeof(*obj))
		return -EPROTO;
	memcpy(&off, (const void *)(uintptr_t)tr->data.ptr.offsets, sizeof(off));
	if (off > tr->data_size - sizeof(*obj))
		return -EPROTO;
	obj = (const void *)(uintptr_t)(p + off);
	if (obj->hdr.type != BINDER_TYPE_HANDLE)
		return -EPROTO;
	b->peer = obj->handle;
	b->have_peer = true;
	/* before the buffer, which holds the only reference, goes */
	r = bnd_queue(b, BC_INCREFS, &b->peer, sizeof(b->peer));
	if (r == 0)
		r = bnd_queue(b, BC_ACQUIRE, &b->peer, sizeof(b->peer));
	if (r == 0)
		r = bnd_queue(b, BC_FREE_BUFFER, &p, sizeof(p));
	if (r == 0)
		r = bnd_transact(b, BC_REPLY, 0, 0, 0, NULL, 0, NULL, 0);
	return r;
}

/* Side 1: answers the transaction it holds, with @buf as the reply. */
static int bnd_reply(struct bnd *b, const void *buf, size_t n)
{
	int r;

	b->reply_pending = false;
	r = bnd_transact(b, BC_REPLY, 0, 0, 0, buf, n, NULL, 0);
	return r < 0 ? r : bnd_wait(b, BR_TRANSACTION_COMPLETE, NULL);
}

static int bnd_send(struct chan *c, const void *buf, size_t n)
{
	struct bnd *b = c->priv;
	ssize_t l;
	int r;

	if (c->side == 0) {
		if (!b->hello_done) {
			r = bnd_hello(b);
			if (r < 0)
				return r;
		}
		if (b->bulk) {
			l = bnd_call(b, BND_CODE_DATA, buf, n, NULL, 0, NULL, 0);
			return l < 0 ? l : 0;
		}
		r = bnd_transact(b, BC_TRANSACTION, 0, BND_CODE_DATA,
				 TF_ONE_WAY, buf, n, NULL, 0);
		return r < 0 ? r : bnd_wait(b, BR_TRANSACTION_COMPLETE, NULL);
	}
	if (b->reply_pending && !b->bulk)
		return bnd_reply(b, buf, n);
	if (b->reply_pending) {
		r = bnd_reply(b, NULL, 0);
		if (r < 0)
			return r;
	}
	if (!b->have_peer)
		return -ENOTCONN;
	r = bnd_transact(b, BC_TRANSACTION, b->peer, BND_CODE_DATA, TF_ONE_WAY,
			 buf, n, NULL, 0);
	return r < 0 ? r : bnd_wait(b, BR_TRANSACTION_COMPLETE, NULL);
}

static ssize_t bnd_recv(struct chan *c, void *buf, size_t n)
{
	struct bnd *b = c->priv;
	struct binder_transaction_data tr;
	int r;

	/* bulk: the sender waits until the last message was taken */
	if (b->reply_pending) {
		r = bnd_reply(b, NULL, 0);
		if (r < 0)
			return r;
	}
	for (;;) {
		r = bnd_wait(b, BR_TRANSACTION, &tr);
		if (r < 0)
			return r;
		if (c->side == 1 && tr.code == BND_CODE_HELLO) {
			r = bnd_take_peer(b, &tr);
			if (r < 0)
				return r;
			continue;
		}
		b->reply_pending = !(tr.flags & TF_ONE_WAY);
		return bnd_consume(b, &tr, buf, n);
	}
}

static ssize_t bnd_roundtrip(struct chan *c, const void *buf, size_t n,
			     void *rbuf, size_t rn)
{
	return bnd_call(c->priv, BND_CODE_DATA, buf, n, NULL, 0, rbuf, rn);
}

static void bnd_close(struct chan *c)
{
	struct bnd *b = c->priv;

	if (!b)
		return;
	if (b->map != MAP_FAILED)
		munmap(b->map, BND_MAP_SIZE);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
	c->priv = NULL;
}

int binder_probe(char *why, size_t n_why)
{
	struct binder_version v = { 0 };
	int fd;

	fd = open(BND_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, n_why, "%s: %s; load binder_linux devices=binder",
			 BND_DEVICE, strerror(errno));
		return -ENOENT;
	}
	if (ioctl(fd, BINDER_VERSION, &v) < 0) {
		snprintf(why, n_why, "BINDER_VERSION on %s: %s", BND_DEVICE,
			 strerror(errno));
		close(fd);
		return -EIO;
	}
	close(fd);
	if (v.protocol_version != BINDER_CURRENT_PROTOCOL_VERSION) {
		snprintf(why, n_why, "%s speaks protocol %d, not %d", BND_DEVICE,
			 v.protocol_version, BINDER_CURRENT_PROTOCOL_VERSION);
		return -EPROTONOSUPPORT;
	}
	return v.protocol_version;
}

const struct chan_ops chan_binder = {
	.name = "binder",
	.max_msg = BND_MAP_SIZE / 2,
	.setup = bnd_msg_setup,
	.side = bnd_side,
	.send = bnd_send,
	.recv = bnd_recv,
	.roundtrip = bnd_roundtrip,
	.close = bnd_close,
};

const struct chan_ops chan_binder_bulk = {
	.name = "binder",
	.max_msg = BND_MAP_SIZE - (64 << 10),
	.setup = bnd_bulk_setup,
	.side = bnd_side,
	.send = bnd_send,
	.recv = bnd_recv,
	.roundtrip = bnd_roundtrip,
	.close = bnd_close,
};
