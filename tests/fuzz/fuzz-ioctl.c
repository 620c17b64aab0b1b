/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */

/*
 * fuzz-ioctl: ioctls on /dev/bus1 against the real engine, which is
 * healthy: no result may say that a peer or the engine died (ENOTCONN,
 * EIO, ETIMEDOUT, ENXIO), and most inputs are built so that the contract
 * fixes their result exactly.
 *
 * Three kinds of iterations:
 *
 *  - Exact ones: a valid call with one defect, whose errno bus1(7),
 *    semantics.md and docs/decisions.md fix: flags != 0, a count beyond
 *    max_items, a bad transfer flag, a message flag or type: EINVAL; an ID
 *    the peer does not know: EBADRQC; a pointer it cannot read or write:
 *    EFAULT; iovecs shorter than n_data or n_data beyond max_data:
 *    EMSGSIZE; `to` not a file: EBADF, not a peer: EOPNOTSUPP; not a bus1
 *    command: ENOTTY. A failed SEND delivers nothing, a failed RELEASE
 *    releases nothing.
 *  - Successful ones, checked for their effect: a TRANSFER returns fresh
 *    managed IDs, whose handles later carry messages to the node; a
 *    RELEASE makes its IDs unknown (EBADRQC); a SEND queues exactly one
 *    message, which its receiver gets with the node's ID, the sender's
 *    UID, the payload and new handles, after an EMSGSIZE that reports the
 *    sizes and leaves it queued, and then the queue is empty (EAGAIN).
 *  - Random ones: random command numbers, flags, counts, IDs,
 *    fds, and pointers that are NULL, unmapped, read-only, straddle the
 *    end of a mapping, or valid. Their result is checked against the
 *    errnos documented for that command; a success is checked for its
 *    effect where its result can be read back.
 *
 * What the fuzzer knows of the bus is in ioctl-model.c; every item it
 * receives is checked against it (a notification for a node that lives, a
 * message on a released node). Peers are closed and reopened now and
 * then. No call may take longer than WATCHDOG_S. Afterwards a fresh peer
 * must still do a round trip. The fuzzer is single-threaded, so its seed
 * replays a failure.
 *
 * FUZZ_MAKE_IT_FAIL=1 (make check-debug's failslab part): only random
 * iterations run, with this task marked for the kernel's fault injection
 * (/proc/self/make-it-fail), so a share of the module's allocations fail
 * and show as ENOMEM, which every command documents; a success is still
 * checked for its effect. The setup and the final checks run unmarked.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/bus1-engine.h>
#include "libbus1.h"
#include "fuzz-common.h"
#include "ioctl-model.h"

#define PAGE 4096
#define N_PEERS MODEL_SLOTS
#define WATCHDOG_S 120

static unsigned char *rw;	/* PAGE read-write, then PAGE PROT_NONE */
static unsigned char *ro;	/* PAGE read-only */
static int peers[N_PEERS];
static int devnull;
static uid_t uid;
static uint64_t max_items = 65536, max_data = 32 << 20;
static uint64_t iteration;
static unsigned int exact_errnos[FUZZ_MAX_ERRNO];
static unsigned int random_errnos[FUZZ_MAX_ERRNO];
static unsigned int *errnos = random_errnos;
static uint64_t n_effects, n_items, n_reopened;

/* /proc/self/make-it-fail while FUZZ_MAKE_IT_FAIL marks this task, or -1. */
static int mark_fd = -1;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("fuzz-ioctl: FAIL: iteration %llu: ",
	       (unsigned long long)iteration);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	exit(1);
}

static const char *errname(int r)
{
	if (r >= 0)
		return "success";
	return strerrorname_np(-r) ?: "unknown errno";
}

