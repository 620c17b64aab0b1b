// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: engine connection
 *
 * The module talks to exactly one engine at a time through the control
 * device /dev/bus1-engine. The connection is a single state machine (none,
 * attached, gone) changed under one spinlock, the same lock that guards the
 * queue of pending requests and the tree of requests the engine has read
 * but not yet answered. Queuing checks the state and the peer's engine
 * generation under that lock, so nothing can be queued for an engine that
 * is gone, and nothing is left behind when it goes.
 *
 * read() hands out whole records, oldest first. It detaches a batch from
 * the pending list, copies it out without the lock, and then, under the
 * lock, moves what was copied on (one-way records are done, two-way ones
 * enter the tree of sent requests) and puts back what was not. Only read()
 * removes from the pending list while the engine is attached and readers
 * are serialized, so the batch cannot change underneath.
 *
 * write() takes replies and PEER_STATE records. Everything the engine
 * writes is validated before it is acted on; a bad record fails only
 * itself (and, if it named a request, that request with EIO), never the
 * connection. Writers are serialized, so a request looked up in the tree
 * stays there until the writer removes it. A reply payload is copied into
 * a kernel buffer attached to the request; the waiting caller copies it to
 * its own memory after it wakes up. Nothing here touches application
 * memory.
 *
 * The engine is gone when its control file is released. Every request not
 * yet answered then ends with ENOTCONN at once, every peer of that engine
 * (its generation) is dead for good and is woken, and the state returns to
 * none so a new engine can attach.
 */

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/bus1-engine.h>
#include "engine.h"
#include "peer.h"
#include "request.h"

/**
 * enum bus1_conn_state - state of the engine connection
 * @BUS1_CONN_NONE:	no engine attached; opening /dev/bus1 fails.
 * @BUS1_CONN_ATTACHED:	requests flow to the engine.
 * @BUS1_CONN_GONE:	the control file is being released; nothing can be
 *			queued; becomes NONE once every request has ended.
 */
enum bus1_conn_state {
	BUS1_CONN_NONE,
	BUS1_CONN_ATTACHED,
	BUS1_CONN_GONE,
};

/**
 * struct bus1_conn - the connection to the engine
 * @lock:		protects @state, @open, @gen, @seq, @pending, @sent.
 * @state:		enum bus1_conn_state.
 * @open:		the control device is open (one open at a time).
 * @gen:		engine generation, incremented at every ATTACH; a peer
 *			belongs to the generation it was created under and is
 *			dead once that engine is gone.
 * @seq:		the last sequence number assigned.
 * @pending:		requests queued, not yet read, oldest first.
 * @sent:		two-way requests read, not yet answered, by seq.
 * @read_wq:		the engine waits here for pending requests.
 * @read_mutex:		serializes read().
 * @write_mutex:	serializes write().
 */
struct bus1_conn {
	spinlock_t lock; /* protects the fields up to @sent */
	enum bus1_conn_state state;
	bool open;
	u64 gen;
	u64 seq;
	struct list_head pending;
	struct rb_root sent;
	wait_queue_head_t read_wq;
	struct mutex read_mutex; /* one reader */
	struct mutex write_mutex; /* one writer */
};

static struct bus1_conn bus1_conn = {
	.lock = __SPIN_LOCK_UNLOCKED(bus1_conn.lock),
	.state = BUS1_CONN_NONE,
	.pending = LIST_HEAD_INIT(bus1_conn.pending),
	.sent = RB_ROOT,
	.read_wq = __WAIT_QUEUE_HEAD_INITIALIZER(bus1_conn.read_wq),
	.read_mutex = __MUTEX_INITIALIZER(bus1_conn.read_mutex),
	.write_mutex = __MUTEX_INITIALIZER(bus1_conn.write_mutex),
};

/**
 * bus1_engine_gen() - the generation of the attached engine
 * @gen:	output.
 *
 * Return: 0, or -ENXIO if no engine is attached.
 */
int bus1_engine_gen(u64 *gen)
{
	struct bus1_conn *conn = &bus1_conn;
	int r = 0;

	spin_lock(&conn->lock);
	if (conn->state == BUS1_CONN_ATTACHED)
		*gen = conn->gen;
	else
		r = -ENXIO;
	spin_unlock(&conn->lock);
	return r;
}

