/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * The test is the engine: it stops bus1d, attaches to /dev/bus1-engine
 * itself and drives the module through the control protocol into states a
 * well-behaved engine never makes, where the module's teardown and
 * locking paths live:
 *
 *  - a route granted to a peer whose PEER_NEW the engine then refused
 *    queues nothing: that peer is closed, nobody could ever receive;
 *  - a routed send never waits for an engine write() in progress: with a
 *    write() stalled on a page fault of the engine's own buffer (a
 *    userfaultfd page), the send takes the engine path instead;
 *  - a batch a read() is copying out is seen by the request timeout: a
 *    read() stalled the same way, with a request in the batch, ends with
 *    the engine declared broken and that request with ETIMEDOUT;
 *  - teardown (the debugfs abort, the request timeout, the engine's
 *    exit) races with engine writes of every record type, routes
 *    included, with routed sends and with receives, round after round.
 *    STRESS_ROUNDS sets the number of rounds (make check-debug runs
 *    more); the kernel log scan and the slab poisoning of the test VM
 *    judge the outcome, and every round must end with no route left.
 *
 * Leaves the real engine running and the default request timeout set.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/bus1-engine.h>
#include <linux/userfaultfd.h>
#include "util.h"

#define TIMEOUT_PARAM "/sys/module/bus1/parameters/request_timeout_ms"
#define ABORT_FILE "/sys/kernel/debug/bus1/abort"
#define DEFAULT_TIMEOUT_MS 30000
#define PAGE 4096
#define WAIT_MS 3000

static int engine_ctl(const char *what)
{
	const char *top = getenv("BUS1_TOP");
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "'%s'/scripts/guest-engine.sh %s",
		 top ? top : "../..", what);
	fflush(stdout);
	return system(cmd);
}

static void set_timeout_ms(unsigned int ms)
{
	FILE *f = fopen(TIMEOUT_PARAM, "we");

	assert_non_null(f);
	assert_true(fprintf(f, "%u\n", ms) > 0);
	assert_int_equal(fclose(f), 0);
}

/* ---- the control device, as an engine sees it ---------------------- */

/* An attached control file and a buffer of requests read but not taken. */
struct ctl {
	int fd;
	size_t max;
	unsigned char *buf;
	size_t len, off;
};

/* The control file of the running case; the case's teardown closes it. */
static struct ctl ctl = { .fd = -1 };

static void ctl_attach(struct ctl *c)
{
	struct bus1_engine_attach att = { .version = BUS1_ENGINE_VERSION };
	int i;

	memset(c, 0, sizeof(*c));
	/* The last engine's teardown may still be running (EBUSY). */
	for (i = 0; i < WAIT_MS / 10; ++i) {
		c->fd = open("/dev/bus1-engine", O_RDWR | O_CLOEXEC);
		if (c->fd >= 0 || errno != EBUSY)
			break;
		usleep(10000);
	}
	if (c->fd < 0)
		fail_msg("open /dev/bus1-engine: %s", strerror(errno));
	assert_int_equal(ioctl(c->fd, BUS1_ENGINE_IOCTL_ATTACH, &att), 0);
	c->max = att.max_record;
	c->buf = malloc(c->max);
	assert_non_null(c->buf);
}