/* No call may hang: this fires if WATCHDOG_S pass without progress. */
static void watchdog(int sig)
{
	static const char msg[] = "fuzz-ioctl: FAIL: a call hung\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* One ioctl: 0 or a negative errno, counted. */
static int do_ioctl(int fd, unsigned long cmd, void *arg)
{
	int r = ioctl(fd, cmd, arg);

	if (r > 0)
		fail("ioctl 0x%lx returned %d", cmd, r);
	r = r < 0 ? -errno : 0;
	fuzz_count_errno(errnos, r);
	return r;
}

static void expect(int r, int want, const char *what)
{
	if (r != want)
		fail("%s: %s, the contract says %s", what, errname(r),
		     errname(want));
}

static uint64_t ptr(const void *p)
{
	return (uintptr_t)p;
}

/*
 * A pointer to @size bytes the kernel cannot read: NULL, an unmapped page,
 * a kernel address, or a range running into the unmapped page.
 */
static void *unreadable(size_t size)
{
	switch (fuzz_below(4)) {
	case 0:
		return NULL;
	case 1:
		return rw + PAGE;
	case 2:
		return (void *)(uintptr_t)(0xffff888000000000ULL +
					   8 * fuzz_below(1 << 20));
	default:
		if (size < 2)
			return rw + PAGE;
		return rw + PAGE - 1 - fuzz_below(size - 1);
	}
}

/* A pointer to @size bytes the kernel cannot write: read-only, or worse. */
static void *unwritable(size_t size)
{
	return fuzz_below(2) ? ro : unreadable(size);
}

/* Whether [p, p + size) lies in one of the fuzzer's own pages. */
static bool in_pages(uint64_t p, uint64_t size)
{
	return (p >= ptr(rw) && size <= PAGE && p - ptr(rw) <= PAGE - size) ||
	       (p >= ptr(ro) && size <= PAGE && p - ptr(ro) <= PAGE - size);
}

static bool overlap(uint64_t a, uint64_t na, uint64_t b, uint64_t nb)
{
	return a < b + nb && b < a + na;
}

/* The slot of the peer behind file descriptor @fd, or -1. */
static int slot_of_fd(uint64_t fd)
{
	for (int i = 0; i < N_PEERS; i++)
		if ((uint64_t)peers[i] == fd)
			return i;
	return -1;
}

/*
 * The engine applies requests in the order the module queued them, and a
 * request's reply comes after every record an earlier one-way record (a
 * PEER_RELEASE) caused: once this returns, what a closed peer released
 * has reached the other peers' queues.
 */
static void barrier(void)
{
	struct bus1_cmd_release cmd = {};

	expect(do_ioctl(peers[0], BUS1_CMD_RELEASE, &cmd), 0,
	       "RELEASE of no IDs");
}

static void reopen(int slot)
{
	if (peers[slot] >= 0)
		close(peers[slot]);
	do
		peers[slot] = bus1_peer_new();
	while (peers[slot] == -ENOMEM && mark_fd >= 0);
	if (peers[slot] < 0)
		fail("open /dev/bus1: %s", errname(peers[slot]));
	model_open(slot);
	n_reopened++;
	barrier();
}

/*
 * @slot received an item: check it against what the model knows and learn
 * from it. @t is NULL if the handles it carries cannot be read back.
 */
static void received(int slot, const struct bus1_metadata *meta,
		     const struct bus1_message *msg,
		     const struct bus1_transfer *t)
{
	const struct model_handle *h = model_handle(slot, meta->id);
	uint64_t serial = model_serial(slot);

	n_items++;
	if (meta->flags)
		fail("received metadata.flags %llu",
		     (unsigned long long)meta->flags);
	if (msg->type != BUS1_MESSAGE_TYPE_USER &&
	    (msg->n_data || msg->n_transfers || meta->account != BUS1_INVALID))
		fail("notification %llu with %llu bytes, %llu handles, account %llu",
		     (unsigned long long)msg->type,
		     (unsigned long long)msg->n_data,
		     (unsigned long long)msg->n_transfers,
		     (unsigned long long)meta->account);
	switch (msg->type) {
	case BUS1_MESSAGE_TYPE_USER:
		if (meta->account != uid)
			fail("message with account %llu, sent by uid %u",
			     (unsigned long long)meta->account, uid);
		if (model_is_gone(slot, meta->id) || h)
			fail("message on %llu, which is %s of the receiver",
			     (unsigned long long)meta->id,
			     h ? "a handle" : "a released ID");
		for (uint64_t i = 0; t && i < msg->n_transfers; i++) {
			if (t[i].flags || !(t[i].id & BUS1_MANAGED) ||
			    model_is_node(slot, t[i].id) ||
			    model_handle(slot, t[i].id) ||
			    model_is_gone(slot, t[i].id))
				fail("message carries handle {%llu, %llu}, not a new ID",
				     (unsigned long long)t[i].flags,
				     (unsigned long long)t[i].id);
			model_add_handle(slot, t[i].id, 0, 0);
		}
		break;
	case BUS1_MESSAGE_TYPE_NODE_RELEASE:
		if (model_is_node(slot, meta->id) ||
		    (h && model_node_live(h->node_serial, h->node_id)))
			fail("NODE_RELEASE for %llu, whose node lives",
			     (unsigned long long)meta->id);
		model_gone(slot, meta->id);
		break;
	case BUS1_MESSAGE_TYPE_HANDLE_RELEASE:
		if (h || model_handles_to(serial, meta->id))
			fail("HANDLE_RELEASE for node %llu, which %u known handles reach",
			     (unsigned long long)meta->id,
			     model_handles_to(serial, meta->id));
		model_gone(slot, meta->id);
		break;
	default:
		fail("received type %llu", (unsigned long long)msg->type);
	}
}

/* Room to receive anything the bus may hold. */
static struct {
	void *data;
	uint64_t n_data;
	struct bus1_transfer *t;
	uint64_t n_t;
} room;

static void room_grow(uint64_t n_data, uint64_t n_t)
{
	if (n_data > max_data || n_t > max_items)
		fail("EMSGSIZE asks for %llu bytes and %llu handles, beyond the limits",
		     (unsigned long long)n_data, (unsigned long long)n_t);
	if (n_data > room.n_data) {
		free(room.data);
		room.data = malloc(n_data);
		room.n_data = n_data;
	}
	if (n_t > room.n_t) {
		free(room.t);
		room.t = calloc(n_t, sizeof(*room.t));
		room.n_t = n_t;
	}
	if (!room.data || !room.t)
		fail("out of memory");
}

/* RECV with room for the next item, whatever its size. */
static int recv_any(int slot, struct bus1_metadata *meta,
		    struct bus1_message *msg)
{
	struct bus1_cmd_recv cmd = { 0, ptr(meta), ptr(msg) };
	struct iovec vec;
	int r;

	for (;;) {
		vec = (struct iovec){ room.data, room.n_data };
		*msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_transfers = room.n_t,
			.ptr_transfers = ptr(room.t),
			.n_data = room.n_data,
			.n_data_vecs = 1,
			.ptr_data_vecs = ptr(&vec),
		};
		r = do_ioctl(peers[slot], BUS1_CMD_RECV, &cmd);
		if (r != -EMSGSIZE)
			return r;
		if (msg->n_data <= room.n_data && msg->n_transfers <= room.n_t)
			fail("RECV: EMSGSIZE for %llu bytes and %llu handles, with room for them",
			     (unsigned long long)msg->n_data,
			     (unsigned long long)msg->n_transfers);
		room_grow(msg->n_data, msg->n_transfers);
	}
}

/* Receive everything queued for @slot, checking each item. */
static void drain(int slot)
{
	struct bus1_metadata meta;
	struct bus1_message msg;
	int r;

	for (unsigned int n = 0;; n++) {
		r = recv_any(slot, &meta, &msg);
		if (r == -EAGAIN)
			return;
		expect(r, 0, "RECV with room for anything");
		received(slot, &meta, &msg, room.t);
		if (n > 1000000)
			fail("the queue never empties");
	}
}

