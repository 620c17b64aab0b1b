/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bus1 engine control protocol
 *
 * The bus1 kernel module (bus1.ko) owns what only the kernel can own: the
 * file descriptors of /dev/bus1, the credentials pinned at open, the
 * wait-queues behind poll(), and every access to application memory. All
 * bus logic (peers, nodes, handles, ID namespaces, queues, transactions,
 * notifications, quotas) lives in one privileged userspace process, the
 * engine (bus1d). This header is the protocol between the two.
 *
 * Control device
 * ==============
 *
 * The module registers the misc device /dev/bus1-engine (mode 0600). Opening
 * it needs CAP_SYS_ADMIN (else EPERM); only one open file description may
 * exist at a time (a second open fails with EBUSY). The engine then issues
 * BUS1_ENGINE_IOCTL_ATTACH once; from then on the engine is "attached":
 * opens of /dev/bus1 succeed and their requests flow to it.
 *
 *   read()   returns pending requests, kernel to engine, as whole records
 *            only, as many as fit in the buffer, in queue order. A buffer
 *            smaller than bus1_engine_attach.max_record fails with EINVAL
 *            (so the engine notices at once, not at the first large
 *            message). With nothing pending, read() blocks, or fails with
 *            EAGAIN under O_NONBLOCK. Before ATTACH: EBADFD.
 *   write()  takes records engine to kernel: replies and asynchronous state
 *            records, several in one call, processed in order. See
 *            "Engine input is untrusted" below for what is accepted.
 *   poll()   EPOLLIN when requests are pending, EPOLLOUT always.
 *   close()  detaches the engine; see "Engine lifetime".
 *
 * Records
 * =======
 *
 * Every record, in either direction, is a struct bus1_engine_hdr followed
 * by a payload whose layout depends on the type. hdr.size is the size of
 * the whole record, header included; it is a multiple of 8 and at most
 * max_record (from ATTACH). All fields are fixed-width and little-endian
 * host order; no record carries a pointer; every padding and reserved field
 * is written as zero and must be zero on input. Arrays in a payload follow
 * the fixed part directly, each starting 8-byte aligned; byte data comes
 * last and is padded with zeros to the next multiple of 8.
 *
 * Requests (kernel to engine) carry a sequence number, hdr.seq, unique over
 * the lifetime of the loaded module (starting at 1, only growing, never
 * reused, not even across engines). A reply (engine to kernel) carries the
 * seq and type of the request it answers and the same hdr.peer. Records with
 * no reply ("one-way") still carry a seq, so an engine can recognise a
 * request it has already applied. Asynchronous engine records carry seq 0.
 *
 * Peers are named by hdr.peer, a 64-bit ID the kernel assigns when
 * /dev/bus1 is opened (starting at 1, never reused while the module is
 * loaded). Nothing else identifies a peer in the protocol.
 *
 * Requests and their replies
 * ==========================
 *
 * type                 direction  payload                  reply payload
 * PEER_NEW             k->e       bus1_engine_peer_new     none
 * PEER_RELEASE         k->e       none                     one-way
 * TRANSFER             k->e       bus1_engine_transfer     src[n], dst[n]
 * RELEASE              k->e       bus1_engine_release      none
 * SEND                 k->e       bus1_engine_send         errors[n]
 * RECV                 k->e       bus1_engine_recv         see below
 * RECV_DONE            k->e       bus1_engine_recv_done    one-way
 * PEER_STATE           e->k       bus1_engine_peer_state   (asynchronous)
 *
 * A reply carries hdr.error: 0 or a negative errno, which the module hands
 * to the application unchanged when it is one of the errnos bus1(7) and
 * this project document for the command (EINVAL, EBADRQC, EAGAIN,
 * EMSGSIZE, EDQUOT, ENOMEM, EBADF, EOPNOTSUPP, EPERM); any other value is
 * a lie and becomes EIO. A reply with hdr.error != 0 has no payload, except
 * RECV with -EMSGSIZE.
 *
 * Each peer has at most one request in flight: the module serializes all
 * operations of one peer, and a peer's next request is queued only once the
 * previous one has been answered (or its engine is gone). PEER_RELEASE and
 * RECV_DONE are queued behind the request they follow. So the engine sees
 * the requests of one peer in the order the peer made them, and sees
 * PEER_NEW first and PEER_RELEASE last.
 *
 * Readable state and causality
 * ============================
 *
 * The module reports POLLIN on a peer from the state the engine last sent
 * for it in a PEER_STATE record; a new peer starts not readable. The engine
 * sends PEER_STATE whenever the answer to "would RECV return an item now"
 * changes for a peer. It must write the PEER_STATE records a request
 * caused no later than that request's reply: before it in the same write(),
 * or in an earlier write(). Then, when any ioctl returns, every peer it made
 * readable already polls readable, and causal order holds across side
 * channels (bus1(7), "Transactions are causally ordered").
 *
 * RECV: lend, then settle
 * =======================
 *
 * The module must never lose a message because copying it out to the
 * application failed (EFAULT), and the application may be killed while it
 * waits. So RECV does not remove the item: a successful RECV reply lends
 * the head of the queue to the module. The engine treats a lent item as no
 * longer queued for PEER_STATE purposes, but keeps it (with its handles and
 * its resource charge) until it is settled. After every RECV reply with
 * hdr.error == 0 the module queues exactly one RECV_DONE for that peer,
 * naming the RECV's seq: commit = 1 if the item reached the application
 * (the item is then gone), commit = 0 if not (copy-out failed, or the
 * caller was killed while waiting: the item goes back to the head of the
 * queue, unchanged, and PEER_STATE is sent if that makes the peer readable).
 * RECV_DONE is queued before the peer can issue its next request, so the
 * engine never sees a second RECV while an item is lent. With commit = 0
 * the module also marks the peer readable itself, at once: the item is
 * back at the head as soon as the engine reads the RECV_DONE, nothing of
 * that peer can overtake it, and poll() must not miss it in between. Any
 * PEER_STATE the loan caused came no later than the reply, so no stale
 * record can undo this. A peer released
 * with an item lent discards it like the rest of its queue.
 * The alternative, the module checking the application's buffers before
 * asking, cannot close the race with another thread unmapping them, and
 * does not cover the killed caller; a commit step does both.
 *
 * Abandoned requests
 * ==================
 *
 * A caller waiting for a reply can be killed (fatal signals only; other
 * signals do not interrupt the wait). Its request is then abandoned: the
 * engine still gets it and must answer it as usual; the module consumes the
 * reply, drops its payload and keeps the peer busy until then. The effect
 * of an abandoned request stands (nodes it created stay with the peer until
 * the peer is released), except RECV, which is settled with commit = 0, and
 * PEER_NEW, after which the module queues PEER_RELEASE at once.
 *
 * Engine lifetime
 * ===============
 *
 * The module's engine connection is in one of three states:
 *
 *   none      no control file open, or opened but not attached. Opening
 *             /dev/bus1 fails with ENXIO.
 *   attached  requests flow.
 *   gone      the control file was closed (the engine exited, crashed or
 *             was killed). At once, every request not yet answered
 *             completes with ENOTCONN; every peer created under this
 *             engine is dead for good: its ioctls fail with ENOTCONN, its
 *             poll() reports EPOLLERR | EPOLLHUP, close() works. The state
 *             returns to "none" immediately, and a new engine may attach;
 *             peers opened after that live under the new engine. A new
 *             engine starts with no peers.
 *
 * Hung engine: when a two-way request has waited longer than
 * request_timeout_ms (see "Limits") for its reply, counted from when it was
 * queued, the engine is declared broken and handled as "gone" above, with
 * one difference: the request that timed out completes with ETIMEDOUT (a
 * PEER_NEW that times out fails the open() with ETIMEDOUT); all others with
 * ENOTCONN. The broken engine may still hold its control file, but it is no
 * longer the connection: read(), write() and ATTACH on it fail with
 * ENOTCONN and poll() reports EPOLLERR | EPOLLHUP, so it notices; it should
 * close the file and exit. Only one control file can be the connection at a
 * time (opened and not yet broken or closed; a second open fails with
 * EBUSY), so a new engine may open the device and attach while the broken
 * one still holds its file. A request that a read() of the broken engine
 * was copying out at that moment ends with ENOTCONN when that read()
 * returns (with ENOTCONN too).
 *
 * Engine input is untrusted
 * =========================
 *
 * The module validates every record before acting on it. write() processes
 * the records of one call in order; if a record is rejected, write()
 * returns the number of bytes before it when that is non-zero (the rejected
 * record and all after it are not processed), or the error otherwise:
 *
 *   EINVAL   malformed record: hdr.size smaller than the header, not a
 *            multiple of 8, larger than max_record or than what is left of
 *            the buffer; nonzero flags or reserved fields; a type the engine
 *            may not send; seq 0 on a reply or nonzero on PEER_STATE.
 *   ENOENT   hdr.seq names no request awaiting a reply (never sent,
 *            one-way, or already answered). Nothing is changed.
 *   EPROTO   the reply does not fit its request: another type or peer,
 *            a payload whose size or content the request does not allow
 *            (counts larger than the application's own buffers, an errno
 *            out of range, a lent item of an unknown message type). The
 *            request is completed with EIO for the application.
 *   EFAULT   the engine's own buffer could not be read.
 *
 * A rejected RECV reply is settled like a failed copy-out: the module
 * queues RECV_DONE with commit = 0 (the engine may have lent an item; one
 * naming no lent item is ignored by the engine) and marks the peer
 * readable.
 * None of these detaches the engine; the module never writes into an
 * application's memory beyond the buffers that application supplied, and
 * never trusts a length it has not bounded against the request.
 * A PEER_STATE for a peer that no longer exists (closed, or not yet
 * created) is accepted and ignored: it may cross a PEER_RELEASE.
 *
 * Limits
 * ======
 *
 * Module parameters (/sys/module/bus1/parameters; read-only at runtime
 * unless noted):
 *   request_timeout_ms  writable at runtime (0644): how long a two-way
 *              request may wait for its reply before the engine is declared
 *              broken (default 30000; 0 = never). A new value applies to
 *              waiting requests within a second.
 *   max_data   largest message payload in bytes (default 32 MiB).
 *              SEND or RECV beyond it: EMSGSIZE.
 *   max_items  largest count of destinations, transfers or IDs in one
 *              command (default 65536). Beyond it: EINVAL.
 * iovec counts beyond UIO_MAXIOV (1024) fail with EINVAL. ATTACH reports
 * the resulting bounds so the engine can size its buffers.
 *
 * Kernel memory held for applications is bounded before the engine can say
 * no: a request's buffers are allocated only once its caller holds the
 * peer's single in-flight slot, so each open peer holds at most one request
 * record (at most max_record, about 34 MiB with the defaults) and one reply
 * (bounded by that request). The worst case is that per open /dev/bus1
 * file, so it is limited by RLIMIT_NOFILE per process, and all of it is
 * charged to the caller's memory cgroup (GFP_KERNEL_ACCOUNT). Everything
 * the bus itself keeps (queued messages, nodes, handles) lives in the
 * engine and is bounded by its per-UID quotas (EDQUOT).
 */
