/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * The I/O loop: the only code that touches the control device and
 * liburing.
 *
 * One read of the control device is always in flight through the ring,
 * and one read of a signalfd for SIGTERM/SIGINT. The control device
 * supports nonblocking I/O, so the ring issues reads and writes inline and
 * waits for requests by polling, without worker threads. Each completed
 * read is one batch: the engine applies it and the loop writes all output
 * with one write, linked to the next read and submitted with it in one
 * system call. Nothing new is read while output is unwritten, so replies
 * and the RETRACT, ITEM and PEER_STATE records before them leave in the
 * order the engine produced them; a write that comes up short fails the
 * link, which cancels that read.
 *
 * A batch whose records take longer than LOOP_SLICE_MS to apply is applied
 * in slices, each one's output written before the next slice: the module
 * counts an engine hung when it makes no progress (reads nothing, answers
 * nothing) for its request timeout, and a large batch of expensive
 * requests must not look like that. The records a request caused still
 * leave in one write.
 *
 * The kernel rejects malformed engine records (EINVAL), and an ITEM beyond
 * what it holds per peer (ENOSPC): write() then returns the bytes before
 * the rejected record (or the error if it was the first). The loop logs
 * and skips that record and writes the rest, so one bad record never
 * stalls the replies behind it. A refused ITEM stays lent in the engine;
 * that only happens when fault injection garbles one. A refused ROUTE
 * (ENOMEM in the module, say) is reported to the engine, which forgets
 * the route: the module never held it, so no REVOKE may follow.
 */

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/bus1-engine.h>
#include "fault.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "stats.h"

/* How long the engine applies records before it writes their output. */
#define LOOP_SLICE_MS 50

enum {
	LOOP_OP_CONTROL_READ = 1,
	LOOP_OP_CONTROL_WRITE,
	LOOP_OP_SIGNAL_READ,
	LOOP_OP_STATS_ACCEPT,
	LOOP_OP_STATS_SEND,
};

typedef struct Loop {
	struct io_uring ring;
	Fault *fault;
	Stats *stats;
	int stats_fd;
	char *stats_buf;
	size_t stats_len;
	size_t stats_off;
	bool stats_pending;
	int control_fd;
	int signal_fd;
	void *rbuf;
	size_t n_rbuf;
	size_t rbuf_len;
	size_t rbuf_off;
	uint64_t slice_end;
	struct signalfd_siginfo siginfo;
	size_t out_off;
	int read_res;
	bool read_pending;
	bool read_ready;
	bool write_pending;
	bool signal_pending;
	bool quit;
} Loop;

static struct io_uring_sqe *loop_sqe(Loop *loop)
{
	struct io_uring_sqe *sqe;

	sqe = io_uring_get_sqe(&loop->ring);
	if (!sqe) {
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

static int loop_submit_read(Loop *loop)
{
	struct io_uring_sqe *sqe = loop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, loop->control_fd, loop->rbuf, loop->n_rbuf, 0);
	io_uring_sqe_set_data64(sqe, LOOP_OP_CONTROL_READ);
	loop->read_pending = true;
	return 0;
}

static int loop_submit_signal(Loop *loop)
{
	struct io_uring_sqe *sqe = loop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, loop->signal_fd, &loop->siginfo,
			   sizeof(loop->siginfo), 0);
	io_uring_sqe_set_data64(sqe, LOOP_OP_SIGNAL_READ);
	loop->signal_pending = true;
	return 0;
}

/*
 * Stats clients are served one at a time: accept, send the document
 * (MSG_NOSIGNAL: a client that went away must not kill the engine),
 * close, accept the next. They share the ring with the control device
 * but never hold up its requests.
 */
static int loop_submit_stats(Loop *loop)
{
	struct io_uring_sqe *sqe = loop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	if (loop->stats_fd < 0) {
		io_uring_prep_accept(sqe, stats_listen_fd(loop->stats), NULL,
				     NULL, SOCK_CLOEXEC);
		io_uring_sqe_set_data64(sqe, LOOP_OP_STATS_ACCEPT);
	} else {
		io_uring_prep_send(sqe, loop->stats_fd,
				   loop->stats_buf + loop->stats_off,
				   loop->stats_len - loop->stats_off,
				   MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, LOOP_OP_STATS_SEND);
	}
	loop->stats_pending = true;
	return 0;
}

