/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Stats: counters for operators and the quota log.
 *
 * The document is built from the engine's state when a client connects,
 * by walking the bus; the only counters kept on the request path are the
 * core's EngineCounters (a few increments per record). It holds only
 * numbers and fixed keys, so no string needs escaping. Layout (all numbers
 * are decimal integers):
 *
 *   { "version": 1,
 *     "limits": { "objects": N, "bytes": N },
 *     "totals": { "peers", "nodes", "handles", "queued", "messages",
 *                 "message_bytes", "users", "quota_failures", "lent",
 *                 "routes_live", "routes_kept", "route_credit_objects",
 *                 "route_credit_bytes" },
 *     "users": [ { "uid", "objects": SLOT, "bytes": SLOT,
 *                  "charges": [ { "claimant", "actors",
 *                                 "objects": CHARGE, "bytes": CHARGE } ] } ],
 *     "peers": [ { "id", "uid", "pid", "nodes", "handles", "queued",
 *                  "messages", "message_bytes", "lent" } ],
 *     "engine": { "requests": { "<type>": N, ... },
 *                 "errors": { "<ERRNO>": N, ... },
 *                 "batches", "batch_records", "batch_max",
 *                 "items": { "lent", "received", "retracted",
 *                            "lend_failures" },
 *                 "data_released", "routes_granted", "routes_revoked",
 *                 "routes_done", "routes_rejected", "route_failures" },
 *     "faults": { "replies_damaged", "records_added", "items_damaged",
 *                 "allocs_failed", "delays", "stalls", "stopped" } }
 *
 *   queued counts the items waiting in the engine, lent those lent to the
 *   kernel and not yet received; messages and message_bytes count the user
 *   messages among both. data_released counts the DATA_RELEASE records
 *   written (large payloads the module kept). routes_live counts the
 *   routes not revoked, routes_kept those the engine still keeps (revoked
 *   ones until their ROUTE_DONE), and the route_credit pair what their
 *   credits hold charged; routes_revoked counts REVOKE records owed,
 *   routes_rejected ROUTE records the kernel refused, route_failures
 *   grants skipped as the credit could not be charged. faults counts
 *   what bus1d --fault did (struct FaultCounts in fault.h; all 0 without
 *   faults), so tests can prove their fault fired. Readers look members
 *   up by name (json-c); the order is not part of the format.
 *
 *   SLOT = { "limit", "available", "claimed", "used" }: claimed is what
 *   the user's quotas took, including their reserves; used is what is
 *   actually charged. CHARGE = { "used", "reserved" } of one claimant UID.
 *
 * Refused charges are logged at most STATS_LOG_BURST times per
 * STATS_LOG_INTERVAL; the next line after a quiet interval says how many
 * were left out. The clock lives here, not in the deterministic core.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "core/bus.h"
#include "core/message.h"
#include "core/peer.h"
#include "fault.h"
#include "log.h"
#include "stats.h"

#define STATS_LOG_BURST 10
#define STATS_LOG_INTERVAL_NS (10ULL * 1000 * 1000 * 1000)

struct Stats {
	Engine *engine;
	char *path;
	int listen_fd;
	uint64_t log_window;
	unsigned int n_logged;
	uint64_t n_suppressed;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Create the directory of @path if missing (one level, 0755). */
static int stats_mkdir(const char *path)
{
	char *dir, *slash;
	int r = 0;

	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			r = -errno;
	}
	free(dir);
	return r;
}

static int stats_bind(Stats *s)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t mask;
	int r;

	if (strlen(s->path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, s->path);

	r = stats_mkdir(s->path);
	if (r < 0)
		return r;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return -errno;
	/* a socket left by an engine that died; only one engine can attach */
	unlink(s->path);
	/* created 0600 from the start, never briefly wider */
	mask = umask(0177);
	r = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(mask);
	if (r < 0 || listen(s->listen_fd, 16) < 0)
		return -errno;
	return 0;
}

