/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * The engine: a bus plus the control protocol around it. The loop reads a
 * batch of records from the control device, hands it to engine_process()
 * (or, to write the output of a long batch in parts, to
 * engine_process_part()) and writes the output buffer back with one
 * write(). Nothing here does I/O; the state is a pure function of the
 * records applied, however they were split.
 */

#include <stddef.h>
#include <stdint.h>
#include <linux/bus1-engine.h>
#include "outbuf.h"
#include "quota.h"

typedef struct Engine Engine;

/**
 * struct EngineConfig - engine options
 * @max_objects:	per-UID limit of objects (peers, nodes, handles,
 *			queued messages)
 * @max_bytes:		per-UID limit of queued payload bytes
 * @route_items:	credit of a route in messages, at most
 *			BUS1_ENGINE_MAX_ROUTE_ITEMS; 0 grants no routes
 * @route_bytes:	credit of a route in payload bytes, at most
 *			BUS1_ENGINE_MAX_ROUTE_BYTES
 */
typedef struct EngineConfig {
	uint64_t max_objects;
	uint64_t max_bytes;
	uint32_t route_items;
	uint32_t route_bytes;
} EngineConfig;

#define ENGINE_DEFAULT_ROUTE_ITEMS 64
#define ENGINE_DEFAULT_ROUTE_BYTES (64U << 10)

#define ENGINE_CONFIG_DEFAULT ((EngineConfig){			\
	.max_objects = QUOTA_DEFAULT_MAX_OBJECTS,			\
	.max_bytes = QUOTA_DEFAULT_MAX_BYTES,				\
	.route_items = ENGINE_DEFAULT_ROUTE_ITEMS,			\
	.route_bytes = ENGINE_DEFAULT_ROUTE_BYTES,			\
})

/* @level is a syslog priority (LOG_ERR ... LOG_DEBUG). */
typedef void (*EngineLogFn)(void *userdata, int level, const char *message);

/*
 * Called for every refused charge; the caller decides how often to tell
 * the operator, as the core has no clock.
 */
typedef void (*EngineQuotaFn)(void *userdata, const AcctFailure *failure);

/* Asked between records: whether to return before the next one. */
typedef bool (*EngineYieldFn)(void *userdata);

/*
 * What the engine has served, for operators (bus1ctl). Counting is part of
 * applying records, so the counters are as deterministic as the rest of
 * the state. @requests counts requests by type, re-delivered and malformed
 * ones included; @errors counts error replies by errno (an errno at or
 * above ENGINE_N_ERRNOS counts in the last slot); a batch is one
 * engine_process() call. @items_lent counts ITEM records written,
 * @items_received the lent items RECV_DONE committed, @items_retracted the
 * RETRACT records written, @lend_failures the times lending stopped for
 * lack of memory, @data_released the DATA_RELEASE records written.
 */
#define ENGINE_N_REQUEST_TYPES (BUS1_ENGINE_ROUTE_DONE + 1)
#define ENGINE_N_ERRNOS 134

typedef struct EngineCounters {
	uint64_t requests[ENGINE_N_REQUEST_TYPES];
	uint64_t errors[ENGINE_N_ERRNOS];
	uint64_t batches;
	uint64_t batch_records;
	uint64_t batch_max;
	uint64_t items_lent;
	uint64_t items_received;
	uint64_t items_retracted;
	uint64_t lend_failures;
	uint64_t data_released;
} EngineCounters;

int engine_new(Engine **enginep);
int engine_new_config(Engine **enginep, const EngineConfig *config);
Engine *engine_free(Engine *engine);

void engine_set_log(Engine *engine, EngineLogFn fn, void *userdata);
void engine_set_quota_log(Engine *engine, EngineQuotaFn fn, void *userdata);
uint64_t engine_last_seq(Engine *engine);

int engine_process(Engine *engine, const void *records, size_t len,
		   Outbuf *out);
int engine_process_part(Engine *engine, const void *records, size_t len,
			Outbuf *out, EngineYieldFn yield, void *userdata,
			size_t *done);
void engine_record_rejected(Engine *engine, const void *record, size_t size);
const EngineCounters *engine_counters(Engine *engine);
