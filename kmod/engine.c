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
 * write() takes replies and the engine's asynchronous records. Everything the engine
 * writes is validated before it is acted on; a bad record fails only
 * itself (and, if it named a request, that request with EIO), never the
 * connection. Writers are serialized, so a request looked up in the tree
 * stays there until the writer removes it. A reply payload is copied into
 * a kernel buffer attached to the request; the waiting caller copies it to
 * its own memory after it wakes up. Nothing here touches application
 * memory.
 *
 * Both are read_iter/write_iter and the file is FMODE_NOWAIT, so io_uring
 * issues them inline in the engine's own task and, when read() would
 * block, arms poll on @read_wq instead of parking a worker thread in it.
 * A nonblocking call (IOCB_NOWAIT or O_NONBLOCK) never sleeps on the
 * queue or on the reader and writer mutexes: it fails with EAGAIN.
 *
 * The engine is gone when its control file is released, or when it is
 * declared broken because a two-way request waited longer than
 * request_timeout_ms for its reply. Every request not yet answered then
 * ends at once (with ETIMEDOUT for the one that timed out, ENOTCONN for the
 * rest), every peer of that engine (its generation) is dead for good and is
 * woken, and the state returns to none so a new engine can attach.
 *
 * The connection belongs to one open control file, @file. A broken engine
 * may keep its file open; that file is then no longer the connection's, so
 * a new engine may open the device and attach, and every read(), write()
 * and ATTACH on the old file fails with ENOTCONN (poll() reports EPOLLERR
 * and EPOLLHUP). The rule is "one connection at a time", not "one open file
 * at a time". Since the connection can break while read() or write() run,
 * both recheck under the lock that their file is still the connection
 * before they move a request; a request they hold a reference to may have
 * ended meanwhile, which they detect by its state.
 *
 * The timeout needs no timer per request: requests are queued in sequence
 * order, so the oldest unanswered two-way request is the first one in the
 * tree of sent requests, in the batch a read() is copying out, or on the
 * pending list, and one delayed work checks it. It is armed when a two-way
 * request is queued and re-arms itself while any is unanswered, at least
 * once a second, so a changed timeout applies within a second. A busy
 * engine is not a hung one: the wait counts from when the request was
 * queued or from the engine's last progress (a read() that took requests,
 * a reply accepted), whichever is later. So a long backlog behind an
 * engine that keeps working never breaks the connection; an engine that
 * stops reading, or stops answering what it read, does.
 *
 * Teardown and write() are serialised: every record an engine writes is
 * applied under @write_mutex, and the teardown takes it before it drops
 * the engine's routes and data references. A write() of a gone engine
 * still applying records finishes first, and what it added goes with the
 * rest; no record is ever applied half against a connection torn down
 * under it, whatever its type.
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
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/bus1-engine.h>
#include "data.h"
#include "engine.h"
#include "peer.h"
#include "request.h"
#include "route.h"

/**
 * enum bus1_conn_state - state of the engine connection
 * @BUS1_CONN_NONE:	no engine attached; opening /dev/bus1 fails.
 * @BUS1_CONN_ATTACHED:	requests flow to the engine.
 * @BUS1_CONN_GONE:	the control file is being released or the engine was
 *			declared broken; nothing can be queued; becomes NONE
 *			once every request has ended.
 */
enum bus1_conn_state {
	BUS1_CONN_NONE,
	BUS1_CONN_ATTACHED,
	BUS1_CONN_GONE,
};

/**
 * struct bus1_conn - the connection to the engine
 * @lock:		protects @state, @file, @gen, @seq, @pending, @reading,
 *			@sent, @progress_at, @expired.
 * @state:		enum bus1_conn_state.
 * @file:		the control file of the connection, NULL if none; a
 *			second open fails while it is set.
 * @gen:		engine generation, incremented at every ATTACH; a peer
 *			belongs to the generation it was created under and is
 *			dead once that engine is gone.
 * @seq:		the last sequence number assigned.
 * @pending:		requests queued, not yet read, oldest first.
 * @reading:		requests a read() is copying out, oldest first; only
 *			that read() changes it, under the lock, and walks it
 *			without the lock while copying.
 * @sent:		two-way requests read, not yet answered, by seq.
 * @progress_at:	jiffies of the engine's last progress: a read() that
 *			took requests, or a reply accepted.
 * @expired:		seq of the last request that timed out; read() ends
 *			it with ETIMEDOUT if it was copying it out.
 * @read_wq:		the engine waits here for pending requests.
 * @read_mutex:		serializes read().
 * @write_mutex:	serializes write(), and the teardown against it.
 * @timeout_work:	checks the oldest unanswered two-way request against
 *			request_timeout_ms.
 * @quiet_work:		wakes the engine for quiet records nobody else woke
 *			it for, BUS1_ENGINE_QUIET_MS after they were queued.
 * @attach_seq:		@seq when the engine attached; protected by @lock.
 * @n_records:		records the engine wrote since it attached, and
 * @n_rejected:		of those, the ones rejected (a refused record counts
 *			once, when write() returns its errno); both changed under
 *			@write_mutex (or at ATTACH, when no writer of the new
 *			engine can run yet), read locklessly by debugfs.
 * @write_seq:		odd while a write() applies its records, even
 *			otherwise; changed under @write_mutex, read locklessly
 *			by bus1_engine_settle().
 * @write_wq:		RECVs wait here for the write() in progress to end.
 */
