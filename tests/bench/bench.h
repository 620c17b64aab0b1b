/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * bus1-bench: bus1 against the transports a user would pick instead,
 * measured side by side in one run.
 *
 * A "channel" is a bidirectional message pipe between two processes, side
 * 0 and side 1: a socketpair, a pair of pipes, two bus1 peers with a handle
 * to each other's node, two D-Bus connections on a bus, or two binder
 * processes, one of them the context manager. The generic
 * two-process benchmarks (ping-pong, streaming, bulk, concurrent pairs)
 * run over any channel; the bus1-only ones (multicast, handle scale,
 * handle passing) have their own code.
 *
 * Every benchmark returns one figure per repetition; results are collected
 * as rows and printed as one table at the end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define BENCH_MAX_REPS 32

struct chan;

/*
 * The operations of one kind of channel. setup() creates both ends in the
 * parent before fork(); side() keeps one end in each process (and may
 * connect, e.g. to a bus); send() and recv() move one message and block;
 * recv() returns the size received. roundtrip(), if set, replaces send()
 * plus recv() on side 0 of a ping-pong (a D-Bus method call).
 */
struct chan_ops {
	const char *name;
	size_t max_msg;
	int (*setup)(struct chan *c);
	int (*side)(struct chan *c, int side);
	int (*send)(struct chan *c, const void *buf, size_t n);
	ssize_t (*recv)(struct chan *c, void *buf, size_t n);
	ssize_t (*roundtrip)(struct chan *c, const void *buf, size_t n,
			     void *rbuf, size_t rn);
	void (*close)(struct chan *c);
};

struct chan {
	const struct chan_ops *ops;
	int side;
	int fd[4];
	uint64_t handle[2];
	void *priv;
	const char *address;
	int index;
	bool want_reply;
	unsigned int n_attach;
};

/* channels */
extern const struct chan_ops chan_seqpacket;
extern const struct chan_ops chan_stream;
extern const struct chan_ops chan_pipe;
extern const struct chan_ops chan_bus1;
extern const struct chan_ops chan_dbus;
extern const struct chan_ops chan_binder;
extern const struct chan_ops chan_binder_bulk;

/* Android binder: the protocol version of /dev/binder, or < 0 and why. */
int binder_probe(char *why, size_t n_why);

/* time */
uint64_t bench_now_ns(void);

/* two-process runners over a channel; each returns a figure or < 0 */
double run_pingpong(const struct chan_ops *ops, const char *address,
		    size_t size, unsigned int iters);
double run_stream(const struct chan_ops *ops, const char *address,
		  size_t size, unsigned int n_msgs, unsigned int window,
		  unsigned int n_attach);
double run_pairs(const struct chan_ops *ops, unsigned int n_pairs,
		 unsigned int iters);

/* bus1-only benchmarks, in one process */
double bus1_multicast(unsigned int n_dst, unsigned int iters, double *total);
double bus1_scale(unsigned int n_live, unsigned int iters);

/* D-Bus buses started for the run */
struct dbus_bus;
int dbus_bus_start_daemon(struct dbus_bus **busp, char *why, size_t n_why);
int dbus_bus_start_broker(struct dbus_bus **busp, char *why, size_t n_why);
const char *dbus_bus_address(struct dbus_bus *bus);
struct dbus_bus *dbus_bus_stop(struct dbus_bus *bus);

/* a message to the user; also goes into the results file */
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
