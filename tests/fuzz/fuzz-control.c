/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */

/*
 * fuzz-control: attach to /dev/bus1-engine as the engine (the real one is
 * stopped first), let a few worker processes do real ioctls on /dev/bus1,
 * and answer each request with a correct reply, a mutated one, or garbage.
 * Before a reply it may also lend items (ITEM records, correct or mutated,
 * to the requesting peer, a recent one or one that does not exist), take
 * lent items back (RETRACT, of any token) and send PEER_STATE, so RECV is
 * served from what the fuzzer lent and FETCH is asked for.
 * Workers also send and receive large payloads, which travel by data
 * reference (protocol v3): the fuzzer keeps the references of the SENDs it
 * answered with 0, lends items naming them (correct ones are accepted),
 * names bad ones (0, never handed out, released, or with another n_data:
 * EINVAL), and writes DATA_RELEASE of its own and of random references
 * (always accepted, the latter ignored).
 * Routes (protocol v4): before the reply to a SEND it answers with 0, the
 * fuzzer may grant a route for its first destination to a recent peer
 * (maybe gone) with a random credit, so workers' later sends through that
 * handle are served by the module; it revokes live routes at random (with
 * or without REVOKE_DISCARD) and writes malformed ROUTE and unknown REVOKE
 * records. Checks besides: a correct ROUTE is accepted (EINVAL only for a
 * handle that still has a route), a malformed one and a REVOKE of an
 * unknown route are refused with EINVAL, and every ROUTE_DONE names a
 * revoked route, once.
 * Checks: write() on the control device returns a byte count or EINVAL,
 * ENOSPC, ENOENT, EPROTO; a correct ITEM or RETRACT is accepted (ENOSPC
 * for an ITEM beyond the module's bound); a reply the module rejected
 * without answering the request (EINVAL, ENOENT) can still be answered
 * correctly; a RECV_DONE names a token that was lent; applications see
 * only documented errnos and nothing beyond their buffers changes; nothing
 * hangs; afterwards the real engine restarts and a fresh peer works.
 * One iteration is one request answered.
 *
 * What the fuzzer can know, it checks exactly: a reply to a one-way
 * record is EINVAL; a RECV_DONE names, per peer, a growing token no larger
 * than the last one the module accepted for that peer; applications see
 * ENOTCONN or ENXIO only once the fuzzer has left, and never ETIMEDOUT or
 * EFAULT (their pointers are valid); every EIO they see is one reply the
 * module refused with EPROTO.
 *
 * A failure depends on how the workers' requests interleave, so a seed
 * alone does not replay it. Every failure therefore reports what the
 * oracle believed: the last records written (with the module's verdict on
 * each) and, for a refused ITEM, that peer's records, the highest token the
 * module accepted for it, and the history of the data reference it names.
 */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/bus1-engine.h>
#include "libbus1.h"
#include "fuzz-common.h"

#define N_WORKERS 3
#define CANARY 0xa5

struct shared {
	int stop;	/* set (release) before the fuzzer closes its file */
	unsigned int app_errnos[FUZZ_MAX_ERRNO];
};

static struct shared *shared;
static pid_t pids[N_WORKERS];
static struct bus1_engine_attach att;
static unsigned int write_errnos[FUZZ_MAX_ERRNO];
static uint64_t last_seq;
static uint64_t n_mutated, n_garbage, n_rejected_correct, n_write_retries;
/* Replies a write() refused after accepting others: maybe EPROTO, unseen. */
static uint64_t n_replies_refused_unseen;
static uint64_t iter;
static uint64_t n_items, n_items_accepted, n_retracts, n_recv_done;
/*
 * Tokens only grow per peer; one counter for all peers is simplest. It
 * stays above every token written, mutated ones included, so a mutation
 * may raise a token by less than MAX_TOKEN_JUMP only: random or
 * bit-flipped tokens used to drive it to UINT64_MAX, and the next
 * "correct" token wrapped to 0.
 */
#define MAX_TOKEN_JUMP (1ULL << 20)
static uint64_t last_token;
static uint64_t recent_peers[8];

/*
 * Data references the fuzzer owns (from SENDs it answered with 0), and a
 * few it released. Random references for "bad" records are above 32 bits
 * or 0, never ones the module may have handed out to a SEND still waiting
 * for its reply (the module publishes them before it asks).
 */
#define N_OWNED 64
static struct { uint64_t ref, n_data, seq, iter; } owned[N_OWNED];
static unsigned int n_owned;
static uint64_t released_refs[16];
static uint64_t released_iters[16];
static uint64_t n_data_releases, n_bad_refs, n_ref_items;

/* Routes granted, by ID (1 to MAX_ROUTES); granting stops at the end. */
#define MAX_ROUTES 4096
enum { ROUTE_NONE, ROUTE_LIVE, ROUTE_REVOKED, ROUTE_DONE };
static struct { uint64_t src, handle; uint8_t state; } routes[MAX_ROUTES + 1];
static uint64_t n_routes, n_route_revokes, n_route_dones, n_bad_routes;

/*
 * The oracle's memory, reported with a failure: the last records written,
 * each with the module's verdict, and per peer its last records and the
 * highest token of an ITEM the module accepted for it (an upper bound of
 * the module's own: an accepted ITEM for a peer that does not exist is
 * ignored). Peers live in a table indexed by ID; a newer peer takes an
 * older one's slot.
 */
enum {
	VERDICT_ACCEPTED = 0,
	/* negative: refused with that errno */
	VERDICT_REFUSED_UNSEEN = 1,	/* refused after others were accepted */
};

struct logged {
	uint64_t iter, peer, seq;
	uint64_t w[3];		/* per type, see log_words() */
	uint32_t size;
	uint16_t type;
	int32_t error;
	int verdict;
};

#define N_HISTORY 48
#define N_PEER_HISTORY 12
#define N_PEER_SLOTS 4096

struct peer_log {
	uint64_t id;
	uint64_t max_token, max_token_iter;
	uint64_t last_done;
	uint64_t n;
	struct logged ring[N_PEER_HISTORY];
};

static struct logged history[N_HISTORY];
static uint64_t n_history;
static struct peer_log peer_logs[N_PEER_SLOTS];

/* The highest peer ID a request came from. */
static uint64_t max_peer_seen;

/*
 * The log of peer @id, or NULL if a newer peer took its slot, or if @id
 * cannot be a peer: 0, or far beyond the last one seen (a random ID; a
 * peer opened meanwhile is near it).
 */
static struct peer_log *peer_log(uint64_t id, bool create)
{
	struct peer_log *p = &peer_logs[id % N_PEER_SLOTS];