struct bus1_conn {
	spinlock_t lock; /* protects the fields up to @expired */
	enum bus1_conn_state state;
	struct file *file;
	u64 gen;
	u64 seq;
	struct list_head pending;
	struct list_head reading;
	struct rb_root sent;
	unsigned long progress_at;
	u64 expired;
	wait_queue_head_t read_wq;
	struct mutex read_mutex; /* one reader */
	struct mutex write_mutex; /* one writer */
	struct delayed_work timeout_work;
	struct delayed_work quiet_work;
	u64 attach_seq;
	u64 n_records;
	u64 n_rejected;
	unsigned int write_seq;
	wait_queue_head_t write_wq;
};

/* A quiet record is read at the latest about this long after it was queued. */
#define BUS1_ENGINE_QUIET_MS	10

static void bus1_engine_timeout(struct work_struct *work);
static void bus1_engine_quiet(struct work_struct *work);

static struct bus1_conn bus1_conn = {
	.lock = __SPIN_LOCK_UNLOCKED(bus1_conn.lock),
	.state = BUS1_CONN_NONE,
	.pending = LIST_HEAD_INIT(bus1_conn.pending),
	.reading = LIST_HEAD_INIT(bus1_conn.reading),
	.sent = RB_ROOT,
	.read_wq = __WAIT_QUEUE_HEAD_INITIALIZER(bus1_conn.read_wq),
	.read_mutex = __MUTEX_INITIALIZER(bus1_conn.read_mutex),
	.write_mutex = __MUTEX_INITIALIZER(bus1_conn.write_mutex),
	.timeout_work = __DELAYED_WORK_INITIALIZER(bus1_conn.timeout_work,
						   bus1_engine_timeout, 0),
	.quiet_work = __DELAYED_WORK_INITIALIZER(bus1_conn.quiet_work,
						 bus1_engine_quiet, 0),
	.write_wq = __WAIT_QUEUE_HEAD_INITIALIZER(bus1_conn.write_wq),
};

/* The next timeout check is due at most this far ahead. */
static unsigned long bus1_engine_check_delay(void)
{
	unsigned int ms = READ_ONCE(bus1_request_timeout_ms);

	return ms ? min_t(unsigned long, msecs_to_jiffies(ms), HZ) : HZ;
}

/* Whether @file is the control file of an attached engine; under the lock. */
static bool bus1_engine_connected(struct bus1_conn *conn, struct file *file)
{
	return conn->file == file && conn->state == BUS1_CONN_ATTACHED;
}

/*
 * The errno for a control file that is not (or no longer) an attached
 * engine: broken or replaced (ENOTCONN), or not attached yet (EBADFD).
 * Under the lock.
 */
static int bus1_engine_file_error(struct bus1_conn *conn, struct file *file)
{
	if (conn->file != file || conn->state == BUS1_CONN_GONE)
		return -ENOTCONN;
	return -EBADFD;
}

/* read() and write() are only for the attached connection's own file. */
static int bus1_engine_check_file(struct bus1_conn *conn, struct file *file)
{
	int r = 0;

	spin_lock(&conn->lock);
	if (!bus1_engine_connected(conn, file))
		r = bus1_engine_file_error(conn, file);
	spin_unlock(&conn->lock);
	return r;
}

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
static int bus1_engine_enqueue(struct bus1_request *req, u64 gen,
			       bool wake)
{
	struct bus1_conn *conn = &bus1_conn;

	spin_lock(&conn->lock);
	if (conn->state != BUS1_CONN_ATTACHED || conn->gen != gen) {
		spin_unlock(&conn->lock);
		return -ENOTCONN;
	}
	req->seq = ++conn->seq;
	req->rec->seq = req->seq;
	req->queued_at = jiffies;
	req->state = BUS1_REQUEST_QUEUED;
	bus1_request_get(req);
	list_add_tail(&req->link, &conn->pending);
	spin_unlock(&conn->lock);

	/* A no-op while the check is pending already. */
	if (!req->one_way)
		schedule_delayed_work(&conn->timeout_work,
				      bus1_engine_check_delay());
	if (wake)
		wake_up_interruptible_poll(&conn->read_wq,
					   EPOLLIN | EPOLLRDNORM);
	else
		schedule_delayed_work(&conn->quiet_work,
				      msecs_to_jiffies(BUS1_ENGINE_QUIET_MS));
	return 0;
}

