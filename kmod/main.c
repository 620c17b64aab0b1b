// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: bus1 module
 *
 * bus1 is capability-based IPC split in two: this module owns file
 * descriptors, credentials, wait-queues and every access to application
 * memory; a privileged userspace engine owns all bus logic. Applications
 * use /dev/bus1 (peer.c); the engine attaches through /dev/bus1-engine
 * (engine.c), and requests travel between them as records (request.c),
 * following include/uapi/linux/bus1-engine.h.
 *
 * This file holds the limits (module parameters, fixed at load, except
 * request_timeout_ms, which is read at every check) and
 * registers the two misc devices, last at init and first at exit, so no
 * file can be opened on a half-initialized module.
 */

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/uio.h>
#include <linux/bus1.h>
#include <linux/bus1-engine.h>
#include "debugfs.h"
#include "data.h"
#include "engine.h"
#include "peer.h"
#include "route.h"
#include "user.h"

unsigned long bus1_max_data = 32UL << 20;
module_param_named(max_data, bus1_max_data, ulong, 0444);
MODULE_PARM_DESC(max_data, "Largest message payload in bytes (default 32 MiB)");

unsigned int bus1_max_items = 65536;
module_param_named(max_items, bus1_max_items, uint, 0444);
MODULE_PARM_DESC(max_items,
		 "Largest count of destinations, transfers or IDs in one command (default 65536)");

unsigned int bus1_request_timeout_ms = 30000;
module_param_named(request_timeout_ms, bus1_request_timeout_ms, uint, 0644);
MODULE_PARM_DESC(request_timeout_ms,
		 "Milliseconds a request may wait for the engine's reply before the engine is disconnected (default 30000, 0 = never)");

size_t bus1_max_record;

static struct miscdevice bus1_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "bus1",
	.fops	= &bus1_peer_fops,
	.mode	= 0666,
};

static struct miscdevice bus1_engine_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "bus1-engine",
	.fops	= &bus1_engine_fops,
	.mode	= 0600,
};

/*
 * The largest record either way: the header, the largest fixed payload
 * (SEND and ITEM), the worst-case arrays (TRANSFER's reply holds 2 * 16
 * bytes per item, more than any other record) and the payload bytes.
 * Records are kvmalloc'ed whole and hdr.size is 32 bits, so the result
 * must stay below INT_MAX.
 */
static int __init bus1_limits(void)
{
	u64 record;

	if (!bus1_max_items || bus1_max_items > (1U << 24) ||
	    bus1_max_data > (1UL << 30))
		return -EINVAL;

	record = sizeof(struct bus1_engine_hdr) +
		 sizeof(struct bus1_engine_send) +
		 (u64)bus1_max_items * 2 * sizeof(struct bus1_transfer) +
		 bus1_max_data;
	record = round_up(record, 8);
	if (record > INT_MAX)
		return -EINVAL;

	bus1_max_record = record;
	return 0;
}

static int __init bus1_init(void)
{
	int r;

	BUILD_BUG_ON(sizeof(struct bus1_engine_send) <
		     sizeof(struct bus1_engine_item));

	r = bus1_limits();
	if (r) {
		pr_err("bus1: invalid max_data=%lu or max_items=%u\n",
		       bus1_max_data, bus1_max_items);
		return r;
	}

	bus1_debugfs_init();

	r = misc_register(&bus1_engine_misc);
	if (r)
		goto err_debugfs;

	r = misc_register(&bus1_misc);
	if (r)
		goto err_engine;

	return 0;

err_engine:
	misc_deregister(&bus1_engine_misc);
err_debugfs:
	bus1_debugfs_exit();
	return r;
}

static void __exit bus1_exit(void)
{
	misc_deregister(&bus1_misc);
	misc_deregister(&bus1_engine_misc);
	bus1_debugfs_exit();
	bus1_engine_exit();
	bus1_peer_exit();
	bus1_route_exit();
	bus1_data_exit();
	bus1_user_exit();
}

module_init(bus1_init);
module_exit(bus1_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("bus1: capability-based IPC, kernel side of a split design");