static void ctl_close(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

/* The next request, waiting up to @timeout_ms; NULL if none came. */
static const struct bus1_engine_hdr *ctl_next(struct ctl *c, int timeout_ms)
{
	const struct bus1_engine_hdr *h;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	if (c->off >= c->len) {
		if (poll(&pfd, 1, timeout_ms) != 1 || !(pfd.revents & POLLIN))
			return NULL;
		n = read(c->fd, c->buf, c->max);
		if (n <= 0)
			return NULL;
		c->len = n;
		c->off = 0;
	}
	h = (const void *)(c->buf + c->off);
	assert_true(h->size >= sizeof(*h) && c->off + h->size <= c->len);
	c->off += h->size;
	return h;
}

/* The next request of @type, skipping one-way records; NULL on timeout. */
static const struct bus1_engine_hdr *ctl_expect(struct ctl *c, uint16_t type,
						int timeout_ms)
{
	const struct bus1_engine_hdr *h;
	double deadline = test_now() + timeout_ms / 1000.0;

	while (test_now() < deadline) {
		h = ctl_next(c, 50);
		if (h && h->type == type)
			return h;
		if (h && h->type != BUS1_ENGINE_PEER_RELEASE &&
		    h->type != BUS1_ENGINE_RECV_DONE &&
		    h->type != BUS1_ENGINE_ROUTE_DONE)
			fail_msg("request of type %u while waiting for %u",
				 h->type, type);
	}
	return NULL;
}

static void ctl_write(struct ctl *c, const void *rec, size_t size)
{
	assert_int_equal(write(c->fd, rec, size), (ssize_t)size);
}

/*
 * The correct reply to @req with @error into @out (room for max_record);
 * returns its size. Fresh IDs for TRANSFER, all-zero results for SEND.
 */
static size_t reply_to(const struct bus1_engine_hdr *req, int error,
		       void *out)
{
	static uint64_t next_id = 1001;
	struct bus1_engine_hdr *h = out;
	size_t size = sizeof(*h);

	*h = (struct bus1_engine_hdr){ .type = req->type, .seq = req->seq,
				       .peer = req->peer, .error = error };
	if (!error && req->type == BUS1_ENGINE_SEND) {
		const struct bus1_engine_send *s = (const void *)(req + 1);
		size_t n = (s->n_destinations * 4 + 7) & ~7ULL;

		memset(h + 1, 0, n);
		size += n;
	} else if (!error && req->type == BUS1_ENGINE_TRANSFER) {
		const struct bus1_engine_transfer *t = (const void *)(req + 1);
		const struct bus1_transfer *in = (const void *)(t + 1);
		struct bus1_transfer *o = (void *)(h + 1);

		for (uint64_t i = 0; i < t->n; ++i) {
			o[i] = (struct bus1_transfer){ 0, in[i].id };
			if (in[i].flags & BUS1_TRANSFER_FLAG_CREATE)
				o[i].id = (next_id += 2);
			o[t->n + i] = (struct bus1_transfer){ 0,
							      (next_id += 2) };
		}
		size += 2 * t->n * sizeof(*o);
	}
	h->size = size;
	return size;
}

static void ctl_reply(struct ctl *c, const struct bus1_engine_hdr *req,
		      int error)
{
	void *out = malloc(c->max);

	assert_non_null(out);
	ctl_write(c, out, reply_to(req, error, out));
	free(out);
}

struct route_rec {
	struct bus1_engine_hdr h;
	struct bus1_engine_route r;
};

static struct route_rec route_rec(uint64_t src, uint64_t id, uint64_t handle,
				  uint64_t dst)
{
	return (struct route_rec){
		{ .size = sizeof(struct route_rec), .type = BUS1_ENGINE_ROUTE,
		  .peer = src },
		{ .route = id, .handle = handle, .dst_peer = dst,
		  .dst_id = 3, .account = 0, .credit_items = 8,
		  .credit_bytes = 4096 },
	};
}

struct revoke_rec {
	struct bus1_engine_hdr h;
	struct bus1_engine_revoke r;
};

static struct revoke_rec revoke_rec(uint64_t src, uint64_t id, uint64_t flags)
{
	return (struct revoke_rec){
		{ .size = sizeof(struct revoke_rec),
		  .type = BUS1_ENGINE_REVOKE, .peer = src },
		{ .route = id, .flags = flags },
	};
}

struct state_rec {
	struct bus1_engine_hdr h;
	struct bus1_engine_peer_state s;
};

static struct state_rec state_rec(uint64_t peer, bool readable)
{
	return (struct state_rec){
		{ .size = sizeof(struct state_rec),
		  .type = BUS1_ENGINE_PEER_STATE, .peer = peer },
		{ .readable = readable },
	};
}

/* ---- application calls in threads ----------------------------------- */

/* One blocking application call, run in a thread so the test can answer. */
struct call {
	pthread_t thread;
	int (*fn)(struct call *);
	int fd;
	uint64_t handle;
	int result;
};

static void *call_run(void *arg)
{
	struct call *c = arg;

	c->result = c->fn(c);
	return NULL;
}

static void call_start(struct call *c, int (*fn)(struct call *))
{
	c->fn = fn;
	assert_int_equal(pthread_create(&c->thread, NULL, call_run, c), 0);
}

/* Whether the call ended within @timeout_ms (then it is joined). */
static bool call_join(struct call *c, int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return !pthread_timedjoin_np(c->thread, NULL, &ts);
}

static int call_open(struct call *c)
{
	(void)c;
	return bus1_peer_new();
}

static int call_send(struct call *c)
{
	struct iovec vec = { "routed", 6 };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = 6,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int32_t err = 0x5a5a;
	int r;

	r = bus1_cmd_send(c->fd, 1, &c->handle, &err, &msg);
	return r ? r : err;
}

/* Open a peer, answering its PEER_NEW with @error; *@id is its peer ID. */
static int open_peer(struct ctl *ctl, int error, uint64_t *id)
{
	const struct bus1_engine_hdr *req;
	struct call c = {};

	call_start(&c, call_open);
	req = ctl_expect(ctl, BUS1_ENGINE_PEER_NEW, WAIT_MS);
	assert_non_null(req);
	*id = req->peer;
	ctl_reply(ctl, req, error);
	assert_true(call_join(&c, WAIT_MS));
	return c.result;
}

/* ---- userfaultfd: engine buffers whose pages stall the kernel ------ */

struct stall {
	int uffd;
	unsigned char *area;
	size_t len;
};

/*
 * @len bytes (rounded up to pages) of which the pages from @from (a page
 * boundary) on fault to the test.
 */
static void stall_map(struct stall *s, size_t len, size_t from)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	len = (len + PAGE - 1) & ~(size_t)(PAGE - 1);
	s->len = len;
	s->area = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(s->area != MAP_FAILED);
	if (from)
		memset(s->area, 0, from);
	s->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (s->uffd < 0)
		fail_msg("userfaultfd: %s", strerror(errno));
	assert_int_equal(ioctl(s->uffd, UFFDIO_API, &api), 0);
	reg.range.start = (uintptr_t)s->area + from;
	reg.range.len = len - from;
	assert_int_equal(ioctl(s->uffd, UFFDIO_REGISTER, &reg), 0);
}

