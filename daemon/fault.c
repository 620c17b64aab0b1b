/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Fault injection. Requests are counted as they are read (1-based, one-way
 * records included), replies and ITEM records as they are produced. With
 * any fault set, a batch is applied one record at a time, so an abort can
 * hit before or after one particular request is applied and a corruption
 * can find the reply (or the ITEM records) of one particular request; the
 * output still leaves with one write per batch.
 *
 * Corruptions are chosen so that each hits only what it names: a damaged
 * reply (wrong type, size or peer) makes the kernel fail that one request
 * with EIO; an extra bogus record (unknown seq, duplicate, unknown type,
 * garbage, a truncated copy) follows the intact reply and is refused by
 * the kernel without any application noticing. A damaged ITEM record
 * (counts that do not match its size, an unknown message type, a token
 * that does not grow) is refused with EINVAL: the kernel never holds that
 * item, while the engine keeps it lent until a RECV_DONE for a later token
 * commits it or the peer is released. The loop logs and skips every
 * refused record and writes the ones after it.
 *
 * Every fault that fired is counted (FaultCounts), and the stats document
 * shows the counts, so a test can prove that its fault happened: that the
 * kernel refused the records we damaged or added, that the EIOs the
 * applications saw are the replies we damaged, that allocations failed.
 * An abort needs no counter: the engine is gone.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/bus1-engine.h>
#include "core/alloc.h"
#include "fault.h"
#include "log.h"

enum {
	FAULT_POINT_BEFORE,
	FAULT_POINT_AFTER,
};

enum {
	FAULT_CORRUPT_NONE,
	FAULT_CORRUPT_UNKNOWN_SEQ,
	FAULT_CORRUPT_DUPLICATE,
	FAULT_CORRUPT_WRONG_TYPE,
	FAULT_CORRUPT_TRUNCATED,
	FAULT_CORRUPT_OVERSIZED,
	FAULT_CORRUPT_COUNTS,
	FAULT_CORRUPT_BOGUS_PEER,
	FAULT_CORRUPT_UNKNOWN_TYPE,
	FAULT_CORRUPT_GARBAGE,
	FAULT_CORRUPT_ITEM_TYPE,
	FAULT_CORRUPT_ITEM_TOKEN,
};

static const char *const fault_corrupt_names[] = {
	[FAULT_CORRUPT_UNKNOWN_SEQ]	= "unknown-seq",
	[FAULT_CORRUPT_DUPLICATE]	= "duplicate",
	[FAULT_CORRUPT_WRONG_TYPE]	= "wrong-type",
	[FAULT_CORRUPT_TRUNCATED]	= "truncated",
	[FAULT_CORRUPT_OVERSIZED]	= "oversized",
	[FAULT_CORRUPT_COUNTS]		= "counts",
	[FAULT_CORRUPT_BOGUS_PEER]	= "bogus-peer",
	[FAULT_CORRUPT_UNKNOWN_TYPE]	= "unknown-type",
	[FAULT_CORRUPT_GARBAGE]		= "garbage",
	[FAULT_CORRUPT_ITEM_TYPE]	= "item-type",
	[FAULT_CORRUPT_ITEM_TOKEN]	= "item-token",
};

static const char *const fault_type_names[] = {
	[BUS1_ENGINE_PEER_NEW]		= "peer-new",
	[BUS1_ENGINE_PEER_RELEASE]	= "peer-release",
	[BUS1_ENGINE_TRANSFER]		= "transfer",
	[BUS1_ENGINE_RELEASE]		= "release",
	[BUS1_ENGINE_SEND]		= "send",
	[BUS1_ENGINE_FETCH]		= "fetch",
	[BUS1_ENGINE_RECV_DONE]		= "recv-done",
	[BUS1_ENGINE_ROUTE_DONE]	= "route-done",
};

#define FAULT_ARRAY_SIZE(_a) (sizeof(_a) / sizeof((_a)[0]))

struct Fault {
	bool any;
	bool applying;
	bool stalled;
	uint64_t n_requests;
	uint64_t n_replies;
	uint64_t n_items;
	uint64_t n_allocs;
	FaultCounts counts;

	uint64_t abort_at;
	unsigned int abort_type;
	int abort_point;

