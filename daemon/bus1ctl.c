/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * bus1ctl: show bus1d's counters. Reads the one JSON document the stats
 * socket serves per connection and prints it as tables, or raw with
 * --json. The document's layout is described in daemon/stats.c. The
 * "module" view reads the kernel module's side instead: its parameters in
 * sysfs and its debugfs files (kmod/debugfs.c), which need root.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>
#include "stats.h"

static const char *arg_socket = STATS_DEFAULT_SOCKET;
static bool arg_json;

static void help(void)
{
	printf("%s [OPTIONS...] [status|users|peers|engine|module]\n\n"
	       "Show the bus1 engine's counters.\n\n"
	       "  -h --help            Show this help\n"
	       "     --socket PATH     Stats socket (default " STATS_DEFAULT_SOCKET ")\n"
	       "     --json            Print the raw JSON document\n\n"
	       "Views:\n"
	       "  status   limits and totals (default)\n"
	       "  users    per UID: objects and bytes, and who charged them\n"
	       "  peers    per peer: ID, UID, PID, nodes, handles, queued and\n"
	       "           lent items\n"
	       "  engine   requests served per type, error replies per errno,\n"
	       "           batch sizes, items lent to the kernel, routes\n"
	       "  module   the kernel module's limits, its engine connection,\n"
	       "           and per UID the requests on their way to the engine\n",
	       program_invocation_short_name);
}

/* Read the whole document; the engine closes after sending it. */
static int fetch(char **datap, size_t *lenp)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = 0, size = 0;
	char *data = NULL, *p;
	ssize_t n;
	int fd, r = 0;

	if (strlen(arg_socket) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, arg_socket);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		if (size - len < 4096) {
			size = size ? size * 2 : 65536;
			p = realloc(data, size + 1);
			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			data = p;
		}
		n = read(fd, data + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (!n)
			break;
		len += n;
	}
	data[len] = '\0';
	*datap = data;
	*lenp = len;
	data = NULL;
out:
	free(data);
	close(fd);
	return r;
}