/* Wait until the kernel stalls on a page; return its offset, or -1. */
static ssize_t stall_wait(struct stall *s)
{
	struct pollfd pfd = { .fd = s->uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, WAIT_MS) != 1 ||
	    read(s->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT)
		return -1;
	return (msg.arg.pagefault.address & ~(uint64_t)(PAGE - 1)) -
	       (uintptr_t)s->area;
}

/* Fill the page at @off with @page (PAGE bytes), waking the kernel. */
static void stall_release(struct stall *s, size_t off, const void *page)
{
	struct uffdio_copy copy = {
		.dst = (uintptr_t)s->area + off,
		.src = (uintptr_t)page,
		.len = PAGE,
	};

	assert_int_equal(ioctl(s->uffd, UFFDIO_COPY, &copy), 0);
}

static void stall_unmap(struct stall *s)
{
	close(s->uffd);
	munmap(s->area, s->len);
}

/* A read() or write() on the control file, run in a thread: it stalls. */
struct io {
	pthread_t thread;
	int fd;
	void *buf;
	size_t n;
	ssize_t r;
	int err;
};

static void *io_read(void *arg)
{
	struct io *io = arg;

	io->r = read(io->fd, io->buf, io->n);
	io->err = errno;
	return NULL;
}

static void *io_write(void *arg)
{
	struct io *io = arg;

	io->r = write(io->fd, io->buf, io->n);
	io->err = errno;
	return NULL;
}

/* ---- the cases -------------------------------------------------------- */