/**
 * stats_new() - set up stats for @engine
 * @statsp:	the new object
 * @engine:	the engine to report on, and whose refused charges to log
 * @path:	socket path, or NULL or "" for no socket
 *
 * A socket that cannot be set up is logged and left out: the bus works
 * without it.
 *
 * Return: 0 or -ENOMEM.
 */
int stats_new(Stats **statsp, Engine *engine, const char *path)
{
	Stats *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->engine = engine;
	s->listen_fd = -1;
	engine_set_quota_log(engine, stats_quota_failure, s);

	if (path && *path) {
		s->path = strdup(path);
		if (!s->path) {
			free(s);
			return -ENOMEM;
		}
		r = stats_bind(s);
		if (r < 0) {
			log_msg(LOG_WARNING, "no stats socket at %s: %s",
				path, strerror(-r));
			if (s->listen_fd >= 0)
				close(s->listen_fd);
			s->listen_fd = -1;
			free(s->path);
			s->path = NULL;
		} else {
			log_msg(LOG_INFO, "stats on %s", path);
		}
	}
	*statsp = s;
	return 0;
}

Stats *stats_free(Stats *s)
{
	if (!s)
		return NULL;
	engine_set_quota_log(s->engine, NULL, NULL);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	free(s->path);
	free(s);
	return NULL;
}

/* Return: the listening socket, or -1 if there is none. */
int stats_listen_fd(Stats *s)
{
	return s->listen_fd;
}

typedef struct PeerCounts {
	uint64_t nodes, handles, queued, lent, messages, message_bytes;
} PeerCounts;

static void count_item(PeerCounts *c, Item *item)
{
	Message *message;

	if (item->type != ITEM_USER)
		return;
	message = core_container_of(item, Message, item);
	++c->messages;
	c->message_bytes += message->payload->n_data;
}

static void count_peer(Peer *peer, PeerCounts *c)
{
	Object *obj;
	Item *item;

	*c = (PeerCounts){ .queued = peer->n_queued, .lent = peer->n_lent };
	RB_FOREACH(obj, ObjectTree, &peer->objects) {
		if (obj->kind == OBJECT_NODE)
			++c->nodes;
		else
			++c->handles;
	}
	TAILQ_FOREACH(item, &peer->lent, link)
		count_item(c, item);
	TAILQ_FOREACH(item, &peer->queue, link)
		count_item(c, item);
}

static void put_slot(FILE *f, AcctUser *user, unsigned int slot)
{
	AcctQuota *quota;
	uint64_t used = 0;

	ACCT_FOREACH_QUOTA(quota, user)
		used += quota->claim.claimed[slot] - quota->claim.available[slot];
	fprintf(f, "{\"limit\":%llu,\"available\":%llu,\"claimed\":%llu,\"used\":%llu}",
		(unsigned long long)user->claim.claimed[slot],
		(unsigned long long)user->claim.available[slot],
		(unsigned long long)(user->claim.claimed[slot] -
				     user->claim.available[slot]),
		(unsigned long long)used);
}

static void put_charge(FILE *f, const AcctQuota *quota, unsigned int slot)
{
	fprintf(f, "{\"used\":%llu,\"reserved\":%llu}",
		(unsigned long long)(quota->claim.claimed[slot] -
				     quota->claim.available[slot]),
		(unsigned long long)quota->claim.available[slot]);
}

static void put_users(FILE *f, Acct *acct)
{
	AcctQuota *quota;
	AcctUser *user;
	const char *sep = "", *qsep;

	fputs("\"users\":[", f);
	ACCT_FOREACH_USER(user, acct) {
		fprintf(f, "%s{\"uid\":%u,\"objects\":", sep, user->uid);
		put_slot(f, user, QUOTA_OBJECTS);
		fputs(",\"bytes\":", f);
		put_slot(f, user, QUOTA_BYTES);
		fputs(",\"charges\":[", f);
		qsep = "";
		ACCT_FOREACH_QUOTA(quota, user) {
			fprintf(f, "%s{\"claimant\":%u,\"actors\":%llu,\"objects\":",
				qsep, quota->uid,
				(unsigned long long)quota->n_traces);
			put_charge(f, quota, QUOTA_OBJECTS);
			fputs(",\"bytes\":", f);
			put_charge(f, quota, QUOTA_BYTES);
			fputc('}', f);
			qsep = ",";
		}
		fputs("]}", f);
		sep = ",";
	}
	fputc(']', f);
}

