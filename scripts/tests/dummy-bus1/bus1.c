// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in bus1.ko for testing the VM harness without the real module:
 * it loads and unloads cleanly, and on request triggers a WARN() when it
 * is unloaded, so the harness's detection of kernel problems can be shown
 * to work on a live kernel log.
 */

#include <linux/module.h>

static bool warn_on_exit;
module_param(warn_on_exit, bool, 0644);
MODULE_PARM_DESC(warn_on_exit, "WARN() when the module is unloaded");

static int __init dummy_init(void)
{
	pr_info("dummy bus1 loaded\n");
	return 0;
}

static void __exit dummy_exit(void)
{
	WARN(warn_on_exit, "dummy bus1: warning on request\n");
	pr_info("dummy bus1 unloaded\n");
}

module_init(dummy_init);
module_exit(dummy_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("bus1 VM harness test module");