/*
 * A route is granted to a peer still being created, then its PEER_NEW is
 * refused: the open fails, and a send through the route goes to the
 * engine instead of queuing a message nobody can ever receive.
 */
static void test_route_to_refused_peer(void **state)
{
	const struct bus1_engine_hdr *req;
	struct route_rec rt;
	struct revoke_rec rv;
	struct call c = {}, send = {};
	uint64_t a_id, b_id, sends;
	int a;

	(void)state;
	ctl_attach(&ctl);
	a = open_peer(&ctl, 0, &a_id);
	assert_true(a >= 0);

	call_start(&c, call_open);
	req = ctl_expect(&ctl, BUS1_ENGINE_PEER_NEW, WAIT_MS);
	assert_non_null(req);
	b_id = req->peer;
	rt = route_rec(a_id, 1, 5, b_id);
	ctl_write(&ctl, &rt, sizeof(rt));
	ctl_reply(&ctl, req, -EPERM);
	assert_true(call_join(&c, WAIT_MS));
	assert_int_equal(c.result, -EPERM);

	sends = test_debugfs("route_sends");
	send.fd = a;
	send.handle = 5;
	call_start(&send, call_send);
	req = ctl_expect(&ctl, BUS1_ENGINE_SEND, WAIT_MS);
	if (req)
		ctl_reply(&ctl, req, 0);
	assert_true(call_join(&send, WAIT_MS));
	assert_non_null(req);
	assert_int_equal(send.result, 0);
	assert_int_equal(test_debugfs("route_sends"), sends);

	/* It holds nothing, so its ROUTE_DONE follows the REVOKE at once. */
	rv = revoke_rec(a_id, 1, BUS1_ENGINE_REVOKE_DISCARD);
	ctl_write(&ctl, &rv, sizeof(rv));
	assert_non_null(ctl_expect(&ctl, BUS1_ENGINE_ROUTE_DONE, WAIT_MS));
	close(a);
	ctl_close(&ctl);
}

/*
 * An engine write() stalls on a page fault after its first record, with
 * the route order held: a routed send does not wait for it but reaches
 * the engine as a SEND request, which the engine reads meanwhile.
 */
static void test_routed_send_beside_stalled_write(void **state)
{
	static unsigned char page[PAGE];
	const struct bus1_engine_hdr *req;
	struct call send = {};
	struct state_rec st;
	struct route_rec rt;
	struct stall stall;
	uint64_t a_id, b_id, sends;
	struct io w = {};
	int a, b;

	(void)state;
	ctl_attach(&ctl);
	a = open_peer(&ctl, 0, &a_id);
	b = open_peer(&ctl, 0, &b_id);
	assert_true(a >= 0 && b >= 0);
	rt = route_rec(a_id, 1, 5, b_id);
	ctl_write(&ctl, &rt, sizeof(rt));

	/* The route works: the module queues the send itself. */
	sends = test_debugfs("route_sends");
	test_send_ok(a, 5, "direct", 6);
	assert_int_equal(test_debugfs("route_sends"), sends + 1);
	test_expect_user(b, 3, "direct", 6);

	/* Two PEER_STATE records; the second starts on a stalling page. */
	stall_map(&stall, 2 * PAGE, PAGE);
	st = state_rec(b_id, false);
	memcpy(stall.area + PAGE - sizeof(st), &st, sizeof(st));
	memcpy(page, &st, sizeof(st));

	w.fd = ctl.fd;
	w.buf = stall.area + PAGE - sizeof(st);
	w.n = 2 * sizeof(st);
	assert_int_equal(pthread_create(&w.thread, NULL, io_write, &w), 0);
	assert_int_equal(stall_wait(&stall), PAGE);

	send.fd = a;
	send.handle = 5;
	call_start(&send, call_send);
	req = ctl_expect(&ctl, BUS1_ENGINE_SEND, WAIT_MS);

	stall_release(&stall, PAGE, page);
	pthread_join(w.thread, NULL);
	if (req)
		ctl_reply(&ctl, req, 0);
	assert_true(call_join(&send, WAIT_MS));
	assert_non_null(req);
	assert_int_equal(req->peer, a_id);
	assert_int_equal(send.result, 0);
	assert_int_equal(w.r, 2 * sizeof(st));
	assert_int_equal(test_debugfs("route_sends"), sends + 1);

	stall_unmap(&stall);
	close(a);
	close(b);
	ctl_close(&ctl);
}

