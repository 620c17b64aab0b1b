/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Dispatch: control-protocol records in, core calls, records out.
 *
 * Records from the kernel are validated like any input: a header that
 * cannot be framed ends the batch (nothing after it can be trusted to be
 * a record boundary); a framed but malformed request is answered with
 * -EINVAL if it has a reply, and logged.
 *
 * Each record is applied in three steps. First the output space it needs
 * is reserved: its reply, one PEER_STATE record per peer (each peer changes
 * readable state at most once per record, as only the final state is
 * compared with the last one reported) and LEND_MAX_ITEMS RETRACT records.
 * Only the requesting peer's own request can take back its lent items (a
 * RELEASE of the handle or node a lent notification is about, or of the
 * node a lent message is queued on); everything a request does to another
 * peer queues items there, never removes them, so no other peer has
 * anything to retract, and no peer has more than LEND_MAX_ITEMS lent. If
 * that reservation fails, the request is answered with -ENOMEM and not
 * applied. Then the core applies it. Then, for every peer it touched, in
 * the order they were first touched: its RETRACT records, ITEM records
 * lending from the head of its queue while its window has room, and
 * PEER_STATE if its readable state changed; the reply comes last. So the
 * kernel sees every item and readable change a request caused before its
 * reply, and a peer's ITEM records before the PEER_STATE that says the
 * rest is lent.
 *
 * Lending is best effort: each ITEM record is reserved (with everything
 * still due behind it) just before it is written, and if that fails the
 * peer lends no more for now. The item stays queued, so the peer is
 * reported readable, and the kernel sends FETCH when it runs out of lent
 * items.
 *
 * Large payloads stay in the module: a SEND of at least
 * BUS1_ENGINE_DATA_REF_MIN bytes carries a data reference instead, which
 * the payload keeps and its ITEM records name. When the last message
 * using it goes, the payload waits on the bus's released list. After
 * every reply, and after the output of a one-way record, one DATA_RELEASE
 * record per listed payload is written (a SEND's reference is the
 * engine's only from its reply on), reserved best effort like an ITEM:
 * what does not fit stays listed for the next record. Then the payload is
 * freed.
 *
 * Routes (see route.c): a SEND the module could have served itself may
 * earn its handle a route. Its ROUTE record, and the REVOKE records of the
 * routes a RELEASE or PEER_RELEASE ends, are written after the peers'
 * records and before the reply (for PEER_RELEASE, in its own flush). The
 * room for them is part of every reservation: one ROUTE, and one REVOKE
 * per live route, so they are never deferred; a REVOKE that could not be
 * written before its reply would let the module serve sends through a
 * handle that is gone.
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
#include "message.h"
#include "peer.h"
#include "queue.h"
#include "recv.h"
#include "route.h"
#include "transaction.h"

#define PEER_STATE_SIZE \
	(sizeof(struct bus1_engine_hdr) + sizeof(struct bus1_engine_peer_state))
#define RETRACT_SIZE \
	(sizeof(struct bus1_engine_hdr) + sizeof(struct bus1_engine_retract))
#define DATA_RELEASE_SIZE \
	(sizeof(struct bus1_engine_hdr) + sizeof(struct bus1_engine_data_release))

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

	if (config->route_items > BUS1_ENGINE_MAX_ROUTE_ITEMS ||
	    config->route_bytes > BUS1_ENGINE_MAX_ROUTE_BYTES)
		return -EINVAL;

	e = core_calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;

	bus_init(&e->bus, maxima, config->route_items, config->route_bytes);
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

/*
 * Room for a request's reply and everything it may make due before it:
 * PEER_STATE and RETRACT records, one ROUTE, and a REVOKE for every live
 * route (a RELEASE or close may end any number of them).
 */
static int reserve(Engine *e, Outbuf *out, size_t n_reply)
{
	const Routes *routes = &e->bus.routes;
	size_t n_states = e->bus.n_peers + 1;
	size_t n_routes;

	if (__builtin_mul_overflow(routes->n_live, REVOKE_RECORD_SIZE,
				   &n_routes) ||
	    __builtin_add_overflow(n_routes, ROUTE_RECORD_SIZE + routes->due_bytes,
				   &n_routes))
		return -ENOMEM;
	return outbuf_reserve(out, n_reply + n_states * PEER_STATE_SIZE +
				   LEND_MAX_ITEMS * RETRACT_SIZE + n_routes);
}

/*
 * Append the first @n_head bytes (zeroed, header filled in) of an
 * asynchronous record of @size bytes; the caller appends the rest. Returns
 * its payload.
 */
static void *put_async_head(Outbuf *out, uint16_t type, uint64_t peer_id,
			    size_t size, size_t n_head)
{
	struct bus1_engine_hdr *hdr;

	hdr = outbuf_put(out, n_head);
	hdr->size = size;
	hdr->type = type;
	hdr->peer = peer_id;
	return hdr + 1;
}

/* Append an asynchronous record of @size bytes; returns its payload. */
static void *put_async(Outbuf *out, uint16_t type, uint64_t peer_id,
		       size_t size)
{
	return put_async_head(out, type, peer_id, size, size);
}

static void put_retracts(Engine *e, Outbuf *out, Peer *peer)
{
	struct bus1_engine_retract *retract;
	size_t i;

	for (i = 0; i < peer->n_retracted; ++i) {
		retract = put_async(out, BUS1_ENGINE_RETRACT, peer->id,
				    RETRACT_SIZE);
		retract->token = peer->retracted[i];
	}
	e->counters.items_retracted += peer->n_retracted;
	e->bus.n_retracted -= peer->n_retracted;
	peer->n_retracted = 0;
}

/*
 * What stays reserved behind the ITEM records of the peer being flushed:
 * its PEER_STATE and that of every other dirty peer, their RETRACT records,
 * and @n_after (the reply).
 */
static size_t flush_tail(Engine *e, size_t n_after)
{
	return n_after + (e->bus.n_dirty + 1) * PEER_STATE_SIZE +
	       e->bus.n_retracted * RETRACT_SIZE + e->bus.routes.due_bytes;
}

/*
 * Fill @peer's window, as far as memory allows. An ITEM record is never
 * larger than the SEND record that queued its message, so it fits in
 * hdr.size and in max_record.
 */
static void put_items(Engine *e, Outbuf *out, Peer *peer, size_t n_after)
{
	struct bus1_engine_item *p;
	RecvInfo info;
	uint64_t size;
	Item *item;

	while ((item = recv_lendable(peer, &info))) {
		size = recv_record_size(&info);
		if (size > UINT32_MAX ||
		    outbuf_reserve(out, size + flush_tail(e, n_after))) {
			e->counters.lend_failures++;
			engine_log(e, LOG_WARNING,
				   "peer %llu: no memory to lend an item of %llu bytes, %zu left queued",
				   (unsigned long long)peer->id,
				   (unsigned long long)size, peer->n_queued);
			return;
		}
		queue_lend(peer, item);
		e->counters.items_lent++;
		/* The payload bytes are written once, not zeroed first. */
		p = put_async_head(out, BUS1_ENGINE_ITEM, peer->id, size,
				   info.ref ? size : size - align8(info.n_data));
		p->token = item->token;
		p->type = info.type;
		p->id = info.id;
		p->account = info.account;
		p->n_transfers = info.n_transfers;
		p->n_data = info.n_data;
		recv_transfer_ids(&info, (uint64_t *)(p + 1));
		if (info.ref)
			((uint64_t *)(p + 1))[info.n_transfers] = info.ref;
		else
			outbuf_put_bytes(out, info.data, info.n_data);
	}
}

/* Write the DATA_RELEASE record of the first listed payload; free it. */
static void put_data_release(Engine *e, Outbuf *out)
{
	struct bus1_engine_data_release *release;
	Payload *payload = bus_pop_released(&e->bus);

	release = put_async(out, BUS1_ENGINE_DATA_RELEASE, 0, DATA_RELEASE_SIZE);
	release->ref = payload->ref;
	core_free(payload);
	e->counters.data_released++;
}

/*
 * Write a DATA_RELEASE record for every payload on the released list, as
 * far as memory allows. What cannot be written now stays listed for a
 * later flush. Used after one-way records; before a reply, put_reply()
 * writes them itself.
 */
static void put_data_releases(Engine *e, Outbuf *out)
{
	while (e->bus.n_released) {
		if (outbuf_reserve(out, DATA_RELEASE_SIZE)) {
			engine_log(e, LOG_WARNING,
				   "no memory for DATA_RELEASE, %zu deferred",
				   e->bus.n_released);
			return;
		}
		put_data_release(e, out);
	}
}

static void put_route(Outbuf *out, const Route *route)
{
	struct bus1_engine_route *p;

	p = put_async(out, BUS1_ENGINE_ROUTE, route->sender, ROUTE_RECORD_SIZE);
	p->route = route->id;
	p->handle = route->handle_id;
	p->dst_peer = route->dst_peer;
	p->dst_id = route->dst_id;
	p->account = route->account;
	p->credit_items = route->credit_items;
	p->credit_bytes = route->credit_bytes;
}

/* hdr.peer is the route's sender, as in its ROUTE and ROUTE_DONE. */
static void put_revoke(Outbuf *out, const Route *route)
{
	struct bus1_engine_revoke *p;

	p = put_async(out, BUS1_ENGINE_REVOKE, route->sender, REVOKE_RECORD_SIZE);
	p->route = route->id;
	p->flags = route->revoke_flags;
}

/* Write every ROUTE and REVOKE record owed; their room is reserved. */
static void put_routes(Engine *e, Outbuf *out)
{
	bool route_owed, revoke_owed;
	Route *route;

	while ((route = routes_pop_due(&e->bus.routes, &route_owed,
				       &revoke_owed))) {
		if (route_owed)
			put_route(out, route);
		if (revoke_owed)
			put_revoke(out, route);
	}
}

/*
 * Write what the records applied so far made due, peer by peer: RETRACT,
 * ITEM, then PEER_STATE if readable ("queued items not lent") changed;
 * then the ROUTE and REVOKE records owed, then the DATA_RELEASE records
 * due. @n_after bytes, for the reply, stay
 * reserved.
 */
static void flush(Engine *e, Outbuf *out, size_t n_after)
{
	struct bus1_engine_peer_state *state;
	bool readable;
	Peer *peer;

	while ((peer = bus_pop_dirty(&e->bus))) {
		put_retracts(e, out, peer);
		put_items(e, out, peer, n_after);
		readable = peer->n_queued > 0;
		if (readable == peer->readable_reported)
			continue;
		peer->readable_reported = readable;
		state = put_async(out, BUS1_ENGINE_PEER_STATE, peer->id,
				  PEER_STATE_SIZE);
		state->readable = readable;
	}
	put_routes(e, out);
}

static void *put_reply(Engine *e, Outbuf *out, const Request *req,
		       int error, size_t n_payload)
{
	struct bus1_engine_hdr *hdr;
	size_t n_released;

	flush(e, out, sizeof(*hdr) + n_payload);

	/*
	 * DATA_RELEASE records follow the reply: a SEND's own reference is
	 * the engine's only from its reply on. They are reserved here, best
	 * effort (what does not fit waits for a later flush), so that the
	 * reply, which the caller fills in, does not move.
	 */
	n_released = e->bus.n_released;
	while (n_released &&
	       outbuf_reserve(out, sizeof(*hdr) + n_payload +
				   n_released * DATA_RELEASE_SIZE))
		n_released /= 2;
	if (n_released < e->bus.n_released)
		engine_log(e, LOG_WARNING,
			   "no memory for DATA_RELEASE, %zu deferred",
			   e->bus.n_released - n_released);

	hdr = outbuf_put(out, sizeof(*hdr) + n_payload);
	hdr->size = sizeof(*hdr) + n_payload;
	hdr->type = req->hdr->type;
	hdr->error = error;
	if (error < 0)
		e->counters.errors[-error < ENGINE_N_ERRNOS ?
				   -error : ENGINE_N_ERRNOS - 1]++;
	hdr->seq = req->hdr->seq;
	hdr->peer = req->hdr->peer;
	while (n_released--)
		put_data_release(e, out);
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

/*
 * Whether a one-way record can be applied: its payload is @n_payload bytes
 * and its peer exists. Nothing is answered either way; a malformed record
 * is logged as a warning, one for an unknown peer (it may cross a
 * PEER_RELEASE) at debug level.
 */
static bool one_way_ok(Engine *e, const Request *req, const char *name,
		       size_t n_payload)
{
	if (req->n_payload != n_payload) {
		engine_log(e, LOG_WARNING, "%s seq %llu: malformed", name,
			   (unsigned long long)req->hdr->seq);
		return false;
	}
	if (!req->peer) {
		engine_log(e, LOG_DEBUG, "%s seq %llu: unknown peer %llu", name,
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)req->hdr->peer);
		return false;
	}
	return true;
}

static int handle_peer_release(Engine *e, Outbuf *out, const Request *req)
{
	if (!one_way_ok(e, req, "PEER_RELEASE", 0))
		return 0;
	if (reserve(e, out, 0))
		return -ENOMEM;

	bus_release_peer(&e->bus, req->peer);
	flush(e, out, 0);
	put_data_releases(e, out);
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

/*
 * After a successful SEND: a route for each of its handles if the module
 * could have served this SEND itself, unicast or multicast (route.c
 * decides the rest). The first ROUTE record is reserved with the request;
 * each further one is reserved here, and where that fails the handles
 * left get no route this time. A refused credit fails nothing.
 */
static void maybe_grant_routes(Engine *e, Outbuf *out, size_t n_reply,
			       Peer *sender, const struct bus1_engine_send *p,
			       const uint64_t *destinations)
{
	uint64_t i;
	int r;

	if (!p->n_destinations || p->n_destinations > BUS1_ENGINE_MAX_ROUTED ||
	    p->n_transfers || p->flags || p->msg_flags ||
	    p->msg_type != BUS1_MESSAGE_TYPE_USER ||
	    p->n_data >= BUS1_ENGINE_DATA_REF_MIN)
		return;
	for (i = 0; i < p->n_destinations; ++i) {
		if (i && reserve(e, out, n_reply))
			return;
		r = route_grant(&e->bus.routes, sender,
				peer_lookup_handle(sender, destinations[i]));
		if (r < 0)
			engine_log(e, LOG_DEBUG,
				   "peer %llu: no route for handle %llu: %s",
				   (unsigned long long)sender->id,
				   (unsigned long long)destinations[i],
				   r == -EDQUOT ? "credit over quota" :
						  "out of memory");
	}
}

static int handle_send(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_send *p = (const void *)req->payload;
	const struct bus1_transfer *transfers;
	const uint64_t *destinations;
	const uint8_t *data;
	size_t left, n_reply, i;
	uint64_t ref = 0;
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
	destinations = (const void *)(p + 1);
	transfers = (const void *)(destinations + p->n_destinations);
	data = (const void *)(transfers + p->n_transfers);
	if (p->n_data >= BUS1_ENGINE_DATA_REF_MIN) {
		/* the bytes stay in the module: one data reference instead */
		if (left != sizeof(ref))
			return reply_invalid(e, out, req, "payload size");
		memcpy(&ref, data, sizeof(ref));
		if (!ref)
			return reply_invalid(e, out, req, "data reference 0");
	} else {
		if (p->n_data > left || align8(p->n_data) != left)
			return reply_invalid(e, out, req, "payload size");
		for (i = p->n_data; i < left; ++i)
			if (data[i])
				return reply_invalid(e, out, req,
						     "nonzero padding");
	}
	if (!req->peer)
		return reply_invalid(e, out, req, "unknown peer");

	n_reply = align8(p->n_destinations * sizeof(int32_t));
	if (reserve(e, out, sizeof(struct bus1_engine_hdr) + n_reply))
		return reply_error(e, out, req, -ENOMEM);

	r = quota_check(e, tx_send(req->peer, p->flags, p->msg_flags,
				   p->msg_type, destinations, p->n_destinations,
				   transfers, p->n_transfers, data, ref,
				   p->n_data));
	if (!r)
		maybe_grant_routes(e, out,
				   sizeof(struct bus1_engine_hdr) + n_reply,
				   req->peer, p, destinations);
	/* per-destination results are all 0: outbuf_put() zeroes them */
	put_reply(e, out, req, r, r ? 0 : n_reply);
	return 0;
}

/*
 * FETCH: the kernel holds no lent item of the peer but was told it is
 * readable. Lend what the window and memory allow; fail with -ENOMEM only
 * if items are queued and none could be lent.
 */
static int handle_fetch(Engine *e, Outbuf *out, const Request *req)
{
	const size_t n_reply = sizeof(struct bus1_engine_hdr);
	int r = 0;

	if (req->n_payload)
		return reply_invalid(e, out, req, "payload size");
	if (!req->peer)
		return reply_invalid(e, out, req, "unknown peer");
	if (reserve(e, out, n_reply))
		return reply_error(e, out, req, -ENOMEM);

	bus_mark_dirty(&e->bus, req->peer);
	flush(e, out, n_reply);
	if (req->peer->n_queued && !req->peer->n_lent)
		r = -ENOMEM;
	put_reply(e, out, req, r, 0);
	return 0;
}

static int handle_recv_done(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_recv_done *p = (const void *)req->payload;
	size_t n;

	if (!one_way_ok(e, req, "RECV_DONE", sizeof(*p)))
		return 0;
	if (reserve(e, out, 0))
		return -ENOMEM;

	n = recv_done(req->peer, p->token);
	e->counters.items_received += n;
	if (!n)
		engine_log(e, LOG_WARNING,
			   "RECV_DONE seq %llu: peer %llu has nothing lent up to token %llu",
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)req->hdr->peer,
			   (unsigned long long)p->token);
	flush(e, out, 0);
	put_data_releases(e, out);
	return 0;
}

/*
 * ROUTE_DONE: the module holds no message of a revoked route; its credit
 * goes back. Its sender may be released by now, so hdr.peer is not looked
 * up; a route the engine does not know, or has not revoked, is a protocol
 * error, logged and ignored like other bad one-way records.
 */
static int handle_route_done(Engine *e, Outbuf *out, const Request *req)
{
	const struct bus1_engine_route_done *p = (const void *)req->payload;
	Route *route;
	int r;

	if (req->n_payload != sizeof(*p)) {
		engine_log(e, LOG_WARNING, "ROUTE_DONE seq %llu: malformed",
			   (unsigned long long)req->hdr->seq);
		return 0;
	}
	if (reserve(e, out, 0))
		return -ENOMEM;

	route = routes_find(&e->bus.routes, p->route);
	if (route && route->sender != req->hdr->peer)
		/* the ID decides; a credit must not leak over a bad header */
		engine_log(e, LOG_WARNING,
			   "ROUTE_DONE seq %llu: route %llu is of peer %llu, not %llu",
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)p->route,
			   (unsigned long long)route->sender,
			   (unsigned long long)req->hdr->peer);
	r = route_done(&e->bus.routes, p->route);
	if (r)
		engine_log(e, LOG_WARNING,
			   "ROUTE_DONE seq %llu peer %llu: route %llu %s",
			   (unsigned long long)req->hdr->seq,
			   (unsigned long long)req->hdr->peer,
			   (unsigned long long)p->route,
			   r == -ENOENT ? "unknown" : "not revoked");
	flush(e, out, 0);
	put_data_releases(e, out);
	return 0;
}