	if (p->id == id)
		return p;
	if (!create || p->id > id || !id || id > max_peer_seen + 64)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->id = id;
	return p;
}

static const char *type_name(uint16_t type)
{
	static const char *const names[] = {
		[BUS1_ENGINE_PEER_NEW] = "PEER_NEW",
		[BUS1_ENGINE_PEER_RELEASE] = "PEER_RELEASE",
		[BUS1_ENGINE_TRANSFER] = "TRANSFER",
		[BUS1_ENGINE_RELEASE] = "RELEASE",
		[BUS1_ENGINE_SEND] = "SEND",
		[BUS1_ENGINE_FETCH] = "FETCH",
		[BUS1_ENGINE_RECV_DONE] = "RECV_DONE",
		[BUS1_ENGINE_ROUTE_DONE] = "ROUTE_DONE",
		[BUS1_ENGINE_PEER_STATE] = "PEER_STATE",
		[BUS1_ENGINE_ITEM] = "ITEM",
		[BUS1_ENGINE_RETRACT] = "RETRACT",
		[BUS1_ENGINE_DATA_RELEASE] = "DATA_RELEASE",
		[BUS1_ENGINE_ROUTE] = "ROUTE",
		[BUS1_ENGINE_REVOKE] = "REVOKE",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "?";
}

/*
 * The words worth keeping of a record of @n bytes: ITEM token, n_data and
 * data reference (0 inline); RETRACT token; DATA_RELEASE reference; ROUTE
 * route, handle, receiver; REVOKE route, flags; PEER_STATE readable.
 */
static void log_words(const struct bus1_engine_hdr *h, size_t n, uint64_t *w)
{
	const uint64_t *p = (const uint64_t *)(h + 1);
	size_t words = (n - sizeof(*h)) / 8;
	const struct bus1_engine_item *it = (const void *)p;

	switch (h->type) {
	case BUS1_ENGINE_ITEM:
		if (words < 6)
			break;
		w[0] = it->token;
		w[1] = it->n_data;
		if (it->n_data >= BUS1_ENGINE_DATA_REF_MIN &&
		    it->n_transfers < words - 6)
			w[2] = p[6 + it->n_transfers];
		break;
	case BUS1_ENGINE_ROUTE:
		for (size_t i = 0; i < 3 && i < words; i++)
			w[i] = p[i];
		break;
	case BUS1_ENGINE_RETRACT:
	case BUS1_ENGINE_DATA_RELEASE:
	case BUS1_ENGINE_REVOKE:
	case BUS1_ENGINE_PEER_STATE:
		for (size_t i = 0; i < 2 && i < words; i++)
			w[i] = p[i];
		break;
	}
}

static void log_record(const struct bus1_engine_hdr *h, size_t n, int verdict)
{
	struct logged *l = &history[n_history++ % N_HISTORY];
	struct peer_log *p;

	*l = (struct logged){
		.iter = iter, .peer = h->peer, .seq = h->seq,
		.size = h->size, .type = h->type, .error = h->error,
		.verdict = verdict,
	};
	log_words(h, n, l->w);
	p = peer_log(h->peer, true);
	if (!p)
		return;
	p->ring[p->n++ % N_PEER_HISTORY] = *l;
	if (verdict == VERDICT_ACCEPTED && h->type == BUS1_ENGINE_ITEM &&
	    l->w[0] > p->max_token) {
		p->max_token = l->w[0];
		p->max_token_iter = iter;
	}
}

/*
 * Log the records of a write of @n bytes from @buf that returned @r: the
 * module processed them in order up to the first it refused, and returned
 * the bytes accepted before it (or its errno, if it was the first).
 */
static void log_write(const void *buf, size_t n, ssize_t r)
{
	size_t accepted = r > 0 ? (size_t)r : 0, off = 0;

	while (n - off >= sizeof(struct bus1_engine_hdr)) {
		const struct bus1_engine_hdr *h = (const void *)((const char *)buf + off);
		size_t size = h->size < n - off ? h->size : n - off;
		int verdict = off < accepted ? VERDICT_ACCEPTED :
			      r < 0 ? (int)r : VERDICT_REFUSED_UNSEEN;

		log_record(h, size < sizeof(*h) ? sizeof(*h) : size, verdict);
		if (verdict == VERDICT_REFUSED_UNSEEN && h->seq &&
		    h->type <= BUS1_ENGINE_FETCH)
			n_replies_refused_unseen++;
		if (verdict != VERDICT_ACCEPTED || h->size < sizeof(*h))
			break;
		off += h->size;
	}
}

static void print_logged(const struct logged *l)
{
	char verdict[32];

	if (l->verdict == VERDICT_ACCEPTED)
		snprintf(verdict, sizeof(verdict), "accepted");
	else if (l->verdict == VERDICT_REFUSED_UNSEEN)
		snprintf(verdict, sizeof(verdict), "refused");
	else
		snprintf(verdict, sizeof(verdict), "%s",
			 strerrorname_np(-l->verdict) ?: "?");
	printf("fuzz-control:   iteration %llu: %s (%u) size %u peer %llu seq %llu error %d [%llu %llu %llu] -> %s\n",
	       (unsigned long long)l->iter, type_name(l->type), l->type,
	       l->size, (unsigned long long)l->peer,
	       (unsigned long long)l->seq, l->error,
	       (unsigned long long)l->w[0], (unsigned long long)l->w[1],
	       (unsigned long long)l->w[2], verdict);
}

static void print_history(void)
{
	uint64_t first = n_history > N_HISTORY ? n_history - N_HISTORY : 0;

	printf("fuzz-control: the last %llu records written, oldest first (words: ITEM token n_data ref, RETRACT token, DATA_RELEASE ref, ROUTE route handle receiver, REVOKE route flags):\n",
	       (unsigned long long)(n_history - first));
	for (uint64_t i = first; i < n_history; i++)
		print_logged(&history[i % N_HISTORY]);
}

static void print_peer(uint64_t id)
{
	struct peer_log *p = peer_log(id, false);
	uint64_t first;

	if (!p) {
		printf("fuzz-control: nothing logged for peer %llu\n",
		       (unsigned long long)id);
		return;
	}
	first = p->n > N_PEER_HISTORY ? p->n - N_PEER_HISTORY : 0;
	printf("fuzz-control: peer %llu: highest token accepted %llu (iteration %llu), last RECV_DONE token %llu, its last %llu records:\n",
	       (unsigned long long)id, (unsigned long long)p->max_token,
	       (unsigned long long)p->max_token_iter,
	       (unsigned long long)p->last_done,
	       (unsigned long long)(p->n - first));
	for (uint64_t i = first; i < p->n; i++)
		print_logged(&p->ring[i % N_PEER_HISTORY]);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stdout, "fuzz-control: FAIL: ");
	vfprintf(stdout, fmt, ap);
	fprintf(stdout, "\n");
	va_end(ap);
	print_history();
	fflush(stdout);
	for (int i = 0; i < N_WORKERS; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	exit(1);
}

/*
 * Whether a worker may see @err from @op. The fuzzer answers with the
 * errnos the protocol lets an engine return (a lie becomes EIO), and the
 * module adds its own checks; ENOTCONN (ENXIO for an open) only once the
 * fuzzer has left. Never ETIMEDOUT (everything is answered), EFAULT (the
 * workers' pointers are valid) or ENOTTY.
 */
static bool worker_errno_ok(int err, const char *op)
{
	switch (err) {
	case EINVAL:
	case EBADRQC:
	case EAGAIN:
	case EMSGSIZE:
	case EDQUOT:
	case ENOMEM:
	case EBADF:
	case EOPNOTSUPP:
	case EPERM:
	case EIO:
		return true;
	case ENOTCONN:
		return __atomic_load_n(&shared->stop, __ATOMIC_ACQUIRE);
	case ENXIO:
		return !strcmp(op, "open") &&
		       __atomic_load_n(&shared->stop, __ATOMIC_ACQUIRE);
	}
	return false;
}

static void worker_check(int r, const char *op)
{
	__atomic_fetch_add(&shared->app_errnos[r >= 0 ? 0 :
			   -r < FUZZ_MAX_ERRNO ? -r : 0], 1, __ATOMIC_RELAXED);
	if (r < 0 && !worker_errno_ok(-r, op)) {
		printf("fuzz-control: FAIL: worker %d: %s: unexpected errno %d (%s)\n",
		       getpid(), op, -r, strerrorname_np(-r) ?: "?");
		fflush(stdout);
		_exit(1);
	}
}

/* What the module delivers it has validated: a known type, and shapes. */
static void received_check(const struct bus1_message *msg,
			   const struct bus1_transfer *t)
{
	bool bad = msg->type >= _BUS1_MESSAGE_TYPE_N ||
		   (msg->type != BUS1_MESSAGE_TYPE_USER &&
		    (msg->n_data || msg->n_transfers));

	for (uint64_t i = 0; !bad && i < msg->n_transfers; i++)
		bad = t[i].flags != 0;
	if (bad) {
		printf("fuzz-control: FAIL: worker %d: received type %llu with %llu bytes and %llu handles\n",
		       getpid(), (unsigned long long)msg->type,
		       (unsigned long long)msg->n_data,
		       (unsigned long long)msg->n_transfers);
		fflush(stdout);
		_exit(1);
	}
}

static void canary_check(const void *p, size_t n, const char *what)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != CANARY) {
			printf("fuzz-control: FAIL: worker %d: %s overwritten past the buffer\n",
			       getpid(), what);
			fflush(stdout);
			_exit(1);
		}
}