#ifndef _UAPI_LINUX_BUS1_ENGINE_H
#define _UAPI_LINUX_BUS1_ENGINE_H

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/bus1.h>

#define BUS1_ENGINE_VERSION		1

/**
 * struct bus1_engine_attach - argument of BUS1_ENGINE_IOCTL_ATTACH
 * @version:	in: the protocol version the engine speaks; out: the
 *		module's. Anything but BUS1_ENGINE_VERSION fails with
 *		EPROTONOSUPPORT (and @version is still written back).
 * @flags:	in: must be 0 (else EINVAL).
 * @max_record:	out: the largest record either side may send; read()
 *		buffers must be at least this large.
 * @max_data:	out: the max_data parameter in force.
 * @max_items:	out: the max_items parameter in force.
 * @reserved:	must be 0 (else EINVAL).
 *
 * A second ATTACH on the same file fails with EALREADY.
 */
struct bus1_engine_attach {
	__u32 version;
	__u32 flags;
	__u64 max_record;
	__u64 max_data;
	__u32 max_items;
	__u32 reserved[5];
};

#define BUS1_ENGINE_IOCTL_ATTACH \
	_IOWR(BUS1_IOCTL_MAGIC, 0x80, struct bus1_engine_attach)

/**
 * enum bus1_engine_type - record types (struct bus1_engine_hdr.type)
 * @BUS1_ENGINE_PEER_NEW:	a peer was opened.
 * @BUS1_ENGINE_PEER_RELEASE:	a peer was closed (one-way).
 * @BUS1_ENGINE_TRANSFER:	BUS1_CMD_TRANSFER.
 * @BUS1_ENGINE_RELEASE:	BUS1_CMD_RELEASE.
 * @BUS1_ENGINE_SEND:		BUS1_CMD_SEND.
 * @BUS1_ENGINE_RECV:		BUS1_CMD_RECV.
 * @BUS1_ENGINE_RECV_DONE:	settles a lent item (one-way).
 * @BUS1_ENGINE_PEER_STATE:	engine to kernel: a peer's readable state.
 */