/*
 * The engine's read() stalls on a page fault while it copies a PEER_NEW
 * out. The timeout sees the request all the same: the connection breaks
 * within the timeout, the read() returns ENOTCONN once it can, and the
 * open fails with ETIMEDOUT.
 */
static void test_timeout_during_read(void **state)
{
	static unsigned char page[PAGE];
	struct pollfd pfd;
	struct stall stall;
	struct call open = {};
	struct io rd = {};

	(void)state;
	set_timeout_ms(300);
	ctl_attach(&ctl);
	call_start(&open, call_open);
	pfd = (struct pollfd){ .fd = ctl.fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);

	stall_map(&stall, ctl.max, 0);
	rd.fd = ctl.fd;
	rd.buf = stall.area;
	rd.n = ctl.max;
	assert_int_equal(pthread_create(&rd.thread, NULL, io_read, &rd), 0);
	assert_int_equal(stall_wait(&stall), 0);
	/* Well beyond the timeout and the check's period. */
	usleep(1500 * 1000);
	stall_release(&stall, 0, page);
	pthread_join(rd.thread, NULL);

	if (!call_join(&open, WAIT_MS)) {
		/* Not broken: end it, so the thread can be joined. */
		ctl_close(&ctl);
		assert_true(call_join(&open, WAIT_MS));
		fail_msg("the open was still waiting after the read returned %zd",
			 rd.r);
	}
	assert_int_equal(rd.r, -1);
	assert_int_equal(rd.err, ENOTCONN);
	assert_int_equal(open.result, -ETIMEDOUT);

	stall_unmap(&stall);
	ctl_close(&ctl);
	set_timeout_ms(DEFAULT_TIMEOUT_MS);
}

/* ---- teardown against writes of every record type --------------------- */

enum { TEAR_ABORT, TEAR_TIMEOUT, TEAR_EXIT, TEAR_N };

#define STRESS_ROUTES 64

/* What the threads of one round share. */
struct round {
	struct ctl *ctl;
	int a, b;
	_Atomic uint64_t a_id, b_id;
	_Atomic bool mute;	/* the engine stops reading and answering */
	_Atomic bool stop;	/* the engine exits */
	_Atomic uint64_t handles[STRESS_ROUTES];
	_Atomic unsigned int n_handles;
	unsigned int round;
};

/* The engine's reader: answers every two-way request correctly. */
static void *stress_answer(void *arg)
{
	struct round *rd = arg;
	struct ctl *c = rd->ctl;
	void *out = malloc(c->max);
	unsigned int n_new = 0;

	while (out && !rd->stop) {
		const struct bus1_engine_hdr *h;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

		if (rd->mute) {
			usleep(1000);
			continue;
		}
		if (c->off >= c->len) {
			ssize_t n;

			if (poll(&pfd, 1, 10) != 1)
				continue;
			if (pfd.revents & (POLLERR | POLLHUP))
				break;
			n = read(c->fd, c->buf, c->max);
			if (n <= 0)
				break;
			c->len = n;
			c->off = 0;
			/* Muted meanwhile: these stay unanswered. */
			continue;
		}
		h = (const void *)(c->buf + c->off);
		c->off += h->size;
		if (h->type == BUS1_ENGINE_PEER_NEW)
			atomic_store(n_new++ ? &rd->b_id : &rd->a_id, h->peer);
		if (h->type == BUS1_ENGINE_PEER_RELEASE ||
		    h->type == BUS1_ENGINE_RECV_DONE ||
		    h->type == BUS1_ENGINE_ROUTE_DONE)
			continue;
		if (write(c->fd, out, reply_to(h, 0, out)) < 0)
			break;
	}
	free(out);
	return NULL;
}