/*
 * A TRANSFER of @n entries from @from to @to succeeded: @in is what was
 * asked, @src and @dst what came back (@src NULL if it cannot be read
 * back). The new IDs must be managed, fresh in their peer and distinct;
 * learn them.
 */
static void transfer_done(int from, int to, const struct bus1_transfer *in,
			  const struct bus1_transfer *src,
			  const struct bus1_transfer *dst, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		bool create = in[i].flags & BUS1_TRANSFER_FLAG_CREATE;

		if (dst[i].flags || !model_fresh(to, dst[i].id))
			fail("TRANSFER: dst[%llu] = {%llu, %llu}, not a new handle",
			     (unsigned long long)i,
			     (unsigned long long)dst[i].flags,
			     (unsigned long long)dst[i].id);
		if (src && create && (src[i].flags ||
				      !model_fresh(from, src[i].id)))
			fail("TRANSFER: src[%llu] = {%llu, %llu}, not a new node",
			     (unsigned long long)i,
			     (unsigned long long)src[i].flags,
			     (unsigned long long)src[i].id);
		if (src && !create && (src[i].flags || src[i].id != in[i].id))
			fail("TRANSFER: src[%llu] changed to {%llu, %llu}",
			     (unsigned long long)i,
			     (unsigned long long)src[i].flags,
			     (unsigned long long)src[i].id);
		for (uint64_t j = 0; j < i; j++)
			if (dst[j].id == dst[i].id ||
			    (src && create && from == to &&
			     src[i].id == dst[j].id))
				fail("TRANSFER: ID %llu handed out twice",
				     (unsigned long long)dst[i].id);
	}
	for (uint64_t i = 0; i < n; i++) {
		const struct model_handle *h = model_handle(from, in[i].id);
		bool create = in[i].flags & BUS1_TRANSFER_FLAG_CREATE;

		if (create && src)
			model_add_node(from, src[i].id);
		if (create)
			model_add_handle(to, dst[i].id,
					 src ? model_serial(from) : 0,
					 src ? src[i].id : 0);
		else
			model_add_handle(to, dst[i].id,
					 h ? h->node_serial : 0,
					 h ? h->node_id : 0);
	}
	n_effects++;
}

/* A RELEASE of @ids succeeded: they are unknown now, for good. */
static void release_done(int slot, const uint64_t *ids, uint64_t n)
{
	struct bus1_cmd_release cmd = { 0, 1, 0 };
	uint64_t id;

	for (uint64_t i = 0; i < n; i++)
		model_gone(slot, ids[i]);
	if (!n)
		return;
	id = ids[fuzz_below(n)];
	cmd.ptr_ids = ptr(&id);
	expect(do_ioctl(peers[slot], BUS1_CMD_RELEASE, &cmd), -EBADRQC,
	       "RELEASE of an ID just released");
	n_effects++;
}

/* A new node in @from with a handle in @to. */
static void create_pair(int from, int to)
{
	struct bus1_transfer in = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer src = in, dst;
	struct bus1_cmd_transfer cmd = {
		0, from == to ? BUS1_INVALID : (uint64_t)peers[to], 1,
		ptr(&src), ptr(&dst)
	};

	expect(do_ioctl(peers[from], BUS1_CMD_TRANSFER, &cmd), 0,
	       "TRANSFER creating a node");
	transfer_done(from, to, &in, &src, &dst, 1);
}

/* A handle of @slot whose node lives; made if there is none. */
static const struct model_handle *live_handle(int slot)
{
	const struct model_handle *h = model_pick_live_handle(slot);

	if (!h) {
		create_pair(fuzz_below(N_PEERS), slot);
		h = model_pick_live_handle(slot);
		if (!h)
			fail("no live handle after creating one");
	}
	return h;
}

/* Some IDs @slot knows (made if it knows none); return how many. */
static unsigned int known_ids(int slot, uint64_t *ids, unsigned int max)
{
	unsigned int n = 1 + fuzz_below(max);

	if (!model_pick_known(slot))
		create_pair(slot, fuzz_below(N_PEERS));
	for (unsigned int i = 0; i < n; i++)
		ids[i] = model_pick_known(slot);
	return n;
}

static const unsigned long bus1_cmds[] = {
	BUS1_CMD_TRANSFER, BUS1_CMD_RELEASE, BUS1_CMD_SEND, BUS1_CMD_RECV,
};

static bool is_bus1_cmd(unsigned long cmd)
{
	for (int i = 0; i < 4; i++)
		if (cmd == bus1_cmds[i])
			return true;
	return false;
}

/* A file descriptor number that is not open, or is out of range. */
static uint64_t bad_fd(void)
{
	switch (fuzz_below(3)) {
	case 0:
		return (uint64_t)INT_MAX + 1 + fuzz_below(1ULL << 40);
	case 1:
		return INT_MAX;
	default:
		return 1000 + fuzz_below(1000);	/* above what is open */
	}
}

