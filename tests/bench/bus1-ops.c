/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * The bus1-only benchmarks, run in one process so that only the bus
 * operations are timed, not scheduling: multicast fan-out (P4) and the
 * cost of a send/recv with many live nodes and handles (P5).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "bench.h"
#include "libbus1.h"

#define SCALE_BATCH 4096

static int send64(int fd, size_t n_dst, uint64_t *dst, int32_t *errors)
{
	static const char data[64];
	struct iovec vec = { (void *)data, sizeof(data) };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_data = sizeof(data),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};

	return bus1_cmd_send(fd, n_dst, dst, errors, &msg);
}

static int recv64(int fd)
{
	char data[64];
	struct iovec vec = { data, sizeof(data) };
	struct bus1_metadata meta;
	struct bus1_message msg = {
		.type = BUS1_INVALID,
		.n_data = sizeof(data),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int r;

	r = bus1_cmd_recv(fd, &meta, &msg);
	if (r < 0)
		return r;
	return msg.type == BUS1_MESSAGE_TYPE_USER && msg.n_data == 64 ?
		0 : -EPROTO;
}

static void close_all(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; ++i)
		fds[i] = bus1_peer_free(fds[i]);
}

/*
 * One sender multicasts 64 bytes to n_dst receivers, each receiver
 * fetches its copy. Returns the send time per destination in us; *total
 * gets send plus all receives per destination.
 */
double bus1_multicast(unsigned int n_dst, unsigned int iters, double *total)
{
	struct bus1_transfer src, dst;
	uint64_t *handles = NULL, t0, t_send = 0, t_recv = 0;
	int32_t *errors = NULL;
	int *fds, r = 0;
	unsigned int i, k;

	fds = calloc(n_dst + 1, sizeof(*fds));
	handles = calloc(n_dst, sizeof(*handles));
	errors = calloc(n_dst, sizeof(*errors));
	if (!fds || !handles || !errors) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i <= n_dst; ++i)
		fds[i] = -1;
	for (i = 0; i <= n_dst && r == 0; ++i) {
		fds[i] = bus1_peer_new();
		if (fds[i] < 0)
			r = fds[i];
	}
	for (i = 1; i <= n_dst && r == 0; ++i) {
		src = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
					      BUS1_INVALID };
		r = bus1_cmd_transfer(0, fds[i], fds[0], 1, &src, &dst);
		handles[i - 1] = dst.id;
	}
	for (k = 0; k < iters && r == 0; ++k) {
		t0 = bench_now_ns();
		r = send64(fds[0], n_dst, handles, errors);
		t_send += bench_now_ns() - t0;
		for (i = 0; i < n_dst && r == 0; ++i)
			if (errors[i])
				r = -EPROTO;
		t0 = bench_now_ns();
		for (i = 1; i <= n_dst && r == 0; ++i)
			r = recv64(fds[i]);
		t_recv += bench_now_ns() - t0;
	}
out:
	if (fds)
		close_all(fds, n_dst + 1);
	free(fds);
	free(handles);
	free(errors);
	if (r < 0)
		return r;
	*total = (double)(t_send + t_recv) / iters / n_dst / 1000.0;
	return (double)t_send / iters / n_dst / 1000.0;
}

/*
 * A send and a recv between two peers while one of them owns n_live nodes,
 * each with a handle (2 * n_live live objects in the engine). Returns us
 * per send+recv.
 */
double bus1_scale(unsigned int n_live, unsigned int iters)
{
	struct bus1_transfer *src = NULL, *dst = NULL;
	int fds[2] = { -1, -1 }, r = 0;
	uint64_t handle = 0, t0, ns;
	unsigned int i, k, n;
	int32_t err;

	src = calloc(SCALE_BATCH, sizeof(*src));
	dst = calloc(SCALE_BATCH, sizeof(*dst));
	if (!src || !dst) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < 2 && r == 0; ++i) {
		fds[i] = bus1_peer_new();
		if (fds[i] < 0)
			r = fds[i];
	}
	if (r == 0) {
		src[0] = (struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE,
						 BUS1_INVALID };
		r = bus1_cmd_transfer(0, fds[1], fds[0], 1, src, dst);
		handle = dst[0].id;
	}
	for (k = 0; k < n_live && r == 0; k += n) {
		n = n_live - k < SCALE_BATCH ? n_live - k : SCALE_BATCH;
		for (i = 0; i < n; ++i)
			src[i] = (struct bus1_transfer){
				BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
		r = bus1_cmd_transfer(0, fds[0], -1, n, src, dst);
	}
	/* One untimed round trip, so lazily built state is not measured. */
	if (r == 0)
		r = send64(fds[0], 1, &handle, &err);
	if (r == 0)
		r = recv64(fds[1]);
	t0 = bench_now_ns();
	for (k = 0; k < iters && r == 0; ++k) {
		r = send64(fds[0], 1, &handle, &err);
		if (r == 0)
			r = recv64(fds[1]);
	}
	ns = bench_now_ns() - t0;
out:
	close_all(fds, 2);
	free(src);
	free(dst);
	if (r < 0)
		return r;
	return (double)ns / iters / 1000.0;
}
