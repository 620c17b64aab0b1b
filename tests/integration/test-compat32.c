/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * A 32-bit application on /dev/bus1: built with gcc -m32 and run in the VM
 * (Debian's kernel has CONFIG_IA32_EMULATION), so every ioctl takes the
 * module's compat path (.compat_ioctl = compat_ptr_ioctl). The uapi
 * structures hold only __u64 fields, so their layout does not depend on
 * i386 aligning __u64 to 4 bytes; the header's static asserts compile here
 * too. What differs is everything the module reads through a pointer:
 * iovecs are the 8-byte compat struct iovec, and a pointer field is a
 * __u64 whose upper half a 32-bit caller may set by mistake, which must
 * fail with EFAULT rather than be truncated.
 *
 * cmocka exists here only for 64 bits (a 32-bit one would need multiarch),
 * so this is a plain program that prints TAP: "1..N", then "ok N - name"
 * or "not ok N - name" with "#" lines saying why; it exits nonzero if any
 * check failed. The checks build on each other and run in order.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/bus1.h>

#define BIG (64 * 1024) /* at or above BUS1_ENGINE_DATA_REF_MIN (32 KiB) */

#define CHECK(_cond)							\
	do {								\
		if (!(_cond)) {						\
			printf("#   %s:%d: %s\n", __FILE__, __LINE__,	\
			       #_cond);					\
			return false;					\
		}							\
	} while (0)

/* An ioctl's errno, 0 on success (which must be exactly 0). */
#define CHECK_IOCTL(_fd, _req, _arg, _errno)				\
	do {								\
		int _r = ioctl_errno((_fd), (_req), (_arg));		\
		if (_r != (_errno)) {					\
			printf("#   %s:%d: %s: got %s, want %s\n",	\
			       __FILE__, __LINE__, #_req,		\
			       _r ? strerrorname_np(_r) : "success",	\
			       (_errno) ? strerrorname_np(_errno) :	\
					  "success");			\
			return false;					\
		}							\
	} while (0)

/* What the checks share: two peers, a's nodes, b's handles to them. */
static struct {
	int a, b;
	uint64_t node[2];	/* of a */
	uint64_t to_node[2];	/* b's handles to them */
	uint64_t a_handles[3];	/* a's handles to its own nodes */
	unsigned int n_a_handles;
	uint64_t a_last;	/* the largest ID a got */
	void *bad;		/* a page mapped PROT_NONE */
	unsigned char big[BIG], rbig[BIG];
} fx = { .a = -1, .b = -1 };

static int ioctl_errno(int fd, unsigned long req, void *arg)
{
	int r = ioctl(fd, req, arg);

	if (r < 0)
		return errno;
	return r == 0 ? 0 : EPROTO;
}

static uint64_t ptr(const void *p)
{
	return BUS1_FROM_PTR(p);
}

static bool managed(uint64_t id)
{
	return id != BUS1_INVALID && (id & BUS1_MANAGED);
}

/* Record @id as a's; IDs only grow. */
static bool a_got(uint64_t id)
{
	CHECK(managed(id) && id > fx.a_last);
	fx.a_last = id;
	return true;
}

/* Record @id as a's handle to one of its own nodes. */
static bool a_got_handle(uint64_t id)
{
	CHECK(a_got(id));
	CHECK(fx.n_a_handles < 3);
	fx.a_handles[fx.n_a_handles++] = id;
	return true;
}

static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 5000) == 1 && (pfd.revents & POLLIN);
}

/* A RECV on @fd into @vecs, @n_transfers slots; returns its errno. */
static int recv_into(int fd, struct bus1_metadata *meta,
		     struct bus1_message *msg, const struct iovec *vecs,
		     size_t n_vecs, uint64_t n_data,
		     struct bus1_transfer *transfers, uint64_t n_transfers)
{
	struct bus1_cmd_recv cmd = { 0, ptr(meta), ptr(msg) };

	*meta = (struct bus1_metadata){ 7, 7, 7 };
	*msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_transfers = n_transfers,
		.ptr_transfers = ptr(transfers),
		.n_data = n_data,
		.n_data_vecs = n_vecs,
		.ptr_data_vecs = ptr(vecs),
	};
	return ioctl_errno(fd, BUS1_CMD_RECV, &cmd);
}

static bool expect_empty(int fd)
{
	struct bus1_metadata meta;
	struct bus1_message msg;

	CHECK(recv_into(fd, &meta, &msg, NULL, 0, 0, NULL, 0) == EAGAIN);
	return true;
}