/* One application: real commands, results checked only for their errno. */
static void worker(uint64_t seed)
{
	struct {
		struct bus1_transfer t[4];
		unsigned char canary[64];
	} src, dst, rt;
	struct {
		unsigned char data[64];
		unsigned char canary[64];
	} in;
	struct {
		int32_t e[2];
		unsigned char canary[64];
	} errs;
	static struct {
		unsigned char data[2 * BUS1_ENGINE_DATA_REF_MIN];
		unsigned char canary[64];
	} large;
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct iovec vec;
	uint64_t ids[4] = { 0 };
	int fd = -1, other = -1, r = 0;

	fuzz_srand(seed);
	/* No bound of its own: the fuzzer bounds the run and outlives it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (!__atomic_load_n(&shared->stop, __ATOMIC_ACQUIRE)) {
		if (fd < 0) {
			fd = bus1_peer_new();
			worker_check(fd, "open");
			if (fd == -ENXIO)
				usleep(1000);
			if (fd < 0) {
				fd = -1;
				continue;
			}
		}
		switch (fuzz_below(6)) {
		case 0:
			memset(&src, CANARY, sizeof(src));
			memset(&dst, CANARY, sizeof(dst));
			for (int i = 0; i < 2; i++)
				src.t[i] = (struct bus1_transfer){
					BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
			r = bus1_cmd_transfer(0, fd, fuzz_below(2) && other >= 0 ?
					      other : -1, 2, src.t, dst.t);
			worker_check(r, "transfer");
			canary_check(src.canary, sizeof(src.canary), "src");
			canary_check(dst.canary, sizeof(dst.canary), "dst");
			if (!r) {
				ids[0] = src.t[0].id;
				ids[1] = dst.t[0].id;
				ids[2] = dst.t[1].id;
			}
			break;
		case 1:
			memset(&errs, CANARY, sizeof(errs));
			vec = (struct iovec){ "payload", 8 };
			if (fuzz_below(3) == 0) {
				/* large: by reference */
				memset(large.data, 0x5a, sizeof(large.data));
				vec = (struct iovec){
					large.data, BUS1_ENGINE_DATA_REF_MIN +
					fuzz_below(BUS1_ENGINE_DATA_REF_MIN) };
			}
			msg = (struct bus1_message){
				.n_data = vec.iov_len,
				.n_data_vecs = 1,
				.ptr_data_vecs = BUS1_FROM_PTR(&vec),
			};
			r = bus1_cmd_send(fd, 2, &ids[1], errs.e, &msg);
			worker_check(r, "send");
			canary_check(errs.canary, sizeof(errs.canary), "errors");
			break;
		case 2:
			/* room for a large payload */
			memset(&large, CANARY, sizeof(large));
			memset(&rt, CANARY, sizeof(rt));
			vec = (struct iovec){ large.data, sizeof(large.data) };
			msg = (struct bus1_message){
				.type = BUS1_INVALID,
				.n_transfers = 2,
				.ptr_transfers = BUS1_FROM_PTR(rt.t),
				.n_data = sizeof(large.data) - fuzz_below(2) *
					  BUS1_ENGINE_DATA_REF_MIN,
				.n_data_vecs = 1,
				.ptr_data_vecs = BUS1_FROM_PTR(&vec),
			};
			r = bus1_cmd_recv(fd, &meta, &msg);
			worker_check(r, "recv large");
			if (!r)
				received_check(&msg, rt.t);
			canary_check(large.canary, sizeof(large.canary),
				     "large data");
			canary_check(&rt.t[2], sizeof(rt) - 2 * sizeof(rt.t[0]),
				     "transfers");
			break;
		case 3:
			memset(&in, CANARY, sizeof(in));
			memset(&rt, CANARY, sizeof(rt));
			vec = (struct iovec){ in.data, sizeof(in.data) };
			msg = (struct bus1_message){
				.type = BUS1_INVALID,
				.n_transfers = 2,
				.ptr_transfers = BUS1_FROM_PTR(rt.t),
				.n_data = fuzz_below(2) ? sizeof(in.data) : 4,
				.n_data_vecs = 1,
				.ptr_data_vecs = BUS1_FROM_PTR(&vec),
			};
			r = bus1_cmd_recv(fd, &meta, &msg);
			worker_check(r, "recv");
			if (!r)
				received_check(&msg, rt.t);
			canary_check(in.canary, sizeof(in.canary), "data");
			canary_check(&rt.t[2], sizeof(rt) - 2 * sizeof(rt.t[0]),
				     "transfers");
			break;
		case 4:
			r = bus1_cmd_release(fd, 1 + fuzz_below(3), ids);
			worker_check(r, "release");
			break;
		case 5:
			if (other >= 0)
				close(other);
			other = fd;
			fd = -1;
			break;
		}
		if (r == -ENOTCONN || r == -ETIMEDOUT) {
			close(fd);
			fd = -1;
		}
	}
	_exit(0);
}

