// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: requests
 *
 * A request is one record from the kernel to the engine, built in full
 * (header and payload, never a user pointer) before it is queued, so the
 * engine's read() only copies finished bytes. Its life is explicit: NEW,
 * then QUEUED on the connection's pending list, then either DONE at once
 * when the engine reads a one-way record, or SENT (in the tree of requests
 * awaiting a reply, looked up by sequence number) and DONE when answered
 * or failed. bus1_request_end() is the one place every ending goes through
 * and lists them all.
 *
 * The caller of a two-way request waits killably. If it is killed, the
 * request is abandoned, not withdrawn: the engine still gets and answers
 * it, and whoever ends the request settles it for the peer instead of the
 * caller (PEER_RELEASE after a PEER_NEW, freeing the peer for its next
 * request). The waiter field decides, with one
 * atomic exchange on each side, which of the two did it.
 *
 * Replies are untrusted: bus1_request_check_size() bounds a reply against
 * what its request allows before anything is allocated or copied, and
 * bus1_request_check_reply() checks the content once it is in the kernel.
 */

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/math.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include "data.h"
#include "peer.h"
#include "request.h"
#include "user.h"

/**
 * bus1_request_new() - allocate a request with a zeroed record
 * @type:		enum bus1_engine_type.
 * @peer_id:		the peer the record concerns.
 * @payload_size:	payload bytes after the header, a multiple of 8.
 *
 * The record is zeroed, so padding and reserved fields are zero; the caller
 * fills the payload. The allocation is charged to the caller's memory
 * cgroup, as it holds the caller's data.
 *
 * Return: the request with one reference, or NULL without memory.
 */
struct bus1_request *bus1_request_new(u16 type, u64 peer_id,
				      size_t payload_size)
{
	struct bus1_request *req;

	req = kzalloc(sizeof(*req), GFP_KERNEL_ACCOUNT);
	if (!req)
		return NULL;

	req->size = sizeof(*req->rec) + payload_size;
	req->rec = kvzalloc(req->size, GFP_KERNEL_ACCOUNT);
	if (!req->rec) {
		kfree(req);
		return NULL;
	}

	kref_init(&req->ref);
	INIT_LIST_HEAD(&req->link);
	RB_CLEAR_NODE(&req->node);
	init_waitqueue_head(&req->wq);
	req->type = type;
	req->one_way = type == BUS1_ENGINE_PEER_RELEASE ||
		       type == BUS1_ENGINE_RECV_DONE ||
		       type == BUS1_ENGINE_ROUTE_DONE;
	req->rec->size = req->size;
	req->rec->type = type;
	req->rec->peer = peer_id;
	bus1_request_reset(req);
	return req;
}

static void bus1_request_free(struct kref *ref)
{
	struct bus1_request *req = container_of(ref, struct bus1_request, ref);

	/* After an error reply (or none), the engine never owned it. */
	if (req->data_published && req->error)
		bus1_data_release(req->data->id, req->data->gen);
	bus1_data_put(req->data);
	kvfree(req->reply);
	kvfree(req->rec);
	bus1_user_uncharge(req->user, 1, req->charged);
	if (req->peer)
		bus1_peer_put(req->peer);
	kfree(req);
}

/**
 * bus1_request_put() - drop a reference
 * @req:	the request, or NULL.
 *
 * Must not be called with a spinlock held: the record may be vmalloc'ed.
 */
void bus1_request_put(struct bus1_request *req)
{
	if (req)
		kref_put(&req->ref, bus1_request_free);
}

/**
 * bus1_request_reset() - make a request ready to be queued (again)
 * @req:	the request, not queued nor sent.
 *
 * A record a peer allocates up-front (PEER_RELEASE) is reset before it is
 * queued; it is one-way and carries no reply.
 */
void bus1_request_reset(struct bus1_request *req)
{
	req->state = BUS1_REQUEST_NEW;
	atomic_set(&req->waiter, BUS1_WAITER_WAITING);
	req->error = 0;
	kvfree(req->reply);
	req->reply = NULL;
	req->reply_size = 0;
}

/**
 * bus1_request_wait() - wait for a queued two-way request to end
 * @req:	the request.
 *
 * Only fatal signals end the wait early; the request is then abandoned and
 * settled by whoever ends it. Otherwise @req->error and @req->reply hold
 * the result.
 *
 * Return: 0 when the request ended, -EINTR when it was abandoned.
 */
