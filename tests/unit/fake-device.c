/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * A stand-in for the kernel's control device, preloaded into bus1d, to
 * test the I/O loop without the module. Opening FAKE_PATH yields one end
 * of a SOCK_SEQPACKET pair (one packet per read() or write(), like the
 * device's whole-record batches); ATTACH on it succeeds. A thread plays
 * the module on the other end: it sends a batch, checks the engine's
 * answer (an ITEM lending the message, then the ROUTE the plain unicast
 * earned, before the SEND reply) byte for byte, settles the item and sends again, then sends SIGTERM. It prints
 * "fake: ok" if everything matched, and exits the process with status 3
 * otherwise.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/bus1-engine.h>

#define FAKE_PATH "/fake/bus1-engine"
#define MAX_RECORD 4096

static int fake_engine_fd = -1;
static int fake_kernel_fd = -1;

static void fail(const char *why)
{
	fprintf(stderr, "fake: FAILED: %s\n", why);
	_exit(3);
}

static size_t rec(uint8_t *buf, uint16_t type, uint64_t seq, uint64_t peer,
		  int32_t error, const void *payload, size_t n_payload)
{
	struct bus1_engine_hdr *hdr = (void *)buf;
	size_t size = sizeof(*hdr) + ((n_payload + 7) & ~(size_t)7);

	memset(buf, 0, size);
	hdr->size = size;
	hdr->type = type;
	hdr->error = error;
	hdr->seq = seq;
	hdr->peer = peer;
	memcpy(hdr + 1, payload, n_payload);
	return size;
}

static void *kernel_thread(void *arg)
{
	static uint64_t in[MAX_RECORD / 8], want[MAX_RECORD / 8], got[MAX_RECORD / 8];
	struct bus1_engine_peer_new pn = { 1000, 1 };
	struct {
		struct bus1_engine_transfer t;
		struct bus1_transfer src;
	} tr = { { 0, 1, 1 }, { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID } };
	struct {
		struct bus1_engine_send s;
		uint64_t dst;
		char data[8];
	} sd = { { .n_destinations = 1, .n_data = 2 }, 1, "hi" };
	struct bus1_engine_recv_done done = { 1 };
	struct bus1_transfer trr[2] = { { 0, 1 }, { 0, 1 } };
	struct {
		struct bus1_engine_item i;
		char data[8];
	} it = { { 1, 0, 1, 1000, 0, 2 }, "hi" };
	/* bus1d's default credit (ENGINE_DEFAULT_ROUTE_*) */
	struct bus1_engine_route rt = { 1, 1, 2, 1, 1000, 64, 64 << 10 };
	uint64_t zero = 0;
	uint8_t *p;
	size_t n = 0, m = 0;
	ssize_t l;

	(void)arg;
	p = (uint8_t *)in;
	n += rec(p + n, BUS1_ENGINE_PEER_NEW, 1, 1, 0, &pn, sizeof(pn));
	n += rec(p + n, BUS1_ENGINE_PEER_NEW, 2, 2, 0, &pn, sizeof(pn));
	n += rec(p + n, BUS1_ENGINE_TRANSFER, 3, 2, 0, &tr, sizeof(tr));
	n += rec(p + n, BUS1_ENGINE_SEND, 4, 1, 0, &sd, sizeof(sd.s) + 8 + 2);
	/* a bad record in the middle is answered, not fatal */
	n += rec(p + n, BUS1_ENGINE_RELEASE, 5, 1, 0, NULL, 0);
	n += rec(p + n, BUS1_ENGINE_FETCH, 6, 2, 0, NULL, 0);

	p = (uint8_t *)want;
	m += rec(p + m, BUS1_ENGINE_PEER_NEW, 1, 1, 0, NULL, 0);
	m += rec(p + m, BUS1_ENGINE_PEER_NEW, 2, 2, 0, NULL, 0);
	m += rec(p + m, BUS1_ENGINE_TRANSFER, 3, 2, 0, trr, sizeof(trr));
	m += rec(p + m, BUS1_ENGINE_ITEM, 0, 2, 0, &it, sizeof(it.i) + 2);
	m += rec(p + m, BUS1_ENGINE_ROUTE, 0, 1, 0, &rt, sizeof(rt));
	m += rec(p + m, BUS1_ENGINE_SEND, 4, 1, 0, &zero, 4);
	m += rec(p + m, BUS1_ENGINE_RELEASE, 5, 1, -22, NULL, 0);
	m += rec(p + m, BUS1_ENGINE_FETCH, 6, 2, 0, NULL, 0);

	if (write(fake_kernel_fd, in, n) != (ssize_t)n)
		fail("write batch");
	l = read(fake_kernel_fd, got, sizeof(got));
	if (l != (ssize_t)m || memcmp(got, want, m))
		fail("engine output differs");

	/* received: the next message gets the next token, and no new route */
	n = rec((uint8_t *)in, BUS1_ENGINE_RECV_DONE, 7, 2, 0, &done, sizeof(done));
	n += rec((uint8_t *)in + n, BUS1_ENGINE_SEND, 8, 1, 0, &sd,
		 sizeof(sd.s) + 8 + 2);
	if (write(fake_kernel_fd, in, n) != (ssize_t)n)
		fail("write settle");
	it.i.token = 2;
	m = rec((uint8_t *)want, BUS1_ENGINE_ITEM, 0, 2, 0, &it, sizeof(it.i) + 2);
	m += rec((uint8_t *)want + m, BUS1_ENGINE_SEND, 8, 1, 0, &zero, 4);
	l = read(fake_kernel_fd, got, sizeof(got));
	if (l != (ssize_t)m || memcmp(got, want, m))
		fail("engine output after settle differs");

	fprintf(stderr, "fake: ok\n");
	kill(getpid(), SIGTERM);
	return NULL;
}

int open(const char *path, int flags, ...)
{
	static int (*real_open)(const char *, int, ...);
	int sv[2];
	va_list ap;
	mode_t mode;

	if (!strcmp(path, FAKE_PATH)) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return -1;
		fake_engine_fd = sv[0];
		fake_kernel_fd = sv[1];
		return fake_engine_fd;
	}

	if (!real_open)
		real_open = dlsym(RTLD_NEXT, "open");
	va_start(ap, flags);
	mode = va_arg(ap, mode_t);
	va_end(ap);
	return real_open(path, flags, mode);
}

int ioctl(int fd, unsigned long request, ...)
{
	static int (*real_ioctl)(int, unsigned long, ...);
	struct bus1_engine_attach *attach;
	pthread_t thread;
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (fd == fake_engine_fd && request == BUS1_ENGINE_IOCTL_ATTACH) {
		attach = arg;
		if (attach->version != BUS1_ENGINE_VERSION || attach->flags)
			fail("attach arguments");
		attach->max_record = MAX_RECORD;
		attach->max_data = 1024;
		attach->max_items = 16;
		if (pthread_create(&thread, NULL, kernel_thread, NULL))
			fail("pthread_create");
		pthread_detach(thread);
		return 0;
	}

	if (!real_ioctl)
		real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	return real_ioctl(fd, request, arg);
}