static void exact_transfer(int slot)
{
	struct bus1_transfer in[4], src[4], dst[4];
	struct bus1_cmd_transfer cmd = {
		.to = BUS1_INVALID,
		.n_transfers = 1 + fuzz_below(4),
		.ptr_src = ptr(src),
		.ptr_dst = ptr(dst),
	};
	unsigned int k = fuzz_below(cmd.n_transfers);
	int to = slot, want = -EINVAL;
	const struct model_handle *h;
	void *arg = &cmd;
	uint64_t node;

	for (unsigned int i = 0; i < cmd.n_transfers; i++) {
		h = model_pick_handle(slot);
		in[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						BUS1_INVALID };
		if (h && fuzz_below(2))
			in[i] = (struct bus1_transfer){ 0, h->id };
	}
	switch (fuzz_below(13)) {
	case 0:
		cmd.flags = fuzz_rand() | 1ULL << fuzz_below(64);
		break;
	case 1:
		cmd.n_transfers = max_items + 1 + fuzz_below(1ULL << 40);
		break;
	case 2:
		in[k].flags |= 1ULL << (1 + fuzz_below(63));
		break;
	case 3:
		in[k] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						fuzz_rand() & ~1ULL };
		break;
	case 4:
		in[k] = (struct bus1_transfer){ 0, model_pick_unknown(slot) };
		want = -EBADRQC;
		break;
	case 5:
		node = model_pick_node(slot);
		if (!node)
			return;
		in[k] = (struct bus1_transfer){ 0, node };	/* no handle */
		want = -EBADRQC;
		break;
	case 6:
		cmd.to = bad_fd();
		want = -EBADF;
		break;
	case 7:
		cmd.to = devnull;
		want = -EOPNOTSUPP;
		break;
	case 8:
		cmd.ptr_src = ptr(unwritable(16 * cmd.n_transfers));
		want = -EFAULT;
		break;
	case 9:
		cmd.ptr_dst = ptr(unwritable(16 * cmd.n_transfers));
		want = -EFAULT;
		break;
	case 10:
		arg = unreadable(sizeof(cmd));
		want = -EFAULT;
		break;
	default:
		to = fuzz_below(N_PEERS);
		if (to != slot)
			cmd.to = peers[to];
		want = 0;
		break;
	}
	memcpy(src, in, sizeof(src));
	expect(do_ioctl(peers[slot], BUS1_CMD_TRANSFER, arg), want,
	       "TRANSFER");
	if (!want)
		transfer_done(slot, to, in, src, dst, cmd.n_transfers);
}

static void exact_release(int slot)
{
	uint64_t ids[4];
	struct bus1_cmd_release cmd = { 0, 0, ptr(ids) };
	unsigned int k;
	void *arg = &cmd;
	int want = -EINVAL, r;

	cmd.n_ids = known_ids(slot, ids, 4);
	k = fuzz_below(cmd.n_ids);
	switch (fuzz_below(6)) {
	case 0:
		cmd.flags = fuzz_rand() | 1ULL << fuzz_below(64);
		break;
	case 1:
		cmd.n_ids = max_items + 1 + fuzz_below(1ULL << 40);
		break;
	case 2:
		ids[k] = model_pick_unknown(slot);
		want = -EBADRQC;
		break;
	case 3:
		cmd.ptr_ids = ptr(unreadable(8 * cmd.n_ids));
		want = -EFAULT;
		break;
	case 4:
		arg = unreadable(sizeof(cmd));
		want = -EFAULT;
		break;
	default:
		want = 0;
		break;
	}
	r = do_ioctl(peers[slot], BUS1_CMD_RELEASE, arg);
	expect(r, want, "RELEASE");
	if (!r) {
		release_done(slot, ids, cmd.n_ids);
	} else if (want == -EBADRQC && cmd.n_ids > 1) {
		/* Atomic: the failed RELEASE released none of the others. */
		ids[k] = ids[--cmd.n_ids];
		expect(do_ioctl(peers[slot], BUS1_CMD_RELEASE, &cmd), 0,
		       "RELEASE of the known IDs a failed RELEASE named");
		release_done(slot, ids, cmd.n_ids);
	}
}

/*
 * A message with one defect, sent from @slot through a handle whose node
 * lives: the contract's errno, and nothing reaches the node's queue.
 */
static void exact_send_error(int slot)
{
	const struct model_handle *h = live_handle(slot);
	int receiver = model_slot_of(h->node_serial);
	uint64_t dst = h->id;
	struct bus1_transfer t = { 0, h->id };
	char data[64] = "fuzz-ioctl";
	int32_t errors[1];
	struct iovec vec = { data, sizeof(data) };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_transfers = fuzz_below(2),
		.ptr_transfers = ptr(&t),
		.n_data = fuzz_below(sizeof(data) + 1),
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&vec),
	};
	struct bus1_cmd_send cmd = { 0, 1, ptr(&dst), ptr(errors), ptr(&msg) };
	void *arg = &cmd;
	int want = -EINVAL;

	drain(receiver);
	switch (fuzz_below(17)) {
	case 0:
		cmd.flags = fuzz_rand() | 1ULL << fuzz_below(64);
		break;
	case 1:
		msg.flags = fuzz_rand() | 1ULL << fuzz_below(64);
		break;
	case 2:
		msg.type = fuzz_below(2) ? 1 + fuzz_below(2) : fuzz_rand() | 1;
		break;
	case 3:
		msg.n_transfers = 1;
		t.flags = 1ULL << fuzz_below(64);
		break;
	case 4:
		cmd.n_destinations = max_items + 1 + fuzz_below(1ULL << 40);
		break;
	case 5:
		msg.n_transfers = max_items + 1 + fuzz_below(1ULL << 40);
		break;
	case 6:
		msg.n_data_vecs = UIO_MAXIOV + 1 + fuzz_below(1ULL << 40);
		break;
	case 7:
		msg.n_data = max_data + 1 + fuzz_below(1ULL << 40);
		want = -EMSGSIZE;
		break;
	case 8:
		/* iovecs hold fewer bytes than n_data */
		msg.n_data = 1 + fuzz_below(sizeof(data));
		vec.iov_len = fuzz_below(msg.n_data);
		msg.n_data_vecs = fuzz_below(2);
		want = -EMSGSIZE;
		break;
	case 9:
		dst = model_pick_unknown(slot);
		want = -EBADRQC;
		break;
	case 10:
		msg.n_transfers = 1;
		t.id = model_pick_unknown(slot);
		want = -EBADRQC;
		break;
	case 11:
		dst = model_pick_node(slot);
		if (!dst)
			return;
		want = -EBADRQC;
		break;
	case 12:
		cmd.ptr_destinations = ptr(unreadable(8));
		want = -EFAULT;
		break;
	case 13:
		cmd.ptr_errors = ptr(unwritable(4));
		want = -EFAULT;
		break;
	case 14:
		msg.n_data = 1 + fuzz_below(sizeof(data));
		if (fuzz_below(2))
			msg.ptr_data_vecs = ptr(unreadable(sizeof(vec)));
		else
			vec.iov_base = unreadable(msg.n_data);
		want = -EFAULT;
		break;
	case 15:
		msg.n_transfers = 1;
		msg.ptr_transfers = ptr(unreadable(sizeof(t)));
		want = -EFAULT;
		break;
	default:
		if (fuzz_below(2))
			arg = unreadable(sizeof(cmd));
		else
			cmd.ptr_message = ptr(unreadable(sizeof(msg)));
		want = -EFAULT;
		break;
	}
	expect(do_ioctl(peers[slot], BUS1_CMD_SEND, arg), want, "SEND");
	expect(recv_any(receiver, &(struct bus1_metadata){},
			&(struct bus1_message){}), -EAGAIN,
	       "RECV after a failed SEND");
}