	bool stop;
	uint64_t stop_at;
	uint64_t stop_ms;

	uint64_t delay_ms;

	uint64_t alloc_nth;
	double alloc_p;
	uint64_t rng;

	int corrupt;
	uint64_t corrupt_at;
	uint64_t corrupt_count;
};

int fault_new(Fault **faultp)
{
	Fault *f;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->rng = 1;
	*faultp = f;
	return 0;
}

/*
 * The fault set fault_install() installed, whose counts the stats show.
 * Process-wide like the core's allocation hook: one engine per process.
 */
static Fault *fault_installed;

Fault *fault_free(Fault *f)
{
	if (!f)
		return NULL;
	if (f->alloc_nth || f->alloc_p > 0)
		core_alloc_set_fail_hook(NULL, NULL);
	if (fault_installed == f)
		fault_installed = NULL;
	free(f);
	return NULL;
}

/* xorshift64*: enough for a reproducible coin. */
static uint64_t fault_random(Fault *f)
{
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545F4914F6CDD1DULL;
}

static int fault_name(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; ++i)
		if (names[i] && !strcmp(names[i], s))
			return i;
	return -EINVAL;
}

static int fault_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return -EINVAL;
	return 0;
}

/* Apply one key=value of a spec of kind @kind. */
static int fault_key(Fault *f, const char *kind, const char *key,
		     const char *val)
{
	char *end;
	int r;

	if (!strcmp(kind, "abort") && !strcmp(key, "at"))
		return fault_u64(val, &f->abort_at);
	if (!strcmp(kind, "abort") && !strcmp(key, "type")) {
		r = fault_name(fault_type_names,
			       FAULT_ARRAY_SIZE(fault_type_names), val);
		if (r < 0)
			return r;
		f->abort_type = r;
		return 0;
	}
	if (!strcmp(kind, "abort") && !strcmp(key, "point")) {
		if (!strcmp(val, "before"))
			f->abort_point = FAULT_POINT_BEFORE;
		else if (!strcmp(val, "after"))
			f->abort_point = FAULT_POINT_AFTER;
		else
			return -EINVAL;
		return 0;
	}
	if (!strcmp(kind, "stop-reading") && !strcmp(key, "at"))
		return fault_u64(val, &f->stop_at);
	if (!strcmp(kind, "stop-reading") && !strcmp(key, "for"))
		return fault_u64(val, &f->stop_ms);
	if (!strcmp(kind, "delay") && !strcmp(key, "ms"))
		return fault_u64(val, &f->delay_ms);
	if (!strcmp(kind, "alloc") && !strcmp(key, "nth"))
		return fault_u64(val, &f->alloc_nth);
	if (!strcmp(kind, "alloc") && !strcmp(key, "seed")) {
		r = fault_u64(val, &f->rng);
		if (!f->rng)
			f->rng = 1;
		return r;
	}
	if (!strcmp(kind, "alloc") && !strcmp(key, "p")) {
		errno = 0;
		f->alloc_p = strtod(val, &end);
		if (errno || end == val || *end || f->alloc_p < 0 ||
		    f->alloc_p > 1)
			return -EINVAL;
		return 0;
	}
	if (!strcmp(kind, "corrupt") && !strcmp(key, "kind")) {
		r = fault_name(fault_corrupt_names,
			       FAULT_ARRAY_SIZE(fault_corrupt_names), val);
		if (r < 0)
			return r;
		f->corrupt = r;
		return 0;
	}
	if (!strcmp(kind, "corrupt") && !strcmp(key, "at"))
		return fault_u64(val, &f->corrupt_at);
	if (!strcmp(kind, "corrupt") && !strcmp(key, "count"))
		return fault_u64(val, &f->corrupt_count);
	return -EINVAL;
}

