/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * The two-process benchmarks, over any channel: ping-pong, streaming with
 * a credit window, and concurrent ping-pong pairs.
 *
 * The parent sets the channel up, forks side 1, waits until that side is
 * ready (connected, name acquired) and only then starts the clock, so
 * set-up never counts. Side 0 (the parent) measures; it is the sender in a
 * stream and waits for the last acknowledgement, so its time covers the
 * receiver's work too.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

#define ACK_SIZE 8

struct job {
	size_t size;
	unsigned int iters;
	unsigned int window;
	char *buf;
	char *rbuf;
};

typedef int (*side_fn)(struct chan *c, struct job *j);

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int pingpong0(struct chan *c, struct job *j)
{
	unsigned int i;
	ssize_t l;
	int r;

	for (i = 0; i < j->iters; ++i) {
		if (c->ops->roundtrip) {
			l = c->ops->roundtrip(c, j->buf, j->size, j->rbuf,
					      j->size);
		} else {
			r = c->ops->send(c, j->buf, j->size);
			if (r < 0)
				return r;
			l = c->ops->recv(c, j->rbuf, j->size);
		}
		if (l < 0)
			return l;
		if ((size_t)l != j->size)
			return -EPROTO;
	}
	return 0;
}

static int pingpong1(struct chan *c, struct job *j)
{
	unsigned int i;
	ssize_t l;
	int r;

	for (i = 0; i < j->iters; ++i) {
		l = c->ops->recv(c, j->rbuf, j->size);
		if (l < 0)
			return l;
		if ((size_t)l != j->size)
			return -EPROTO;
		r = c->ops->send(c, j->rbuf, j->size);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The sender may run up to two windows ahead of the receiver, which
 * acknowledges every window: the sender never idles on a full pipeline,
 * and no transport queues without bound (bus1 and D-Bus have no back
 * pressure of their own besides quotas).
 */
static int stream0(struct chan *c, struct job *j)
{
	unsigned int sent, acked = 0;
	char ack[ACK_SIZE];
	ssize_t l;
	int r;

	for (sent = 0; sent < j->iters; ++sent) {
		if (sent - acked >= 2 * j->window) {
			l = c->ops->recv(c, ack, sizeof(ack));
			if (l != sizeof(ack))
				return l < 0 ? l : -EPROTO;
			acked += j->window;
		}
		r = c->ops->send(c, j->buf, j->size);
		if (r < 0)
			return r;
	}
	while (acked < j->iters) {
		l = c->ops->recv(c, ack, sizeof(ack));
		if (l != sizeof(ack))
			return l < 0 ? l : -EPROTO;
		acked += j->window;
	}
	return 0;
}

static int stream1(struct chan *c, struct job *j)
{
	char ack[ACK_SIZE] = "ack";
	unsigned int i;
	ssize_t l;
	int r;

	for (i = 1; i <= j->iters; ++i) {
		l = c->ops->recv(c, j->rbuf, j->size);
		if (l < 0)
			return l;
		if ((size_t)l != j->size)
			return -EPROTO;
		if (i % j->window == 0) {
			r = c->ops->send(c, ack, sizeof(ack));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int job_init(struct job *j, size_t size, unsigned int iters,
		    unsigned int window)
{
	*j = (struct job){ .size = size, .iters = iters, .window = window };
	j->buf = malloc(size ?: 1);
	j->rbuf = malloc(size > ACK_SIZE ? size : ACK_SIZE);
	if (!j->buf || !j->rbuf)
		return -ENOMEM;
	memset(j->buf, 0x5a, size);
	return 0;
}

static void job_fini(struct job *j)
{
	free(j->buf);
	free(j->rbuf);
}

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ECHILD;
	return 0;
}

/*
 * Runs fn0 in this process (side 0) and fn1 in a child (side 1). If
 * @ready is set, it is written once side 0 is connected, and the run
 * waits for a byte (or EOF) on @go before it starts; @elapsed gets the
 * nanoseconds of fn0 alone.
 */
static int run_two(struct chan *c, side_fn fn0, side_fn fn1, struct job *j,
		   int ready, int go, uint64_t *elapsed)
{
	int sync[2], r, r2;
	uint64_t t0;
	char x = 0;
	pid_t pid;

	r = c->ops->setup(c);
	if (r < 0) {
		c->ops->close(c);
		return r;
	}
	if (pipe2(sync, O_CLOEXEC) < 0) {
		c->ops->close(c);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		c->ops->close(c);
		return r;
	}
	if (pid == 0) {
		close(sync[0]);
		r = c->ops->side(c, 1);
		if (write(sync[1], &x, 1) != 1 || r < 0)
			_exit(2);
		close(sync[1]);
		r = fn1(c, j);
		c->ops->close(c);
		_exit(r < 0 ? 1 : 0);
	}
	close(sync[1]);
	r = c->ops->side(c, 0);
	if (read(sync[0], &x, 1) != 1 && r == 0)
		r = -ECHILD;
	close(sync[0]);
	if (ready >= 0) {
		/* Report failures too: the parent counts one byte per pair. */
		x = r < 0 ? 'F' : 'R';
		if (write(ready, &x, 1) != 1 && r == 0)
			r = -errno;
		if (r == 0 && read(go, &x, 1) < 0)
			r = -errno;
	}
	if (r == 0) {
		t0 = bench_now_ns();
		r = fn0(c, j);
		*elapsed = bench_now_ns() - t0;
	}
	if (r < 0)
		kill(pid, SIGKILL);
	c->ops->close(c);
	r2 = wait_child(pid);
	return r < 0 ? r : r2;
}

double run_pingpong(const struct chan_ops *ops, const char *address,
		    size_t size, unsigned int iters)
{
	struct chan c = { .ops = ops, .address = address, .want_reply = true };
	uint64_t ns = 0;
	struct job j;
	int r;

	r = job_init(&j, size, iters, 1);
	if (r == 0)
		r = run_two(&c, pingpong0, pingpong1, &j, -1, -1, &ns);
	job_fini(&j);
	if (r < 0)
		return r;
	return (double)ns / iters / 1000.0;
}

double run_stream(const struct chan_ops *ops, const char *address,
		  size_t size, unsigned int n_msgs, unsigned int window,
		  unsigned int n_attach)
{
	struct chan c = { .ops = ops, .address = address, .n_attach = n_attach };
	uint64_t ns = 0;
	struct job j;
	int r;

	n_msgs = (n_msgs + window - 1) / window * window;
	r = job_init(&j, size, n_msgs, window);
	if (r == 0)
		r = run_two(&c, stream0, stream1, &j, -1, -1, &ns);
	job_fini(&j);
	if (r < 0)
		return r;
	return n_msgs / ((double)ns / 1e9);
}

/*
 * n_pairs ping-pong pairs at once: each pair leader (a child) sets up its
 * channel and partner, reports ready and waits for the start signal, the
 * closing of the go pipe. Returns round trips per second over all pairs.
 */
double run_pairs(const struct chan_ops *ops, unsigned int n_pairs,
		 unsigned int iters)
{
	int ready[2], go[2], r = 0, r2;
	pid_t *pids;
	unsigned int i, n = 0;
	uint64_t t0, ns;
	char x;

	pids = calloc(n_pairs, sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		free(pids);
		return -errno;
	}
	for (i = 0; i < n_pairs; ++i) {
		pids[i] = fork();
		if (pids[i] < 0) {
			r = -errno;
			break;
		}
		if (pids[i] == 0) {
			struct chan c = { .ops = ops, .index = i,
					  .want_reply = true };
			struct job j;

			close(ready[0]);
			close(go[1]);
			r = job_init(&j, 64, iters, 1);
			if (r == 0)
				r = run_two(&c, pingpong0, pingpong1, &j,
					    ready[1], go[0], &ns);
			_exit(r < 0 ? 1 : 0);
		}
		++n;
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < n; ++i)
		if (read(ready[0], &x, 1) != 1 || x != 'R')
			r = -ECHILD;
	t0 = bench_now_ns();
	close(go[1]);
	for (i = 0; i < n; ++i) {
		r2 = wait_child(pids[i]);
		if (r == 0)
			r = r2;
	}
	ns = bench_now_ns() - t0;
	close(ready[0]);
	free(pids);
	if (r < 0)
		return r;
	return (double)n_pairs * iters / ((double)ns / 1e9);
}