static void exact_recv_error(int slot)
{
	struct bus1_metadata meta;
	struct iovec vec = { room.data, room.n_data };
	struct bus1_message msg = {
		.type = BUS1_INVALID,
		.n_data = room.n_data,
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&vec),
	};
	struct bus1_cmd_recv cmd = { 0, ptr(&meta), ptr(&msg) };
	void *arg = &cmd;
	int want = -EINVAL;

	switch (fuzz_below(7)) {
	case 0:
		cmd.flags = fuzz_rand() | 1ULL << fuzz_below(64);
		break;
	case 1:
		msg.flags = fuzz_rand() | 1ULL << fuzz_below(64);
		break;
	case 2:
		msg.type = fuzz_below(3);
		break;
	case 3:
		msg.n_data_vecs = UIO_MAXIOV + 1 + fuzz_below(1ULL << 40);
		break;
	case 4:
		msg.n_data_vecs = 1 + fuzz_below(4);
		msg.ptr_data_vecs = ptr(unreadable(16 * msg.n_data_vecs));
		want = -EFAULT;
		break;
	case 5:
		cmd.ptr_message = ptr(unreadable(sizeof(msg)));
		want = -EFAULT;
		break;
	default:
		arg = unreadable(sizeof(cmd));
		want = -EFAULT;
		break;
	}
	expect(do_ioctl(peers[slot], BUS1_CMD_RECV, arg), want, "RECV");
}

static void exact_not_a_command(int slot)
{
	unsigned long cmd;

	do {
		switch (fuzz_below(4)) {
		case 0:
			cmd = fuzz_rand() & 0xffffffff;
			break;
		case 1:
			cmd = BUS1_ENGINE_IOCTL_ATTACH;
			break;
		case 2:
			cmd = _IOC(fuzz_below(4), BUS1_IOCTL_MAGIC,
				   fuzz_below(256), fuzz_below(1 << 14));
			break;
		default:
			cmd = bus1_cmds[fuzz_below(4)] ^ (1UL << fuzz_below(32));
			break;
		}
	} while (is_bus1_cmd(cmd));
	expect(do_ioctl(peers[slot], cmd, rw), -ENOTTY, "not a bus1 command");
}

/* A payload whose bytes say which message they belong to. */
static void fill_payload(unsigned char *p, size_t n, uint64_t tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(tag * 31 + i * 7);
}

/*
 * SEND from @slot through a handle whose node lives, to an empty queue,
 * then receive it exactly: EMSGSIZE with its sizes first (it stays), an
 * EFAULT on the metadata (it stays), the message itself, then EAGAIN.
 */