static size_t correct_reply(const struct bus1_engine_hdr *req, void *buf)
{
	static const int errs[] = { -EINVAL, -EAGAIN, -ENOMEM, -EPERM, -EDQUOT,
				    -EBADRQC };
	struct bus1_engine_hdr *h = buf;
	const void *p = req + 1;
	size_t size = sizeof(*h);

	*h = (struct bus1_engine_hdr){ .type = req->type, .seq = req->seq,
				       .peer = req->peer };
	if (fuzz_below(8) == 0) {
		h->error = errs[fuzz_below(sizeof(errs) / sizeof(errs[0]))];
		h->size = size;
		return size;
	}
	switch (req->type) {
	case BUS1_ENGINE_TRANSFER: {
		const struct bus1_engine_transfer *t = p;
		const struct bus1_transfer *in = (const void *)(t + 1);
		struct bus1_transfer *out = (void *)(h + 1);

		for (uint64_t i = 0; i < t->n; i++) {
			out[i] = (struct bus1_transfer){ 0, in[i].id };
			if (in[i].flags & BUS1_TRANSFER_FLAG_CREATE)
				out[i].id = (fuzz_rand() << 1) | 1;
			out[t->n + i] = (struct bus1_transfer){
				0, (fuzz_rand() << 1) | 1 };
		}
		size += 2 * t->n * sizeof(*out);
		break;
	}
	case BUS1_ENGINE_SEND: {
		const struct bus1_engine_send *s = p;

		memset(h + 1, 0, (s->n_destinations * 4 + 7) & ~7ULL);
		size += (s->n_destinations * 4 + 7) & ~7ULL;
		break;
	}
	case BUS1_ENGINE_FETCH:
		/* no payload; ENOMEM if nothing could be lent */
		if (fuzz_below(4) == 0)
			h->error = -ENOMEM;
		break;
	}
	h->size = size;
	return size;
}

static bool one_way(uint16_t type)
{
	return type == BUS1_ENGINE_PEER_RELEASE ||
	       type == BUS1_ENGINE_RECV_DONE ||
	       type == BUS1_ENGINE_ROUTE_DONE;
}

/*
 * Write records; return the bytes accepted or the errno of the first
 * record, which must be one the protocol documents. The file is
 * O_NONBLOCK, so the module fails a write with EAGAIN, having processed
 * nothing, while a send it serves itself holds its order lock
 * (docs/decisions.md, "Non-blocking control file"): try again.
 */
static ssize_t do_write(int cfd, const void *buf, size_t n)
{
	ssize_t r;

	while ((r = write(cfd, buf, n)) < 0 && errno == EAGAIN) {
		n_write_retries++;
		sched_yield();
	}
	if (r < 0)
		r = -errno;
	log_write(buf, n, r);
	if (r < 0 && r != -EINVAL && r != -ENOENT && r != -EPROTO &&
	    r != -ENOSPC)
		fail("control write of %zu bytes: undocumented errno %s",
		     n, strerrorname_np(-r) ?: "?");
	if (r > (ssize_t)n)
		fail("control write returned %zd for %zu bytes", r, n);
	fuzz_count_errno(write_errnos, r < 0 ? r : 0);
	return r;
}

/* Mutate the correct reply in @buf (size @n, room for more) in place. */
static size_t mutate(void *buf, size_t n, size_t room)
{
	struct bus1_engine_hdr *h = buf;
	unsigned char *b = buf;
	size_t k;

	switch (fuzz_below(11)) {
	case 0:
		b[fuzz_below(n)] ^= 1u << fuzz_below(8);
		break;
	case 1:
		h->size += 8 * (fuzz_below(9) - 4);
		break;
	case 2:
		h->size = fuzz_rand();
		break;
	case 3:
		return fuzz_below(n);
	case 4:
		h->seq = fuzz_below(2) ? h->seq | (1ULL << 62) :
			 fuzz_below(h->seq + 1);
		break;
	case 5:
		h->type = fuzz_below(20);
		break;
	case 6:
		h->peer = fuzz_below(2) ? fuzz_rand() : h->peer + 1;
		break;
	case 7:
		if (2 * n <= room) {
			memcpy(b + n, b, n);
			return 2 * n;
		}
		break;
	case 8:
		h->error = fuzz_below(2) ? -(int)fuzz_below(5000) :
			   (int)fuzz_rand();
		break;
	case 9:
		/* A count or size field of the payload, at a random word. */
		if (n > sizeof(*h)) {
			k = sizeof(*h) + 8 * fuzz_below((n - sizeof(*h)) / 8);
			*(uint64_t *)(b + k) = fuzz_below(2) ? fuzz_rand() :
				*(uint64_t *)(b + k) + 1;
		}
		break;
	case 10:
		if (n + 8 * 4 <= room) {
			memset(b + n, 0, 32);
			h->size += 8 * (1 + fuzz_below(4));
			return n + (h->size - n);
		}
		break;
	}
	return n;
}

/* Write a DATA_RELEASE of @ref; the module accepts every one. */
static void data_release(int cfd, uint64_t ref)
{
	struct {
		struct bus1_engine_hdr h;
		struct bus1_engine_data_release d;
	} dr = {
		{ .size = sizeof(dr), .type = BUS1_ENGINE_DATA_RELEASE,
		  .peer = 0 },
		{ .ref = ref },
	};

	n_data_releases++;
	if (do_write(cfd, &dr, sizeof(dr)) != sizeof(dr))
		fail("DATA_RELEASE of %llu rejected", (unsigned long long)ref);
}

