/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BUS1_PEER_H
#define __BUS1_PEER_H

#include <linux/fs.h>
#include <linux/types.h>

struct bus1_peer;
struct bus1_request;

extern const struct file_operations bus1_peer_fops;

void bus1_peer_put(struct bus1_peer *peer);
void bus1_peer_settle(struct bus1_peer *peer, struct bus1_request *req,
		      bool delivered);
void bus1_peer_set_readable(u64 id, u64 gen, bool readable);
void bus1_peer_wake_all(u64 gen);
void bus1_peer_exit(void);

#endif /* __BUS1_PEER_H */
