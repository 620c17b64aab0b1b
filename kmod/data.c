// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: payloads kept by reference
 *
 * Payloads of at least BUS1_ENGINE_DATA_REF_MIN bytes never travel to the
 * engine: SEND copies them from the sender into a struct bus1_data, the
 * engine is told its ID (the data reference), and RECV copies them out
 * again. The table maps IDs to the buffers the engine may name; its
 * reference is the engine's. A SEND publishes its buffer before it asks
 * and withdraws it if the engine answers with an error (the engine never
 * owned it then); DATA_RELEASE withdraws it when the engine is done with
 * it; and when the engine is gone, everything of its generation is
 * withdrawn. Requests and lent items hold references of their own, so a
 * buffer stays until the last of them lets go, whatever the engine says.
 */

#include <linux/atomic.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include "data.h"

static DEFINE_XARRAY_ALLOC1(bus1_data_table);
static u32 bus1_data_next;

/**
 * bus1_data_new() - allocate a payload buffer, not yet published
 * @size:	bytes.
 * @gen:	generation of the engine it is for.
 *
 * Charged to the caller's memory cgroup: the sender's.
 *
 * Return: the buffer with one reference, or NULL without memory.
 */
struct bus1_data *bus1_data_new(size_t size, u64 gen)
{
	struct bus1_data *data;

	data = kvmalloc(struct_size(data, bytes, size), GFP_KERNEL_ACCOUNT);
	if (!data)
		return NULL;
	kref_init(&data->ref);
	data->id = 0;
	data->gen = gen;
	data->size = size;
	return data;
}

static void bus1_data_free(struct kref *ref)
{
	kvfree(container_of(ref, struct bus1_data, ref));
}

/**
 * bus1_data_put() - drop a reference
 * @data:	the buffer, or NULL.
 */
void bus1_data_put(struct bus1_data *data)
{
	if (data)
		kref_put(&data->ref, bus1_data_free);
}

/**
 * bus1_data_publish() - give the buffer an ID the engine may name
 * @data:	the buffer; the table takes a reference of its own.
 *
 * IDs come from a cyclic 32-bit allocator, so one is not reused until
 * about four billion later buffers, and never while it is in the table.
 *
 * Return: 0, or -ENOMEM.
 */
int bus1_data_publish(struct bus1_data *data)
{
	u32 id;
	int r;

	kref_get(&data->ref);
	r = xa_alloc_cyclic(&bus1_data_table, &id, data, xa_limit_32b,
			    &bus1_data_next, GFP_KERNEL_ACCOUNT);
	if (r < 0) {
		bus1_data_put(data);
		return -ENOMEM;
	}
	data->id = id;
	return 0;
}

/**
 * bus1_data_find() - look up a buffer the engine names
 * @id:		the data reference.
 * @gen:	the engine's generation.
 *
 * Return: the buffer with a new reference, or NULL if the engine of @gen
 * does not own @id.
 */
struct bus1_data *bus1_data_find(u64 id, u64 gen)
{
	struct bus1_data *data;

	if (!id || id > U32_MAX)
		return NULL;
	xa_lock(&bus1_data_table);
	data = xa_load(&bus1_data_table, id);
	if (data && data->gen == gen)
		kref_get(&data->ref);
	else
		data = NULL;
	xa_unlock(&bus1_data_table);
	return data;
}

/**
 * bus1_data_release() - withdraw a buffer from the engine
 * @id:		the data reference.
 * @gen:	the engine's generation.
 *
 * An ID the engine of @gen does not own is ignored.
 */
void bus1_data_release(u64 id, u64 gen)
{
	struct bus1_data *data;

	if (!id || id > U32_MAX)
		return;
	xa_lock(&bus1_data_table);
	data = xa_load(&bus1_data_table, id);
	if (data && data->gen == gen)
		__xa_erase(&bus1_data_table, id);
	else
		data = NULL;
	xa_unlock(&bus1_data_table);
	bus1_data_put(data);
}

/**
 * bus1_data_drop_gen() - withdraw every buffer of a gone engine
 * @gen:	its generation.
 */
void bus1_data_drop_gen(u64 gen)
{
	struct bus1_data *data;
	unsigned long id;

	xa_for_each(&bus1_data_table, id, data)
		bus1_data_release(id, gen);
}

/**
 * bus1_data_exit() - release the table at module unload
 *
 * The last engine is gone, and dropped its buffers, so the table is empty.
 */
void bus1_data_exit(void)
{
	xa_destroy(&bus1_data_table);
}
