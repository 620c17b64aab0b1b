/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Dispatch: control-protocol records in, core calls, records out.
 *
 * Records from the kernel are validated like any input: a header that
 * cannot be framed ends the batch (nothing after it can be trusted to be
 * a record boundary); a framed but malformed request is answered with
 * -EINVAL if it has a reply, and logged.
 *
 * Each request is applied in three steps. First the output space it can
 * need is reserved: its reply plus one PEER_STATE record per peer (each
 * peer changes readable state at most once per request, as only the final
 * state is compared with the last one reported). If that fails, the
 * request is answered with -ENOMEM and not applied. Then the core applies
 * it, and its PEER_STATE records are written, then the reply: the kernel
 * sees every readable change a request caused before its reply.
 *
 * Idempotency: the engine records the highest seq applied. A request with
 * a seq not above it is not applied again; it is logged and, if it has a
 * reply, answered with -EINVAL (the original outcome is not kept).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <linux/bus1-engine.h>
#include "alloc.h"
#include "bus.h"
#include "engine.h"
#include "peer.h"
#include "queue.h"
#include "recv.h"
#include "transaction.h"

#define PEER_STATE_SIZE \
	(sizeof(struct bus1_engine_hdr) + sizeof(struct bus1_engine_peer_state))

struct Engine {
	Bus bus;
	uint64_t last_seq;
	Outbuf scratch;
	EngineLogFn log_fn;
	void *log_userdata;
	EngineQuotaFn quota_fn;
	void *quota_userdata;
	EngineCounters counters;
};

typedef struct Request {
	const struct bus1_engine_hdr *hdr;
	const uint8_t *payload;
	size_t n_payload;
	Peer *peer;
} Request;

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

__attribute__((format(printf, 3, 4)))
static void engine_log(Engine *e, int level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (!e->log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->log_fn(e->log_userdata, level, buf);
}

int engine_new(Engine **enginep)
{
	const EngineConfig config = ENGINE_CONFIG_DEFAULT;

	return engine_new_config(enginep, &config);
}

int engine_new_config(Engine **enginep, const EngineConfig *config)
{
	const uint64_t maxima[_QUOTA_N] = {
		[QUOTA_OBJECTS] = config->max_objects,
		[QUOTA_BYTES] = config->max_bytes,
	};
	Engine *e;

	e = core_calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;

	bus_init(&e->bus, maxima);
	outbuf_init(&e->scratch);
	*enginep = e;
	return 0;
}

Engine *engine_free(Engine *e)
{
	if (!e)
		return NULL;

	bus_deinit(&e->bus);
	outbuf_deinit(&e->scratch);
	core_free(e);
	return NULL;
}

void engine_set_log(Engine *e, EngineLogFn fn, void *userdata)
{
	e->log_fn = fn;
	e->log_userdata = userdata;
}

void engine_set_quota_log(Engine *e, EngineQuotaFn fn, void *userdata)
{
	e->quota_fn = fn;
	e->quota_userdata = userdata;
}

Bus *engine_bus(Engine *e)
{
	return &e->bus;
}

/* Pass @r through, telling the quota log about an EDQUOT. */
static int quota_check(Engine *e, int r)
{
	if (r == -EDQUOT && e->quota_fn)
		e->quota_fn(e->quota_userdata, &e->bus.acct.last_failure);
	return r;
}

uint64_t engine_last_seq(Engine *e)
{
	return e->last_seq;
}

static int reserve(Engine *e, Outbuf *out, size_t n_reply)
{
	size_t n_states = e->bus.n_peers + 1;

	return outbuf_reserve(out, n_reply + n_states * PEER_STATE_SIZE);
}

static void put_peer_state(void *userdata, uint64_t peer_id, bool readable)
{
	struct bus1_engine_peer_state *state;
	struct bus1_engine_hdr *hdr;
	Outbuf *out = userdata;

	hdr = outbuf_put(out, PEER_STATE_SIZE);
	hdr->size = PEER_STATE_SIZE;
	hdr->type = BUS1_ENGINE_PEER_STATE;
	hdr->peer = peer_id;
	state = (void *)(hdr + 1);
	state->readable = readable;
}

static void *put_reply(Engine *e, Outbuf *out, const Request *req,
		       int error, size_t n_payload)
{
	struct bus1_engine_hdr *hdr;

	bus_flush_states(&e->bus, put_peer_state, out);

	hdr = outbuf_put(out, sizeof(*hdr) + n_payload);
	hdr->size = sizeof(*hdr) + n_payload;
	hdr->type = req->hdr->type;
	hdr->error = error;
	if (error < 0)
		e->counters.errors[-error < ENGINE_N_ERRNOS ?
				   -error : ENGINE_N_ERRNOS - 1]++;
	hdr->seq = req->hdr->seq;
	hdr->peer = req->hdr->peer;
	return hdr + 1;
}

/* Answer with an error and no payload. Return: 0, or -ENOMEM (fatal). */
static int reply_error(Engine *e, Outbuf *out, const Request *req, int error)
{
	int r;

	r = reserve(e, out, sizeof(struct bus1_engine_hdr));
	if (r)
		return r;
	put_reply(e, out, req, error, 0);
	return 0;
}

static int reply_invalid(Engine *e, Outbuf *out, const Request *req,
			 const char *why)
{
	engine_log(e, LOG_WARNING, "invalid record type %u seq %llu peer %llu: %s",
		   req->hdr->type, (unsigned long long)req->hdr->seq,
		   (unsigned long long)req->hdr->peer, why);
	return reply_error(e, out, req, -EINVAL);
}

static int handle_peer_new(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_peer_new *p = (const void *)req->payload;
	int r;

	if (req->n_payload != sizeof(*p))
		return reply_invalid(e, out, req, "payload size");
	if (reserve(e, out, sizeof(struct bus1_engine_hdr)))
		return reply_error(e, out, req, -ENOMEM);

	r = quota_check(e, bus_add_peer(&e->bus, req->hdr->peer, p->uid,
					p->pid));
	if (r == -EEXIST) {
		engine_log(e, LOG_WARNING, "PEER_NEW seq %llu: peer %llu exists",
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)req->hdr->peer);
		r = -EINVAL;
	}
	put_reply(e, out, req, r, 0);
	return 0;
}