enum bus1_engine_type {
	BUS1_ENGINE_PEER_NEW		= 1,
	BUS1_ENGINE_PEER_RELEASE	= 2,
	BUS1_ENGINE_TRANSFER		= 3,
	BUS1_ENGINE_RELEASE		= 4,
	BUS1_ENGINE_SEND		= 5,
	BUS1_ENGINE_RECV		= 6,
	BUS1_ENGINE_RECV_DONE		= 7,
	BUS1_ENGINE_PEER_STATE		= 16,
};

/**
 * struct bus1_engine_hdr - header of every record
 * @size:	size of the record in bytes, header included; a multiple of
 *		8, at least sizeof(struct bus1_engine_hdr), at most
 *		max_record.
 * @type:	enum bus1_engine_type.
 * @flags:	must be 0.
 * @error:	replies: 0 or a negative errno; everything else: 0.
 * @reserved:	must be 0.
 * @seq:	requests: the request's sequence number; replies: the seq of
 *		the request answered; PEER_STATE: 0.
 * @peer:	the peer the record concerns.
 */
struct bus1_engine_hdr {
	__u32 size;
	__u16 type;
	__u16 flags;
	__s32 error;
	__u32 reserved;
	__u64 seq;
	__u64 peer;
};

/**
 * struct bus1_engine_peer_new - payload of PEER_NEW
 * @uid:	effective UID of the opener, from the credentials pinned at
 *		open, mapped into the initial user namespace (overflow UID
 *		if unmapped). The peer's resource context.
 * @pid:	thread-group ID of the opener in the initial PID namespace,
 *		for diagnostics only (it may have exited since).
 *
 * Reply: no payload. An error fails the open() with that errno.
 */