/* A 32-bit process, in the i386 ABI, and the uapi layouts unchanged. */
static bool abi(void)
{
	struct u64_after_u32 {
		uint32_t a;
		uint64_t b;
	};
	struct utsname u;

	CHECK(sizeof(void *) == 4 && sizeof(long) == 4);
	CHECK(offsetof(struct u64_after_u32, b) == 4);
	CHECK(sizeof(struct iovec) == 8);
	CHECK(sizeof(struct bus1_transfer) == 16);
	CHECK(sizeof(struct bus1_metadata) == 24);
	CHECK(sizeof(struct bus1_message) == 56);
	CHECK(sizeof(struct bus1_cmd_transfer) == 40);
	CHECK(sizeof(struct bus1_cmd_release) == 24);
	CHECK(sizeof(struct bus1_cmd_send) == 40);
	CHECK(sizeof(struct bus1_cmd_recv) == 24);
	CHECK(alignof(struct bus1_message) == 8);
	CHECK(BUS1_CMD_SEND == 0xc0289702);
	CHECK(uname(&u) == 0);
	printf("# a 32-bit process on a %s kernel %s\n", u.machine, u.release);
	return true;
}

static bool peer_open(void)
{
	struct pollfd pfd[2];

	fx.a = open("/dev/bus1", O_RDWR | O_CLOEXEC);
	fx.b = open("/dev/bus1", O_RDWR | O_CLOEXEC);
	CHECK(fx.a >= 0 && fx.b >= 0);
	pfd[0] = (struct pollfd){ .fd = fx.a, .events = POLLIN | POLLOUT };
	pfd[1] = (struct pollfd){ .fd = fx.b, .events = POLLIN | POLLOUT };
	CHECK(poll(pfd, 2, 0) == 2);
	CHECK(pfd[0].revents == POLLOUT && pfd[1].revents == POLLOUT);
	return true;
}

/* Two nodes in a, their first handles in b, in one TRANSFER. */
static bool transfer_create(void)
{
	struct bus1_transfer src[2], dst[2];
	struct bus1_cmd_transfer cmd = {
		0, (uint64_t)fx.b, 2, ptr(src), ptr(dst)
	};
	int i;

	for (i = 0; i < 2; ++i) {
		src[i] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
		dst[i] = (struct bus1_transfer){ 7, 7 };
	}
	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, &cmd, 0);
	for (i = 0; i < 2; ++i) {
		CHECK(src[i].flags == 0 && a_got(src[i].id));
		CHECK(dst[i].flags == 0 && managed(dst[i].id));
		fx.node[i] = src[i].id;
		fx.to_node[i] = dst[i].id;
	}
	CHECK(fx.node[0] != fx.node[1] && fx.to_node[0] != fx.to_node[1]);
	return true;
}

/* b gives a a copy of its handle to node[0]: a new, distinct handle. */
static bool transfer_copy(void)
{
	struct bus1_transfer src = { 0, fx.to_node[0] }, dst = { 7, 7 };
	struct bus1_cmd_transfer cmd = {
		0, (uint64_t)fx.a, 1, ptr(&src), ptr(&dst)
	};

	CHECK_IOCTL(fx.b, BUS1_CMD_TRANSFER, &cmd, 0);
	CHECK(src.flags == 0 && src.id == fx.to_node[0]);
	CHECK(dst.flags == 0 && a_got_handle(dst.id));
	return true;
}

/*
 * b sends to node[0] through two compat iovecs, only the first n_data
 * bytes of which are the message, with a copy of its handle to node[1].
 */
static bool send_data_handle(void)
{
	struct iovec vecs[2] = {
		{ "hello ", 6 }, { "compat world, and trailing bytes", 32 },
	};
	struct bus1_transfer tx = { 0, fx.to_node[1] };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_transfers = 1,
		.ptr_transfers = ptr(&tx),
		.n_data = 18,
		.n_data_vecs = 2,
		.ptr_data_vecs = ptr(vecs),
	};
	int32_t errors[1] = { 0x5a5a };
	struct bus1_cmd_send cmd = {
		0, 1, ptr(&fx.to_node[0]), ptr(errors), ptr(&msg)
	};

	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &cmd, 0);
	CHECK(errors[0] == 0);
	return true;
}

/*
 * a receives it into two compat iovecs split inside the payload: the
 * metadata, the bytes across the split, and a new handle to node[1] in a.
 */
