// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: debugfs view of the engine connection
 *
 * /sys/kernel/debug/bus1/ shows what the module knows about its engine, for
 * an administrator asking "is the engine alive, and is it keeping up?":
 *
 *   engine    "key: value" lines: the connection state (none, attached,
 *             gone), the engine generation, requests waiting to be read
 *             and awaiting a reply, the age of the oldest unanswered
 *             two-way request, counters of this attachment, the routes
 *             the module holds and the sends it served through routes
 *             since it was loaded.
 *   waiting   requests queued or read but not yet finished, one number
 *             (FUSE's file of the same name).
 *   users     one line per user with a peer open: "UID REQUESTS BYTES",
 *             the requests it has on their way to the engine or awaiting
 *             a reply and the bytes they hold (see user.c), against the
 *             max_user_requests and max_user_bytes parameters.
 *   abort     writing anything disconnects the attached engine as if it
 *             had exited: every request ends with ENOTCONN and its peers
 *             are dead. For an engine that hangs without exiting.
 *
 * Every read is a snapshot taken under the connection lock. debugfs is an
 * aid, not an interface: a failure to create the files is ignored, like
 * debugfs failures everywhere in the kernel.
 */

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/seq_file.h>
#include "debugfs.h"
#include "engine.h"
#include "route.h"
#include "user.h"

static struct dentry *bus1_debugfs_dir;

static const char *bus1_debugfs_state(enum bus1_engine_info_state state)
{
	switch (state) {
	case BUS1_ENGINE_INFO_ATTACHED:
		return "attached";
	case BUS1_ENGINE_INFO_GONE:
		return "gone";
	default:
		return "none";
	}
}

static int bus1_debugfs_engine_show(struct seq_file *m, void *v)
{
	struct bus1_engine_info info;

	bus1_engine_info(&info);
	seq_printf(m, "state: %s\n", bus1_debugfs_state(info.state));
	seq_printf(m, "generation: %llu\n", info.gen);
	seq_printf(m, "pending: %llu\n", info.n_pending);
	seq_printf(m, "awaiting_reply: %llu\n", info.n_sent);
	seq_printf(m, "oldest_unanswered_ms: %llu\n", info.oldest_ms);
	seq_printf(m, "requests: %llu\n", info.n_requests);
	seq_printf(m, "records_written: %llu\n", info.n_records);
	seq_printf(m, "records_rejected: %llu\n", info.n_rejected);
	seq_printf(m, "routes: %llu\n", bus1_route_count());
	seq_printf(m, "route_sends: %llu\n", bus1_route_sends());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bus1_debugfs_engine);

static int bus1_debugfs_waiting_show(struct seq_file *m, void *v)
{
	struct bus1_engine_info info;

	bus1_engine_info(&info);
	seq_printf(m, "%llu\n", info.n_pending + info.n_sent);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bus1_debugfs_waiting);

static int bus1_debugfs_users_show(struct seq_file *m, void *v)
{
	bus1_user_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bus1_debugfs_users);

static ssize_t bus1_debugfs_abort_write(struct file *file,
					const char __user *buf, size_t count,
					loff_t *ppos)
{
	int r;

	r = bus1_engine_abort();
	return r ? r : count;
}

static const struct file_operations bus1_debugfs_abort_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= bus1_debugfs_abort_write,
	.llseek	= noop_llseek,
};

/**
 * bus1_debugfs_init() - create /sys/kernel/debug/bus1/
 */
void bus1_debugfs_init(void)
{
	bus1_debugfs_dir = debugfs_create_dir("bus1", NULL);
	debugfs_create_file("engine", 0400, bus1_debugfs_dir, NULL,
			    &bus1_debugfs_engine_fops);
	debugfs_create_file("waiting", 0400, bus1_debugfs_dir, NULL,
			    &bus1_debugfs_waiting_fops);
	debugfs_create_file("users", 0400, bus1_debugfs_dir, NULL,
			    &bus1_debugfs_users_fops);
	debugfs_create_file("abort", 0200, bus1_debugfs_dir, NULL,
			    &bus1_debugfs_abort_fops);
}

/**
 * bus1_debugfs_exit() - remove /sys/kernel/debug/bus1/
 *
 * Waits for readers and writers of the files to finish.
 */
void bus1_debugfs_exit(void)
{
	debugfs_remove(bus1_debugfs_dir);
}