struct bus1_engine_peer_new {
	__u32 uid;
	__u32 pid;
};

/**
 * struct bus1_engine_transfer - payload of TRANSFER
 * @flags:	bus1_cmd_transfer.flags, unchecked by the module.
 * @to_peer:	the peer that receives the new handles: hdr.peer itself when
 *		the application passed to == BUS1_INVALID, else the peer
 *		behind the file descriptor it passed. The module has already
 *		failed the call with EBADF (not an open fd, or not an int)
 *		or EOPNOTSUPP (not a bus1 peer) or ENOTCONN (a peer of a gone
 *		engine) before asking.
 * @n:		number of transfers, at most max_items.
 *
 * Followed by @n struct bus1_transfer, the application's src[].
 * Reply on success: @n struct bus1_transfer (the updated src[]), then @n
 * struct bus1_transfer (dst[]); the module copies both back.
 */
struct bus1_engine_transfer {
	__u64 flags;
	__u64 to_peer;
	__u64 n;
};

/**
 * struct bus1_engine_release - payload of RELEASE
 * @flags:	bus1_cmd_release.flags, unchecked by the module.
 * @n_ids:	number of IDs, at most max_items.
 *
 * Followed by @n_ids __u64 IDs. Reply: no payload.
 */
struct bus1_engine_release {
	__u64 flags;
	__u64 n_ids;
};

/**
 * struct bus1_engine_send - payload of SEND
 * @flags:		bus1_cmd_send.flags, unchecked by the module.
 * @msg_flags:		bus1_message.flags, unchecked.
 * @msg_type:		bus1_message.type, unchecked.
 * @n_destinations:	number of destination handle IDs, at most max_items.
 * @n_transfers:	number of transfers, at most max_items.
 * @n_data:		payload bytes, at most max_data. The module has
 *			checked that the iovecs hold at least this many
 *			(else EMSGSIZE) and gathered exactly the first @n_data.
 *
 * Followed by @n_destinations __u64 handle IDs, @n_transfers struct
 * bus1_transfer, and @n_data bytes of payload (padded to 8).
 * Reply on success: @n_destinations __s32 per-destination results (padded
 * to 8), which the module copies to the application's errors[]; each must
 * be 0 or a negative errno.
 */