/**
 * bus1_engine_alive() - whether the engine of a generation is attached
 * @gen:	the generation.
 *
 * A hint for early failure and poll(); bus1_engine_queue() decides.
 *
 * Return: true if the engine of @gen is still attached.
 */
bool bus1_engine_alive(u64 gen)
{
	struct bus1_conn *conn = &bus1_conn;

	return READ_ONCE(conn->state) == BUS1_CONN_ATTACHED &&
	       READ_ONCE(conn->gen) == gen;
}

/**
 * bus1_engine_queue() - queue a request for the engine
 * @req:	the request, not queued.
 * @gen:	generation of the engine the request's peer belongs to.
 *
 * Assigns the sequence number and takes a reference for the queue.
 *
 * Return: 0, or -ENOTCONN if the engine of @gen is gone (the request is
 * then not queued).
 */
int bus1_engine_queue(struct bus1_request *req, u64 gen)
{
	struct bus1_conn *conn = &bus1_conn;

	spin_lock(&conn->lock);
	if (conn->state != BUS1_CONN_ATTACHED || conn->gen != gen) {
		spin_unlock(&conn->lock);
		return -ENOTCONN;
	}
	req->seq = ++conn->seq;
	req->rec->seq = req->seq;
	req->state = BUS1_REQUEST_QUEUED;
	bus1_request_get(req);
	list_add_tail(&req->link, &conn->pending);
	spin_unlock(&conn->lock);

	wake_up_interruptible_poll(&conn->read_wq, EPOLLIN | EPOLLRDNORM);
	return 0;
}

static void bus1_engine_sent_add(struct bus1_conn *conn,
				 struct bus1_request *req)
{
	struct rb_node **slot = &conn->sent.rb_node, *parent = NULL;
	struct bus1_request *t;

	while (*slot) {
		parent = *slot;
		t = rb_entry(parent, struct bus1_request, node);
		slot = req->seq < t->seq ? &parent->rb_left : &parent->rb_right;
	}
	rb_link_node(&req->node, parent, slot);
	rb_insert_color(&req->node, &conn->sent);
}

static struct bus1_request *bus1_engine_sent_find(struct bus1_conn *conn,
						  u64 seq)
{
	struct rb_node *n = conn->sent.rb_node;
	struct bus1_request *t;

	while (n) {
		t = rb_entry(n, struct bus1_request, node);
		if (seq < t->seq)
			n = n->rb_left;
		else if (seq > t->seq)
			n = n->rb_right;
		else
			return t;
	}
	return NULL;
}

/* Remove a sent request and end it; drops the connection's reference. */
static void bus1_engine_complete(struct bus1_conn *conn,
				 struct bus1_request *req, int error,
				 void *reply, size_t reply_size)
{
	spin_lock(&conn->lock);
	rb_erase(&req->node, &conn->sent);
	RB_CLEAR_NODE(&req->node);
	req->state = BUS1_REQUEST_DONE;
	spin_unlock(&conn->lock);

	bus1_request_end(req, error, reply, reply_size);
	bus1_request_put(req);
}

static int bus1_engine_open(struct inode *inode, struct file *file)
{
	struct bus1_conn *conn = &bus1_conn;
	int r = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	spin_lock(&conn->lock);
	if (conn->open)
		r = -EBUSY;
	else
		conn->open = true;
	spin_unlock(&conn->lock);
	if (r)
		return r;

	return stream_open(inode, file);
}

static int bus1_engine_release(struct inode *inode, struct file *file)
{
	struct bus1_conn *conn = &bus1_conn;
	struct bus1_request *req, *t;
	struct rb_node *node;
	LIST_HEAD(dead);
	bool attached;
	u64 gen;

	spin_lock(&conn->lock);
	attached = conn->state == BUS1_CONN_ATTACHED;
	conn->state = BUS1_CONN_GONE;
	gen = conn->gen;
	while ((node = rb_first(&conn->sent))) {
		req = rb_entry(node, struct bus1_request, node);
		rb_erase(node, &conn->sent);
		RB_CLEAR_NODE(node);
		list_add_tail(&req->link, &dead);
	}
	list_splice_tail_init(&conn->pending, &dead);
	list_for_each_entry(req, &dead, link)
		req->state = BUS1_REQUEST_DONE;
	spin_unlock(&conn->lock);

	/*
	 * Nothing can be queued any more, so these are all requests that will
	 * ever exist for this engine. Abandoned ones are settled by
	 * bus1_request_end(); what they would queue is refused.
	 */
	list_for_each_entry_safe(req, t, &dead, link) {
		list_del_init(&req->link);
		if (!req->one_way)
			bus1_request_end(req, -ENOTCONN, NULL, 0);
		bus1_request_put(req);
	}

	if (attached)
		bus1_peer_wake_all(gen);

	spin_lock(&conn->lock);
	conn->state = BUS1_CONN_NONE;
	conn->open = false;
	spin_unlock(&conn->lock);
	return 0;
}