static bool type_has_reply(unsigned int type)
{
	return type != BUS1_ENGINE_PEER_RELEASE &&
	       type != BUS1_ENGINE_RECV_DONE &&
	       type != BUS1_ENGINE_ROUTE_DONE;
}

static int dispatch_record(Engine *e, const struct bus1_engine_hdr *hdr,
			   Outbuf *out)
{
	Request req = {
		.hdr = hdr,
		.payload = (const uint8_t *)(hdr + 1),
		.n_payload = hdr->size - sizeof(*hdr),
	};

	if (hdr->type < BUS1_ENGINE_PEER_NEW || hdr->type > BUS1_ENGINE_ROUTE_DONE) {
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
	case BUS1_ENGINE_FETCH:
		return handle_fetch(e, out, &req);
	case BUS1_ENGINE_ROUTE_DONE:
		return handle_route_done(e, out, &req);
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
 * engine_process_part() - apply records of a batch, maybe not all
 * @e:		the engine
 * @records:	records as read from the control device, 8-byte aligned
 * @len:	bytes in @records
 * @out:	output records are appended here
 * @yield:	asked after each record whether to return before the next;
 *		NULL for never
 * @userdata:	for @yield
 * @done:	bytes of @records applied (or dropped as unframed)
 *
 * The loop asks its clock, so a long batch writes its output in parts and
 * the module sees the engine make progress (a busy engine is not a hung
 * one). The state is the same however a batch is split: its records are
 * applied in order either way. Each call counts as one batch.
 *
 * Return: 0 (malformed input is logged and answered, never fatal), -EINVAL
 * if @records is misaligned, or -ENOMEM if not even an error reply could
 * be written; the engine state is consistent in every case.
 */
int engine_process_part(Engine *e, const void *records, size_t len,
			Outbuf *out, EngineYieldFn yield, void *userdata,
			size_t *done)
{
	const struct bus1_engine_hdr *hdr;
	const uint8_t *p = records;
	uint64_t n_records = 0;
	size_t off = 0;
	int r = 0;

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
			off = len;
			break;
		}
		r = dispatch_record(e, hdr, out);
		if (r)
			break;
		off += hdr->size;
		count_batch_record(e, ++n_records);
		if (yield && off < len && yield(userdata))
			break;
	}
	*done = off;
	return r;
}