static int handle_peer_release(Engine *e, Outbuf *out, const Request *req)
{
	if (req->n_payload) {
		engine_log(e, LOG_WARNING, "PEER_RELEASE seq %llu: payload size",
			   (unsigned long long)req->hdr->seq);
		return 0;
	}
	if (!req->peer) {
		engine_log(e, LOG_DEBUG, "PEER_RELEASE seq %llu: unknown peer %llu",
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)req->hdr->peer);
		return 0;
	}
	if (reserve(e, out, 0))
		return -ENOMEM;

	bus_release_peer(&e->bus, req->peer);
	bus_flush_states(&e->bus, put_peer_state, out);
	return 0;
}

static int handle_transfer(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_transfer *p = (const void *)req->payload;
	const struct bus1_transfer *src = (const void *)(p + 1);
	struct bus1_transfer *src_out, *dst_out;
	size_t n_reply;
	uint8_t *reply;
	Peer *to;
	int r;

	if (req->n_payload < sizeof(*p) ||
	    p->n > (req->n_payload - sizeof(*p)) / sizeof(*src) ||
	    req->n_payload != sizeof(*p) + p->n * sizeof(*src))
		return reply_invalid(e, out, req, "payload size");
	if (!req->peer)
		return reply_invalid(e, out, req, "unknown peer");
	to = bus_find_peer(&e->bus, p->to_peer);
	if (!to)
		return reply_invalid(e, out, req, "unknown destination peer");

	n_reply = 2 * p->n * sizeof(*src);
	outbuf_clear(&e->scratch);
	if (reserve(e, out, sizeof(struct bus1_engine_hdr) + n_reply) ||
	    outbuf_reserve(&e->scratch, n_reply))
		return reply_error(e, out, req, -ENOMEM);

	src_out = outbuf_put(&e->scratch, n_reply);
	dst_out = src_out + p->n;
	r = quota_check(e, tx_transfer(req->peer, to, p->flags, src, p->n,
				       src_out, dst_out));
	if (r) {
		put_reply(e, out, req, r, 0);
		return 0;
	}

	reply = put_reply(e, out, req, 0, n_reply);
	memcpy(reply, e->scratch.data, n_reply);
	return 0;
}

static int handle_release(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_release *p = (const void *)req->payload;
	const uint64_t *ids = (const void *)(p + 1);
	int r;

	if (req->n_payload < sizeof(*p) ||
	    p->n_ids > (req->n_payload - sizeof(*p)) / sizeof(*ids) ||
	    req->n_payload != sizeof(*p) + p->n_ids * sizeof(*ids))
		return reply_invalid(e, out, req, "payload size");
	if (!req->peer)
		return reply_invalid(e, out, req, "unknown peer");
	if (reserve(e, out, sizeof(struct bus1_engine_hdr)))
		return reply_error(e, out, req, -ENOMEM);

	r = tx_release(req->peer, p->flags, ids, p->n_ids);
	put_reply(e, out, req, r, 0);
	return 0;
}

