/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Logging for the daemon binary (the core gets log_engine() as its sink).
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "log.h"

static int log_max_level = LOG_INFO;

void log_set_max_level(int level)
{
	log_max_level = level;
}

/* Return: the syslog priority named by @name, or -1. */
int log_parse_level(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "err", LOG_ERR },
		{ "warning", LOG_WARNING },
		{ "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < sizeof(levels) / sizeof(*levels); ++i)
		if (!strcmp(name, levels[i].name))
			return levels[i].level;
	return -1;
}

void log_msg(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bus1d: %s\n", buf);
}

void log_engine(void *userdata, int level, const char *message)
{
	(void)userdata;
	log_msg(level, "%s", message);
}