static bool bus1_engine_pending(struct bus1_conn *conn)
{
	bool r;

	spin_lock(&conn->lock);
	r = !list_empty(&conn->pending);
	spin_unlock(&conn->lock);
	return r;
}

/* Detach the oldest pending requests that fit in @count bytes. */
static void bus1_engine_batch(struct bus1_conn *conn, struct list_head *batch,
			      size_t count)
{
	struct bus1_request *req, *last = NULL;
	size_t size = 0;

	spin_lock(&conn->lock);
	list_for_each_entry(req, &conn->pending, link) {
		if (req->size > count - size)
			break;
		size += req->size;
		last = req;
	}
	if (last)
		list_cut_position(batch, &conn->pending, &last->link);
	spin_unlock(&conn->lock);
}

static ssize_t bus1_engine_read(struct file *file, char __user *buf,
				size_t count, loff_t *ppos)
{
	struct bus1_conn *conn = &bus1_conn;
	struct bus1_request *req, *t;
	LIST_HEAD(batch);
	LIST_HEAD(gone);
	size_t copied = 0, n = 0;
	int r;

	if (READ_ONCE(conn->state) != BUS1_CONN_ATTACHED)
		return -EBADFD;
	if (count < bus1_max_record)
		return -EINVAL;

	r = mutex_lock_interruptible(&conn->read_mutex);
	if (r)
		return r;

	for (;;) {
		bus1_engine_batch(conn, &batch, count);
		if (!list_empty(&batch))
			break;
		if (file->f_flags & O_NONBLOCK) {
			r = -EAGAIN;
			goto out;
		}
		r = wait_event_interruptible(conn->read_wq,
					     bus1_engine_pending(conn));
		if (r)
			goto out;
	}

	list_for_each_entry(req, &batch, link) {
		if (copy_to_user(buf + copied, req->rec, req->size))
			break;
		copied += req->size;
		++n;
	}

	spin_lock(&conn->lock);
	list_for_each_entry_safe(req, t, &batch, link) {
		if (!n--)
			break;
		list_del_init(&req->link);
		if (req->one_way) {
			req->state = BUS1_REQUEST_DONE;
			/*
			 * A one-way record ends when read; there is nobody to
			 * tell. Its owner may reuse it as soon as the lock is
			 * dropped, so only a last reference is freed, later.
			 */
			if (!refcount_dec_not_one(&req->ref.refcount))
				list_add_tail(&req->link, &gone);
		} else {
			req->state = BUS1_REQUEST_SENT;
			bus1_engine_sent_add(conn, req);
		}
	}
	list_splice(&batch, &conn->pending);
	spin_unlock(&conn->lock);

	list_for_each_entry_safe(req, t, &gone, link) {
		list_del_init(&req->link);
		bus1_request_put(req);
	}

	r = copied ? copied : -EFAULT;
out:
	mutex_unlock(&conn->read_mutex);
	return r;
}

static int bus1_engine_peer_state(const struct bus1_engine_hdr *hdr,
				  const char __user *buf)
{
	struct bus1_conn *conn = &bus1_conn;
	struct bus1_engine_peer_state ps;

	if (hdr->seq || hdr->error || hdr->size != sizeof(*hdr) + sizeof(ps))
		return -EINVAL;
	if (copy_from_user(&ps, buf + sizeof(*hdr), sizeof(ps)))
		return -EFAULT;
	if (ps.reserved || ps.readable > 1)
		return -EINVAL;

	bus1_peer_set_readable(hdr->peer, READ_ONCE(conn->gen), ps.readable);
	return 0;
}