static int handle_send(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_send *p = (const void *)req->payload;
	const struct bus1_transfer *transfers;
	const uint64_t *destinations;
	const uint8_t *data;
	size_t left, n_reply, i;
	int r;

	if (req->n_payload < sizeof(*p))
		return reply_invalid(e, out, req, "payload size");
	left = req->n_payload - sizeof(*p);
	if (p->n_destinations > left / sizeof(*destinations))
		return reply_invalid(e, out, req, "destination count");
	left -= p->n_destinations * sizeof(*destinations);
	if (p->n_transfers > left / sizeof(*transfers))
		return reply_invalid(e, out, req, "transfer count");
	left -= p->n_transfers * sizeof(*transfers);
	if (p->n_data > left || align8(p->n_data) != left)
		return reply_invalid(e, out, req, "payload size");

	destinations = (const void *)(p + 1);
	transfers = (const void *)(destinations + p->n_destinations);
	data = (const void *)(transfers + p->n_transfers);
	for (i = p->n_data; i < left; ++i)
		if (data[i])
			return reply_invalid(e, out, req, "nonzero padding");
	if (!req->peer)
		return reply_invalid(e, out, req, "unknown peer");

	n_reply = align8(p->n_destinations * sizeof(int32_t));
	if (reserve(e, out, sizeof(struct bus1_engine_hdr) + n_reply))
		return reply_error(e, out, req, -ENOMEM);

	r = quota_check(e, tx_send(req->peer, p->flags, p->msg_flags,
				   p->msg_type, destinations, p->n_destinations,
				   transfers, p->n_transfers, data, p->n_data));
	/* per-destination results are all 0: outbuf_put() zeroes them */
	put_reply(e, out, req, r, r ? 0 : n_reply);
	return 0;
}

static int handle_recv(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_recv *p = (const void *)req->payload;
	struct bus1_engine_recv_reply *reply;
	RecvInfo info;
	size_t n_reply;
	Item *head;
	int r;

	if (req->n_payload != sizeof(*p))
		return reply_invalid(e, out, req, "payload size");
	if (p->reserved || (p->recv_flags & ~BUS1_ENGINE_RECV_SHORT_IOVEC))
		return reply_invalid(e, out, req, "reserved bits");
	if (!req->peer)
		return reply_invalid(e, out, req, "unknown peer");

	n_reply = sizeof(*reply);
	head = queue_head(req->peer);
	if (head) {
		recv_describe(head, &info);
		if (info.n_transfers <= p->max_transfers &&
		    info.n_data <= p->max_data)
			n_reply += info.n_transfers * sizeof(uint64_t) +
				   align8(info.n_data);
	}
	if (reserve(e, out, sizeof(struct bus1_engine_hdr) + n_reply))
		return reply_error(e, out, req, -ENOMEM);

	r = recv_lend(req->peer, req->hdr->seq, p->flags, p->msg_flags,
		      p->msg_type, p->max_transfers, p->max_data,
		      p->recv_flags & BUS1_ENGINE_RECV_SHORT_IOVEC, &info);
	if (r && r != -EMSGSIZE) {
		put_reply(e, out, req, r, 0);
		return 0;
	}

	n_reply = sizeof(*reply);
	if (!r)
		n_reply += info.n_transfers * sizeof(uint64_t) +
			   align8(info.n_data);
	reply = put_reply(e, out, req, r, n_reply);
	reply->type = info.type;
	reply->id = info.id;
	reply->account = info.account;
	reply->n_transfers = info.n_transfers;
	reply->n_data = info.n_data;
	if (!r) {
		recv_transfer_ids(&info, (uint64_t *)(reply + 1));
		if (info.n_data)
			memcpy((uint64_t *)(reply + 1) + info.n_transfers,
			       info.data, info.n_data);
	}
	return 0;
}

static int handle_recv_done(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_recv_done *p = (const void *)req->payload;

	if (req->n_payload != sizeof(*p) || p->reserved || p->commit > 1) {
		engine_log(e, LOG_WARNING, "RECV_DONE seq %llu: malformed",
			   (unsigned long long)req->hdr->seq);
		return 0;
	}
	if (!req->peer) {
		engine_log(e, LOG_DEBUG, "RECV_DONE seq %llu: unknown peer %llu",
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)req->hdr->peer);
		return 0;
	}
	if (reserve(e, out, 0))
		return -ENOMEM;

	if (recv_done(req->peer, p->recv_seq, p->commit)) {
		engine_log(e, LOG_WARNING,
			   "RECV_DONE seq %llu: peer %llu has no item lent by seq %llu",
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)req->hdr->peer,
			   (unsigned long long)p->recv_seq);
		return 0;
	}
	bus_flush_states(&e->bus, put_peer_state, out);
	return 0;
}

