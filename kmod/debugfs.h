/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_DEBUGFS_H
#define __BUS1_DEBUGFS_H

void bus1_debugfs_init(void);
void bus1_debugfs_exit(void);

#endif /* __BUS1_DEBUGFS_H */
