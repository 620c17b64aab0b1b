/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_ENGINE_H
#define __BUS1_ENGINE_H

#include <linux/fs.h>
#include <linux/types.h>

struct bus1_request;

extern unsigned long bus1_max_data;
extern unsigned int bus1_max_items;
extern size_t bus1_max_record;

extern const struct file_operations bus1_engine_fops;

int bus1_engine_gen(u64 *gen);
bool bus1_engine_alive(u64 gen);
int bus1_engine_queue(struct bus1_request *req, u64 gen);

#endif /* __BUS1_ENGINE_H */