/**
 * engine_process() - apply a batch of records
 * @e:		the engine
 * @records:	records as read from the control device, 8-byte aligned
 * @len:	bytes in @records
 * @out:	output records are appended here
 *
 * Return: as engine_process_part(), which applies them all.
 */
int engine_process(Engine *e, const void *records, size_t len, Outbuf *out)
{
	size_t done;

	return engine_process_part(e, records, len, out, NULL, NULL, &done);
}

/**
 * engine_record_rejected() - the kernel refused one of the engine's records
 * @e:		the engine
 * @record:	the record as written (it may have been garbled since)
 * @size:	bytes available at @record
 *
 * A rejected ROUTE means the module holds no such route: forget it, give
 * its credit back, and owe no REVOKE for it. Rejections of other records
 * change nothing here (see loop.c for what they mean).
 */
void engine_record_rejected(Engine *e, const void *record, size_t size)
{
	const struct bus1_engine_hdr *hdr = record;
	const struct bus1_engine_route *p = (const void *)(hdr + 1);
	Route *route;

	if (size < ROUTE_RECORD_SIZE || hdr->type != BUS1_ENGINE_ROUTE ||
	    hdr->size != ROUTE_RECORD_SIZE)
		return;
	route = routes_find(&e->bus.routes, p->route);
	if (!route || route->sender != hdr->peer) {
		engine_log(e, LOG_WARNING,
			   "rejected ROUTE names no route %llu of peer %llu",
			   (unsigned long long)p->route,
			   (unsigned long long)hdr->peer);
		return;
	}
	engine_log(e, LOG_WARNING, "route %llu of peer %llu rejected, forgotten",
		   (unsigned long long)route->id,
		   (unsigned long long)route->sender);
	route_forget(&e->bus.routes, route);
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
