/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * bus1d: the bus1 engine daemon. Runs in the foreground, logs to stderr,
 * exits 0 on SIGTERM/SIGINT and 1 on any error.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/engine.h"
#include "fault.h"
#include "log.h"
#include "loop.h"
#include "privileges.h"
#include "stats.h"

#define BUS1D_VERSION "1"

static const char *main_arg_device = "/dev/bus1-engine";
static Fault *main_arg_fault;
static EngineConfig main_arg_config = ENGINE_CONFIG_DEFAULT;
static const char *main_arg_stats_socket = STATS_DEFAULT_SOCKET;
static const char *main_arg_user;

static void help(void)
{
	printf("%s [OPTIONS...]\n\n"
	       "bus1 engine: serves the bus1 kernel module's control device.\n\n"
	       "  -h --help                 Show this help\n"
	       "     --version              Show package version\n"
	       "     --device PATH          Control device (default /dev/bus1-engine)\n"
	       "     --log-level LEVEL      err, warning, info (default) or debug\n"
	       "     --max-objects N        Objects per UID (default 1048576)\n"
	       "     --max-bytes N[K|M|G]   Queued bytes per UID (default 1G)\n"
	       "     --route-items N        Credit of a route in messages, at most\n"
	       "                            256 (default 64, 0: no routes)\n"
	       "     --route-bytes N[K|M]   Credit of a route in payload bytes, at\n"
	       "                            most 1M (default 64K)\n"
	       "     --stats-socket PATH    Stats socket, \"\" for none\n"
	       "                            (default " STATS_DEFAULT_SOCKET ")\n"
	       "     --user USER            Become USER once attached (when\n"
	       "                            started as root); capabilities are\n"
	       "                            dropped once attached in any case\n"
	       "     --fault SPEC           Inject a fault (repeatable, see below)\n\n"
	       FAULT_HELP,
	       program_invocation_short_name);
}

static int main_add_fault(const char *spec)
{
	int r;

	if (!main_arg_fault) {
		r = fault_new(&main_arg_fault);
		if (r < 0)
			return r;
	}
	r = fault_parse(main_arg_fault, spec);
	if (r < 0) {
		log_msg(LOG_ERR, "invalid fault: %s", spec);
		return r;
	}
	log_msg(LOG_WARNING, "injecting fault: %s", spec);
	return 0;
}

/* A positive count with an optional binary suffix K, M or G. */
static int parse_size(const char *s, uint64_t *v)
{
	unsigned long long n;
	unsigned int shift = 0;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (*end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift)
		++end;
	if (*end || !n || n > UINT64_MAX >> shift)
		return -EINVAL;
	*v = (uint64_t)n << shift;
	return 0;
}

/* A route credit: like parse_size(), but 0 is allowed, up to @max. */
static int parse_credit(const char *s, uint64_t max, uint32_t *v)
{
	uint64_t n = 0;
	int r = 0;

	if (strcmp(s, "0"))
		r = parse_size(s, &n);
	if (r < 0 || n > max)
		return -EINVAL;
	*v = n;
	return 0;
}

/* Return: <0 on error, 0 to exit successfully, >0 to run. */
static int parse_argv(int argc, char *argv[])
{
	enum {
		ARG_VERSION = 0x100,
		ARG_DEVICE,
		ARG_LOG_LEVEL,
		ARG_FAULT,
		ARG_MAX_OBJECTS,
		ARG_MAX_BYTES,
		ARG_STATS_SOCKET,
		ARG_ROUTE_ITEMS,
		ARG_ROUTE_BYTES,
		ARG_USER,
	};
	static const struct option options[] = {
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, ARG_VERSION },
		{ "device",	required_argument,	NULL, ARG_DEVICE },
		{ "log-level",	required_argument,	NULL, ARG_LOG_LEVEL },
		{ "fault",	required_argument,	NULL, ARG_FAULT },
		{ "max-objects", required_argument,	NULL, ARG_MAX_OBJECTS },
		{ "max-bytes",	required_argument,	NULL, ARG_MAX_BYTES },
		{ "stats-socket", required_argument,	NULL, ARG_STATS_SOCKET },
		{ "route-items", required_argument,	NULL, ARG_ROUTE_ITEMS },
		{ "route-bytes", required_argument,	NULL, ARG_ROUTE_BYTES },
		{ "user",	required_argument,	NULL, ARG_USER },
		{}
	};
	const char *env;
	int c, level, r;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("bus1d %s\n", BUS1D_VERSION);
			return 0;
		case ARG_DEVICE:
			main_arg_device = optarg;
			break;
		case ARG_LOG_LEVEL:
			level = log_parse_level(optarg);
			if (level < 0) {
				log_msg(LOG_ERR, "invalid log level: %s", optarg);
				return -EINVAL;
			}
			log_set_max_level(level);
			break;
		case ARG_FAULT:
			r = main_add_fault(optarg);
			if (r < 0)
				return r;
			break;
		case ARG_MAX_OBJECTS:
		case ARG_MAX_BYTES:
			if (parse_size(optarg, c == ARG_MAX_OBJECTS ?
					       &main_arg_config.max_objects :
					       &main_arg_config.max_bytes) < 0) {
				log_msg(LOG_ERR, "invalid limit: %s", optarg);
				return -EINVAL;
			}
			break;
		case ARG_ROUTE_ITEMS:
			if (parse_credit(optarg, BUS1_ENGINE_MAX_ROUTE_ITEMS,
					 &main_arg_config.route_items) < 0) {
				log_msg(LOG_ERR, "invalid route credit (at most %u): %s",
					BUS1_ENGINE_MAX_ROUTE_ITEMS, optarg);
				return -EINVAL;
			}
			break;
		case ARG_ROUTE_BYTES:
			if (parse_credit(optarg, BUS1_ENGINE_MAX_ROUTE_BYTES,
					 &main_arg_config.route_bytes) < 0) {
				log_msg(LOG_ERR, "invalid route credit (at most %u): %s",
					BUS1_ENGINE_MAX_ROUTE_BYTES, optarg);
				return -EINVAL;
			}
			break;
		case ARG_STATS_SOCKET:
			main_arg_stats_socket = optarg;
			break;
		case ARG_USER:
			main_arg_user = optarg;
			break;
		case '?':
			return -EINVAL;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc) {
		log_msg(LOG_ERR, "unexpected argument: %s", argv[optind]);
		return -EINVAL;
	}
	env = getenv("BUS1D_FAULT");
	if (env && *env) {
		r = main_add_fault(env);
		if (r < 0)
			return r;
	}
	return 1;
}

/* The control device is attached: nothing needs privilege any more. */
static int main_attached(void *userdata)
{
	(void)userdata;
	return privileges_drop(main_arg_user);
}

static int run(void)
{
	Stats *stats;
	Engine *engine;
	int r;

	r = engine_new_config(&engine, &main_arg_config);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot create engine: %s", strerror(-r));
		return r;
	}
	engine_set_log(engine, log_engine, NULL);
	r = stats_new(&stats, engine, main_arg_stats_socket);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot set up stats: %s", strerror(-r));
		engine_free(engine);
		return r;
	}

	fault_install(main_arg_fault);
	r = loop_run(engine, main_arg_device, main_arg_fault, stats,
		     main_attached, NULL);
	stats_free(stats);
	engine_free(engine);
	return r;
}

int main(int argc, char *argv[])
{
	int r;

	log_init();
	r = parse_argv(argc, argv);
	if (r <= 0) {
		fault_free(main_arg_fault);
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}

	r = run();
	fault_free(main_arg_fault);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