/* Release owned reference @i: DATA_RELEASE, then forget it. */
static void release_owned(int cfd, unsigned int i)
{
	uint64_t ref = owned[i].ref;

	unsigned int slot = fuzz_below(16);

	owned[i] = owned[--n_owned];
	data_release(cfd, ref);
	released_refs[slot] = ref;
	released_iters[slot] = iter;
}

/* The SEND @req was answered 0: its reference, if any, is ours now. */
static void own_send_ref(int cfd, const struct bus1_engine_hdr *req)
{
	const struct bus1_engine_send *s = (const void *)(req + 1);
	uint64_t ref;

	if (req->type != BUS1_ENGINE_SEND ||
	    req->size < sizeof(*req) + sizeof(*s) ||
	    s->n_data < BUS1_ENGINE_DATA_REF_MIN)
		return;
	if (req->size != sizeof(*req) + sizeof(*s) +
			 s->n_destinations * 8 + s->n_transfers * 16 + 8)
		fail("large SEND of %u bytes for %llu destinations and %llu transfers",
		     req->size, (unsigned long long)s->n_destinations,
		     (unsigned long long)s->n_transfers);
	ref = *(const uint64_t *)((const char *)req + req->size - 8);
	if (!ref)
		fail("SEND with data reference 0");
	if (n_owned == N_OWNED)
		release_owned(cfd, fuzz_below(N_OWNED));
	owned[n_owned].ref = ref;
	owned[n_owned].n_data = s->n_data;
	owned[n_owned].seq = req->seq;
	owned[n_owned].iter = iter;
	n_owned++;
}

/* A reference the module must refuse in an ITEM of @n_data bytes. */
static uint64_t bad_ref(uint64_t *n_data)
{
	uint64_t ref;

	switch (fuzz_below(4)) {
	case 0:
		return 0;
	case 1:
		ref = released_refs[fuzz_below(16)];
		for (unsigned int i = 0; ref && i < n_owned; i++)
			if (owned[i].ref == ref)
				ref = 0;
		return ref;
	case 2:
		if (n_owned) {
			/* ours, but of another size */
			unsigned int i = fuzz_below(n_owned);

			*n_data = owned[i].n_data + 1 + fuzz_below(100);
			return owned[i].ref;
		}
		/* fall through */
	default:
		return fuzz_rand() | (1ULL << 32);
	}
}

/*
 * A well-formed ITEM record for @peer in @buf: a user message with up to 4
 * handle IDs and 100 bytes (more than a worker has room for, sometimes), or
 * naming a large payload the fuzzer owns by reference, or a notification.
 * Returns its size. With @bad, the data reference is one the module must
 * refuse (the record is otherwise well formed).
 */
static size_t make_item(void *buf, uint64_t peer, bool bad)
{
	struct bus1_engine_hdr *h = buf;
	struct bus1_engine_item *it = (void *)(h + 1);
	uint64_t *ids = (void *)(it + 1);
	uint64_t n_data, ref;

	if (last_token == UINT64_MAX)
		fail("no token left above %llu", (unsigned long long)last_token);
	*it = (struct bus1_engine_item){
		.token = ++last_token,
		.type = fuzz_below(3),
		.id = fuzz_rand() | 1,
		.account = BUS1_INVALID,
	};
	if (bad)
		it->type = BUS1_MESSAGE_TYPE_USER;
	if (it->type == BUS1_MESSAGE_TYPE_USER) {
		it->account = fuzz_below(2000);
		it->n_transfers = fuzz_below(5);
		for (uint64_t i = 0; i < it->n_transfers; i++)
			ids[i] = fuzz_rand() | 1;
		if (bad || (n_owned && fuzz_below(3) == 0)) {
			unsigned int i = fuzz_below(n_owned ? n_owned : 1);

			n_data = n_owned ? owned[i].n_data :
				 BUS1_ENGINE_DATA_REF_MIN;
			ref = bad ? bad_ref(&n_data) : owned[i].ref;
			it->n_data = n_data;
			ids[it->n_transfers] = ref;
			*h = (struct bus1_engine_hdr){
				.size = sizeof(*h) + sizeof(*it) +
					it->n_transfers * 8 + 8,
				.type = BUS1_ENGINE_ITEM,
				.peer = peer,
			};
			return h->size;
		}
		n_data = fuzz_below(101);
		it->n_data = n_data;
		memset(ids + it->n_transfers, 0, (n_data + 7) & ~7ULL);
		memset(ids + it->n_transfers, 0x42, n_data);
	}
	*h = (struct bus1_engine_hdr){
		.size = sizeof(*h) + sizeof(*it) + it->n_transfers * 8 +
			((it->n_data + 7) & ~7ULL),
		.type = BUS1_ENGINE_ITEM,
		.peer = peer,
	};
	return h->size;
}

/* What the oracle knows of data reference @ref. */
static void print_ref(uint64_t ref)
{
	bool known = false;

	for (unsigned int i = 0; i < n_owned; i++)
		if (owned[i].ref == ref) {
			printf("fuzz-control: reference %llu: owned since iteration %llu (reply to SEND seq %llu), %llu bytes\n",
			       (unsigned long long)ref,
			       (unsigned long long)owned[i].iter,
			       (unsigned long long)owned[i].seq,
			       (unsigned long long)owned[i].n_data);
			known = true;
		}
	for (unsigned int i = 0; i < 16; i++)
		if (released_refs[i] == ref) {
			printf("fuzz-control: reference %llu: released at iteration %llu\n",
			       (unsigned long long)ref,
			       (unsigned long long)released_iters[i]);
			known = true;
		}
	if (!known)
		printf("fuzz-control: reference %llu: neither owned nor among the last released\n",
		       (unsigned long long)ref);
}

/* What the oracle believed about the ITEM in @buf that the module refused. */
static void report_item(const void *buf)
{
	const struct bus1_engine_hdr *h = buf;
	const struct bus1_engine_item *it = (const void *)(h + 1);
	const uint64_t *ids = (const uint64_t *)(it + 1);
	uint64_t ref = 0;

	if (it->n_data >= BUS1_ENGINE_DATA_REF_MIN)
		ref = ids[it->n_transfers];
	printf("fuzz-control: ITEM for peer %llu: token %llu, type %llu, %llu handles, %llu bytes, data reference %llu; last token written %llu, %u references owned\n",
	       (unsigned long long)h->peer, (unsigned long long)it->token,
	       (unsigned long long)it->type,
	       (unsigned long long)it->n_transfers,
	       (unsigned long long)it->n_data, (unsigned long long)ref,
	       (unsigned long long)last_token, n_owned);
	if (ref)
		print_ref(ref);
	print_peer(h->peer);
}

