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
#include "log.h"
#include "loop.h"

#define BUS1D_VERSION "1"

static const char *main_arg_device = "/dev/bus1-engine";

static void help(void)
{
	printf("%s [OPTIONS...]\n\n"
	       "bus1 engine: serves the bus1 kernel module's control device.\n\n"
	       "  -h --help                 Show this help\n"
	       "     --version              Show package version\n"
	       "     --device PATH          Control device (default /dev/bus1-engine)\n"
	       "     --log-level LEVEL      err, warning, info (default) or debug\n",
	       program_invocation_short_name);
}

/* Return: <0 on error, 0 to exit successfully, >0 to run. */
static int parse_argv(int argc, char *argv[])
{
	enum {
		ARG_VERSION = 0x100,
		ARG_DEVICE,
		ARG_LOG_LEVEL,
	};
	static const struct option options[] = {
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, ARG_VERSION },
		{ "device",	required_argument,	NULL, ARG_DEVICE },
		{ "log-level",	required_argument,	NULL, ARG_LOG_LEVEL },
		{}
	};
	int c, level;

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
	return 1;
}

static int run(void)
{
	Engine *engine;
	int r;

	r = engine_new(&engine);
	if (r < 0) {
		log_msg(LOG_ERR, "cannot create engine: %s", strerror(-r));
		return r;
	}
	engine_set_log(engine, log_engine, NULL);

	r = loop_run(engine, main_arg_device);
	engine_free(engine);
	return r;
}

int main(int argc, char *argv[])
{
	int r;

	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	return run() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