int bus1_engine_queue(struct bus1_request *req, u64 gen)
{
	return bus1_engine_enqueue(req, gen, true);
}

/**
 * bus1_engine_queue_quiet() - queue a one-way record without waking
 * @req:	the record.
 * @gen:	the generation of the engine it is for.
 *
 * For records the engine need not act on at once (RECV_DONE): it reads
 * them with the next record anybody queues, and before it, or when
 * @quiet_work wakes it, so what the engine reports (its accounting) is
 * never stale for long. Saves an engine wakeup per received message.
 *
 * Return: as bus1_engine_queue().
 */
int bus1_engine_queue_quiet(struct bus1_request *req, u64 gen)
{
	return bus1_engine_enqueue(req, gen, false);
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

/* Find a sent request and take a reference; under the lock. */
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
			return bus1_request_get(t);
	}
	return NULL;
}

/*
 * Remove a sent request found by bus1_engine_sent_find() and end it; drops
 * the connection's reference and the finder's. If the connection broke
 * since the lookup, the request has ended already: @reply is freed and
 * -ENOTCONN returned.
 */
static int bus1_engine_complete(struct bus1_conn *conn,
				struct bus1_request *req, int error,
				void *reply, size_t reply_size)
{
	bool sent;

	spin_lock(&conn->lock);
	sent = req->state == BUS1_REQUEST_SENT;
	if (sent) {
		rb_erase(&req->node, &conn->sent);
		RB_CLEAR_NODE(&req->node);
		req->state = BUS1_REQUEST_DONE;
		conn->progress_at = jiffies;
	}
	spin_unlock(&conn->lock);

	if (sent) {
		bus1_request_end(req, error, reply, reply_size);
		bus1_request_put(req);
	} else {
		kvfree(reply);
	}
	bus1_request_put(req);
	return sent ? 0 : -ENOTCONN;
}

/* The first two-way request of @list (in sequence order), or NULL. */
static struct bus1_request *bus1_engine_first_two_way(struct list_head *list)
{
	struct bus1_request *req;

	list_for_each_entry(req, list, link)
		if (!req->one_way)
			return req;
	return NULL;
}

/*
 * The oldest unanswered two-way request, or NULL; under the lock. Requests
 * are read in sequence order, so sent ones are older than the batch being
 * read, which is older than the pending ones.
 */
static struct bus1_request *bus1_engine_oldest(struct bus1_conn *conn)
{
	struct rb_node *first = rb_first(&conn->sent);
	struct bus1_request *oldest;

	if (first)
		return rb_entry(first, struct bus1_request, node);
	oldest = bus1_engine_first_two_way(&conn->reading);
	return oldest ?: bus1_engine_first_two_way(&conn->pending);
}

/*
 * End the connection: every request not yet answered ends (@expired, the
 * seq of a request that timed out, with ETIMEDOUT, all others with
 * ENOTCONN), every peer of the engine is woken to find itself dead, and the
 * state returns to none. Called with the lock held and the engine attached;
 * releases the lock.
 */
static void bus1_engine_teardown(struct bus1_conn *conn, u64 expired)
	__releases(&conn->lock)
{
	struct bus1_request *req, *t;
	struct rb_node *node;
	LIST_HEAD(dead);
	u64 gen;

	conn->state = BUS1_CONN_GONE;
	gen = conn->gen;
	if (expired)
		conn->expired = expired;
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

	/* A broken engine blocked in read() or poll() learns at once. */
	wake_up_interruptible_all(&conn->read_wq);

	/*
	 * Nothing can be queued any more, so these are all requests that will
	 * ever exist for this engine, except a batch read() is copying out,
	 * which read() ends itself (with ETIMEDOUT for @expired). Abandoned
	 * ones are settled by bus1_request_end(); what they would queue is
	 * refused.
	 */
	list_for_each_entry_safe(req, t, &dead, link) {
		list_del_init(&req->link);
		if (!req->one_way)
			bus1_request_end(req, expired && req->seq == expired ?
					 -ETIMEDOUT : -ENOTCONN, NULL, 0);
		bus1_request_put(req);
	}

	bus1_peer_wake_all(gen);

	/* A write() of this engine in progress finishes first; see above. */
	mutex_lock(&conn->write_mutex);
	bus1_route_drop_gen(gen);
	bus1_data_drop_gen(gen);
	mutex_unlock(&conn->write_mutex);

	spin_lock(&conn->lock);
	conn->state = BUS1_CONN_NONE;
	conn->file = NULL;
	spin_unlock(&conn->lock);
}