/* A peer to lend to: the requester, a recent one, or one that is gone. */
static uint64_t pick_peer(uint64_t peer)
{
	switch (fuzz_below(8)) {
	case 0:
		return recent_peers[fuzz_below(8)];
	case 1:
		return fuzz_below(2) ? fuzz_rand() : 0;
	default:
		return peer;
	}
}

/*
 * A mutation of the ITEM in @buf (@m bytes written) may have raised its
 * token, whose correct value is last_token: keep the rise below
 * MAX_TOKEN_JUMP, so that the counter never runs out.
 */
static void cap_token_jump(void *buf, size_t m)
{
	uint64_t *token = &((uint64_t *)buf)[4];

	if (m >= sizeof(struct bus1_engine_hdr) + 8 && *token > last_token)
		*token = last_token + (*token - last_token) % MAX_TOKEN_JUMP;
}

/*
 * Lend a few items and take some back, as an engine may before any reply.
 * A correct ITEM is accepted, or refused with ENOSPC when the module holds
 * its bound of the peer (workers may be slow to receive); a correct
 * RETRACT is always accepted, whatever token it names.
 */
static void lend(int cfd, uint64_t peer, void *buf, size_t room)
{
	unsigned int n = 1 + fuzz_below(3);
	size_t size, m;
	ssize_t r;

	while (n--) {
		uint64_t to = pick_peer(peer);

		if (fuzz_below(4) == 0) {
			struct {
				struct bus1_engine_hdr h;
				struct bus1_engine_retract t;
			} rt = {
				{ .size = sizeof(rt), .type = BUS1_ENGINE_RETRACT,
				  .peer = to },
				{ .token = fuzz_below(2) ? last_token :
					   fuzz_below(last_token + 2) },
			};

			n_retracts++;
			if (do_write(cfd, &rt, sizeof(rt)) != sizeof(rt))
				fail("RETRACT of token %llu rejected",
				     (unsigned long long)rt.t.token);
			continue;
		}
		if (fuzz_below(8) == 0) {
			/* ours (the module keeps lent items' bytes) or not */
			if (n_owned && fuzz_below(2))
				release_owned(cfd, fuzz_below(n_owned));
			else
				data_release(cfd, fuzz_below(2) ?
					     released_refs[fuzz_below(16)] :
					     fuzz_rand() | (1ULL << 32));
			continue;
		}
		if (fuzz_below(8) == 0) {
			size = make_item(buf, to, true);
			n_items++;
			n_bad_refs++;
			r = do_write(cfd, buf, size);
			if (r != -EINVAL) {
				report_item(buf);
				fail("ITEM naming bad data reference %llu: %zd",
				     (unsigned long long)((uint64_t *)buf)[
					     (size - 8) / 8], r);
			}
			continue;
		}
		size = make_item(buf, to, false);
		if (((struct bus1_engine_item *)((struct bus1_engine_hdr *)buf + 1))->n_data >=
		    BUS1_ENGINE_DATA_REF_MIN)
			n_ref_items++;
		n_items++;
		if (fuzz_below(4) == 0) {
			m = mutate(buf, size, room);
			n_mutated++;
			cap_token_jump(buf, m);
			r = do_write(cfd, buf, m);
			if (r > 0)
				n_items_accepted++;
			/* a mutated token may have grown further */
			if (m >= sizeof(struct bus1_engine_hdr) + 8 &&
			    ((uint64_t *)buf)[4] > last_token)
				last_token = ((uint64_t *)buf)[4];
			continue;
		}
		r = do_write(cfd, buf, size);
		if (r == (ssize_t)size) {
			n_items_accepted++;
		} else if (r != -ENOSPC) {
			report_item(buf);
			fail("correct ITEM for peer %llu rejected: %zd",
			     (unsigned long long)to, r);
		}
	}
}

/* The module settles only what was lent. */
static void check_recv_done(const struct bus1_engine_hdr *req)
{
	const struct bus1_engine_recv_done *d = (const void *)(req + 1);
	struct peer_log *p = peer_log(req->peer, false);

	if (req->size != sizeof(*req) + sizeof(*d))
		fail("RECV_DONE of %u bytes", req->size);
	if (!d->token || d->token > last_token)
		fail("RECV_DONE for peer %llu names token %llu, last lent %llu",
		     (unsigned long long)req->peer,
		     (unsigned long long)d->token,
		     (unsigned long long)last_token);
	/* Items are received in the order lent, so tokens grow per peer. */
	if (p && (d->token > p->max_token || d->token <= p->last_done)) {
		print_peer(req->peer);
		fail("RECV_DONE for peer %llu names token %llu, not lent after its last RECV_DONE",
		     (unsigned long long)req->peer,
		     (unsigned long long)d->token);
	}
	if (p)
		p->last_done = d->token;
	n_recv_done++;
}

static ssize_t route_write(int cfd, uint64_t src,
			   const struct bus1_engine_route *rt)
{
	struct {
		struct bus1_engine_hdr h;
		struct bus1_engine_route r;
	} rec = {
		{ .size = sizeof(rec), .type = BUS1_ENGINE_ROUTE, .peer = src },
		*rt,
	};

	return do_write(cfd, &rec, sizeof(rec));
}

static ssize_t revoke_write(int cfd, uint64_t src, uint64_t id,
			    uint64_t flags)
{
	struct {
		struct bus1_engine_hdr h;
		struct bus1_engine_revoke r;
	} rec = {
		{ .size = sizeof(rec), .type = BUS1_ENGINE_REVOKE, .peer = src },
		{ .route = id, .flags = flags },
	};

	return do_write(cfd, &rec, sizeof(rec));
}

/* Whether @src's @handle has a route not yet revoked. */
static bool route_live(uint64_t src, uint64_t handle)
{
	for (uint64_t i = 1; i <= n_routes; i++)
		if (routes[i].state == ROUTE_LIVE && routes[i].src == src &&
		    routes[i].handle == handle)
			return true;
	return false;
}

/*
 * Before the 0 reply to a SEND: maybe grant its sender a route for its
 * first destination, to a recent peer, or write a malformed ROUTE.
 */