/* One spec: KIND[,KEY=VALUE...], modified in place. */
static int fault_spec(Fault *f, char *spec)
{
	char *kind, *arg, *val, *save = NULL;
	int r;

	kind = strtok_r(spec, ",", &save);
	if (!kind)
		return 0;
	if (strcmp(kind, "abort") && strcmp(kind, "stop-reading") &&
	    strcmp(kind, "delay") && strcmp(kind, "alloc") &&
	    strcmp(kind, "corrupt"))
		return -EINVAL;
	if (!strcmp(kind, "stop-reading")) {
		f->stop = true;
		f->stop_at = 1;
	} else if (!strcmp(kind, "corrupt")) {
		f->corrupt_at = 1;
		f->corrupt_count = 1;
	}

	while ((arg = strtok_r(NULL, ",", &save))) {
		val = strchr(arg, '=');
		if (!val)
			return -EINVAL;
		*val++ = 0;
		r = fault_key(f, kind, arg, val);
		if (r)
			return r;
	}

	if (!strcmp(kind, "abort") && !f->abort_at && !f->abort_type)
		return -EINVAL;
	if (!strcmp(kind, "corrupt") && !f->corrupt)
		return -EINVAL;
	if (!strcmp(kind, "alloc") && !f->alloc_nth && !(f->alloc_p > 0))
		return -EINVAL;
	f->any = true;
	return 0;
}

/**
 * fault_parse() - add faults
 * @f:		the fault set
 * @specs:	one or more specs separated by ';' (see FAULT_HELP)
 *
 * Return: 0, -EINVAL for a malformed spec, -ENOMEM.
 */
int fault_parse(Fault *f, const char *specs)
{
	char *copy, *spec, *save = NULL;
	int r = 0;

	copy = strdup(specs);
	if (!copy)
		return -ENOMEM;
	for (spec = strtok_r(copy, ";", &save); spec && !r;
	     spec = strtok_r(NULL, ";", &save))
		r = fault_spec(f, spec);
	free(copy);
	return r;
}

/* Whether the allocation just counted is one to fail. */
static bool fault_alloc_hits(Fault *f)
{
	if (f->alloc_nth && f->n_allocs == f->alloc_nth) {
		log_msg(LOG_WARNING, "fault: failing allocation %llu",
			(unsigned long long)f->n_allocs);
		return true;
	}
	return f->alloc_p > 0 &&
	       (fault_random(f) >> 11) * 0x1.0p-53 < f->alloc_p;
}

static bool fault_alloc_fail(void *userdata)
{
	Fault *f = userdata;

	if (!f->applying)
		return false;
	++f->n_allocs;
	if (!fault_alloc_hits(f))
		return false;
	++f->counts.allocs_failed;
	return true;
}

/**
 * fault_install() - put the fault set in force
 * @f:		the fault set, or NULL
 *
 * Hooks allocation failures into the core and makes @f the set whose
 * counts fault_counts() reports. Only allocations made while a request is
 * applied count, so the engine always starts.
 */
void fault_install(Fault *f)
{
	fault_installed = f;
	if (f && (f->alloc_nth || f->alloc_p > 0))
		core_alloc_set_fail_hook(fault_alloc_fail, f);
}

/**
 * fault_counts() - what the installed fault set did so far
 *
 * Return: its counts; all 0 if no fault set is installed.
 */
FaultCounts fault_counts(void)
{
	return fault_installed ? fault_installed->counts : (FaultCounts){};
}

/**
 * fault_stalled() - whether the loop must stop reading
 * @f:		the fault set, or NULL
 */
bool fault_stalled(Fault *f)
{
	return f && f->stalled;
}