static void bus1_engine_timeout(struct work_struct *work)
{
	struct bus1_conn *conn = container_of(to_delayed_work(work),
					      struct bus1_conn, timeout_work);
	unsigned int ms = READ_ONCE(bus1_request_timeout_ms);
	unsigned long start, deadline, next = HZ;
	struct bus1_request *oldest;
	u64 seq;

	spin_lock(&conn->lock);
	oldest = conn->state == BUS1_CONN_ATTACHED ?
		 bus1_engine_oldest(conn) : NULL;
	if (!oldest) {
		/* Armed again by the next two-way request. */
		spin_unlock(&conn->lock);
		return;
	}
	if (ms) {
		start = oldest->queued_at;
		if (time_after(conn->progress_at, start))
			start = conn->progress_at;
		deadline = start + msecs_to_jiffies(ms);
		if (time_after_eq(jiffies, deadline)) {
			seq = oldest->seq;
			pr_notice("bus1: engine did not answer request %llu within %u ms, disconnecting it\n",
				  seq, ms);
			bus1_engine_teardown(conn, seq);
			return;
		}
		next = min(next, deadline - jiffies);
	}
	spin_unlock(&conn->lock);
	schedule_delayed_work(&conn->timeout_work, next);
}

/* Wake the engine if quiet records still wait for it. */
static void bus1_engine_quiet(struct work_struct *work)
{
	struct bus1_conn *conn = container_of(to_delayed_work(work),
					      struct bus1_conn, quiet_work);
	bool pending;

	spin_lock(&conn->lock);
	pending = !list_empty(&conn->pending);
	spin_unlock(&conn->lock);
	if (pending)
		wake_up_interruptible_poll(&conn->read_wq,
					   EPOLLIN | EPOLLRDNORM);
}

/**
 * bus1_engine_exit() - stop the delayed work at module unload
 *
 * No control file is open any more, but a work item may still be running.
 */
void bus1_engine_exit(void)
{
	cancel_delayed_work_sync(&bus1_conn.timeout_work);
	cancel_delayed_work_sync(&bus1_conn.quiet_work);
}

static int bus1_engine_open(struct inode *inode, struct file *file)
{
	struct bus1_conn *conn = &bus1_conn;
	int r = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	spin_lock(&conn->lock);
	if (conn->file)
		r = -EBUSY;
	else
		conn->file = file;
	spin_unlock(&conn->lock);
	if (r)
		return r;

	r = stream_open(inode, file);
	if (r)
		return r;
	file->f_mode |= FMODE_NOWAIT;
	return 0;
}

static int bus1_engine_release(struct inode *inode, struct file *file)
{
	struct bus1_conn *conn = &bus1_conn;

	spin_lock(&conn->lock);
	if (conn->file == file && conn->state == BUS1_CONN_ATTACHED) {
		bus1_engine_teardown(conn, 0);
		return 0;
	}
	/*
	 * Not attached: give the device back. Broken: the teardown cleared
	 * @file, or will once it is done.
	 */
	if (conn->file == file && conn->state == BUS1_CONN_NONE)
		conn->file = NULL;
	spin_unlock(&conn->lock);
	return 0;
}

/* Whether read() on @file has something to do: requests, or an error. */
static bool bus1_engine_readable(struct bus1_conn *conn, struct file *file)
{
	bool r;

	spin_lock(&conn->lock);
	r = !bus1_engine_connected(conn, file) || !list_empty(&conn->pending);
	spin_unlock(&conn->lock);
	return r;
}

/*
 * Move the oldest pending requests that fit in @count bytes to @reading,
 * if @file is still the attached engine; return its generation in @gen.
 */
static int bus1_engine_batch(struct bus1_conn *conn, struct file *file,
			     size_t count, u64 *gen)
{
	struct bus1_request *req, *last = NULL;
	size_t size = 0;
	int r = 0;

	spin_lock(&conn->lock);
	if (!bus1_engine_connected(conn, file)) {
		r = bus1_engine_file_error(conn, file);
		goto out;
	}
	*gen = conn->gen;
	list_for_each_entry(req, &conn->pending, link) {
		if (req->size > count - size)
			break;
		size += req->size;
		last = req;
	}
	if (last)
		list_cut_position(&conn->reading, &conn->pending, &last->link);
out:
	spin_unlock(&conn->lock);
	return r;
}

