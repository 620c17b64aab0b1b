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
 * FETCH                k->e       none                     none
 * RECV_DONE            k->e       bus1_engine_recv_done    one-way
 * ROUTE_DONE           k->e       bus1_engine_route_done   one-way
 * PEER_STATE           e->k       bus1_engine_peer_state   (asynchronous)
 * ITEM                 e->k       bus1_engine_item         (asynchronous)
 * RETRACT              e->k       bus1_engine_retract      (asynchronous)
 * DATA_RELEASE         e->k       bus1_engine_data_release (asynchronous)
 * ROUTE                e->k       bus1_engine_route        (asynchronous)
 * REVOKE               e->k       bus1_engine_revoke       (asynchronous)
 *
 * A reply carries hdr.error: 0 or a negative errno, which the module hands
 * to the application unchanged when it is one of the errnos bus1(7) and
 * this project document for the command (EINVAL, EBADRQC, EAGAIN,
 * EMSGSIZE, EDQUOT, ENOMEM, EBADF, EOPNOTSUPP, EPERM); any other value is
 * a lie and becomes EIO. A reply with hdr.error != 0 has no payload.
 *
 * Each peer has at most one request in flight: the module serializes all
 * operations of one peer, and a peer's next request is queued only once the
 * previous one has been answered (or its engine is gone). PEER_RELEASE and
 * RECV_DONE are queued behind whatever the peer did before. So the engine sees
 * the requests of one peer in the order the peer made them, and sees
 * PEER_NEW first and PEER_RELEASE last.
 *
 * Items are lent ahead; RECV is served by the module
 * ===================================================
 *
 * BUS1_CMD_RECV does not ask the engine. The engine lends the items at the
 * head of a peer's queue to the module ahead of time, in ITEM records, and
 * the module hands them to the application in order, from its own memory.
 * Each ITEM carries a token, which the engine chooses per peer and which
 * only grows. A lent item is out of the engine's queue but still owned
 * (with its handles and its resource charge) by the engine until the
 * module settles it: after the application received it, the module queues
 * a RECV_DONE naming its token ("every item up to this token was
 * received"). The module queues RECV_DONE without waking the engine: it
 * is read together with whatever comes next (or after at most about 10 ms,
 * when the module wakes the engine for it), and always before any later
 * request of the peer, so the engine has settled every received item
 * before it applies a later request of that peer (or of any peer whose
 * request was queued later). A copy-out that fails (EFAULT) or a buffer
 * too small (EMSGSIZE) leaves the item where it is, at the head; nothing
 * is lost and nothing goes back to the engine. The module checks RECV's
 * arguments itself: nonzero bus1_cmd_recv.flags or bus1_message.flags, or
 * a bus1_message.type other than BUS1_INVALID, fail with EINVAL; iovecs
 * holding fewer than bus1_message.n_data bytes, or an item with more
 * handles or bytes than the application has room for, fail with EMSGSIZE
 * and the item's counts written back (EAGAIN if nothing is queued).
 *
 * The engine chooses how much it lends: it should keep at least one item
 * lent whenever the peer has one queued, and may lend more (a window)
 * within the module's bound (see "Limits"). It writes the ITEM records a
 * request made possible (a SEND queueing to a peer with room in its window,
 * a RECV_DONE freeing room) no later than that request's reply, or for a
 * one-way record, no later than the reply of the next request it reads.
 *
 * Only the peer's own requests can take a queued item away (releasing the
 * handle a NODE_RELEASE is about, or the node a HANDLE_RELEASE is about).
 * When such a request takes back a lent item, the engine writes a RETRACT
 * naming its token before that request's reply; the module drops the item
 * if it still holds it. Since RECV and the peer's requests are serialized
 * in the module, a RECV cannot race with a RETRACT the engine had to send.
 *
 * Large payloads stay in the module
 * =================================
 *
 * The engine needs the count of a message's payload bytes, never the
 * bytes. A SEND with at least BUS1_ENGINE_DATA_REF_MIN payload bytes
 * therefore carries, in place of the bytes, a __u64 data reference (nonzero,
 * chosen by the module, never reused while it is loaded): the module keeps
 * the bytes it copied from the sender, the engine keeps the reference. An
 * ITEM of such a message carries the reference in place of the bytes too,
 * and RECV copies the bytes from the module's buffer to the receiver: two
 * copies, like a socket, however many destinations. Smaller payloads travel
 * inline, where a copy is cheaper than keeping a buffer.
 *
 * The engine owns a reference from its reply to the SEND with hdr.error
 * == 0 (after an error reply the module drops the bytes itself) until it
 * writes DATA_RELEASE naming it, which it must do once no queued or lent
 * message uses it any more (received, discarded, or its receiver
 * released). The module keeps the bytes while the engine owns the
 * reference or a lent item names it, and drops them all when the engine is
 * gone. They are charged to the sender's memory cgroup, and counted by the
 * engine's per-UID byte quota like inline payloads, so an engine that keeps
 * its quotas bounds them.
 *
 * Routes: unicast sends the module queues itself
 * ==============================================
 *
 * A SEND through the engine costs its caller two context switches, which
 * bounds a stream of small messages. So the engine may grant the sending
 * peer a route for one of its handles: a ROUTE record (before the reply
 * of the request that made it possible, usually a SEND through that
 * handle) naming the handle, the receiving peer and the node ID the
 * receiver knows, the sender's account, and a credit of items and payload
 * bytes that the engine has charged to the receiver's quota, with the
 * sender as claimant, as if that many messages were queued. While the
 * route lives, the module serves a SEND itself when all of these hold:
 * flags, message flags and transfers are 0, the type is
 * BUS1_MESSAGE_TYPE_USER, there are 1 to BUS1_ENGINE_MAX_ROUTED
 * destinations and each is a handle with a route, the payload is smaller
 * than BUS1_ENGINE_DATA_REF_MIN and fits the credit left of every route,
 * and every receiver is open and the engine last said it holds no unlent
 * item of it (PEER_STATE readable 0). The module then queues a copy behind
 * each receiver's lent items, all or none, writes 0 to every errors[i],
 * and returns without asking the engine. Otherwise the SEND goes to the
 * engine as usual, which decides exactly as it would without routes. RECV hands such messages out in list order like lent items;
 * receiving one gives its item and bytes back to the route's credit, and
 * the engine hears nothing of it.
 *
 * Order: the module applies the records of one write() (up to a rejected
 * one) atomically with respect to the sends it serves itself and to a
 * RECV that finds nothing lent (it waits for the write() to end), and the
 * engine writes every record a request caused in one write(). With the
 * readable rule above, a message the module queued and the engine's items
 * form one total order for every receiver, as if the engine had queued
 * the message at that moment; a multicast is still seen atomically.
 *
 * The engine takes a route back with REVOKE (hdr.peer the route's sender,
 * as in its ROUTE) before the reply of the request that ends it, so no send the module serves after that request
 * returned uses it: when the sender releases the handle (or closes), with
 * flags 0, which leaves its messages queued; when the node is released
 * (by its owner's RELEASE or close), with BUS1_ENGINE_REVOKE_DISCARD, which
 * also drops the route's messages still queued (as the engine drops its
 * own messages for a released node). The module counts the route's
 * messages it still holds (queued, or being received); once the route is
 * revoked and none is left, it queues ROUTE_DONE, quietly like RECV_DONE,
 * with hdr.peer the route's sender, who may be released by then. Only
 * then may the engine drop the credit's charge and reuse the route ID.
 * The engine grants at most one route per handle. A ROUTE naming a
 * receiver or sender the module no longer holds (it may cross a
 * PEER_RELEASE) is accepted but never used; its REVOKE is still due, and
 * ROUTE_DONE answers it at once. When the engine is gone, its routes and
 * the messages queued through them go with it.
 *
 * Readable state and causality
 * ============================
 *
 * A peer polls readable (POLLIN) while the module holds a lent item for it,
 * or while the engine last said, in a PEER_STATE record, that it holds
 * queued items it has not lent ("readable"). A new peer holds nothing. The
 * engine sends PEER_STATE whenever that answer changes, after the ITEM and
 * RETRACT records and no later than the reply of the request that changed
 * it. Then, when any ioctl returns, every peer it made readable already
 * polls readable, and causal order holds across side channels (bus1(7),
 * "Transactions are causally ordered").
 *
 * A RECV that finds no lent item while the engine said "readable" (its
 * window was full when the items were queued, or lending failed for lack
 * of memory) sends FETCH, a two-way request with no payload: the engine
 * lends what it can, writes the ITEM records, then replies 0, or -ENOMEM
 * if it holds queued items and could lend none of them. The module then
 * serves the RECV from what it holds, or fails it with EAGAIN.
 *
 * Abandoned requests
 * ==================
 *
 * A caller waiting for a reply can be killed (fatal signals only; other
 * signals do not interrupt the wait). Its request is then abandoned: the
 * engine still gets it and must answer it as usual; the module consumes the
 * reply, drops its payload and keeps the peer busy until then. The effect
 * of an abandoned request stands (nodes it created stay with the peer until
 * the peer is released), except PEER_NEW, after which the module queues
 * PEER_RELEASE at once.
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
 * queued or from the engine's last progress, whichever is later (progress:
 * a read() that returned requests, or a reply the module accepted; so a
 * busy engine working through a long backlog is not hung, while one that
 * stops reading, or stops answering, is), the engine is declared broken and handled as "gone" above, with
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
 *            may not send; seq 0 on a reply, nonzero on an asynchronous
 *            record; an ITEM whose counts or size do not match, whose type
 *            is unknown, or whose token does not grow; an ITEM naming a
 *            data reference the engine does not own, or of another size;
 *            a ROUTE with route ID 0, an ID in use, a handle that already
 *            has a route, a node or handle ID without BUS1_MANAGED, or a
 *            credit beyond BUS1_ENGINE_MAX_ROUTE_ITEMS or
 *            BUS1_ENGINE_MAX_ROUTE_BYTES; a REVOKE of an unknown route or
 *            with unknown flags.
 *   ENOMEM   the module could not allocate what a record needs (an ITEM
 *            or a ROUTE). Nothing is changed.
 *   ENOSPC   an ITEM beyond the bound of what the module holds per peer
 *            (see "Limits"). Nothing is changed.
 *   ENOENT   hdr.seq names no request awaiting a reply (never sent,
 *            one-way, or already answered). Nothing is changed.
 *   EPROTO   the reply does not fit its request: another type or peer,
 *            a payload whose size or content the request does not allow
 *            (counts larger than the application's own buffers, an errno
 *            out of range, a lent item of an unknown message type). The
 *            request is completed with EIO for the application.
 *   EFAULT   the engine's own buffer could not be read.
 *
 * None of these detaches the engine; the module never writes into an
 * application's memory beyond the buffers that application supplied, and
 * never trusts a length it has not bounded against the request.
 * A PEER_STATE, ITEM or RETRACT for a peer that no longer exists (closed,
 * or not yet created) is accepted and ignored: it may cross a
 * PEER_RELEASE. So is a RETRACT naming a token the module does not hold,
 * and a DATA_RELEASE naming a reference the engine does not own.
 *
 * Limits
 * ======
 *
 * Module parameters (/sys/module/bus1/parameters; read-only at runtime
 * unless noted):
 *   request_timeout_ms  writable at runtime (0644): how long a two-way
 *              request may wait for its reply, without the engine making
 *              progress, before the engine is declared broken (default
 *              30000; 0 = never). A new value applies to waiting requests
 *              within a second.
 *   max_data   largest message payload in bytes (default 32 MiB).
 *              SEND or RECV beyond it: EMSGSIZE.
 *   max_items  largest count of destinations, transfers or IDs in one
 *              command (default 65536). Beyond it: EINVAL.
 *   max_user_requests  writable at runtime: two-way requests one user
 *              (the opener's effective UID, as PEER_NEW reports it) may
 *              have at once, from allocation until they end, abandoned
 *              ones included (default 1024). Beyond it: EDQUOT.
 *   max_user_bytes  writable at runtime: bytes of those requests' records
 *              and large payload buffers (default 256 MiB). Beyond it:
 *              EDQUOT.
 * iovec counts beyond UIO_MAXIOV (1024) fail with EINVAL. ATTACH reports
 * the resulting bounds so the engine can size its buffers.
 *
 * Kernel memory held for applications is bounded before the engine can say
 * no: a request's buffers are allocated only once its caller holds the
 * peer's single in-flight slot, so each open peer holds at most one request
 * record (at most max_record, about 34 MiB with the defaults) and one reply
 * (bounded by that request), and all requests of one user together hold at
 * most max_user_bytes in at most max_user_requests requests, so neither
 * grows with open files times processes; all of it is charged to the
 * caller's memory cgroup (GFP_KERNEL_ACCOUNT). The same bound keeps one
 * user from putting an unbounded backlog in front of everybody else's
 * requests. Everything
 * the bus itself keeps (queued messages, nodes, handles) lives in the
 * engine and is bounded by its per-UID quotas (EDQUOT). Lent items are the
 * exception: the module holds them per peer, but accepts an ITEM only
 * while the peer holds fewer than BUS1_ENGINE_MAX_LENT_ITEMS items and
 * fewer than BUS1_ENGINE_MAX_LENT_BYTES bytes of them (so at most that plus
 * one item of at most max_record bytes), charged to the engine's memory
 * cgroup, since the engine's write() allocates them. Payloads kept by
 * reference are the other: charged to the sender's memory cgroup, counted
 * by the engine's byte quotas, and dropped when the engine is gone.
 * Messages queued through a route are bounded by its credit (at most
 * BUS1_ENGINE_MAX_ROUTE_ITEMS items and BUS1_ENGINE_MAX_ROUTE_BYTES
 * payload bytes per route), which the engine charged to the receiver's
 * quota; they are charged to the sender's memory cgroup.
 */
#ifndef _UAPI_LINUX_BUS1_ENGINE_H
#define _UAPI_LINUX_BUS1_ENGINE_H

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/bus1.h>

#define BUS1_ENGINE_VERSION		4

/* Payloads of at least this many bytes travel by reference. */
#define BUS1_ENGINE_DATA_REF_MIN	(32U << 10)

/* What the module holds per peer at most before it refuses an ITEM. */
#define BUS1_ENGINE_MAX_LENT_ITEMS	64
#define BUS1_ENGINE_MAX_LENT_BYTES	(1U << 20)

/* The most destinations of a SEND the module serves through routes. */
#define BUS1_ENGINE_MAX_ROUTED		256

/* The largest credit of one route. */
#define BUS1_ENGINE_MAX_ROUTE_ITEMS	256
#define BUS1_ENGINE_MAX_ROUTE_BYTES	(1U << 20)

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
 * @BUS1_ENGINE_FETCH:		BUS1_CMD_RECV found nothing lent: lend now.
 * @BUS1_ENGINE_RECV_DONE:	lent items were received (one-way).
 * @BUS1_ENGINE_ROUTE_DONE:	a revoked route holds no message (one-way).
 * @BUS1_ENGINE_PEER_STATE:	engine to kernel: a peer's readable state.
 * @BUS1_ENGINE_ITEM:		engine to kernel: lends a queued item.
 * @BUS1_ENGINE_RETRACT:	engine to kernel: takes a lent item back.
 * @BUS1_ENGINE_DATA_RELEASE:	engine to kernel: a data reference is unused.
 * @BUS1_ENGINE_ROUTE:		engine to kernel: grants a route.
 * @BUS1_ENGINE_REVOKE:		engine to kernel: takes a route back.
 */
enum bus1_engine_type {
	BUS1_ENGINE_PEER_NEW		= 1,
	BUS1_ENGINE_PEER_RELEASE	= 2,
	BUS1_ENGINE_TRANSFER		= 3,
	BUS1_ENGINE_RELEASE		= 4,
	BUS1_ENGINE_SEND		= 5,
	BUS1_ENGINE_FETCH		= 6,
	BUS1_ENGINE_RECV_DONE		= 7,
	BUS1_ENGINE_ROUTE_DONE		= 8,
	BUS1_ENGINE_PEER_STATE		= 16,
	BUS1_ENGINE_ITEM		= 17,
	BUS1_ENGINE_RETRACT		= 18,
	BUS1_ENGINE_DATA_RELEASE	= 19,
	BUS1_ENGINE_ROUTE		= 20,
	BUS1_ENGINE_REVOKE		= 21,
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
 *		the request answered; asynchronous records: 0.
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
 * bus1_transfer, and @n_data bytes of payload (padded to 8), or, if @n_data
 * is at least BUS1_ENGINE_DATA_REF_MIN, one __u64 data reference instead.
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

/**
 * struct bus1_engine_item - payload of ITEM (engine to kernel)
 * @token:		names the item in RECV_DONE and RETRACT; greater than
 *			the token of every earlier ITEM of the peer.
 * @type:		enum bus1_message_type of the item.
 * @id:			bus1_metadata.id: the node the message arrived on,
 *			or the handle a NODE_RELEASE is about, or the node a
 *			HANDLE_RELEASE is about.
 * @account:		bus1_metadata.account: the sender's UID for user
 *			messages, BUS1_INVALID for notifications.
 * @n_transfers:	number of handle IDs that follow, at most max_items;
 *			0 for notifications.
 * @n_data:		number of payload bytes that follow, at most
 *			max_data; 0 for notifications.
 *
 * Followed by @n_transfers __u64 handle IDs (the receiver's new handles,
 * in the order the sender listed them), then @n_data bytes of payload
 * (padded with zeros to 8), or, if @n_data is at least
 * BUS1_ENGINE_DATA_REF_MIN, the message's __u64 data reference instead.
 * hdr.size must be exactly that.
 */
struct bus1_engine_item {
	__u64 token;
	__u64 type;
	__u64 id;
	__u64 account;
	__u64 n_transfers;
	__u64 n_data;
};

/**
 * struct bus1_engine_retract - payload of RETRACT (engine to kernel)
 * @token:	the token of the lent item the engine takes back.
 */
struct bus1_engine_retract {
	__u64 token;
};

/**
 * struct bus1_engine_data_release - payload of DATA_RELEASE (engine to
 * kernel)
 * @ref:	a data reference the engine owns and no longer uses.
 */
struct bus1_engine_data_release {
	__u64 ref;
};

/**
 * struct bus1_engine_recv_done - payload of RECV_DONE (one-way)
 * @token:	every item of the peer lent with a token up to this one was
 *		received by the application: drop them.
 */
struct bus1_engine_recv_done {
	__u64 token;
};

/**
 * struct bus1_engine_peer_state - payload of PEER_STATE (engine to kernel)
 * @readable:	1 if the engine holds queued items of the peer that it has
 *		not lent to the module, else 0.
 * @reserved:	0.
 */
struct bus1_engine_peer_state {
	__u32 readable;
	__u32 reserved;
};

/**
 * struct bus1_engine_route - payload of ROUTE (engine to kernel)
 * @route:		the route's ID, nonzero, chosen by the engine; not
 *			reused before its ROUTE_DONE.
 * @handle:		the sender's (hdr.peer's) handle the route serves.
 * @dst_peer:		the receiving peer: the owner of the handle's node.
 * @dst_id:		bus1_metadata.id of the messages: the node's ID in
 *			@dst_peer.
 * @account:		bus1_metadata.account: the sender's UID.
 * @credit_items:	messages the route may hold queued at once, 1 to
 *			BUS1_ENGINE_MAX_ROUTE_ITEMS.
 * @credit_bytes:	payload bytes they may hold, at most
 *			BUS1_ENGINE_MAX_ROUTE_BYTES.
 */
struct bus1_engine_route {
	__u64 route;
	__u64 handle;
	__u64 dst_peer;
	__u64 dst_id;
	__u64 account;
	__u32 credit_items;
	__u32 credit_bytes;
};

/* Drop the route's messages still queued, too. */
#define BUS1_ENGINE_REVOKE_DISCARD	(1ULL << 0)

/**
 * struct bus1_engine_revoke - payload of REVOKE (engine to kernel)
 * @route:	the route the engine takes back.
 * @flags:	0 or BUS1_ENGINE_REVOKE_DISCARD.
 */
struct bus1_engine_revoke {
	__u64 route;
	__u64 flags;
};

/**
 * struct bus1_engine_route_done - payload of ROUTE_DONE (one-way)
 * @route:	a revoked route that holds no message any more.
 */
struct bus1_engine_route_done {
	__u64 route;
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
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_item) == 48);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_retract) == 8);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_data_release) == 8);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_recv_done) == 8);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_peer_state) == 8);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_route) == 48);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_revoke) == 16);
_BUS1_ENGINE_ASSERT(sizeof(struct bus1_engine_route_done) == 8);

#undef _BUS1_ENGINE_ASSERT

#endif /* _UAPI_LINUX_BUS1_ENGINE_H */
