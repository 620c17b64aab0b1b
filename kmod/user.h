/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_USER_H
#define __BUS1_USER_H

#include <linux/types.h>

struct bus1_user;
struct seq_file;

struct bus1_user *bus1_user_get(u32 uid);
void bus1_user_put(struct bus1_user *user);
int bus1_user_charge(struct bus1_user *user, unsigned int requests,
		     size_t bytes);
void bus1_user_uncharge(struct bus1_user *user, unsigned int requests,
			size_t bytes);
void bus1_user_show(struct seq_file *m);
void bus1_user_exit(void);

#endif /* __BUS1_USER_H */