static bool recv_data_handle(void)
{
	unsigned char head[4], tail[64];
	struct iovec vecs[2] = { { head, sizeof(head) }, { tail, sizeof(tail) } };
	struct bus1_transfer tx[2] = { { 7, 7 }, { 7, 7 } };
	struct bus1_metadata meta;
	struct bus1_message msg;

	CHECK(readable(fx.a));
	CHECK(recv_into(fx.a, &meta, &msg, vecs, 2, sizeof(head) + sizeof(tail),
			tx, 2) == 0);
	CHECK(msg.type == BUS1_MESSAGE_TYPE_USER && msg.flags == 0);
	CHECK(meta.flags == 0 && meta.id == fx.node[0]);
	CHECK(meta.account == geteuid());
	CHECK(msg.n_data == 18 && msg.n_transfers == 1);
	CHECK(msg.n_data_vecs == 2 && msg.ptr_data_vecs == ptr(vecs));
	CHECK(!memcmp(head, "hell", 4) && !memcmp(tail, "o compat wor", 12));
	CHECK(tx[0].flags == 0 && a_got_handle(tx[0].id));
	CHECK(expect_empty(fx.a));
	return true;
}

/*
 * Too small a buffer: EMSGSIZE with the needed sizes written back, and the
 * item stays for a RECV that fits.
 */
static bool recv_too_small(void)
{
	struct iovec vecs[1] = { { fx.rbig, 100 } };
	struct iovec send_vec = { fx.big, 100 };
	struct bus1_transfer tx = { 0, fx.to_node[1] };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_transfers = 1,
		.ptr_transfers = ptr(&tx),
		.n_data = 100,
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&send_vec),
	};
	int32_t errors[1];
	struct bus1_cmd_send cmd = {
		0, 1, ptr(&fx.to_node[1]), ptr(errors), ptr(&msg)
	};
	struct bus1_transfer rtx[1];
	struct bus1_metadata meta;
	struct bus1_message rmsg;

	memset(fx.big, 0x3c, 100);
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &cmd, 0);
	CHECK(readable(fx.a));
	CHECK(recv_into(fx.a, &meta, &rmsg, vecs, 1, 10, rtx, 1) == EMSGSIZE);
	CHECK(rmsg.n_data == 100 && rmsg.n_transfers == 1);
	CHECK(recv_into(fx.a, &meta, &rmsg, vecs, 1, 100, rtx, 0) == EMSGSIZE);
	CHECK(rmsg.n_data == 100 && rmsg.n_transfers == 1);
	CHECK(recv_into(fx.a, &meta, &rmsg, vecs, 1, 100, rtx, 1) == 0);
	CHECK(meta.id == fx.node[1] && rmsg.n_data == 100);
	CHECK(fx.rbig[0] == 0x3c && fx.rbig[99] == 0x3c);
	CHECK(a_got_handle(rtx[0].id));
	CHECK(expect_empty(fx.a));
	return true;
}

/*
 * A payload of 64 KiB takes the module's data-reference path: gathered
 * from three compat iovecs, scattered into three others.
 */
static bool big_payload(void)
{
	struct iovec svec[3] = {
		{ fx.big, 1000 }, { fx.big + 1000, 40000 },
		{ fx.big + 41000, BIG - 41000 },
	};
	struct iovec rvec[3] = {
		{ fx.rbig, 7 }, { fx.rbig + 7, BIG - 100 },
		{ fx.rbig + BIG - 93, 93 },
	};
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = BIG,
		.n_data_vecs = 3,
		.ptr_data_vecs = ptr(svec),
	};
	int32_t errors[1];
	struct bus1_cmd_send cmd = {
		0, 1, ptr(&fx.to_node[0]), ptr(errors), ptr(&msg)
	};
	struct bus1_metadata meta;
	struct bus1_message rmsg;
	size_t i;

	for (i = 0; i < BIG; ++i)
		fx.big[i] = (unsigned char)(i * 7 + i / 251);
	memset(fx.rbig, 0, BIG);
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &cmd, 0);
	CHECK(readable(fx.a));
	CHECK(recv_into(fx.a, &meta, &rmsg, rvec, 3, BIG, NULL, 0) == 0);
	CHECK(meta.id == fx.node[0] && rmsg.n_data == BIG);
	CHECK(!memcmp(fx.big, fx.rbig, BIG));
	CHECK(expect_empty(fx.a));
	return true;
}

/*
 * Bad pointers fail with EFAULT and change nothing, including a pointer
 * field with its upper 32 bits set, which a module that truncated it
 * would take for the valid address below.
 */