static const char *const request_names[ENGINE_N_REQUEST_TYPES] = {
	[BUS1_ENGINE_PEER_NEW]		= "peer_new",
	[BUS1_ENGINE_PEER_RELEASE]	= "peer_release",
	[BUS1_ENGINE_TRANSFER]		= "transfer",
	[BUS1_ENGINE_RELEASE]		= "release",
	[BUS1_ENGINE_SEND]		= "send",
	[BUS1_ENGINE_FETCH]		= "fetch",
	[BUS1_ENGINE_RECV_DONE]		= "recv_done",
	[BUS1_ENGINE_ROUTE_DONE]	= "route_done",
};

/* Only counters that are not zero; errno names are fixed identifiers. */
static void put_engine(FILE *f, const EngineCounters *c, const Routes *routes)
{
	const char *sep = "", *name;
	unsigned int i;

	fputs("\"engine\":{\"requests\":{", f);
	for (i = 0; i < ENGINE_N_REQUEST_TYPES; ++i) {
		if (!request_names[i])
			continue;
		fprintf(f, "%s\"%s\":%llu", sep, request_names[i],
			(unsigned long long)c->requests[i]);
		sep = ",";
	}
	fputs("},\"errors\":{", f);
	sep = "";
	for (i = 1; i < ENGINE_N_ERRNOS; ++i) {
		if (!c->errors[i])
			continue;
		name = strerrorname_np(i);
		if (name)
			fprintf(f, "%s\"%s\":%llu", sep, name,
				(unsigned long long)c->errors[i]);
		else
			fprintf(f, "%s\"E%u\":%llu", sep, i,
				(unsigned long long)c->errors[i]);
		sep = ",";
	}
	fprintf(f, "},\"batches\":%llu,\"batch_records\":%llu,\"batch_max\":%llu,"
		"\"items\":{\"lent\":%llu,\"received\":%llu,\"retracted\":%llu,"
		"\"lend_failures\":%llu},\"data_released\":%llu",
		(unsigned long long)c->batches,
		(unsigned long long)c->batch_records,
		(unsigned long long)c->batch_max,
		(unsigned long long)c->items_lent,
		(unsigned long long)c->items_received,
		(unsigned long long)c->items_retracted,
		(unsigned long long)c->lend_failures,
		(unsigned long long)c->data_released);
	fprintf(f, ",\"routes_granted\":%llu,\"routes_revoked\":%llu,"
		"\"routes_done\":%llu,\"routes_rejected\":%llu,"
		"\"route_failures\":%llu}",
		(unsigned long long)routes->n_granted,
		(unsigned long long)routes->n_revoked,
		(unsigned long long)routes->n_done,
		(unsigned long long)routes->n_rejected,
		(unsigned long long)routes->n_failed);
}

/* What bus1d --fault did; all 0 without faults. */
static void put_faults(FILE *f)
{
	const FaultCounts c = fault_counts();

	fprintf(f, ",\"faults\":{\"replies_damaged\":%llu,\"records_added\":%llu,"
		"\"items_damaged\":%llu,\"allocs_failed\":%llu,\"delays\":%llu,"
		"\"stalls\":%llu,\"stopped\":%llu}",
		(unsigned long long)c.replies_damaged,
		(unsigned long long)c.records_added,
		(unsigned long long)c.items_damaged,
		(unsigned long long)c.allocs_failed,
		(unsigned long long)c.delays,
		(unsigned long long)c.stalls,
		(unsigned long long)c.stopped);
}

/**
 * stats_render() - the JSON document, newline-terminated
 * @stats:	the stats
 * @datap:	the document, to be freed with free()
 * @lenp:	its length
 *
 * Return: 0 or -ENOMEM.
 */