static void maybe_route(int cfd, const struct bus1_engine_hdr *req)
{
	const struct bus1_engine_send *s = (const void *)(req + 1);
	struct bus1_engine_route rt;
	bool live;
	ssize_t r;

	if (req->type != BUS1_ENGINE_SEND || fuzz_below(3) ||
	    req->size < sizeof(*req) + sizeof(*s) + 8 || !s->n_destinations ||
	    n_routes >= MAX_ROUTES)
		return;
	rt = (struct bus1_engine_route){
		.route = n_routes + 1,
		.handle = *(const uint64_t *)(s + 1),
		.dst_peer = fuzz_below(4) ? recent_peers[fuzz_below(8)] :
					    req->peer,
		.dst_id = ((fuzz_rand() & 0xffffffff) << 1) | BUS1_MANAGED,
		.account = fuzz_below(2000),
		.credit_items = 1 + fuzz_below(BUS1_ENGINE_MAX_ROUTE_ITEMS),
		.credit_bytes = fuzz_below(2) ? 256 :
			fuzz_below(BUS1_ENGINE_MAX_ROUTE_BYTES + 1),
	};
	if (fuzz_below(8) == 0) {
		/* malformed: no credit, an unmanaged ID, or too much */
		switch (fuzz_below(3)) {
		case 0:
			rt.credit_items = 0;
			break;
		case 1:
			rt.handle &= ~BUS1_MANAGED;
			break;
		default:
			rt.credit_bytes = BUS1_ENGINE_MAX_ROUTE_BYTES + 1;
			break;
		}
		n_bad_routes++;
		if (route_write(cfd, req->peer, &rt) != -EINVAL)
			fail("malformed ROUTE accepted");
		return;
	}
	if (!(rt.handle & BUS1_MANAGED) || rt.handle == BUS1_INVALID)
		return;
	live = route_live(req->peer, rt.handle);
	r = route_write(cfd, req->peer, &rt);
	if (r == -EINVAL && live)
		return;
	if (r != sizeof(struct bus1_engine_hdr) + sizeof(rt))
		fail("ROUTE %llu for peer %llu handle %llu: %zd",
		     (unsigned long long)rt.route,
		     (unsigned long long)req->peer,
		     (unsigned long long)rt.handle, r);
	n_routes++;
	routes[n_routes].src = req->peer;
	routes[n_routes].handle = rt.handle;
	routes[n_routes].state = ROUTE_LIVE;
}

/* Maybe revoke a live route, or name an unknown one. */
static void maybe_revoke(int cfd)
{
	uint64_t id;

	if (!n_routes || fuzz_below(4))
		return;
	id = 1 + fuzz_below(n_routes);
	if (fuzz_below(16) == 0) {
		if (revoke_write(cfd, routes[id].src, MAX_ROUTES + 1 +
				 fuzz_below(1000), 0) != -EINVAL)
			fail("REVOKE of an unknown route accepted");
		return;
	}
	if (routes[id].state != ROUTE_LIVE)
		return;
	if (revoke_write(cfd, routes[id].src, id,
			 fuzz_below(2) ? BUS1_ENGINE_REVOKE_DISCARD : 0) !=
	    (ssize_t)(sizeof(struct bus1_engine_hdr) +
		      sizeof(struct bus1_engine_revoke)))
		fail("REVOKE of route %llu rejected", (unsigned long long)id);
	routes[id].state = ROUTE_REVOKED;
	n_route_revokes++;
}

/* A ROUTE_DONE must name a revoked route, once. */
static void check_route_done(const struct bus1_engine_hdr *req)
{
	const struct bus1_engine_route_done *d = (const void *)(req + 1);

	if (req->size != sizeof(*req) + sizeof(*d))
		fail("ROUTE_DONE of %u bytes", req->size);
	if (!d->route || d->route > n_routes ||
	    routes[d->route].state != ROUTE_REVOKED ||
	    routes[d->route].src != req->peer)
		fail("ROUTE_DONE of route %llu, not revoked (state %u)",
		     (unsigned long long)d->route,
		     d->route && d->route <= n_routes ?
		     routes[d->route].state : 0);
	routes[d->route].state = ROUTE_DONE;
	n_route_dones++;
}

/*
 * Requests a mutated reply to another request ended (its seq mutated to
 * theirs, refused with EPROTO): their own reply finds nothing (ENOENT).
 */
static uint64_t ended_by_mutation[16];
static uint64_t n_ended_by_mutation;

static bool ended_by_a_mutation(uint64_t seq)
{
	for (int i = 0; i < 16; i++)
		if (ended_by_mutation[i] == seq)
			return true;
	return false;
}

/* Answer one request: one iteration. */
static void answer(int cfd, const struct bus1_engine_hdr *req, void *buf,
		   size_t room)
{
	size_t n, m;
	ssize_t r;
	int pick = fuzz_below(10);

	if (req->seq <= last_seq)
		fail("request seq %llu not growing (last %llu)",
		     (unsigned long long)req->seq,
		     (unsigned long long)last_seq);
	last_seq = req->seq;
	if (req->peer > max_peer_seen)
		max_peer_seen = req->peer;
	peer_log(req->peer, true);
	if (req->type == BUS1_ENGINE_RECV_DONE)
		check_recv_done(req);
	if (req->type == BUS1_ENGINE_ROUTE_DONE)
		check_route_done(req);
	if (req->type != BUS1_ENGINE_PEER_RELEASE)
		recent_peers[fuzz_below(8)] = req->peer;

	if (one_way(req->type)) {
		/* No reply type exists for them: a malformed record. */
		if (pick < 2) {
			n = correct_reply(req, buf);
			r = do_write(cfd, buf, n);
			if (r != -EINVAL)
				fail("reply to one-way type %u: %zd",
				     req->type, r);
		}
		return;
	}

	if (pick >= 6) {
		n = correct_reply(req, buf);
		m = mutate(buf, n, room);
		n_mutated++;
		r = do_write(cfd, buf, m);
		/*
		 * A mutated seq may name another pending request and complete
		 * that one instead; ours then still needs its reply. A
		 * mutation the module accepted as a success (an error field
		 * mutated to 0, or a duplicated record) gives us the SEND's
		 * data reference as the correct reply would.
		 */
		if ((r == -EPROTO || r > 0) &&
		    ((struct bus1_engine_hdr *)buf)->seq == req->seq) {
			if (r > 0 && !((struct bus1_engine_hdr *)buf)->error)
				own_send_ref(cfd, req);
			return;
		}
		if (r == -EPROTO)
			ended_by_mutation[n_ended_by_mutation++ % 16] =
				((struct bus1_engine_hdr *)buf)->seq;
	} else if (pick == 5) {
		m = 1 + fuzz_below(256);
		for (size_t i = 0; i < m; i++)
			((unsigned char *)buf)[i] = fuzz_rand();
		n_garbage++;
		do_write(cfd, buf, m);
	}
	/* Lend before the reply, as the engine does; FETCH asks for it. */
	if (fuzz_below(req->type == BUS1_ENGINE_FETCH ? 4 : 3) != 0)
		lend(cfd, req->peer, buf, room);
	if (fuzz_below(4) == 0) {
		/* A PEER_STATE before the reply, as the engine may send. */
		struct {
			struct bus1_engine_hdr h;
			struct bus1_engine_peer_state s;
		} st = {
			{ .size = sizeof(st), .type = BUS1_ENGINE_PEER_STATE,
			  .peer = fuzz_below(2) ? req->peer : fuzz_rand() },
			{ .readable = fuzz_below(2) },
		};

		if (do_write(cfd, &st, sizeof(st)) != sizeof(st))
			fail("PEER_STATE rejected");
	}
	maybe_revoke(cfd);
	n = correct_reply(req, buf);
	if (!((struct bus1_engine_hdr *)buf)->error)
		maybe_route(cfd, req);
	r = do_write(cfd, buf, n);
	if (r == -ENOENT && !ended_by_a_mutation(req->seq))
		fail("correct reply to seq %llu type %u: ENOENT, but no reply ended it",
		     (unsigned long long)req->seq, req->type);
	if (r == -ENOENT)
		n_rejected_correct++;
	else if (r != (ssize_t)n)
		fail("correct reply to seq %llu type %u rejected: %zd",
		     (unsigned long long)req->seq, req->type, r);
	else if (!((struct bus1_engine_hdr *)buf)->error)
		own_send_ref(cfd, req);
}