/*
 * A one-way record ends when read; there is nobody to tell. Its owner may
 * reuse it as soon as the lock is dropped, so only a last reference is
 * freed, later, from @gone. Under the lock.
 */
static void bus1_engine_one_way_done(struct bus1_request *req,
				     struct list_head *gone)
{
	req->state = BUS1_REQUEST_DONE;
	if (!refcount_dec_not_one(&req->ref.refcount))
		list_add_tail(&req->link, gone);
}

/* Whether a read or write through @iocb must not sleep. */
static bool bus1_engine_nowait(struct kiocb *iocb)
{
	return (iocb->ki_flags & IOCB_NOWAIT) ||
	       (iocb->ki_filp->f_flags & O_NONBLOCK);
}

/* Take @mutex, or fail with EAGAIN if @nowait and it is contended. */
static int bus1_engine_lock(struct mutex *mutex, bool nowait)
{
	if (!nowait)
		return mutex_lock_interruptible(mutex);
	return mutex_trylock(mutex) ? 0 : -EAGAIN;
}

static ssize_t bus1_engine_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct bus1_conn *conn = &bus1_conn;
	struct file *file = iocb->ki_filp;
	size_t count = iov_iter_count(to);
	bool nowait = bus1_engine_nowait(iocb);
	struct bus1_request *req, *t;
	LIST_HEAD(gone);
	size_t copied = 0, n = 0;
	u64 gen = 0, expired;
	bool broken;
	int r;

	r = bus1_engine_check_file(conn, file);
	if (r)
		return r;
	if (count < bus1_max_record)
		return -EINVAL;

	r = bus1_engine_lock(&conn->read_mutex, nowait);
	if (r)
		return r;

	for (;;) {
		r = bus1_engine_batch(conn, file, count, &gen);
		if (r)
			goto out;
		if (!list_empty(&conn->reading))
			break;
		if (nowait) {
			r = -EAGAIN;
			goto out;
		}
		r = wait_event_interruptible(conn->read_wq,
					     bus1_engine_readable(conn, file));
		if (r)
			goto out;
	}

	/*
	 * Only this reader changes @reading, so it is walked without the
	 * lock. A record copied only in part counts as not read.
	 */
	list_for_each_entry(req, &conn->reading, link) {
		if (copy_to_iter(req->rec, req->size, to) != req->size)
			break;
		copied += req->size;
		++n;
	}

	spin_lock(&conn->lock);
	/* The connection broke while copying: the batch ends here. */
	broken = !bus1_engine_connected(conn, file) || conn->gen != gen;
	expired = conn->expired;
	if (!broken && n)
		conn->progress_at = jiffies;
	list_for_each_entry_safe(req, t, &conn->reading, link) {
		if (!broken && !n--)
			break;
		list_del_init(&req->link);
		if (req->one_way) {
			bus1_engine_one_way_done(req, &gone);
		} else if (broken) {
			req->state = BUS1_REQUEST_DONE;
			list_add_tail(&req->link, &gone);
		} else {
			req->state = BUS1_REQUEST_SENT;
			bus1_engine_sent_add(conn, req);
		}
	}
	list_splice_init(&conn->reading, &conn->pending);
	spin_unlock(&conn->lock);

	list_for_each_entry_safe(req, t, &gone, link) {
		list_del_init(&req->link);
		if (!req->one_way)
			bus1_request_end(req, req->seq == expired ?
					 -ETIMEDOUT : -ENOTCONN, NULL, 0);
		bus1_request_put(req);
	}

	if (broken)
		r = -ENOTCONN;
	else
		r = copied ? copied : -EFAULT;
out:
	mutex_unlock(&conn->read_mutex);
	return r;
}

/* The generation of the engine writing through @file, or an error. */
static int bus1_engine_writer_gen(struct file *file, u64 *gen)
{
	struct bus1_conn *conn = &bus1_conn;
	int r = 0;

	spin_lock(&conn->lock);
	if (bus1_engine_connected(conn, file))
		*gen = conn->gen;
	else
		r = bus1_engine_file_error(conn, file);
	spin_unlock(&conn->lock);
	return r;
}

/* Whether an ITEM's payload is a data reference instead of bytes. */
static bool bus1_engine_item_by_ref(const struct bus1_engine_item *it)
{
	return it->n_data >= BUS1_ENGINE_DATA_REF_MIN;
}