int stats_render(Stats *s, char **datap, size_t *lenp)
{
	Bus *bus = engine_bus(s->engine);
	PeerCounts c, total = {};
	const char *sep = "";
	Peer *peer;
	FILE *f;

	f = open_memstream(datap, lenp);
	if (!f)
		return -ENOMEM;

	fprintf(f, "{\"version\":1,\"limits\":{\"objects\":%llu,\"bytes\":%llu},",
		(unsigned long long)bus->acct.maxima[QUOTA_OBJECTS],
		(unsigned long long)bus->acct.maxima[QUOTA_BYTES]);
	put_users(f, &bus->acct);

	fputs(",\"peers\":[", f);
	RB_FOREACH(peer, PeerTree, &bus->peers) {
		count_peer(peer, &c);
		fprintf(f, "%s{\"id\":%llu,\"uid\":%u,\"pid\":%u,\"nodes\":%llu,"
			"\"handles\":%llu,\"queued\":%llu,\"messages\":%llu,"
			"\"message_bytes\":%llu,\"lent\":%llu}",
			sep, (unsigned long long)peer->id, peer->uid, peer->pid,
			(unsigned long long)c.nodes,
			(unsigned long long)c.handles,
			(unsigned long long)c.queued,
			(unsigned long long)c.messages,
			(unsigned long long)c.message_bytes,
			(unsigned long long)c.lent);
		total.nodes += c.nodes;
		total.handles += c.handles;
		total.queued += c.queued;
		total.lent += c.lent;
		total.messages += c.messages;
		total.message_bytes += c.message_bytes;
		sep = ",";
	}
	fprintf(f, "],\"totals\":{\"peers\":%zu,\"nodes\":%llu,\"handles\":%llu,"
		"\"queued\":%llu,\"messages\":%llu,\"message_bytes\":%llu,"
		"\"users\":%llu,\"quota_failures\":%llu,\"lent\":%llu,"
		"\"routes_live\":%zu,\"routes_kept\":%zu,"
		"\"route_credit_objects\":%llu,\"route_credit_bytes\":%llu},",
		bus->n_peers, (unsigned long long)total.nodes,
		(unsigned long long)total.handles,
		(unsigned long long)total.queued,
		(unsigned long long)total.messages,
		(unsigned long long)total.message_bytes,
		(unsigned long long)bus->acct.n_users,
		(unsigned long long)bus->acct.n_failures,
		(unsigned long long)total.lent,
		bus->routes.n_live, bus->routes.n_routes,
		(unsigned long long)bus->routes.credit_held[QUOTA_OBJECTS],
		(unsigned long long)bus->routes.credit_held[QUOTA_BYTES]);
	put_engine(f, engine_counters(s->engine), &bus->routes);
	put_faults(f);
	fputs("}\n", f);

	if (ferror(f)) {
		fclose(f);
		free(*datap);
		*datap = NULL;
		return -ENOMEM;
	}
	if (fclose(f))
		return -ENOMEM;
	return 0;
}

/* EngineQuotaFn: one log line per refused charge, rate limited. */
void stats_quota_failure(void *userdata, const AcctFailure *f)
{
	Stats *s = userdata;
	uint64_t window = now_ns() / STATS_LOG_INTERVAL_NS;

	if (window != s->log_window) {
		if (s->n_suppressed)
			log_msg(LOG_WARNING,
				"quota: %llu more refused charges not logged",
				(unsigned long long)s->n_suppressed);
		s->log_window = window;
		s->n_logged = 0;
		s->n_suppressed = 0;
	}
	if (s->n_logged >= STATS_LOG_BURST) {
		++s->n_suppressed;
		return;
	}
	++s->n_logged;
	log_msg(LOG_WARNING,
		"quota: refused charge on uid %u by uid %u: %s asked %llu, held %llu, available %llu",
		f->charged_uid, f->claimant_uid, acct_slot_name(f->slot),
		(unsigned long long)f->asked, (unsigned long long)f->held,
		(unsigned long long)f->available);
}