static void loop_stats_close(Loop *loop)
{
	if (loop->stats_fd >= 0)
		close(loop->stats_fd);
	loop->stats_fd = -1;
	free(loop->stats_buf);
	loop->stats_buf = NULL;
}

static void loop_handle_stats(Loop *loop, uint64_t op, int res)
{
	int r;

	loop->stats_pending = false;
	if (op == LOOP_OP_STATS_ACCEPT) {
		if (res < 0) {
			log_msg(LOG_WARNING, "stats accept: %s", strerror(-res));
			return;
		}
		loop->stats_fd = res;
		loop->stats_off = 0;
		r = stats_render(loop->stats, &loop->stats_buf,
				 &loop->stats_len);
		if (r < 0) {
			log_msg(LOG_WARNING, "stats: %s", strerror(-r));
			loop_stats_close(loop);
		}
		return;
	}
	if (res <= 0) {
		loop_stats_close(loop);
		return;
	}
	loop->stats_off += res;
	if (loop->stats_off >= loop->stats_len)
		loop_stats_close(loop);
}

static void loop_handle_signal(Loop *loop, int res)
{
	loop->signal_pending = false;
	if (res == sizeof(loop->siginfo)) {
		log_msg(LOG_INFO, "caught signal %u, exiting",
			loop->siginfo.ssi_signo);
		loop->quit = true;
	} else {
		log_msg(LOG_ERR, "signalfd read failed: %s",
			strerror(res < 0 ? -res : EIO));
		loop->quit = true;
	}
}

static int loop_submit_write(Loop *loop, const Outbuf *out, bool link)
{
	struct io_uring_sqe *sqe = loop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_write(sqe, loop->control_fd, out->data + loop->out_off,
			    out->len - loop->out_off, 0);
	io_uring_sqe_set_data64(sqe, LOOP_OP_CONTROL_WRITE);
	if (link)
		sqe->flags |= IOSQE_IO_LINK;
	loop->write_pending = true;
	return 0;
}

/* Account for a completed write; what is left is written next. */
static int loop_handle_write(Loop *loop, Engine *engine, Outbuf *out,
			     int res)
{
	const struct bus1_engine_hdr *hdr;
	size_t left = out->len - loop->out_off;

	loop->write_pending = false;
	if (res > 0) {
		loop->out_off += res;
	} else if (res == 0 || res == -EBADFD || res == -EBADF ||
		   res == -EBUSY || res == -ENOTCONN) {
		log_msg(LOG_ERR, "writing control device: %s",
			strerror(res ? -res : EIO));
		return res ? res : -EIO;
	} else if (left < sizeof(*hdr)) {
		log_msg(LOG_ERR, "kernel rejected %zu trailing bytes: %s",
			left, strerror(-res));
		loop->out_off = out->len;
	} else {
		hdr = (const void *)(out->data + loop->out_off);
		log_msg(LOG_ERR,
			"kernel rejected record type %u seq %llu peer %llu: %s",
			hdr->type, (unsigned long long)hdr->seq,
			(unsigned long long)hdr->peer, strerror(-res));
		/* a rejected ROUTE never existed in the module: forget it */
		engine_record_rejected(engine, hdr, left);
		/*
		 * Our own output is framed correctly unless fault injection
		 * garbled it. Skipping by the rejected record's size is safe
		 * as long as it moves forward, stays aligned and stays in the
		 * buffer (a deliberately short record still frames the ones
		 * after it); otherwise the loop could spin or run past the
		 * buffer, so drop the rest.
		 */
		if (hdr->size < 8 || hdr->size % 8 || hdr->size > left) {
			log_msg(LOG_ERR, "dropping %zu unframed bytes", left);
			loop->out_off = out->len;
		} else {
			loop->out_off += hdr->size;
		}
	}
	if (loop->out_off >= out->len) {
		outbuf_clear(out);
		loop->out_off = 0;
	}
	return 0;
}

static uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool loop_slice_over(void *userdata)
{
	Loop *loop = userdata;

	return loop_now_ms() >= loop->slice_end;
}