struct bus1_engine_send {
	__u64 flags;
	__u64 msg_flags;
	__u64 msg_type;
	__u64 n_destinations;
	__u64 n_transfers;
	__u64 n_data;
};

/* bus1_engine_recv.recv_flags */
#define BUS1_ENGINE_RECV_SHORT_IOVEC	(1U << 0)

/**
 * struct bus1_engine_recv - payload of RECV
 * @flags:		bus1_cmd_recv.flags, unchecked by the module.
 * @msg_flags:		bus1_message.flags, unchecked.
 * @msg_type:		bus1_message.type, unchecked.
 * @max_transfers:	the application's transfer slots (its n_transfers).
 * @max_data:		the application's data space (its n_data, capped at
 *			max_data).
 * @recv_flags:		BUS1_ENGINE_RECV_SHORT_IOVEC: the iovecs hold fewer
 *			than the application's n_data bytes; the engine must
 *			answer EMSGSIZE (with the needed sizes) if an item is
 *			queued, EAGAIN if none.
 * @reserved:		0.
 *
 * Reply on success (an item is lent, see above): struct
 * bus1_engine_recv_reply, then n_transfers __u64 handle IDs (the receiver's
 * new handles, in the order the sender listed them), then n_data bytes of
 * payload (padded to 8). n_transfers <= @max_transfers, n_data <=
 * @max_data, or the reply is rejected.
 * Reply with -EMSGSIZE: struct bus1_engine_recv_reply alone, with
 * n_transfers and n_data set to what the head item needs; the module
 * writes both back to the application's bus1_message. Nothing is lent.
 * Other errors (-EAGAIN for an empty queue, -EINVAL): no payload.
 */
struct bus1_engine_recv {
	__u64 flags;
	__u64 msg_flags;
	__u64 msg_type;
	__u64 max_transfers;
	__u64 max_data;
	__u32 recv_flags;
	__u32 reserved;
};

/**
 * struct bus1_engine_recv_reply - fixed part of a RECV reply
 * @type:		enum bus1_message_type of the item.
 * @id:			bus1_metadata.id: the node the message arrived on,
 *			or the handle a NODE_RELEASE is about, or the node a
 *			HANDLE_RELEASE is about.
 * @account:		bus1_metadata.account: the sender's UID for user
 *			messages, BUS1_INVALID for notifications.
 * @n_transfers:	number of handle IDs that follow.
 * @n_data:		number of payload bytes that follow.
 */
struct bus1_engine_recv_reply {
	__u64 type;
	__u64 id;
	__u64 account;
	__u64 n_transfers;
	__u64 n_data;
};

/**
 * struct bus1_engine_recv_done - payload of RECV_DONE (one-way)
 * @recv_seq:	hdr.seq of the RECV whose lent item this settles.
 * @commit:	1: delivered, drop the item; 0: put it back at the head.
 * @reserved:	0.
 */
struct bus1_engine_recv_done {
	__u64 recv_seq;
	__u32 commit;
	__u32 reserved;
};

/**
 * struct bus1_engine_peer_state - payload of PEER_STATE (engine to kernel)
 * @readable:	1 if a RECV on the peer would return an item now, else 0.
 * @reserved:	0.
 */
struct bus1_engine_peer_state {
	__u32 readable;
	__u32 reserved;
};

#ifdef __KERNEL__
#define _BUS1_ENGINE_ASSERT(_expr) _Static_assert(_expr, #_expr)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define _BUS1_ENGINE_ASSERT(_expr) _Static_assert(_expr, #_expr)
#else
#define _BUS1_ENGINE_ASSERT(_expr)
#endif

_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_attach) == 48);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_hdr) == 32);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_peer_new) == 8);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_transfer) == 24);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_release) == 16);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_send) == 48);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_recv) == 48);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_recv_reply) == 40);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_recv_done) == 16);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_peer_state) == 8);

#undef _BUS1_ENGINE_ASSERT

#endif /* _UAPI_LINUX_BUS1_ENGINE_H */
