/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Stats: the engine's counters for operators, as one JSON document per
 * connection on a unix stream socket (read-only, mode 0600), and the
 * rate-limited log of refused charges. The loop owns the I/O; this file
 * owns the socket's life, the document and the rate limit.
 */

#include <stddef.h>
#include "core/engine.h"

#define STATS_DEFAULT_SOCKET "/run/bus1d/stats.sock"

typedef struct Stats Stats;

int stats_new(Stats **statsp, Engine *engine, const char *path);
Stats *stats_free(Stats *stats);

int stats_listen_fd(Stats *stats);
int stats_render(Stats *stats, char **datap, size_t *lenp);

void stats_quota_failure(void *userdata, const AcctFailure *failure);