/* Apply the batch's next slice of records; its output is written next. */
static int loop_process(Loop *loop, Engine *engine, Outbuf *out)
{
	size_t len = out->len, done = 0;
	int r;

	loop->slice_end = loop_now_ms() + LOOP_SLICE_MS;
	r = fault_process(loop->fault, engine,
			  (uint8_t *)loop->rbuf + loop->rbuf_off,
			  loop->rbuf_len - loop->rbuf_off, out, loop_slice_over,
			  loop, &done);
	if (r < 0) {
		log_msg(LOG_ERR, "engine: %s", strerror(-r));
		return r;
	}
	loop->rbuf_off += done;
	if (out->len > len)
		fault_before_write(loop->fault);
	return 0;
}

/* Whether records of the last batch wait to be applied. */
static bool loop_unapplied(Loop *loop)
{
	return loop->rbuf_off < loop->rbuf_len;
}

static int loop_handle_read(Loop *loop, Engine *engine, Outbuf *out, int res)
{
	/* Cancelled: the write linked before it came up short. */
	if (res == -EINTR || res == -EAGAIN || res == -ECANCELED)
		return 0;
	if (res < 0) {
		log_msg(LOG_ERR, "reading control device: %s", strerror(-res));
		return res;
	}
	if (res == 0) {
		log_msg(LOG_ERR, "control device returned end of file");
		return -EPIPE;
	}

	loop->rbuf_len = res;
	loop->rbuf_off = 0;
	return loop_process(loop, engine, out);
}

static bool loop_want_read(Loop *loop)
{
	return !loop->read_pending && !loop->read_ready &&
	       !loop_unapplied(loop) && !fault_stalled(loop->fault);
}

/*
 * Submit what is due and wait. Pending output goes first, linked to the
 * read that follows it, and then both completions are awaited: the write
 * completes at once, the read when requests arrive (or at once, cancelled,
 * if the write came up short), unless a signal or stats client comes
 * first. While a batch is applied in slices, only the write is awaited,
 * and nothing at all if a slice wrote nothing.
 */
static int loop_submit(Loop *loop, Outbuf *out)
{
	unsigned int wait = 1;
	int r;

	if (!loop->write_pending && loop->out_off < out->len) {
		bool link = loop_want_read(loop);

		r = loop_submit_write(loop, out, link);
		if (r)
			return r;
		if (link)
			++wait;
	} else if (loop_unapplied(loop) && !loop->write_pending) {
		wait = 0;
	}
	if (loop_want_read(loop) && (r = loop_submit_read(loop)))
		return r;
	if (!loop->signal_pending && (r = loop_submit_signal(loop)))
		return r;
	if (loop->stats && stats_listen_fd(loop->stats) >= 0 &&
	    !loop->stats_pending && (r = loop_submit_stats(loop)))
		return r;

	r = io_uring_submit_and_wait(&loop->ring, wait);
	return r == -EINTR ? 0 : r;
}

static int loop_iterate(Loop *loop, Engine *engine, Outbuf *out)
{
	struct io_uring_cqe *cqe;
	uint64_t op;
	int r, res;

	while (!loop->quit) {
		r = loop_submit(loop, out);
		if (r < 0)
			return r;

		while (!loop->quit && !io_uring_peek_cqe(&loop->ring, &cqe)) {
			op = io_uring_cqe_get_data64(cqe);
			res = cqe->res;
			io_uring_cqe_seen(&loop->ring, cqe);
			if (op == LOOP_OP_SIGNAL_READ) {
				loop_handle_signal(loop, res);
			} else if (op == LOOP_OP_STATS_ACCEPT ||
				   op == LOOP_OP_STATS_SEND) {
				loop_handle_stats(loop, op, res);
			} else if (op == LOOP_OP_CONTROL_WRITE) {
				r = loop_handle_write(loop, engine, out, res);
				if (r)
					return r;
			} else if (op == LOOP_OP_CONTROL_READ) {
				loop->read_pending = false;
				loop->read_ready = true;
				loop->read_res = res;
			}
		}

		/* The output buffer may grow only while no write uses it. */
		if (loop->write_pending)
			continue;
		r = 0;
		if (loop->read_ready) {
			loop->read_ready = false;
			r = loop_handle_read(loop, engine, out, loop->read_res);
		} else if (loop_unapplied(loop)) {
			r = loop_process(loop, engine, out);
		}
		if (r)
			return r;
	}
	return 0;
}