static bool errors_efault(void)
{
	uint64_t high = 1ULL << 32;
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;
	struct bus1_cmd_transfer tcmd = {
		0, BUS1_INVALID, 1, ptr(&src) | high, ptr(&dst)
	};
	struct iovec vec = { fx.bad, 8 };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = 8,
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&vec) | high,
	};
	int32_t errors[1];
	struct bus1_cmd_send scmd = {
		0, 1, ptr(&fx.to_node[0]), ptr(errors), ptr(&msg)
	};
	struct bus1_cmd_release rcmd = { 0, 1, ptr(fx.bad) };

	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, NULL, EFAULT);
	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, fx.bad, EFAULT);
	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, &tcmd, EFAULT);
	tcmd.ptr_src = ptr(&src);
	tcmd.ptr_dst = ptr(&dst) | high;
	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, &tcmd, EFAULT);
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &scmd, EFAULT);
	msg.ptr_data_vecs = ptr(&vec);
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &scmd, EFAULT);
	scmd.ptr_message = ptr(&msg) | high;
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &scmd, EFAULT);
	CHECK_IOCTL(fx.a, BUS1_CMD_RELEASE, &rcmd, EFAULT);
	CHECK(expect_empty(fx.a) && expect_empty(fx.b));
	return true;
}

/* An item that a RECV fails to copy out (EFAULT) stays queued. */
static bool recv_efault_keeps_item(void)
{
	struct iovec send_vec = { "kept", 4 }, bad_vec = { fx.bad, 4 };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = 4,
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&send_vec),
	};
	int32_t errors[1];
	struct bus1_cmd_send cmd = {
		0, 1, ptr(&fx.to_node[0]), ptr(errors), ptr(&msg)
	};
	unsigned char buf[4];
	struct iovec vec = { buf, sizeof(buf) };
	struct bus1_cmd_recv rcmd = { 0, ptr(fx.bad), 0 };
	struct bus1_metadata meta;
	struct bus1_message rmsg;

	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &cmd, 0);
	CHECK(readable(fx.a));
	CHECK(recv_into(fx.a, &meta, &rmsg, &bad_vec, 1, 4, NULL, 0) == EFAULT);
	rmsg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_data = 4,
		.n_data_vecs = 1,
		.ptr_data_vecs = ptr(&vec),
	};
	rcmd.ptr_message = ptr(&rmsg);
	CHECK_IOCTL(fx.a, BUS1_CMD_RECV, &rcmd, EFAULT);
	CHECK(recv_into(fx.a, &meta, &rmsg, &vec, 1, 4, NULL, 0) == 0);
	CHECK(meta.id == fx.node[0] && !memcmp(buf, "kept", 4));
	CHECK(expect_empty(fx.a));
	return true;
}

/* Flags, message types and counts the contract refuses: EINVAL. */
static bool errors_einval(void)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst;
	struct bus1_cmd_transfer tcmd = {
		1, BUS1_INVALID, 1, ptr(&src), ptr(&dst)
	};
	struct bus1_cmd_release rcmd = { 1, 1, ptr(&fx.node[0]) };
	struct bus1_message msg = { .type = BUS1_MESSAGE_TYPE_USER };
	int32_t errors[1];
	struct bus1_cmd_send scmd = {
		1, 1, ptr(&fx.to_node[0]), ptr(errors), ptr(&msg)
	};
	struct bus1_metadata meta;
	struct bus1_message rmsg = { .type = BUS1_INVALID };
	struct bus1_cmd_recv vcmd = { 1, ptr(&meta), ptr(&rmsg) };

	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, &tcmd, EINVAL);
	tcmd.flags = 0;
	src.id = fx.a_handles[0];
	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, &tcmd, EINVAL);
	CHECK_IOCTL(fx.a, BUS1_CMD_RELEASE, &rcmd, EINVAL);
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &scmd, EINVAL);
	scmd.flags = 0;
	msg.type = BUS1_MESSAGE_TYPE_NODE_RELEASE;
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &scmd, EINVAL);
	CHECK_IOCTL(fx.a, BUS1_CMD_RECV, &vcmd, EINVAL);
	vcmd.flags = 0;
	rmsg.type = BUS1_MESSAGE_TYPE_USER;
	CHECK_IOCTL(fx.a, BUS1_CMD_RECV, &vcmd, EINVAL);
	CHECK(expect_empty(fx.a) && expect_empty(fx.b));
	return true;
}

/* IDs the peer does not hold: EBADRQC; no command: ENOTTY. */
static bool errors_other(void)
{
	uint64_t unknown = fx.node[1] + 1000;
	struct bus1_cmd_release rcmd = { 0, 1, ptr(&unknown) };
	struct bus1_message msg = { .type = BUS1_MESSAGE_TYPE_USER };
	int32_t errors[1];
	struct bus1_cmd_send scmd = {
		0, 1, ptr(&unknown), ptr(errors), ptr(&msg)
	};
	int dummy = 0;

	CHECK_IOCTL(fx.a, BUS1_CMD_RELEASE, &rcmd, EBADRQC);
	CHECK_IOCTL(fx.b, BUS1_CMD_SEND, &scmd, EBADRQC);
	CHECK_IOCTL(fx.a, _IOWR(BUS1_IOCTL_MAGIC, 0x7f, int), &dummy, ENOTTY);
	return true;
}