static int bus1_engine_reply(const struct bus1_engine_hdr *hdr,
			     const char __user *buf)
{
	struct bus1_conn *conn = &bus1_conn;
	size_t size = hdr->size - sizeof(*hdr);
	struct bus1_request *req;
	void *reply = NULL;
	int r;

	if (!hdr->seq)
		return -EINVAL;

	spin_lock(&conn->lock);
	req = bus1_engine_sent_find(conn, hdr->seq);
	spin_unlock(&conn->lock);
	if (!req)
		return -ENOENT;

	if (hdr->type != req->type || hdr->peer != req->rec->peer) {
		r = -EPROTO;
		goto reject;
	}
	r = bus1_request_check_size(req, hdr->error, size);
	if (r)
		goto reject;

	if (size) {
		/* Bounded by the request, at most max_record. */
		reply = kvmalloc(size, GFP_KERNEL);
		if (!reply)
			return -ENOMEM;
		if (copy_from_user(reply, buf + sizeof(*hdr), size)) {
			kvfree(reply);
			return -EFAULT;
		}
		r = bus1_request_check_reply(req, hdr->error, reply, size);
		if (r) {
			kvfree(reply);
			goto reject;
		}
	}

	bus1_engine_complete(conn, req, hdr->error, reply, size);
	return 0;

reject:
	bus1_engine_complete(conn, req, -EIO, NULL, 0);
	return r;
}

/* Process one record; return its size or a negative errno. */
static ssize_t bus1_engine_record(const char __user *buf, size_t left)
{
	struct bus1_engine_hdr hdr;
	int r;

	if (left < sizeof(hdr))
		return -EINVAL;
	if (copy_from_user(&hdr, buf, sizeof(hdr)))
		return -EFAULT;
	if (hdr.size < sizeof(hdr) || hdr.size % 8 ||
	    hdr.size > bus1_max_record || hdr.size > left ||
	    hdr.flags || hdr.reserved)
		return -EINVAL;

	switch (hdr.type) {
	case BUS1_ENGINE_PEER_STATE:
		r = bus1_engine_peer_state(&hdr, buf);
		break;
	case BUS1_ENGINE_PEER_NEW:
	case BUS1_ENGINE_TRANSFER:
	case BUS1_ENGINE_RELEASE:
	case BUS1_ENGINE_SEND:
	case BUS1_ENGINE_RECV:
		r = bus1_engine_reply(&hdr, buf);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r)
		return r;
	return hdr.size;
}

static ssize_t bus1_engine_write(struct file *file, const char __user *buf,
				 size_t count, loff_t *ppos)
{
	struct bus1_conn *conn = &bus1_conn;
	ssize_t r = 0;
	size_t done = 0;

	if (READ_ONCE(conn->state) != BUS1_CONN_ATTACHED)
		return -EBADFD;

	r = mutex_lock_interruptible(&conn->write_mutex);
	if (r)
		return r;
	while (done < count) {
		r = bus1_engine_record(buf + done, count - done);
		if (r < 0)
			break;
		done += r;
	}
	mutex_unlock(&conn->write_mutex);

	return done ? done : r;
}

static __poll_t bus1_engine_poll(struct file *file, poll_table *wait)
{
	struct bus1_conn *conn = &bus1_conn;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &conn->read_wq, wait);
	if (bus1_engine_pending(conn))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static int bus1_engine_attach(void __user *arg)
{
	struct bus1_conn *conn = &bus1_conn;
	struct bus1_engine_attach a;
	int r = 0;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.version != BUS1_ENGINE_VERSION) {
		a.version = BUS1_ENGINE_VERSION;
		if (copy_to_user(arg, &a, sizeof(a)))
			return -EFAULT;
		return -EPROTONOSUPPORT;
	}
	if (a.flags || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;

	/* Written back before attaching, so a fault leaves nothing done. */
	a.max_record = bus1_max_record;
	a.max_data = bus1_max_data;
	a.max_items = bus1_max_items;
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;

	spin_lock(&conn->lock);
	if (conn->state == BUS1_CONN_ATTACHED) {
		r = -EALREADY;
	} else {
		conn->state = BUS1_CONN_ATTACHED;
		++conn->gen;
	}
	spin_unlock(&conn->lock);
	return r;
}

static long bus1_engine_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	switch (cmd) {
	case BUS1_ENGINE_IOCTL_ATTACH:
		return bus1_engine_attach((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

const struct file_operations bus1_engine_fops = {
	.owner		= THIS_MODULE,
	.open		= bus1_engine_open,
	.release	= bus1_engine_release,
	.read		= bus1_engine_read,
	.write		= bus1_engine_write,
	.poll		= bus1_engine_poll,
	.unlocked_ioctl	= bus1_engine_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};