static int loop_attach(Loop *loop, const char *device)
{
	struct bus1_engine_attach attach = { .version = BUS1_ENGINE_VERSION };

	loop->control_fd = open(device, O_RDWR | O_CLOEXEC);
	if (loop->control_fd < 0) {
		log_msg(LOG_ERR, "cannot open %s: %m", device);
		return -errno;
	}
	if (ioctl(loop->control_fd, BUS1_ENGINE_IOCTL_ATTACH, &attach) < 0) {
		if (errno == EPROTONOSUPPORT)
			log_msg(LOG_ERR, "%s speaks protocol %u, bus1d speaks %u",
				device, attach.version, BUS1_ENGINE_VERSION);
		else
			log_msg(LOG_ERR, "cannot attach to %s: %m", device);
		return -errno;
	}
	if (attach.max_record < sizeof(struct bus1_engine_hdr) ||
	    attach.max_record > SIZE_MAX / 2) {
		log_msg(LOG_ERR, "%s reports max_record %llu",
			device, (unsigned long long)attach.max_record);
		return -EPROTO;
	}

	loop->n_rbuf = (attach.max_record + 7) & ~(size_t)7;
	loop->rbuf = aligned_alloc(8, loop->n_rbuf);
	if (!loop->rbuf)
		return -ENOMEM;

	log_msg(LOG_INFO, "attached to %s (protocol %u, max_record %llu)",
		device, attach.version, (unsigned long long)attach.max_record);
	return 0;
}

/* A service manager that cannot be told is worth a warning, not an exit. */
static void loop_notify(const char *state)
{
	int r = notify_send(state);

	if (r < 0)
		log_msg(LOG_WARNING, "cannot notify the service manager: %s",
			strerror(-r));
}

static int loop_signals(Loop *loop)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	loop->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (loop->signal_fd < 0)
		return -errno;
	return 0;
}

/**
 * loop_run() - serve the control device until SIGTERM/SIGINT
 * @engine:	the engine to drive
 * @device:	path of the control device
 * @fault:	faults to inject, or NULL
 * @stats:	stats to serve on its socket, or NULL
 * @attached:	called once attached, before READY=1 (bus1d drops its
 *		privileges there), or NULL
 * @userdata:	for @attached
 *
 * Return: 0 after a signal, negative errno on failure.
 */
int loop_run(Engine *engine, const char *device, Fault *fault, Stats *stats,
	     LoopAttachedFn attached, void *userdata)
{
	Loop loop = { .fault = fault, .stats = stats, .stats_fd = -1,
		      .control_fd = -1, .signal_fd = -1 };
	Outbuf out = OUTBUF_NULL;
	int r;

	r = loop_signals(&loop);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot set up signals: %s", strerror(-r));
		goto exit_fds;
	}
	r = io_uring_queue_init(8, &loop.ring, 0);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot set up io_uring: %s", strerror(-r));
		goto exit_fds;
	}
	r = loop_attach(&loop, device);
	if (r < 0)
		goto exit_ring;
	if (attached) {
		r = attached(userdata);
		if (r < 0)
			goto exit_ring;
	}
	/* /dev/bus1 works from here on, so the service is ready */
	loop_notify("READY=1\nSTATUS=Serving /dev/bus1");

	r = loop_iterate(&loop, engine, &out);
	if (r < 0)
		log_msg(LOG_ERR, "loop failed: %s", strerror(-r));
	loop_notify("STOPPING=1");

exit_ring:
	/* cancels the control read still blocked in the kernel */
	io_uring_queue_exit(&loop.ring);
exit_fds:
	loop_stats_close(&loop);
	outbuf_deinit(&out);
	free(loop.rbuf);
	if (loop.control_fd >= 0)
		close(loop.control_fd);
	if (loop.signal_fd >= 0)
		close(loop.signal_fd);
	return r;
}
