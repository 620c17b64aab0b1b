/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_ENGINE_H
#define __BUS1_ENGINE_H

#include <linux/fs.h>
#include <linux/types.h>

struct bus1_request;

/**
 * enum bus1_engine_info_state - connection state as debugfs shows it
 * @BUS1_ENGINE_INFO_NONE:	no engine attached.
 * @BUS1_ENGINE_INFO_ATTACHED:	an engine is attached.
 * @BUS1_ENGINE_INFO_GONE:	the engine is being disconnected.
 */
enum bus1_engine_info_state {
	BUS1_ENGINE_INFO_NONE,
	BUS1_ENGINE_INFO_ATTACHED,
	BUS1_ENGINE_INFO_GONE,
};

/**
 * struct bus1_engine_info - a snapshot of the engine connection
 * @state:		enum bus1_engine_info_state.
 * @gen:		generation of the current or last engine.
 * @n_pending:		requests queued, not yet read by the engine.
 * @n_sent:		two-way requests read, not yet answered.
 * @oldest_ms:		age of the oldest unanswered two-way request, or 0.
 * @n_requests:		requests queued since the engine attached.
 * @n_records:		records the engine wrote since it attached.
 * @n_rejected:		of those, the ones the module rejected.
 */
struct bus1_engine_info {
	enum bus1_engine_info_state state;
	u64 gen;
	u64 n_pending;
	u64 n_sent;
	u64 oldest_ms;
	u64 n_requests;
	u64 n_records;
	u64 n_rejected;
};

extern unsigned long bus1_max_data;
extern unsigned int bus1_max_items;
extern unsigned int bus1_request_timeout_ms;
extern size_t bus1_max_record;

extern const struct file_operations bus1_engine_fops;

int bus1_engine_gen(u64 *gen);
bool bus1_engine_alive(u64 gen);
int bus1_engine_queue(struct bus1_request *req, u64 gen);
int bus1_engine_queue_quiet(struct bus1_request *req, u64 gen);
void bus1_engine_settle(void);
void bus1_engine_exit(void);
void bus1_engine_info(struct bus1_engine_info *info);
int bus1_engine_abort(void);

#endif /* __BUS1_ENGINE_H */
