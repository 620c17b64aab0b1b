/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_DATA_H
#define __BUS1_DATA_H

#include <linux/kref.h>
#include <linux/types.h>

/**
 * struct bus1_data - payload bytes the module keeps for the engine
 * @ref:	reference count: one for the table while the engine may
 *		name it, one per request or lent item holding it.
 * @id:		the data reference, as the engine sees it.
 * @gen:	the engine generation it was made for.
 * @size:	number of bytes.
 * @bytes:	the payload.
 */
struct bus1_data {
	struct kref ref;
	u64 id;
	u64 gen;
	size_t size;
	u8 bytes[];
};

struct bus1_data *bus1_data_new(size_t size, u64 gen);
void bus1_data_put(struct bus1_data *data);
int bus1_data_publish(struct bus1_data *data);
struct bus1_data *bus1_data_find(u64 id, u64 gen);
void bus1_data_release(u64 id, u64 gen);
void bus1_data_drop_gen(u64 gen);
void bus1_data_exit(void);

#endif /* __BUS1_DATA_H */