/*
 * None of the failed calls consumed an ID of a: its next create gets the
 * next two, and releasing both at once leaves no notification.
 */
static bool no_id_consumed(void)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst = { 7, 7 };
	struct bus1_cmd_transfer cmd = {
		0, BUS1_INVALID, 1, ptr(&src), ptr(&dst)
	};
	uint64_t ids[2];
	struct bus1_cmd_release rcmd = { 0, 2, ptr(ids) };

	CHECK_IOCTL(fx.a, BUS1_CMD_TRANSFER, &cmd, 0);
	ids[0] = src.id;
	ids[1] = dst.id;
	CHECK((src.id < dst.id ? src.id : dst.id) == fx.a_last + 2);
	CHECK((src.id < dst.id ? dst.id : src.id) == fx.a_last + 4);
	CHECK_IOCTL(fx.a, BUS1_CMD_RELEASE, &rcmd, 0);
	CHECK(expect_empty(fx.a));
	return true;
}

/*
 * One RELEASE of both nodes: b's two handles and a's three handles to them
 * (the copy, and the two that messages carried) hear NODE_RELEASE, once
 * each, in any order (one transaction).
 */
static bool expect_releases(int fd, const uint64_t *ids, unsigned int n)
{
	bool seen[3] = { false };
	struct bus1_metadata meta;
	struct bus1_message msg;
	unsigned int i, j;

	for (i = 0; i < n; ++i) {
		CHECK(readable(fd));
		CHECK(recv_into(fd, &meta, &msg, NULL, 0, 0, NULL, 0) == 0);
		CHECK(msg.type == BUS1_MESSAGE_TYPE_NODE_RELEASE);
		CHECK(meta.flags == 0 && meta.account == BUS1_INVALID);
		CHECK(msg.n_data == 0 && msg.n_transfers == 0);
		for (j = 0; j < n && (seen[j] || ids[j] != meta.id); ++j)
			;
		CHECK(j < n);
		seen[j] = true;
	}
	CHECK(expect_empty(fd));
	return true;
}

static bool release(void)
{
	uint64_t ids[2] = { fx.node[0], fx.node[1] };
	struct bus1_cmd_release cmd = { 0, 2, ptr(ids) };

	CHECK_IOCTL(fx.a, BUS1_CMD_RELEASE, &cmd, 0);
	CHECK_IOCTL(fx.a, BUS1_CMD_RELEASE, &cmd, EBADRQC);
	CHECK(expect_releases(fx.b, fx.to_node, 2));
	CHECK(fx.n_a_handles == 3);
	CHECK(expect_releases(fx.a, fx.a_handles, 3));
	return true;
}

static bool peer_close(void)
{
	CHECK(close(fx.a) == 0 && close(fx.b) == 0);
	return true;
}

int main(void)
{
	static const struct {
		const char *name;
		bool (*run)(void);
	} checks[] = {
		{ "i386 ABI, uapi layouts unchanged", abi },
		{ "open two peers", peer_open },
		{ "TRANSFER creates two nodes for another peer", transfer_create },
		{ "TRANSFER copies a handle", transfer_copy },
		{ "SEND data from two iovecs with a handle", send_data_handle },
		{ "RECV metadata, data into two iovecs, the handle", recv_data_handle },
		{ "RECV too small: EMSGSIZE, sizes written back", recv_too_small },
		{ "64 KiB payload through three iovecs each way", big_payload },
		{ "bad and 64-bit pointers: EFAULT", errors_efault },
		{ "RECV EFAULT keeps the item", recv_efault_keeps_item },
		{ "flags and types: EINVAL", errors_einval },
		{ "unknown IDs: EBADRQC, unknown ioctl: ENOTTY", errors_other },
		{ "no ID consumed by the failed calls", no_id_consumed },
		{ "RELEASE of two nodes, notifications", release },
		{ "close both peers", peer_close },
	};
	size_t i, n = sizeof(checks) / sizeof(*checks);
	unsigned int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fx.bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("1..%zu\n", n);
	for (i = 0; i < n; ++i) {
		bool ok = fx.bad != MAP_FAILED && checks[i].run();

		printf("%s %zu - %s\n", ok ? "ok" : "not ok", i + 1,
		       checks[i].name);
		failed += !ok;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