static bool type_has_reply(unsigned int type)
{
	return type != BUS1_ENGINE_PEER_RELEASE && type != BUS1_ENGINE_RECV_DONE;
}

static int dispatch_record(Engine *e, const struct bus1_engine_hdr *hdr,
			   Outbuf *out)
{
	Request req = {
		.hdr = hdr,
		.payload = (const uint8_t *)(hdr + 1),
		.n_payload = hdr->size - sizeof(*hdr),
	};

	if (hdr->type < BUS1_ENGINE_PEER_NEW || hdr->type > BUS1_ENGINE_RECV_DONE) {
		engine_log(e, LOG_WARNING, "record of type %u is no request, skipped",
			   hdr->type);
		return 0;
	}
	e->counters.requests[hdr->type]++;
	if (!hdr->seq) {
		engine_log(e, LOG_WARNING, "request of type %u without seq, skipped",
			   hdr->type);
		return 0;
	}
	if (hdr->seq <= e->last_seq) {
		engine_log(e, LOG_WARNING, "request type %u seq %llu already applied",
			   hdr->type, (unsigned long long)hdr->seq);
		return type_has_reply(hdr->type) ? reply_error(e, out, &req, -EINVAL) : 0;
	}
	e->last_seq = hdr->seq;

	if (hdr->flags || hdr->error || hdr->reserved) {
		if (type_has_reply(hdr->type))
			return reply_invalid(e, out, &req, "nonzero header fields");
		engine_log(e, LOG_WARNING, "request type %u seq %llu: nonzero header fields",
			   hdr->type, (unsigned long long)hdr->seq);
		return 0;
	}

	req.peer = bus_find_peer(&e->bus, hdr->peer);

	switch (hdr->type) {
	case BUS1_ENGINE_PEER_NEW:
		return handle_peer_new(e, out, &req);
	case BUS1_ENGINE_PEER_RELEASE:
		return handle_peer_release(e, out, &req);
	case BUS1_ENGINE_TRANSFER:
		return handle_transfer(e, out, &req);
	case BUS1_ENGINE_RELEASE:
		return handle_release(e, out, &req);
	case BUS1_ENGINE_SEND:
		return handle_send(e, out, &req);
	case BUS1_ENGINE_RECV:
		return handle_recv(e, out, &req);
	default:
		return handle_recv_done(e, out, &req);
	}
}

static void count_batch_record(Engine *e, uint64_t n_records)
{
	e->counters.batch_records++;
	if (n_records > e->counters.batch_max)
		e->counters.batch_max = n_records;
}

/**
 * engine_process() - apply a batch of records
 * @e:		the engine
 * @records:	records as read from the control device, 8-byte aligned
 * @len:	bytes in @records
 * @out:	output records are appended here
 *
 * Return: 0 (malformed input is logged and answered, never fatal), -EINVAL
 * if @records is misaligned, or -ENOMEM if not even an error reply could
 * be written; the engine state is consistent in every case.
 */
int engine_process(Engine *e, const void *records, size_t len, Outbuf *out)
{
	const struct bus1_engine_hdr *hdr;
	const uint8_t *p = records;
	uint64_t n_records = 0;
	size_t off = 0;
	int r;

	if ((uintptr_t)records % 8)
		return -EINVAL;

	e->counters.batches++;
	while (off < len) {
		hdr = (const void *)(p + off);
		if (len - off < sizeof(*hdr) || hdr->size < sizeof(*hdr) ||
		    hdr->size % 8 || hdr->size > len - off) {
			engine_log(e, LOG_ERR,
				   "unframed record at offset %zu of %zu, rest of batch dropped",
				   off, len);
			return 0;
		}
		r = dispatch_record(e, hdr, out);
		if (r)
			return r;
		off += hdr->size;
		count_batch_record(e, ++n_records);
	}
	return 0;
}

/**
 * engine_counters() - what the engine has served
 * @e:		the engine
 *
 * Return: the counters, valid until the next call into @e.
 */
const EngineCounters *engine_counters(Engine *e)
{
	return &e->counters;
}
