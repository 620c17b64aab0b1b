/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Logging for the daemon binary (the core gets log_engine() as its sink).
 *
 * Under systemd, stderr is a stream to journald, which then takes a "<N>"
 * prefix as the line's syslog priority and adds the program name itself.
 * systemd says so by setting $JOURNAL_STREAM to the device and inode of
 * that stream; comparing them with stderr's tells a journal stream from
 * one that was inherited and redirected (sd-daemon(3), systemd.exec(5)).
 *
 * Anywhere else a line names the program and, for a warning or worse, the
 * level ("bus1d: error: ..."), so that a log file alone tells what went
 * wrong: the test harness fails an engine whose log holds an error.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"

static int log_max_level = LOG_INFO;
static bool log_journal;

/* Return: whether stderr is the journal stream $JOURNAL_STREAM names. */
static bool log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n])
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

/* Decide once, at start-up, how lines are written. */
void log_init(void)
{
	log_journal = log_stderr_is_journal();
}

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

/* Return: the "level: " prefix of a line at @level, empty below warning. */
static const char *log_level_prefix(int level)
{
	static const char *const prefixes[] = {
		[LOG_EMERG] = "emergency: ",
		[LOG_ALERT] = "alert: ",
		[LOG_CRIT] = "critical: ",
		[LOG_ERR] = "error: ",
		[LOG_WARNING] = "warning: ",
	};

	if (level < 0 || level > LOG_WARNING)
		return "";
	return prefixes[level];
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
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else
		fprintf(stderr, "bus1d: %s%s\n", log_level_prefix(level), buf);
}

void log_engine(void *userdata, int level, const char *message)
{
	(void)userdata;
	log_msg(level, "%s", message);
}
