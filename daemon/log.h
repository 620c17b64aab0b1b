/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Daemon logging: one line per message on stderr, prefixed "bus1d: " and,
 * for a warning or worse, the level ("bus1d: error: "), or "<N>" with the
 * priority when stderr is the journal; filtered by a maximum syslog
 * priority.
 */

#include <syslog.h>

void log_init(void);
void log_set_max_level(int level);
int log_parse_level(const char *name);

__attribute__((format(printf, 2, 3)))
void log_msg(int level, const char *fmt, ...);

void log_engine(void *userdata, int level, const char *message);
