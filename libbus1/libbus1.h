/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * libbus1: the bus1 operations as bus1(7) describes them, "as any user-space
 * library would expose them", on top of the ioctls of /dev/bus1.
 *
 * Every function is a thin wrapper: it fills in the command structure of
 * one ioctl, issues it, and maps the result to 0 or a negative errno. No
 * state is kept, nothing is allocated, and errno is left as the ioctl set
 * it. The structures (struct bus1_transfer, struct bus1_message, struct
 * bus1_metadata) and constants are those of <linux/bus1.h>.
 */

#include <linux/bus1.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int bus1_peer_new(void);
int bus1_peer_free(int peerfd);
int bus1_cmd_transfer(uint64_t flags,
		      int from,
		      int to,
		      size_t n,
		      struct bus1_transfer *src,
		      struct bus1_transfer *dst);
int bus1_cmd_release(int peerfd, size_t n_ids, uint64_t *ids);
int bus1_cmd_send(int peerfd,
		  size_t n_destinations,
		  uint64_t *destinations,
		  int32_t *errors,
		  struct bus1_message *message);
int bus1_cmd_recv(int peerfd,
		  struct bus1_metadata *metadata,
		  struct bus1_message *message);

#ifdef __cplusplus
}
#endif