static uint64_t num(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_uint64(v);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static void show_status(json_object *doc)
{
	json_object *limits = get(doc, "limits"), *totals = get(doc, "totals");

	printf("limits per UID:   %" PRIu64 " objects, %" PRIu64 " bytes\n",
	       num(limits, "objects"), num(limits, "bytes"));
	printf("peers:            %" PRIu64 "\n", num(totals, "peers"));
	printf("UIDs:             %" PRIu64 "\n", num(totals, "users"));
	printf("nodes:            %" PRIu64 "\n", num(totals, "nodes"));
	printf("handles:          %" PRIu64 "\n", num(totals, "handles"));
	printf("queued items:     %" PRIu64 "\n", num(totals, "queued"));
	printf("lent items:       %" PRIu64 "\n", num(totals, "lent"));
	printf("queued messages:  %" PRIu64 " (%" PRIu64 " bytes)\n",
	       num(totals, "messages"), num(totals, "message_bytes"));
	printf("refused charges:  %" PRIu64 "\n", num(totals, "quota_failures"));
	printf("routes:           %" PRIu64 " live, %" PRIu64 " kept (credit %"
	       PRIu64 " objects, %" PRIu64 " bytes)\n",
	       num(totals, "routes_live"), num(totals, "routes_kept"),
	       num(totals, "route_credit_objects"),
	       num(totals, "route_credit_bytes"));
}

static void show_users(json_object *doc)
{
	json_object *users = get(doc, "users"), *u, *charges, *c;
	size_t i, j;

	printf("%-10s %12s %12s %12s %14s %14s %14s\n", "UID",
	       "OBJ-USED", "OBJ-CLAIMED", "OBJ-LIMIT",
	       "BYTES-USED", "BYTES-CLAIMED", "BYTES-LIMIT");
	for (i = 0; users && i < json_object_array_length(users); ++i) {
		u = json_object_array_get_idx(users, i);
		printf("%-10" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64
		       " %14" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n",
		       num(u, "uid"),
		       num(get(u, "objects"), "used"),
		       num(get(u, "objects"), "claimed"),
		       num(get(u, "objects"), "limit"),
		       num(get(u, "bytes"), "used"),
		       num(get(u, "bytes"), "claimed"),
		       num(get(u, "bytes"), "limit"));
		charges = get(u, "charges");
		for (j = 0; charges && j < json_object_array_length(charges); ++j) {
			c = json_object_array_get_idx(charges, j);
			printf("  by UID %-10" PRIu64 " %" PRIu64 " objects, %"
			       PRIu64 " bytes, %" PRIu64 " peers\n",
			       num(c, "claimant"),
			       num(get(c, "objects"), "used"),
			       num(get(c, "bytes"), "used"),
			       num(c, "actors"));
		}
	}
}

static void show_peers(json_object *doc)
{
	json_object *peers = get(doc, "peers"), *p;
	size_t i;

	printf("%-10s %-10s %-8s %8s %8s %8s %6s %9s %12s\n", "ID", "UID",
	       "PID", "NODES", "HANDLES", "QUEUED", "LENT", "MESSAGES", "BYTES");
	for (i = 0; peers && i < json_object_array_length(peers); ++i) {
		p = json_object_array_get_idx(peers, i);
		printf("%-10" PRIu64 " %-10" PRIu64 " %-8" PRIu64 " %8" PRIu64
		       " %8" PRIu64 " %8" PRIu64 " %6" PRIu64 " %9" PRIu64
		       " %12" PRIu64 "\n",
		       num(p, "id"), num(p, "uid"), num(p, "pid"),
		       num(p, "nodes"), num(p, "handles"), num(p, "queued"),
		       num(p, "lent"), num(p, "messages"),
		       num(p, "message_bytes"));
	}
}

static void show_counts(const char *title, json_object *counts)
{
	printf("%s\n", title);
	if (!counts || !json_object_object_length(counts)) {
		printf("  (none)\n");
		return;
	}
	json_object_object_foreach(counts, key, val)
		printf("  %-14s %" PRIu64 "\n", key, json_object_get_uint64(val));
}

static void show_engine(json_object *doc)
{
	json_object *engine = get(doc, "engine");
	json_object *items = get(engine, "items");
	uint64_t batches = num(engine, "batches");

	show_counts("requests served:", get(engine, "requests"));
	show_counts("error replies:", get(engine, "errors"));
	printf("batches:          %" PRIu64 " (%" PRIu64 " records, at most %"
	       PRIu64 " in one, %.1f on average)\n",
	       batches, num(engine, "batch_records"), num(engine, "batch_max"),
	       batches ? (double)num(engine, "batch_records") / batches : 0.0);
	printf("items lent:       %" PRIu64 " (%" PRIu64 " received, %" PRIu64
	       " retracted, %" PRIu64 " times out of memory)\n",
	       num(items, "lent"), num(items, "received"),
	       num(items, "retracted"), num(items, "lend_failures"));
	printf("data released:    %" PRIu64 " (large payloads kept by the module)\n",
	       num(engine, "data_released"));
	printf("routes granted:   %" PRIu64 " (%" PRIu64 " revoked, %" PRIu64
	       " done, %" PRIu64 " rejected, %" PRIu64 " not granted for quota"
	       " or memory)\n",
	       num(engine, "routes_granted"), num(engine, "routes_revoked"),
	       num(engine, "routes_done"), num(engine, "routes_rejected"),
	       num(engine, "route_failures"));
}

#define MODULE_PARAMS "/sys/module/bus1/parameters/"
#define MODULE_DEBUGFS "/sys/kernel/debug/bus1/"

/* Print @path's lines, each after @indent; return -errno if unreadable. */
static int cat_file(const char *path, const char *indent)
{
	char line[256];
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		printf("%s%s", indent, line);
	fclose(f);
	return 0;
}

static int show_module(void)
{
	static const char *const params[] = {
		"max_user_requests", "max_user_bytes", "request_timeout_ms",
		"max_data", "max_items",
	};
	char path[256], value[64];
	unsigned long uid, requests, bytes;
	size_t i;
	FILE *f;
	int r;

	printf("module parameters:\n");
	for (i = 0; i < sizeof(params) / sizeof(params[0]); ++i) {
		snprintf(path, sizeof(path), MODULE_PARAMS "%s", params[i]);
		f = fopen(path, "re");
		if (!f) {
			fprintf(stderr, "%s: %s: %m (is bus1.ko loaded?)\n",
				program_invocation_short_name, path);
			return -errno;
		}
		if (!fgets(value, sizeof(value), f))
			strcpy(value, "?\n");
		fclose(f);
		printf("  %-20s %s", params[i], value);
	}

	printf("engine connection:\n");
	r = cat_file(MODULE_DEBUGFS "engine", "  ");
	if (r < 0) {
		fprintf(stderr, "%s: " MODULE_DEBUGFS "engine: %s (needs root and debugfs: mount -t debugfs none /sys/kernel/debug)\n",
			program_invocation_short_name, strerror(-r));
		return r;
	}

	f = fopen(MODULE_DEBUGFS "users", "re");
	if (!f) {
		r = -errno;
		fprintf(stderr, "%s: " MODULE_DEBUGFS "users: %m\n",
			program_invocation_short_name);
		return r;
	}
	printf("%-10s %12s %14s\n", "UID", "REQUESTS", "BYTES");
	while (fscanf(f, "%lu %lu %lu", &uid, &requests, &bytes) == 3)
		printf("%-10lu %12lu %14lu\n", uid, requests, bytes);
	fclose(f);
	return 0;
}

int main(int argc, char *argv[])
{
	enum {
		ARG_SOCKET = 0x100,
		ARG_JSON,
	};
	static const struct option options[] = {
		{ "help",	no_argument,		NULL, 'h' },
		{ "socket",	required_argument,	NULL, ARG_SOCKET },
		{ "json",	no_argument,		NULL, ARG_JSON },
		{}
	};
	const char *view = "status";
	json_object *doc;
	size_t len = 0;
	char *data = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_SOCKET:
			arg_socket = optarg;
			break;
		case ARG_JSON:
			arg_json = true;
			break;
		default:
			return EXIT_FAILURE;
		}
	}
	if (optind < argc)
		view = argv[optind++];
	if (optind < argc || (strcmp(view, "status") && strcmp(view, "users") &&
			      strcmp(view, "peers") && strcmp(view, "engine") &&
			      strcmp(view, "module"))) {
		fprintf(stderr, "%s: unknown view, see --help\n",
			program_invocation_short_name);
		return EXIT_FAILURE;
	}
	if (!strcmp(view, "module"))
		return show_module() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	r = fetch(&data, &len);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name,
			arg_socket, strerror(-r));
		return EXIT_FAILURE;
	}
	if (arg_json) {
		fwrite(data, 1, len, stdout);
		free(data);
		return EXIT_SUCCESS;
	}

	doc = json_tokener_parse(data);
	free(data);
	if (!doc) {
		fprintf(stderr, "%s: malformed stats document\n",
			program_invocation_short_name);
		return EXIT_FAILURE;
	}
	if (!strcmp(view, "users"))
		show_users(doc);
	else if (!strcmp(view, "peers"))
		show_peers(doc);
	else if (!strcmp(view, "engine"))
		show_engine(doc);
	else
		show_status(doc);
	json_object_put(doc);
	return EXIT_SUCCESS;
}