static void fault_sleep(uint64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/**
 * fault_before_write() - called before each batch of replies is written
 * @f:		the fault set, or NULL
 */
void fault_before_write(Fault *f)
{
	if (!f || !f->delay_ms)
		return;
	fault_sleep(f->delay_ms);
	++f->counts.delays;
}

static bool fault_abort_hits(Fault *f, const struct bus1_engine_hdr *hdr,
			     int point)
{
	if (f->abort_point != point)
		return false;
	return (f->abort_at && f->n_requests == f->abort_at) ||
	       (f->abort_type && hdr->type == f->abort_type);
}

/* Append a copy of the record at @off, changed by the caller. */
static struct bus1_engine_hdr *fault_append(Outbuf *out, size_t off,
					    size_t size)
{
	struct bus1_engine_hdr *hdr;

	/* Reserved in full, so the loop may read a whole header anywhere. */
	if (outbuf_reserve(out, size + sizeof(*hdr)))
		return NULL;
	hdr = outbuf_put(out, size);
	memcpy(hdr, out->data + off, size);
	return hdr;
}

/* Whether @kind damages ITEM records rather than replies. */
static bool fault_kind_item(int kind)
{
	return kind == FAULT_CORRUPT_COUNTS || kind == FAULT_CORRUPT_ITEM_TYPE ||
	       kind == FAULT_CORRUPT_ITEM_TOKEN;
}

/* Whether the @n-th reply or ITEM record is one to corrupt. */
static bool fault_corrupt_hits(Fault *f, uint64_t n)
{
	return n >= f->corrupt_at &&
	       (!f->corrupt_count || n - f->corrupt_at < f->corrupt_count);
}

/* Damage the ITEM record at @off in place; the kernel refuses it. */
static void fault_corrupt_item(Fault *f, Outbuf *out, size_t off)
{
	struct bus1_engine_hdr *r = (void *)(out->data + off);
	struct bus1_engine_item *item = (void *)(r + 1);

	log_msg(LOG_WARNING, "fault: corrupting ITEM %llu (%s, peer %llu, token %llu)",
		(unsigned long long)f->n_items,
		fault_corrupt_names[f->corrupt], (unsigned long long)r->peer,
		(unsigned long long)item->token);

	switch (f->corrupt) {
	case FAULT_CORRUPT_COUNTS:
		/*
		 * The size no longer matches the counts; for a payload by
		 * reference, the reference's size no longer matches.
		 */
		item->n_data += 1ULL << 32;
		break;
	case FAULT_CORRUPT_ITEM_TYPE:
		item->type = 99;
		break;
	case FAULT_CORRUPT_ITEM_TOKEN:
		/* Tokens start at 1, so 0 never grows. */
		item->token = 0;
		break;
	}
}

/*
 * Damage the reply at @off, or add a bogus record after it, as the kind
 * says; count which of the two happened (appending can fail for memory).
 */
static void fault_corrupt(Fault *f, Engine *engine, Outbuf *out, size_t off)
{
	struct bus1_engine_hdr *r = (void *)(out->data + off), *c = NULL;
	size_t size = r->size, i;
	bool damaged = false;
	uint8_t *p;

	log_msg(LOG_WARNING, "fault: corrupting reply %llu (%s, seq %llu)",
		(unsigned long long)f->n_replies,
		fault_corrupt_names[f->corrupt], (unsigned long long)r->seq);

	switch (f->corrupt) {
	case FAULT_CORRUPT_UNKNOWN_SEQ:
		c = fault_append(out, off, size);
		if (c)
			c->seq = engine_last_seq(engine) + (1ULL << 40);
		break;
	case FAULT_CORRUPT_DUPLICATE:
		c = fault_append(out, off, size);
		break;
	case FAULT_CORRUPT_WRONG_TYPE:
		r->type = r->type == BUS1_ENGINE_SEND ? BUS1_ENGINE_TRANSFER :
			  BUS1_ENGINE_SEND;
		damaged = true;
		break;
	case FAULT_CORRUPT_TRUNCATED:
		if (size > sizeof(*r)) {
			r->size -= 8;
			out->len -= 8;
			damaged = true;
		} else {
			/* A copy cut short, at the end of the write. */
			c = fault_append(out, off, size);
			if (c) {
				c->size = size / 2;
				out->len -= size - size / 2;
			}
		}
		break;
	case FAULT_CORRUPT_OVERSIZED:
		/* One more element than the request allows. */
		if (!outbuf_reserve(out, 8)) {
			memset(outbuf_put(out, 8), 0, 8);
			r = (void *)(out->data + off);
			r->size += 8;
			damaged = true;
		}
		break;
	case FAULT_CORRUPT_BOGUS_PEER:
		r->peer ^= 1ULL << 62;
		damaged = true;
		break;
	case FAULT_CORRUPT_UNKNOWN_TYPE:
		c = fault_append(out, off, size);
		if (c)
			c->type = 99;
		break;
	case FAULT_CORRUPT_GARBAGE:
		c = fault_append(out, off, 64 > size ? size : 64);
		if (!c)
			break;
		/* Framed, so the records after it stay intact. */
		c->size = 64 > size ? size : 64;
		p = (uint8_t *)c;
		for (i = 4; i < c->size; ++i)
			p[i] = fault_random(f);
		break;
	}

	if (damaged)
		++f->counts.replies_damaged;
	else if (c)
		++f->counts.records_added;
}

/* Find the reply to @req among the records from @off on. */
static size_t fault_find_reply(Outbuf *out, size_t off,
			       const struct bus1_engine_hdr *req)
{
	const struct bus1_engine_hdr *h;

	while (off < out->len) {
		h = (const void *)(out->data + off);
		if (h->seq == req->seq && h->type == req->type)
			return off;
		off += h->size;
	}
	return SIZE_MAX;
}

static int fault_apply(Fault *f, Engine *engine,
		       const struct bus1_engine_hdr *hdr, Outbuf *out)
{
	size_t mark = out->len, off;
	int r;

	if (fault_abort_hits(f, hdr, FAULT_POINT_BEFORE)) {
		log_msg(LOG_WARNING, "fault: abort before request %llu",
			(unsigned long long)hdr->seq);
		abort();
	}

	f->applying = true;
	r = engine_process(engine, hdr, hdr->size, out);
	f->applying = false;
	if (r)
		return r;

	if (fault_abort_hits(f, hdr, FAULT_POINT_AFTER)) {
		log_msg(LOG_WARNING, "fault: abort after request %llu",
			(unsigned long long)hdr->seq);
		abort();
	}

	if (f->corrupt && fault_kind_item(f->corrupt)) {
		for (off = mark; off < out->len;
		     off += ((struct bus1_engine_hdr *)(out->data + off))->size) {
			if (((struct bus1_engine_hdr *)(out->data + off))->type !=
			    BUS1_ENGINE_ITEM)
				continue;
			if (!fault_corrupt_hits(f, ++f->n_items))
				continue;
			fault_corrupt_item(f, out, off);
			++f->counts.items_damaged;
		}
		return 0;
	}

	off = fault_find_reply(out, mark, hdr);
	if (off == SIZE_MAX)
		return 0;
	++f->n_replies;
	if (f->corrupt && fault_corrupt_hits(f, f->n_replies))
		fault_corrupt(f, engine, out, off);
	return 0;
}

/**
 * fault_process() - engine_process_part() with the faults applied
 * @f:		the fault set, or NULL
 * @engine:	the engine
 * @records:	the batch read
 * @len:	its length
 * @out:	output records
 * @yield:	as for engine_process_part()
 * @userdata:	for @yield
 * @done:	bytes of @records applied, or dropped (after the engine
 *		stopped reading, the rest of its batch is never applied)
 *
 * Return: what engine_process_part() returns. May not return at all
 * (abort).
 */
int fault_process(Fault *f, Engine *engine, const void *records, size_t len,
		  Outbuf *out, EngineYieldFn yield, void *userdata,
		  size_t *done)
{
	const struct bus1_engine_hdr *hdr;
	const uint8_t *p = records;
	size_t off = 0, rest;
	int r;

	if (!f || !f->any)
		return engine_process_part(engine, records, len, out, yield,
					   userdata, done);

	*done = len;
	while (off < len) {
		hdr = (const void *)(p + off);
		if (len - off < sizeof(*hdr) || hdr->size < sizeof(*hdr) ||
		    hdr->size % 8 || hdr->size > len - off)
			/* The core logs and drops what cannot be framed. */
			return engine_process_part(engine, p + off, len - off,
						   out, NULL, NULL, &rest);

		++f->n_requests;
		if (f->stop && f->n_requests >= f->stop_at) {
			f->stop = false;
			if (!f->stop_ms) {
				log_msg(LOG_WARNING,
					"fault: stopped reading at request %llu",
					(unsigned long long)hdr->seq);
				f->stalled = true;
				f->counts.stopped = 1;
				return 0;
			}
			log_msg(LOG_WARNING,
				"fault: not answering for %llu ms from request %llu",
				(unsigned long long)f->stop_ms,
				(unsigned long long)hdr->seq);
			fault_sleep(f->stop_ms);
			++f->counts.stalls;
		}

		r = fault_apply(f, engine, hdr, out);
		if (r)
			return r;
		off += hdr->size;
		if (yield && off < len && yield(userdata)) {
			*done = off;
			break;
		}
	}
	return 0;
}
