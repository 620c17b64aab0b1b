/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_REQUEST_H
#define __BUS1_REQUEST_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/rbtree.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/bus1-engine.h>

struct bus1_data;
struct bus1_peer;
struct bus1_user;

/**
 * enum bus1_request_state - where a request is on its way to the engine
 * @BUS1_REQUEST_NEW:		built, not queued (or a reusable record idle).
 * @BUS1_REQUEST_QUEUED:	on the connection's pending list.
 * @BUS1_REQUEST_SENT:		read by the engine, in the tree of requests
 *				awaiting a reply (two-way requests only).
 * @BUS1_REQUEST_DONE:		answered, failed, or (one-way) read.
 */
enum bus1_request_state {
	BUS1_REQUEST_NEW,
	BUS1_REQUEST_QUEUED,
	BUS1_REQUEST_SENT,
	BUS1_REQUEST_DONE,
};

/**
 * enum bus1_request_waiter - what the caller of a two-way request does
 * @BUS1_WAITER_WAITING:	the caller waits for the reply (or the request
 *				is one-way and has no caller).
 * @BUS1_WAITER_ABANDONED:	the caller was killed; whoever ends the
 *				request also settles it for the peer.
 * @BUS1_WAITER_DONE:		the request ended; the caller owns the result.
 */
enum bus1_request_waiter {
	BUS1_WAITER_WAITING,
	BUS1_WAITER_ABANDONED,
	BUS1_WAITER_DONE,
};

/**
 * struct bus1_request - one record from the kernel to the engine
 * @ref:		reference count; the creator holds one, the
 *			connection one while the request is queued or sent.
 * @link:		entry in the connection's pending list; protected by
 *			the connection lock.
 * @node:		entry in the connection's tree of sent requests, keyed
 *			by @seq; protected by the connection lock.
 * @state:		enum bus1_request_state; protected by the connection
 *			lock.
 * @waiter:		enum bus1_request_waiter, changed atomically only, so
 *			that a killed caller and the reply path agree on who
 *			settles the request.
 * @wq:			the caller waits here for @waiter to become DONE.
 * @peer:		the peer making a two-way request (a reference), NULL
 *			for one-way records, which the peer owns instead.
 * @user:		the user the request is charged to (see user.c), or
 *			NULL; the peer's, which @peer keeps alive.
 * @charged:		bytes charged to @user with the request.
 * @type:		enum bus1_engine_type of the record.
 * @one_way:		no reply is expected.
 * @seq:		sequence number, assigned when queued.
 * @n:			TRANSFER: number of transfers; SEND: number of
 *			destinations; bounds the reply.
 * @error:		result, valid once @waiter is DONE: 0, an errno the
 *			engine returned, -EIO for a rejected reply,
 *			-ETIMEDOUT if the engine did not answer it in time,
 *			or -ENOTCONN if the engine went away.
 * @data:		SEND: the payload kept by reference (a reference), or
 *			NULL.
 * @data_published:	SEND: @data was published for the engine; it is the
 *			engine's unless the request ends with an error.
 * @reply:		reply payload (kvmalloc'ed) or NULL; valid with @error.
 * @reply_size:		size of @reply in bytes.
 * @size:		size of @rec in bytes, a multiple of 8.
 * @rec:		the record as the engine reads it (kvmalloc'ed).
 */
struct bus1_request {
	struct kref ref;
	struct list_head link;
	struct rb_node node;
	enum bus1_request_state state;
	atomic_t waiter;
	wait_queue_head_t wq;
	struct bus1_peer *peer;
	struct bus1_user *user;
	size_t charged;
	u16 type;
	bool one_way;
	u64 seq;
	unsigned long queued_at;
	u64 n;
	int error;
	struct bus1_data *data;
	bool data_published;
	void *reply;
	size_t reply_size;
	size_t size;
	struct bus1_engine_hdr *rec;
};

struct bus1_request *bus1_request_new(u16 type, u64 peer_id,
				      size_t payload_size);
void bus1_request_put(struct bus1_request *req);

static inline struct bus1_request *bus1_request_get(struct bus1_request *req)
{
	kref_get(&req->ref);
	return req;
}

static inline void *bus1_request_payload(struct bus1_request *req)
{
	return req->rec + 1;
}

void bus1_request_reset(struct bus1_request *req);
int bus1_request_wait(struct bus1_request *req);
void bus1_request_end(struct bus1_request *req, int error, void *reply,
		      size_t reply_size);
int bus1_request_check_size(const struct bus1_request *req, int error,
			    size_t size);
int bus1_request_check_reply(const struct bus1_request *req, int error,
			     const void *reply, size_t size);

#endif /* __BUS1_REQUEST_H */
