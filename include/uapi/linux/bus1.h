/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bus1: capability-based IPC, application ABI
 *
 * This is the ABI of the bus1 RFC, byte for byte: the same ioctl numbers,
 * structure sizes and field offsets. The RFC spelled the message type enum
 * with the C23 fixed underlying type "enum bus1_message_type: __u64", which
 * neither gcc 12 nor the kernel's C dialect accept; the values are kept as
 * plain enumerators, and every field that carries one is a __u64.
 *
 * The contract is bus1(7). Every ioctl returns 0 on success, or -1 with
 * errno set; see bus1(7) and the project's semantics for the error codes.
 */
#ifndef _UAPI_LINUX_BUS1_H
#define _UAPI_LINUX_BUS1_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BUS1_IOCTL_MAGIC			(0x97)
#define BUS1_INVALID				((__u64)-1)
#define BUS1_MANAGED				((__u64)0x1)

#define BUS1_FROM_PTR(_v) ((__u64)(unsigned long)(_v))
#define BUS1_TO_PTR(_v) ((void *)(unsigned long)(_v))

#define BUS1_TRANSFER_FLAG_CREATE		(((__u64)1) << 0)

struct bus1_transfer {
	__u64 flags;
	__u64 id;
} __attribute__((__aligned__(8)));

struct bus1_metadata {
	__u64 flags;
	__u64 id;
	__u64 account;
} __attribute__((__aligned__(8)));

/* Values of bus1_message.type, a __u64 field. */
enum bus1_message_type {
	BUS1_MESSAGE_TYPE_USER			= 0,
	BUS1_MESSAGE_TYPE_NODE_RELEASE		= 1,
	BUS1_MESSAGE_TYPE_HANDLE_RELEASE	= 2,
	_BUS1_MESSAGE_TYPE_N,
};

struct bus1_message {
	__u64 flags;
	__u64 type;
	__u64 n_transfers;
	__u64 ptr_transfers;
	__u64 n_data;
	__u64 n_data_vecs;
	__u64 ptr_data_vecs;
} __attribute__((__aligned__(8)));

struct bus1_cmd_transfer {
	__u64 flags;
	__u64 to;
	__u64 n_transfers;
	__u64 ptr_src;
	__u64 ptr_dst;
} __attribute__((__aligned__(8)));

struct bus1_cmd_release {
	__u64 flags;
	__u64 n_ids;
	__u64 ptr_ids;
} __attribute__((__aligned__(8)));

struct bus1_cmd_send {
	__u64 flags;
	__u64 n_destinations;
	__u64 ptr_destinations;
	__u64 ptr_errors;
	__u64 ptr_message;
} __attribute__((__aligned__(8)));

struct bus1_cmd_recv {
	__u64 flags;
	__u64 ptr_metadata;
	__u64 ptr_message;
} __attribute__((__aligned__(8)));

#define BUS1_CMD_TRANSFER \
	(_IOWR(BUS1_IOCTL_MAGIC, 0x00, struct bus1_cmd_transfer))
#define BUS1_CMD_RELEASE \
	(_IOWR(BUS1_IOCTL_MAGIC, 0x01, struct bus1_cmd_release))
#define BUS1_CMD_SEND \
	(_IOWR(BUS1_IOCTL_MAGIC, 0x02, struct bus1_cmd_send))
#define BUS1_CMD_RECV \
	(_IOWR(BUS1_IOCTL_MAGIC, 0x03, struct bus1_cmd_recv))

/*
 * The ABI is fixed: these layouts must never change. The checks compile in
 * both the kernel (static_assert from <linux/build_bug.h>) and C11 or later
 * userspace (_Static_assert).
 */
#ifdef __KERNEL__
#define _BUS1_ASSERT(_expr, _msg) _Static_assert(_expr, _msg)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define _BUS1_ASSERT(_expr, _msg) _Static_assert(_expr, _msg)
#else
#define _BUS1_ASSERT(_expr, _msg)
#endif

#define _BUS1_OFF(_t, _f) __builtin_offsetof(struct _t, _f)

_BUS1_ASSERT(sizeof(struct bus1_transfer) == 16, "bus1_transfer size");
_BUS1_ASSERT(_BUS1_OFF(bus1_transfer, id) == 8, "bus1_transfer.id");
_BUS1_ASSERT(sizeof(struct bus1_metadata) == 24, "bus1_metadata size");
_BUS1_ASSERT(_BUS1_OFF(bus1_metadata, account) == 16, "bus1_metadata.account");
_BUS1_ASSERT(sizeof(struct bus1_message) == 56, "bus1_message size");
_BUS1_ASSERT(_BUS1_OFF(bus1_message, n_transfers) == 16, "bus1_message.n_transfers");
_BUS1_ASSERT(_BUS1_OFF(bus1_message, n_data) == 32, "bus1_message.n_data");
_BUS1_ASSERT(_BUS1_OFF(bus1_message, ptr_data_vecs) == 48, "bus1_message.ptr_data_vecs");
_BUS1_ASSERT(sizeof(struct bus1_cmd_transfer) == 40, "bus1_cmd_transfer size");
_BUS1_ASSERT(_BUS1_OFF(bus1_cmd_transfer, ptr_dst) == 32, "bus1_cmd_transfer.ptr_dst");
_BUS1_ASSERT(sizeof(struct bus1_cmd_release) == 24, "bus1_cmd_release size");
_BUS1_ASSERT(sizeof(struct bus1_cmd_send) == 40, "bus1_cmd_send size");
_BUS1_ASSERT(_BUS1_OFF(bus1_cmd_send, ptr_message) == 32, "bus1_cmd_send.ptr_message");
_BUS1_ASSERT(sizeof(struct bus1_cmd_recv) == 24, "bus1_cmd_recv size");
_BUS1_ASSERT(BUS1_CMD_TRANSFER == 0xc0289700, "BUS1_CMD_TRANSFER");
_BUS1_ASSERT(BUS1_CMD_RELEASE == 0xc0189701, "BUS1_CMD_RELEASE");
_BUS1_ASSERT(BUS1_CMD_SEND == 0xc0289702, "BUS1_CMD_SEND");
_BUS1_ASSERT(BUS1_CMD_RECV == 0xc0189703, "BUS1_CMD_RECV");

#undef _BUS1_OFF
#undef _BUS1_ASSERT

#endif /* _UAPI_LINUX_BUS1_H */