/* Whether an ITEM's counts, size and padding agree. */
static bool bus1_engine_item_valid(const struct bus1_item *item)
{
	const struct bus1_engine_item *it = &item->it;
	size_t used;

	if (it->type >= _BUS1_MESSAGE_TYPE_N ||
	    it->n_transfers > bus1_max_items || it->n_data > bus1_max_data)
		return false;
	if (it->type != BUS1_MESSAGE_TYPE_USER &&
	    (it->n_transfers || it->n_data))
		return false;
	used = sizeof(*it) + it->n_transfers * sizeof(u64) +
	       (bus1_engine_item_by_ref(it) ? sizeof(u64) : it->n_data);
	if (item->size != round_up(used, 8))
		return false;
	return !memchr_inv((u8 *)it + used, 0, item->size - used);
}

/* Take a reference on the data an ITEM names, if it names any. */
static int bus1_engine_item_data(struct bus1_item *item, u64 gen)
{
	const u64 *ids = (const u64 *)item->data;
	struct bus1_data *data;

	if (!bus1_engine_item_by_ref(&item->it))
		return 0;
	data = bus1_data_find(ids[item->it.n_transfers], gen);
	if (!data)
		return -EINVAL;
	item->ref_data = data;
	return data->size == item->it.n_data ? 0 : -EINVAL;
}

static int bus1_engine_item(struct file *file,
			    const struct bus1_engine_hdr *hdr,
			    struct iov_iter *from)
{
	size_t size = hdr->size - sizeof(*hdr);
	struct bus1_item *item;
	u64 gen;
	int r;

	if (hdr->seq || hdr->error || size < sizeof(struct bus1_engine_item))
		return -EINVAL;
	r = bus1_engine_writer_gen(file, &gen);
	if (r)
		return r;

	/* Bounded by max_record; charged to the engine, which wrote it. */
	item = bus1_item_new(size - sizeof(item->it));
	if (!item)
		return -ENOMEM;
	if (!copy_from_iter_full(&item->it, size, from)) {
		r = -EFAULT;
		goto err;
	}
	if (!bus1_engine_item_valid(item)) {
		r = -EINVAL;
		goto err;
	}
	r = bus1_engine_item_data(item, gen);
	if (r)
		goto err;
	return bus1_peer_lend(hdr->peer, gen, item);

err:
	bus1_item_free(item);
	return r;
}

/* The fixed-size payload of an asynchronous record other than ITEM. */
union bus1_engine_async_payload {
	struct bus1_engine_peer_state peer_state;
	struct bus1_engine_retract retract;
	struct bus1_engine_data_release data_release;
	struct bus1_engine_route route;
	struct bus1_engine_revoke revoke;
};

static const size_t bus1_engine_async_size[] = {
	[BUS1_ENGINE_PEER_STATE] = sizeof(struct bus1_engine_peer_state),
	[BUS1_ENGINE_RETRACT] = sizeof(struct bus1_engine_retract),
	[BUS1_ENGINE_DATA_RELEASE] = sizeof(struct bus1_engine_data_release),
	[BUS1_ENGINE_ROUTE] = sizeof(struct bus1_engine_route),
	[BUS1_ENGINE_REVOKE] = sizeof(struct bus1_engine_revoke),
};

/*
 * Apply PEER_STATE, RETRACT, DATA_RELEASE, ROUTE or REVOKE: read its
 * payload, find the generation of the engine that wrote it (whose peers
 * ignore it if it broke meanwhile) and hand it on.
 */
static int bus1_engine_async(struct file *file,
			     const struct bus1_engine_hdr *hdr,
			     struct iov_iter *from)
{
	union bus1_engine_async_payload p;
	size_t size = bus1_engine_async_size[hdr->type];
	u64 gen;
	int r;

	if (hdr->seq || hdr->error || hdr->size != sizeof(*hdr) + size)
		return -EINVAL;
	if (!copy_from_iter_full(&p, size, from))
		return -EFAULT;
	r = bus1_engine_writer_gen(file, &gen);
	if (r)
		return r;

	switch (hdr->type) {
	case BUS1_ENGINE_PEER_STATE:
		if (p.peer_state.reserved || p.peer_state.readable > 1)
			return -EINVAL;
		bus1_peer_set_readable(hdr->peer, gen, p.peer_state.readable);
		return 0;
	case BUS1_ENGINE_RETRACT:
		bus1_peer_retract(hdr->peer, gen, p.retract.token);
		return 0;
	case BUS1_ENGINE_DATA_RELEASE:
		bus1_data_release(p.data_release.ref, gen);
		return 0;
	case BUS1_ENGINE_ROUTE:
		return bus1_route_grant(hdr->peer, gen, &p.route);
	default:
		return bus1_route_revoke(hdr->peer, gen, &p.revoke);
	}
}

static int bus1_engine_reply(struct file *file,
			     const struct bus1_engine_hdr *hdr,
			     struct iov_iter *from)
{
	struct bus1_conn *conn = &bus1_conn;
	size_t size = hdr->size - sizeof(*hdr);
	struct bus1_request *req = NULL;
	void *reply = NULL;
	int r = 0;

