/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * The engine: a bus plus the control protocol around it. The loop reads a
 * batch of records from the control device, hands it to engine_process()
 * and writes the output buffer back with one write(). Nothing here does
 * I/O; the state is a pure function of the records applied.
 */

#include <stddef.h>
#include <stdint.h>
#include "outbuf.h"

typedef struct Engine Engine;

/* @level is a syslog priority (LOG_ERR ... LOG_DEBUG). */
typedef void (*EngineLogFn)(void *userdata, int level, const char *message);

int engine_new(Engine **enginep);
Engine *engine_free(Engine *engine);

void engine_set_log(Engine *engine, EngineLogFn fn, void *userdata);
uint64_t engine_last_seq(Engine *engine);

int engine_process(Engine *engine, const void *records, size_t len,
		   Outbuf *out);