/* One random asynchronous record for the round, into @buf; its size. */
static size_t stress_record(struct round *rd, unsigned int *seed, void *buf,
			    uint64_t *route_id, uint64_t *token,
			    uint64_t *revoked)
{
	uint64_t a = rd->a_id, b = rd->b_id;
	struct bus1_engine_hdr *h = buf;

	switch (rand_r(seed) % 6) {
	case 0: {
		struct bus1_engine_item *it = (void *)(h + 1);

		*h = (struct bus1_engine_hdr){
			.size = sizeof(*h) + sizeof(*it) + 8,
			.type = BUS1_ENGINE_ITEM, .peer = b };
		*it = (struct bus1_engine_item){
			.token = ++*token, .type = BUS1_MESSAGE_TYPE_USER,
			.id = 3, .account = 0, .n_data = 4 };
		memcpy(it + 1, "lent\0\0\0", 8);
		return h->size;
	}
	case 1: {
		struct route_rec *r = buf;
		uint64_t handle = ((1000 + *route_id) << 1) | BUS1_MANAGED;
		unsigned int n = rd->n_handles;

		*r = route_rec(a, ++*route_id, handle, b);
		if (n < STRESS_ROUTES) {
			rd->handles[n] = handle;
			rd->n_handles = n + 1;
		}
		return sizeof(*r);
	}
	case 2:
		if (*revoked < *route_id) {
			struct revoke_rec *v = buf;

			*v = revoke_rec(a, ++*revoked, rand_r(seed) & 1 ?
					BUS1_ENGINE_REVOKE_DISCARD : 0);
			return sizeof(*v);
		}
		/* fall through */
	case 3: {
		struct state_rec *s = buf;

		*s = state_rec(rand_r(seed) & 1 ? a : b, rand_r(seed) % 4 == 0);
		return sizeof(*s);
	}
	case 4: {
		struct {
			struct bus1_engine_hdr h;
			struct bus1_engine_retract t;
		} *t = buf;

		t->h = (struct bus1_engine_hdr){ .size = sizeof(*t),
			.type = BUS1_ENGINE_RETRACT, .peer = b };
		t->t.token = *token ? 1 + rand_r(seed) % *token : 0;
		return sizeof(*t);
	}
	default: {
		struct {
			struct bus1_engine_hdr h;
			struct bus1_engine_data_release d;
		} *d = buf;

		d->h = (struct bus1_engine_hdr){ .size = sizeof(*d),
			.type = BUS1_ENGINE_DATA_RELEASE };
		d->d.ref = 1 + rand_r(seed) % 64;
		return sizeof(*d);
	}
	}
}

/* The engine's writer: batches of asynchronous records, until refused. */
static void *stress_write(void *arg)
{
	struct round *rd = arg;
	uint64_t route_id = 0, token = 0, revoked = 0;
	unsigned int seed = rd->round;
	unsigned char buf[4096];

	while (!rd->stop) {
		size_t n = 0, k = 1 + rand_r(&seed) % 8;

		while (k-- && n + 128 <= sizeof(buf))
			n += stress_record(rd, &seed, buf + n, &route_id,
					   &token, &revoked);
		/* A refused record only ends the batch; a gone engine all. */
		if (write(rd->ctl->fd, buf, n) < 0 &&
		    (errno == ENOTCONN || errno == EBADF))
			break;
	}
	return NULL;
}

/* An application sending through the routes, and through the engine. */
static void *stress_send(void *arg)
{
	struct round *rd = arg;
	struct call c = { .fd = rd->a };
	unsigned int n, seed = rd->round + 1;

	for (;;) {
		n = rd->n_handles;
		c.handle = n ? rd->handles[rand_r(&seed) % n] : 5;
		if (call_send(&c) == -ENOTCONN)
			break;
	}
	return NULL;
}

/* An application receiving whatever comes. */
static void *stress_recv(void *arg)
{
	struct round *rd = arg;
	struct test_item item;

	for (;;) {
		if (test_recv(rd->b, &item) == -ENOTCONN)
			break;
		if (test_wait(rd->b, 10) == -ENOTCONN)
			break;
	}
	return NULL;
}