	if (!hdr->seq)
		return -EINVAL;

	spin_lock(&conn->lock);
	if (bus1_engine_connected(conn, file))
		req = bus1_engine_sent_find(conn, hdr->seq);
	else
		r = bus1_engine_file_error(conn, file);
	spin_unlock(&conn->lock);
	if (r)
		return r;
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
		if (!reply) {
			r = -ENOMEM;
			goto out;
		}
		if (!copy_from_iter_full(reply, size, from)) {
			kvfree(reply);
			r = -EFAULT;
			goto out;
		}
		r = bus1_request_check_reply(req, hdr->error, reply, size);
		if (r) {
			kvfree(reply);
			goto reject;
		}
	}

	return bus1_engine_complete(conn, req, hdr->error, reply, size);

reject:
	return bus1_engine_complete(conn, req, -EIO, NULL, 0) ?: r;
out:
	bus1_request_put(req);
	return r;
}

/*
 * Process one record, consuming it from @from (in part, if it is
 * rejected: the caller stops there); return its size or a negative errno.
 */
static ssize_t bus1_engine_record(struct file *file, struct iov_iter *from)
{
	size_t left = iov_iter_count(from);
	struct bus1_engine_hdr hdr;
	int r;

	if (left < sizeof(hdr))
		return -EINVAL;
	if (!copy_from_iter_full(&hdr, sizeof(hdr), from))
		return -EFAULT;
	if (hdr.size < sizeof(hdr) || hdr.size % 8 ||
	    hdr.size > bus1_max_record || hdr.size > left ||
	    hdr.flags || hdr.reserved)
		return -EINVAL;

	switch (hdr.type) {
	case BUS1_ENGINE_ITEM:
		r = bus1_engine_item(file, &hdr, from);
		break;
	case BUS1_ENGINE_PEER_STATE:
	case BUS1_ENGINE_RETRACT:
	case BUS1_ENGINE_DATA_RELEASE:
	case BUS1_ENGINE_ROUTE:
	case BUS1_ENGINE_REVOKE:
		r = bus1_engine_async(file, &hdr, from);
		break;
	case BUS1_ENGINE_PEER_NEW:
	case BUS1_ENGINE_TRANSFER:
	case BUS1_ENGINE_RELEASE:
	case BUS1_ENGINE_SEND:
	case BUS1_ENGINE_FETCH:
		r = bus1_engine_reply(file, &hdr, from);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r)
		return r;
	/* An accepted record is consumed whole, whatever its type read. */
	iov_iter_advance(from, hdr.size - (left - iov_iter_count(from)));
	return hdr.size;
}

/*
 * The records of one write() are one step for a RECV too: @write_seq is odd
 * while they are applied. Each record's effect on a peer is published under
 * that peer's lock, whose release orders the odd value before it, so a RECV
 * that saw any of them sees the write in progress. Under @write_mutex.
 */
static void bus1_engine_write_begin(struct bus1_conn *conn)
{
	WRITE_ONCE(conn->write_seq, conn->write_seq + 1);
}

static void bus1_engine_write_end(struct bus1_conn *conn)
{
	/* Pairs with the acquire in bus1_engine_settle(). */
	smp_store_release(&conn->write_seq, conn->write_seq + 1);
	if (wq_has_sleeper(&conn->write_wq))
		wake_up_all(&conn->write_wq);
}

/**
 * bus1_engine_settle() - wait for the engine's write() in progress to end
 *
 * A RECV that finds nothing lent calls this before it trusts that: it may
 * have taken the first ITEM of a transaction while the module still applies
 * the rest and the PEER_STATE after them, and returning EAGAIN then would
 * show it part of one transaction. Never waits for the engine itself, only
 * for a write() already under way; a fatal signal ends the wait.
 */
void bus1_engine_settle(void)
{
	struct bus1_conn *conn = &bus1_conn;
	unsigned int seq = smp_load_acquire(&conn->write_seq);

	if (seq & 1)
		wait_event_killable(conn->write_wq,
				    smp_load_acquire(&conn->write_seq) != seq);
}

static ssize_t bus1_engine_write_iter(struct kiocb *iocb,
				      struct iov_iter *from)
{
	struct bus1_conn *conn = &bus1_conn;
	struct file *file = iocb->ki_filp;
	size_t count = iov_iter_count(from);
	ssize_t r = 0;
	size_t done = 0;

	r = bus1_engine_check_file(conn, file);
	if (r)
		return r;