int bus1_request_wait(struct bus1_request *req)
{
	int r;

	r = wait_event_killable(req->wq, atomic_read_acquire(&req->waiter) ==
					 BUS1_WAITER_DONE);
	if (r) {
		if (atomic_cmpxchg(&req->waiter, BUS1_WAITER_WAITING,
				   BUS1_WAITER_ABANDONED) ==
		    BUS1_WAITER_WAITING)
			return -EINTR;
		/* Ended while we were killed; pairs with the xchg in end. */
		smp_rmb();
	}
	return 0;
}

/**
 * bus1_request_end() - end a request; every way a request ends
 * @req:	the request, removed from the connection's lists (or never
 *		queued).
 * @error:	the result.
 * @reply:	reply payload, ownership passes to @req; or NULL.
 * @reply_size:	size of @reply.
 *
 * A request ends exactly once, in one of these ways:
 *
 *  - The engine answered and the reply was accepted: @error is 0 or the
 *    engine's errno (one bus1(7) documents), @reply its payload.
 *  - The engine answered and the reply was rejected (the engine got
 *    EPROTO): @error is -EIO for the caller.
 *  - The engine went away (its control file was closed, or its connection
 *    was declared broken because a request timed out) while the request
 *    was queued or sent: @error is -ENOTCONN; for the request that timed
 *    out, -ETIMEDOUT.
 *  - No engine was attached when the request was to be queued: it was
 *    never queued, @error is -ENOTCONN.
 *  - A one-way record was read by the engine (@error 0), or dropped with
 *    the engine (@error -ENOTCONN); there is no caller.
 *
 * If the caller abandoned the request, it is settled here for the peer.
 * Otherwise the caller is woken and settles it itself once it has copied
 * the result out. Must be called without locks held.
 */
void bus1_request_end(struct bus1_request *req, int error, void *reply,
		      size_t reply_size)
{
	req->error = error;
	req->reply = reply;
	req->reply_size = reply_size;

	/* Full barrier: orders the result before the waiter sees DONE. */
	if (atomic_xchg(&req->waiter, BUS1_WAITER_DONE) ==
	    BUS1_WAITER_ABANDONED)
		bus1_peer_settle(req->peer, req);
	else
		wake_up(&req->wq);
}

/* The errnos bus1(7) and the project document for commands. */
static bool bus1_request_errno_ok(int error)
{
	switch (-error) {
	case EINVAL:
	case EBADRQC:
	case EAGAIN:
	case EMSGSIZE:
	case EDQUOT:
	case ENOMEM:
	case EBADF:
	case EOPNOTSUPP:
	case EPERM:
		return true;
	default:
		return false;
	}
}

/**
 * bus1_request_check_size() - bound a reply before reading it
 * @req:	the request answered.
 * @error:	hdr.error of the reply.
 * @size:	payload size of the reply (hdr.size minus the header).
 *
 * Every count in @req is bounded by the module parameters, so the sizes
 * computed here cannot overflow.
 *
 * Return: 0 if a reply of this size may answer @req, else -EPROTO.
 */
int bus1_request_check_size(const struct bus1_request *req, int error,
			    size_t size)
{
	size_t expected;

	if (error) {
		if (!bus1_request_errno_ok(error))
			return -EPROTO;
		return size ? -EPROTO : 0;
	}

	switch (req->type) {
	case BUS1_ENGINE_PEER_NEW:
	case BUS1_ENGINE_RELEASE:
	case BUS1_ENGINE_FETCH:
		expected = 0;
		break;
	case BUS1_ENGINE_TRANSFER:
		expected = req->n * 2 * sizeof(struct bus1_transfer);
		break;
	case BUS1_ENGINE_SEND:
		expected = round_up(req->n * sizeof(s32), 8);
		break;
	default:
		return -EPROTO;
	}
	return size == expected ? 0 : -EPROTO;
}

static bool bus1_request_zero(const u8 *p, size_t n)
{
	return !n || !memchr_inv(p, 0, n);
}

/**
 * bus1_request_check_reply() - check the content of a reply
 * @req:	the request answered.
 * @error:	hdr.error of the reply.
 * @reply:	the payload, in kernel memory.
 * @size:	its size, already accepted by bus1_request_check_size().
 *
 * Return: 0 if @req may take this reply, else -EPROTO.
 */
int bus1_request_check_reply(const struct bus1_request *req, int error,
			     const void *reply, size_t size)
{
	const s32 *results = reply;
	size_t used;
	u64 i;

	if (error)
		return 0;

	switch (req->type) {
	case BUS1_ENGINE_SEND:
		for (i = 0; i < req->n; ++i)
			if (results[i] > 0 || results[i] < -MAX_ERRNO)
				return -EPROTO;
		used = req->n * sizeof(s32);
		break;
	default:
		return 0;
	}
	return bus1_request_zero((const u8 *)reply + used, size - used) ?
	       0 : -EPROTO;
}