/*
 * Every EPROTO ends one request with EIO, and nothing else makes an EIO:
 * the workers saw as many as the module refused replies with EPROTO (some
 * refusals are unseen: a reply after an accepted record of one write).
 */
static void check_eio(void)
{
	uint64_t eio = shared->app_errnos[EIO];
	uint64_t eproto = write_errnos[EPROTO];

	if (eio < eproto || eio > eproto + n_replies_refused_unseen)
		fail("applications saw %llu EIO for %llu replies refused with EPROTO (and %llu refused unseen)",
		     (unsigned long long)eio, (unsigned long long)eproto,
		     (unsigned long long)n_replies_refused_unseen);
}

static int run_script(const char *arg)
{
	char cmd[4096];
	const char *top = getenv("BUS1_TOP");

	snprintf(cmd, sizeof(cmd), "%s/scripts/guest-engine.sh %s",
		 top ? top : "../..", arg);
	return system(cmd);
}

int main(int argc, char **argv)
{
	unsigned int app_exits = 0;
	struct fuzz_opts opts;
	void *in, *out;
	size_t room;
	time_t idle_since;
	int cfd, r;

	r = fuzz_parse(argc, argv, "fuzz-control", &opts, 2000);
	if (r)
		return r > 0 ? 0 : 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	if (run_script("stop"))
		fail("could not stop the real engine");
	cfd = open("/dev/bus1-engine", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (cfd < 0)
		fail("open /dev/bus1-engine: %m");
	att.version = BUS1_ENGINE_VERSION;
	if (ioctl(cfd, BUS1_ENGINE_IOCTL_ATTACH, &att))
		fail("attach: %m");
	room = att.max_record;
	in = malloc(room);
	out = malloc(2 * room);
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!in || !out || shared == MAP_FAILED)
		fail("out of memory");

	for (int i = 0; i < N_WORKERS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			fail("fork: %m");
		if (!pids[i]) {
			close(cfd);
			worker(opts.seed * 1000 + i + 1);
		}
	}

	idle_since = time(NULL);
	while (iter < opts.iterations) {
		struct pollfd pfd = { cfd, POLLIN, 0 };
		ssize_t n;

		if (time(NULL) - idle_since > 20)
			fail("no request for 20 s after %llu iterations",
			     (unsigned long long)iter);
		r = poll(&pfd, 1, 1000);
		if (r <= 0)
			continue;
		n = read(cfd, in, room);
		if (n < 0) {
			if (errno == EAGAIN)
				continue;
			fail("control read: %m");
		}
		idle_since = time(NULL);
		for (ssize_t off = 0; off < n;) {
			struct bus1_engine_hdr *h = (void *)((char *)in + off);

			if ((size_t)(n - off) < sizeof(*h) || h->size < sizeof(*h) ||
			    h->size > (size_t)(n - off) || h->size % 8)
				fail("malformed request at %zd of %zd", off, n);
			answer(cfd, h, out, 2 * room);
			if (++iter % 50000 == 0)
				printf("fuzz-control: %llu iterations\n",
				       (unsigned long long)iter);
			off += h->size;
		}
	}

	/* Engine gone: pending requests end with ENOTCONN, workers stop. */
	__atomic_store_n(&shared->stop, 1, __ATOMIC_RELEASE);
	close(cfd);
	for (int t = 0; t < 200 && app_exits < N_WORKERS; t++) {
		for (int i = 0; i < N_WORKERS; i++) {
			int status;

			if (pids[i] <= 0 || waitpid(pids[i], &status, WNOHANG) <= 0)
				continue;
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				fail("worker %d ended with status 0x%x",
				     pids[i], status);
			pids[i] = 0;
			app_exits++;
		}
		usleep(50000);
	}
	if (app_exits < N_WORKERS)
		fail("%u worker(s) hung after the engine left",
		     N_WORKERS - app_exits);
	check_eio();

	if (run_script("start"))
		fail("could not restart the real engine");
	r = fuzz_round_trip();
	if (r)
		fail("round trip on a fresh peer after fuzzing: %s",
		     strerror(-r));

	printf("fuzz-control: seed %llu, %llu iterations, %llu mutated, %llu garbage, %llu correct replies answered ENOENT, %llu writes retried after EAGAIN\n",
	       (unsigned long long)opts.seed, (unsigned long long)iter,
	       (unsigned long long)n_mutated, (unsigned long long)n_garbage,
	       (unsigned long long)n_rejected_correct,
	       (unsigned long long)n_write_retries);
	printf("fuzz-control: %llu ITEM records (%llu accepted), %llu RETRACT records, %llu RECV_DONE\n",
	       (unsigned long long)n_items,
	       (unsigned long long)n_items_accepted,
	       (unsigned long long)n_retracts,
	       (unsigned long long)n_recv_done);
	printf("fuzz-control: %llu ITEM records by data reference, %llu naming bad ones, %llu DATA_RELEASE\n",
	       (unsigned long long)n_ref_items,
	       (unsigned long long)n_bad_refs,
	       (unsigned long long)n_data_releases);
	printf("fuzz-control: %llu routes granted, %llu malformed, %llu revoked, %llu ROUTE_DONE\n",
	       (unsigned long long)n_routes, (unsigned long long)n_bad_routes,
	       (unsigned long long)n_route_revokes,
	       (unsigned long long)n_route_dones);
	fuzz_print_errnos("fuzz-control: control write results", write_errnos);
	fuzz_print_errnos("fuzz-control: application results",
			  shared->app_errnos);
	printf("fuzz-control: PASS\n");
	return 0;
}