static void stress_round(unsigned int i)
{
	pthread_t answer, writer, sender, receiver;
	struct round rd = { .round = i };
	struct call opener = {};
	unsigned int seed = i;
	int how = i % TEAR_N, k;
	FILE *f;

	ctl_attach(&ctl);
	rd.ctl = &ctl;
	assert_int_equal(pthread_create(&answer, NULL, stress_answer, &rd), 0);
	rd.a = bus1_peer_new();
	rd.b = bus1_peer_new();
	assert_true(rd.a >= 0 && rd.b >= 0);
	assert_int_equal(pthread_create(&writer, NULL, stress_write, &rd), 0);
	assert_int_equal(pthread_create(&sender, NULL, stress_send, &rd), 0);
	assert_int_equal(pthread_create(&receiver, NULL, stress_recv, &rd), 0);

	usleep(1000 * (5 + rand_r(&seed) % 40));
	switch (how) {
	case TEAR_ABORT:
		f = fopen(ABORT_FILE, "we");
		assert_non_null(f);
		fputs("1\n", f);
		fclose(f);
		break;
	case TEAR_TIMEOUT:
		/*
		 * Requests wait unread, one open at least; the writer goes
		 * on meanwhile.
		 */
		set_timeout_ms(50);
		rd.mute = true;
		call_start(&opener, call_open);
		assert_true(call_join(&opener, WAIT_MS));
		if (opener.result != -ETIMEDOUT && opener.result != -ENXIO)
			fail_msg("open with a muted engine: %d", opener.result);
		set_timeout_ms(DEFAULT_TIMEOUT_MS);
		break;
	case TEAR_EXIT:
		rd.stop = true;
		pthread_join(writer, NULL);
		pthread_join(answer, NULL);
		close(ctl.fd);
		ctl.fd = -1;
		break;
	}
	pthread_join(sender, NULL);
	pthread_join(receiver, NULL);
	rd.stop = true;
	if (how != TEAR_EXIT) {
		pthread_join(writer, NULL);
		pthread_join(answer, NULL);
	}
	close(rd.a);
	close(rd.b);
	ctl_close(&ctl);

	/* Every route of the gone engine is gone with its peers. */
	for (k = 0; k < 200 && test_debugfs("routes"); ++k)
		usleep(5000);
	assert_int_equal(test_debugfs("routes"), 0);
}

static void test_teardown_against_writes(void **state)
{
	const char *env = getenv("STRESS_ROUNDS");
	unsigned int i, rounds = env ? strtoul(env, NULL, 10) : 60;

	(void)state;
	for (i = 0; i < rounds; ++i)
		stress_round(i);
	printf("# %u rounds of teardown against engine writes\n", rounds);
}

/* Whatever a case left: its control file, a short timeout. */
static int case_teardown(void **state)
{
	FILE *f = fopen(TIMEOUT_PARAM, "we");

	(void)state;
	ctl_close(&ctl);
	if (!f)
		return -1;
	fprintf(f, "%u\n", DEFAULT_TIMEOUT_MS);
	fclose(f);
	return 0;
}

static int setup(void **state)
{
	if (test_setup_device(state))
		return -1;
	/* The debugfs abort file needs debugfs. */
	test_debugfs("routes");
	return engine_ctl("stop") ? -1 : 0;
}

static int teardown(void **state)
{
	FILE *f = fopen(TIMEOUT_PARAM, "we");

	(void)state;
	if (!f)
		return -1;
	fprintf(f, "%u\n", DEFAULT_TIMEOUT_MS);
	fclose(f);
	return engine_ctl("start") ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_route_to_refused_peer,
					  case_teardown),
		cmocka_unit_test_teardown(test_routed_send_beside_stalled_write,
					  case_teardown),
		cmocka_unit_test_teardown(test_timeout_during_read,
					  case_teardown),
		cmocka_unit_test_teardown(test_teardown_against_writes,
					  case_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