	r = bus1_engine_lock(&conn->write_mutex, bus1_engine_nowait(iocb));
	if (r)
		return r;
	/* The records of one write() are one step for routed sends. */
	r = bus1_route_order_write(bus1_engine_nowait(iocb));
	if (r) {
		mutex_unlock(&conn->write_mutex);
		return r;
	}
	bus1_engine_write_begin(conn);
	while (done < count) {
		r = bus1_engine_record(file, from);
		if (r < 0)
			break;
		done += r;
		WRITE_ONCE(conn->n_records, conn->n_records + 1);
	}
	/*
	 * A refused record counts once, in the write() that reports it:
	 * after accepted records, write() returns their length, and the
	 * engine writes again from the refused one to learn its errno.
	 */
	if (r < 0 && !done) {
		WRITE_ONCE(conn->n_records, conn->n_records + 1);
		WRITE_ONCE(conn->n_rejected, conn->n_rejected + 1);
	}
	bus1_engine_write_end(conn);
	bus1_route_order_write_end();
	mutex_unlock(&conn->write_mutex);

	return done ? done : r;
}

static __poll_t bus1_engine_poll(struct file *file, poll_table *wait)
{
	struct bus1_conn *conn = &bus1_conn;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &conn->read_wq, wait);
	spin_lock(&conn->lock);
	if (conn->file != file || conn->state == BUS1_CONN_GONE)
		mask |= EPOLLERR | EPOLLHUP;
	else if (!list_empty(&conn->pending))
		mask |= EPOLLIN | EPOLLRDNORM;
	spin_unlock(&conn->lock);
	return mask;
}

static int bus1_engine_attach(struct file *file, void __user *arg)
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
	if (conn->file != file || conn->state == BUS1_CONN_GONE) {
		r = -ENOTCONN;
	} else if (conn->state == BUS1_CONN_ATTACHED) {
		r = -EALREADY;
	} else {
		conn->state = BUS1_CONN_ATTACHED;
		++conn->gen;
		conn->attach_seq = conn->seq;
		conn->progress_at = jiffies;
		WRITE_ONCE(conn->n_records, 0);
		WRITE_ONCE(conn->n_rejected, 0);
	}
	spin_unlock(&conn->lock);
	return r;
}

/**
 * bus1_engine_info() - a snapshot of the connection, for debugfs
 * @info:	output.
 */
void bus1_engine_info(struct bus1_engine_info *info)
{
	struct bus1_conn *conn = &bus1_conn;
	struct bus1_request *req, *oldest;
	struct rb_node *node;

	memset(info, 0, sizeof(*info));
	spin_lock(&conn->lock);
	switch (conn->state) {
	case BUS1_CONN_ATTACHED:
		info->state = BUS1_ENGINE_INFO_ATTACHED;
		break;
	case BUS1_CONN_GONE:
		info->state = BUS1_ENGINE_INFO_GONE;
		break;
	default:
		info->state = BUS1_ENGINE_INFO_NONE;
		break;
	}
	info->gen = conn->gen;
	info->n_requests = conn->seq - conn->attach_seq;
	list_for_each_entry(req, &conn->pending, link)
		++info->n_pending;
	for (node = rb_first(&conn->sent); node; node = rb_next(node))
		++info->n_sent;
	oldest = bus1_engine_oldest(conn);
	if (oldest)
		info->oldest_ms = jiffies_to_msecs(jiffies - oldest->queued_at);
	spin_unlock(&conn->lock);
	info->n_records = READ_ONCE(conn->n_records);
	info->n_rejected = READ_ONCE(conn->n_rejected);
}

/**
 * bus1_engine_abort() - disconnect the attached engine
 *
 * Ends the connection as if the engine had exited; the engine finds its
 * control file dead (ENOTCONN) and a new engine may attach.
 *
 * Return: 0, or -ENOTCONN if no engine is attached.
 */
int bus1_engine_abort(void)
{
	struct bus1_conn *conn = &bus1_conn;

	spin_lock(&conn->lock);
	if (conn->state != BUS1_CONN_ATTACHED) {
		spin_unlock(&conn->lock);
		return -ENOTCONN;
	}
	pr_notice("bus1: engine disconnected through debugfs\n");
	bus1_engine_teardown(conn, 0);
	return 0;
}

static long bus1_engine_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	switch (cmd) {
	case BUS1_ENGINE_IOCTL_ATTACH:
		return bus1_engine_attach(file, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

const struct file_operations bus1_engine_fops = {
	.owner		= THIS_MODULE,
	.open		= bus1_engine_open,
	.release	= bus1_engine_release,
	.read_iter	= bus1_engine_read_iter,
	.write_iter	= bus1_engine_write_iter,
	.poll		= bus1_engine_poll,
	.unlocked_ioctl	= bus1_engine_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};