static void exact_send_recv(int slot)
{
	static unsigned char out[BUS1_ENGINE_DATA_REF_MIN + 1024];
	static unsigned char in[sizeof(out)];
	const struct model_handle *h = live_handle(slot);
	uint64_t dst = h->id, node = h->node_id;
	int receiver = model_slot_of(h->node_serial);
	struct bus1_transfer t[2], got[3];
	struct bus1_metadata meta;
	int32_t errors[1] = { 0x7f7f7f7f };
	struct iovec vec = { out, 0 };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_transfers = fuzz_below(3),
		.ptr_transfers = ptr(t),
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&vec),
	};
	struct bus1_cmd_send send = { 0, 1, ptr(&dst), ptr(errors), ptr(&msg) };
	struct bus1_cmd_recv recv = { 0, ptr(&meta), ptr(&msg) };
	uint64_t n_data, n_transfers = msg.n_transfers;

	n_data = fuzz_below(4) ? fuzz_below(200) :
		 BUS1_ENGINE_DATA_REF_MIN + fuzz_below(1024);
	fill_payload(out, n_data, iteration);
	vec.iov_len = n_data;
	msg.n_data = n_data;
	for (uint64_t i = 0; i < n_transfers; i++)
		t[i] = (struct bus1_transfer){ 0, live_handle(slot)->id };
	/* live_handle() may have made handles: look the destination up again */
	h = model_handle(slot, dst);
	if (!h || model_slot_of(h->node_serial) != receiver)
		fail("the model lost handle %llu", (unsigned long long)dst);
	drain(receiver);

	expect(do_ioctl(peers[slot], BUS1_CMD_SEND, &send), 0, "SEND");
	if (errors[0])
		fail("SEND succeeded with errors[0] = %d", errors[0]);

	if (n_data || n_transfers) {
		vec = (struct iovec){ in, n_data ? n_data - 1 : 0 };
		msg = (struct bus1_message){
			.type = BUS1_INVALID,
			.n_transfers = n_transfers ? n_transfers - 1 : 0,
			.ptr_transfers = ptr(got),
			.n_data = vec.iov_len,
			.n_data_vecs = 1,
			.ptr_data_vecs = ptr(&vec),
		};
		expect(do_ioctl(peers[receiver], BUS1_CMD_RECV, &recv),
		       -EMSGSIZE, "RECV into too little room");
		if (msg.n_data != n_data || msg.n_transfers != n_transfers)
			fail("EMSGSIZE reports %llu bytes and %llu handles, sent %llu and %llu",
			     (unsigned long long)msg.n_data,
			     (unsigned long long)msg.n_transfers,
			     (unsigned long long)n_data,
			     (unsigned long long)n_transfers);
	}
	vec = (struct iovec){ in, sizeof(in) };
	msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_transfers = 3,
		.ptr_transfers = ptr(got),
		.n_data = sizeof(in),
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&vec),
	};
	if (fuzz_below(4) == 0) {
		recv.ptr_metadata = ptr(unwritable(sizeof(meta)));
		expect(do_ioctl(peers[receiver], BUS1_CMD_RECV, &recv),
		       -EFAULT, "RECV with unwritable metadata");
		recv.ptr_metadata = ptr(&meta);
		msg.type = BUS1_INVALID;
		msg.n_transfers = 3;
		msg.n_data = sizeof(in);
	}
	memset(in, 0, n_data);
	expect(do_ioctl(peers[receiver], BUS1_CMD_RECV, &recv), 0,
	       "RECV of the message just sent");
	if (msg.type != BUS1_MESSAGE_TYPE_USER || meta.id != node ||
	    msg.n_data != n_data || msg.n_transfers != n_transfers ||
	    memcmp(in, out, n_data))
		fail("received type %llu on %llu, %llu bytes (%s), %llu handles; sent on %llu, %llu bytes, %llu handles",
		     (unsigned long long)msg.type,
		     (unsigned long long)meta.id,
		     (unsigned long long)msg.n_data,
		     memcmp(in, out, n_data) ? "differ" : "equal",
		     (unsigned long long)msg.n_transfers,
		     (unsigned long long)node, (unsigned long long)n_data,
		     (unsigned long long)n_transfers);
	for (uint64_t i = 0; i < n_transfers; i++)
		if (!model_fresh(receiver, got[i].id))
			fail("received handle %llu, not a new ID",
			     (unsigned long long)got[i].id);
	received(receiver, &meta, &msg, NULL);
	for (uint64_t i = 0; i < n_transfers; i++) {
		h = model_handle(slot, t[i].id);
		model_add_handle(receiver, got[i].id, h ? h->node_serial : 0,
				 h ? h->node_id : 0);
	}
	expect(recv_any(receiver, &meta, &msg), -EAGAIN,
	       "RECV after the only message");
	n_effects++;
}

/*
 * One input whose result the contract fixes. The classes that need the
 * engine several times (a RELEASE needs something to release, a message
 * an empty queue) are rarer, to keep an iteration cheap.
 */
static void exact(void)
{
	int slot = fuzz_below(N_PEERS);
	unsigned int pick = fuzz_below(20);

	errnos = exact_errnos;
	if (pick < 4)
		exact_transfer(slot);
	else if (pick < 6)
		exact_release(slot);
	else if (pick < 11)
		exact_send_error(slot);
	else if (pick < 13)
		exact_send_recv(slot);
	else if (pick < 17)
		exact_recv_error(slot);
	else
		exact_not_a_command(slot);
	errnos = random_errnos;
}

/* Random inputs. */

static void *rand_ptr(size_t size)
{
	switch (fuzz_below(8)) {
	case 0:
		return NULL;
	case 1:
		return rw + PAGE;			/* PROT_NONE */
	case 2:
		return ro;
	case 3:
		return rw + PAGE - (size ? 1 + fuzz_below(size) : 0);
	case 4:
		return (void *)(uintptr_t)fuzz_rand();
	default:
		return rw + 8 * fuzz_below((PAGE - (size < PAGE ? size : PAGE)) / 8 + 1);
	}
}

static uint64_t rand_count(void)
{
	switch (fuzz_below(6)) {
	case 0:
		return fuzz_rand();
	case 1:
		return 1ULL << fuzz_below(64);
	case 2:
		return 0;
	default:
		return fuzz_below(8);
	}
}

static uint64_t rand_id(int slot)
{
	switch (fuzz_below(4)) {
	case 0:
		return fuzz_rand();
	case 1:
		return model_pick_unknown(slot);
	default:
		return model_pick_known(slot) ?: BUS1_INVALID;
	}
}

static uint64_t rand_fd(void)
{
	switch (fuzz_below(5)) {
	case 0:
		return BUS1_INVALID;
	case 1:
		return fuzz_rand();
	case 2:
		return fuzz_below(8);		/* stdio, devnull, peers */
	default:
		return peers[fuzz_below(N_PEERS)];
	}
}

/* Fill the read-write page with plausible records pointing around. */
static void scribble(int slot)
{
	uint64_t *w = (uint64_t *)rw;

	for (size_t i = 0; i < PAGE / 8; i++) {
		switch (fuzz_below(6)) {
		case 0:
			w[i] = (uintptr_t)rand_ptr(64);
			break;
		case 1:
			w[i] = rand_count();
			break;
		case 2:
			w[i] = rand_id(slot);
			break;
		case 3:
			w[i] = BUS1_TRANSFER_FLAG_CREATE;
			break;
		default:
			w[i] = fuzz_below(2) ? 0 : fuzz_rand();
			break;
		}
	}
}

static unsigned long rand_cmd(void)
{
	switch (fuzz_below(8)) {
	case 0:
		return fuzz_rand() & 0xffffffff;
	case 1:
		return _IOC(fuzz_below(4), BUS1_IOCTL_MAGIC, fuzz_below(256),
			    fuzz_below(1 << 14));
	case 2:
		return bus1_cmds[fuzz_below(4)] ^ (1UL << fuzz_below(32));
	default:
		return bus1_cmds[fuzz_below(4)];
	}
}

/* A structured command argument in rw, with random fields. */
static void *rand_arg(unsigned long cmd)
{
	uint64_t *a = (uint64_t *)(rw + PAGE - 64);

	if (fuzz_below(5) == 0)
		return rand_ptr(40);
	switch (cmd) {
	case BUS1_CMD_TRANSFER:
		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = rand_fd();
		a[2] = rand_count();
		a[3] = (uintptr_t)rand_ptr(a[2] * 16);
		a[4] = (uintptr_t)rand_ptr(a[2] * 16);
		break;
	case BUS1_CMD_RELEASE:
		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = rand_count();
		a[2] = (uintptr_t)rand_ptr(a[1] * 8);
		break;
	case BUS1_CMD_SEND: {
		uint64_t *m = (uint64_t *)rw;	/* struct bus1_message */

		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = rand_count();
		a[2] = (uintptr_t)rand_ptr(a[1] * 8);
		a[3] = (uintptr_t)rand_ptr(a[1] * 4);
		a[4] = fuzz_below(4) ? (uintptr_t)m : (uintptr_t)rand_ptr(56);
		m[0] = fuzz_below(4) ? 0 : fuzz_rand();
		m[1] = fuzz_below(4) ? 0 : fuzz_rand();
		m[2] = rand_count();
		m[3] = (uintptr_t)rand_ptr(m[2] * 16);
		m[4] = rand_count();
		m[5] = rand_count();
		m[6] = (uintptr_t)rand_ptr(m[5] * 16);
		break;
	}
	case BUS1_CMD_RECV: {
		uint64_t *m = (uint64_t *)rw;

		a[0] = fuzz_below(4) ? 0 : fuzz_rand();
		a[1] = (uintptr_t)rand_ptr(24);
		a[2] = fuzz_below(4) ? (uintptr_t)m : (uintptr_t)rand_ptr(56);
		m[0] = 0;
		m[1] = fuzz_below(2) ? BUS1_INVALID : fuzz_below(4);
		m[2] = rand_count();
		m[3] = (uintptr_t)rand_ptr(m[2] * 16);
		m[4] = rand_count();
		m[5] = rand_count();
		m[6] = (uintptr_t)rand_ptr(m[5] * 16);
		break;
	}
	default:
		break;
	}
	return a;
}

/* The errnos bus1(7) and the project document for each command. */
static bool random_errno_ok(unsigned long cmd, int err)
{
	switch (err) {
	case EFAULT:
	case EINVAL:
	case ENOMEM:
		return true;
	case EBADRQC:
		return cmd != BUS1_CMD_RECV;
	case EDQUOT:
		return cmd == BUS1_CMD_TRANSFER || cmd == BUS1_CMD_SEND;
	case EBADF:
	case EOPNOTSUPP:
		return cmd == BUS1_CMD_TRANSFER;
	case EMSGSIZE:
		return cmd == BUS1_CMD_SEND || cmd == BUS1_CMD_RECV;
	case EAGAIN:
		return cmd == BUS1_CMD_RECV;
	}
	return false;
}

/*
 * What a random call gave the kernel, copied before the call: the command
 * and its ID arrays may lie where the kernel writes results.
 */
struct random_call {
	bool have_cmd, have_ids;
	union {
		struct bus1_cmd_transfer transfer;
		struct bus1_cmd_release release;
		struct bus1_cmd_send send;
		struct bus1_cmd_recv recv;
	} cmd;
	union {
		struct bus1_transfer src[PAGE / 16];
		uint64_t ids[PAGE / 8];
	} in;
};

static void random_snapshot(unsigned long cmd, const void *arg,
			    struct random_call *c)
{
	size_t size = cmd == BUS1_CMD_RELEASE || cmd == BUS1_CMD_RECV ? 24 : 40;

	c->have_cmd = in_pages(ptr(arg), size);
	c->have_ids = false;
	if (!c->have_cmd)
		return;
	memcpy(&c->cmd, arg, size);
	if (cmd == BUS1_CMD_TRANSFER && c->cmd.transfer.n_transfers <= PAGE / 16 &&
	    in_pages(c->cmd.transfer.ptr_src, 16 * c->cmd.transfer.n_transfers)) {
		memcpy(c->in.src, (void *)(uintptr_t)c->cmd.transfer.ptr_src,
		       16 * c->cmd.transfer.n_transfers);
		c->have_ids = true;
	}
	if (cmd == BUS1_CMD_RELEASE && c->cmd.release.n_ids <= PAGE / 8 &&
	    in_pages(c->cmd.release.ptr_ids, 8 * c->cmd.release.n_ids)) {
		memcpy(c->in.ids, (void *)(uintptr_t)c->cmd.release.ptr_ids,
		       8 * c->cmd.release.n_ids);
		c->have_ids = true;
	}
}

static void random_transfer_done(int slot, const struct random_call *c)
{
	const struct bus1_cmd_transfer *t = &c->cmd.transfer;
	uint64_t n = t->n_transfers;
	int to = t->to == BUS1_INVALID ? slot : slot_of_fd(t->to);
	bool src_ok;

	if (to < 0)
		fail("TRANSFER to fd %llu, not a peer, succeeded",
		     (unsigned long long)t->to);
	if (!n)
		return;
	/* The results were written where the kernel was told, src first. */
	src_ok = !overlap(t->ptr_src, 16 * n, t->ptr_dst, 16 * n);
	transfer_done(slot, to, c->in.src,
		      src_ok ? (void *)(uintptr_t)t->ptr_src : NULL,
		      (void *)(uintptr_t)t->ptr_dst, n);
}

/*
 * A random RECV succeeded. Its item is read back unless the metadata and
 * the message overlap; if it cannot be, the model may hold an ID the item
 * retired, so the peer starts afresh.
 */
static void random_recv_done(int slot, const struct random_call *c)
{
	const struct bus1_cmd_recv *r = &c->cmd.recv;

	if (!c->have_cmd || !in_pages(r->ptr_metadata, 24) ||
	    !in_pages(r->ptr_message, 56) ||
	    overlap(r->ptr_metadata, 24, r->ptr_message + 8, 32)) {
		reopen(slot);
		return;
	}
	received(slot, (void *)(uintptr_t)r->ptr_metadata,
		 (void *)(uintptr_t)r->ptr_message, NULL);
}

/* A random call succeeded: check what can be read back, and learn it. */
static void random_done(int slot, unsigned long cmd,
			const struct random_call *c)
{
	const int32_t *errors;
	uint64_t n;

	switch (cmd) {
	case BUS1_CMD_TRANSFER:
		if (c->have_cmd && c->have_ids &&
		    in_pages(c->cmd.transfer.ptr_dst,
			     16 * c->cmd.transfer.n_transfers))
			random_transfer_done(slot, c);
		break;
	case BUS1_CMD_RELEASE:
		if (c->have_cmd && (c->have_ids || !c->cmd.release.n_ids))
			release_done(slot, c->in.ids, c->cmd.release.n_ids);
		else
			reopen(slot);	/* unknown what went */
		break;
	case BUS1_CMD_SEND:
		n = c->have_cmd ? c->cmd.send.n_destinations : 0;
		if (!n || n > PAGE / 4 || !in_pages(c->cmd.send.ptr_errors, 4 * n))
			break;
		errors = (const int32_t *)(uintptr_t)c->cmd.send.ptr_errors;
		for (uint64_t i = 0; i < n; i++)
			if (errors[i])
				fail("SEND succeeded with errors[%llu] = %d",
				     (unsigned long long)i, errors[i]);
		break;
	case BUS1_CMD_RECV:
		random_recv_done(slot, c);
		break;
	}
}

/* One random input, checked against the documented errnos. */
static void random_call(void)
{
	static struct random_call c;
	unsigned long cmd = rand_cmd();
	int slot = fuzz_below(N_PEERS), r;
	void *arg;

	scribble(slot);
	arg = rand_arg(cmd);
	if (is_bus1_cmd(cmd))
		random_snapshot(cmd, arg, &c);
	r = do_ioctl(peers[slot], cmd, arg);
	if (!is_bus1_cmd(cmd))
		expect(r, -ENOTTY, "not a bus1 command");
	else if (r < 0 && !random_errno_ok(cmd, -r))
		fail("command 0x%lx: %s, which it does not document", cmd,
		     errname(r));
	else if (!r)
		random_done(slot, cmd, &c);
}

/* Mark or unmark this task for the kernel's fault injection. */
static void make_it_fail(bool on)
{
	if (write(mark_fd, on ? "1" : "0", 1) != 1)
		fail("make-it-fail: %m");
}

static uint64_t read_param(const char *name, uint64_t fallback)
{
	char path[128];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/bus1/parameters/%s", name);
	f = fopen(path, "r");
	if (!f)
		return fallback;
	if (fscanf(f, "%llu", &v) != 1)
		v = fallback;
	fclose(f);
	return v;
}

static void setup(void)
{
	rw = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rw == MAP_FAILED || ro == MAP_FAILED)
		fail("mmap: %m");
	memset(ro, 0x11, PAGE);
	if (mprotect(rw + PAGE, PAGE, PROT_NONE) || mprotect(ro, PAGE, PROT_READ))
		fail("mprotect: %m");
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		fail("open /dev/null: %m");
	uid = geteuid();
	max_items = read_param("max_items", max_items);
	max_data = read_param("max_data", max_data);
	room_grow(64 << 10, 64);
	for (int i = 0; i < N_PEERS; i++)
		peers[i] = -1;
	for (int i = 0; i < N_PEERS; i++)
		reopen(i);
}

int main(int argc, char **argv)
{
	struct fuzz_opts opts;
	int r;

	r = fuzz_parse(argc, argv, "fuzz-ioctl", &opts, 20000);
	if (r)
		return r > 0 ? 0 : 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, watchdog);
	setup();

	if (getenv("FUZZ_MAKE_IT_FAIL")) {
		/* opened now: an open while marked may itself fail */
		mark_fd = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
		if (mark_fd < 0)
			fail("open /proc/self/make-it-fail: %m");
		make_it_fail(true);
	}
	for (iteration = 0; iteration < opts.iterations; iteration++) {
		if (iteration % 256 == 0)
			alarm(WATCHDOG_S);
		if (mark_fd < 0 && fuzz_below(5) < 2)
			exact();
		else
			random_call();
		if (fuzz_below(500) == 0)
			reopen(fuzz_below(N_PEERS));
		if (opts.iterations >= 100000 && iteration &&
		    iteration % (opts.iterations / 10) == 0)
			printf("fuzz-ioctl: %llu iterations\n",
			       (unsigned long long)iteration);
	}
	if (mark_fd >= 0) {
		make_it_fail(false);
		close(mark_fd);
		mark_fd = -1;
	}
	for (int i = 0; i < N_PEERS; i++)
		drain(i);
	alarm(0);

	for (int i = 0; i < N_PEERS; i++)
		close(peers[i]);
	r = fuzz_round_trip();
	if (r)
		fail("round trip after fuzzing: %s", errname(r));
	printf("fuzz-ioctl: seed %llu, %llu iterations, %llu successes checked for their effect, %llu items received and checked, %llu peers reopened\n",
	       (unsigned long long)opts.seed,
	       (unsigned long long)opts.iterations,
	       (unsigned long long)n_effects, (unsigned long long)n_items,
	       (unsigned long long)n_reopened);
	fuzz_print_errnos("fuzz-ioctl: exact results", exact_errnos);
	fuzz_print_errnos("fuzz-ioctl: random results", random_errnos);
	printf("fuzz-ioctl: PASS\n");
	return 0;
}
