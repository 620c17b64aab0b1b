/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * The ioctl wrappers of libbus1.
 *
 * bus1(7) describes the operations as system calls returning 0 or failing
 * with an errno; the library returns the errno negated instead, the
 * convention of c-util and dbus-broker, so callers can propagate it without
 * touching the thread-local errno. The one exception is bus1_peer_new(),
 * which has to hand back a file descriptor and so returns it (>= 0) on
 * success.
 *
 * Pointers are passed to the kernel as they are: the library does not
 * check them, so a bad pointer comes back as -EFAULT from the kernel, just
 * as with the raw ioctl.
 */

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "libbus1.h"

#define _public_ __attribute__((__visibility__("default")))

#define BUS1_DEVICE "/dev/bus1"

static int bus1_ioctl(int fd, unsigned long request, void *arg)
{
	/* Every bus1 ioctl returns 0 on success; anything else is an error. */
	if (ioctl(fd, request, arg) < 0)
		return errno > 0 ? -errno : -EIO;
	return 0;
}

/**
 * bus1_peer_new() - create a new peer
 *
 * Opens /dev/bus1 (read-write, close-on-exec). The new open file
 * description is the peer; the effective UID of the caller is pinned as
 * its resource context.
 *
 * Return: the file descriptor of the new peer (>= 0) on success, or a
 * negative errno: -ENXIO when no engine is attached, -ENOENT when the
 * device node does not exist, or any other error of open(2).
 */
_public_ int bus1_peer_new(void)
{
	int fd;

	fd = open(BUS1_DEVICE, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno > 0 ? -errno : -EIO;
	return fd;
}

/**
 * bus1_peer_free() - close a peer file descriptor
 * @peerfd:	file descriptor of the peer, or negative to do nothing
 *
 * Closes @peerfd. The peer is released once its last file descriptor is
 * closed. Errors of close(2) are ignored: the descriptor is gone either way.
 *
 * Return: -1, so that "fd = bus1_peer_free(fd);" invalidates the variable.
 */
_public_ int bus1_peer_free(int peerfd)
{
	if (peerfd >= 0)
		close(peerfd);
	return -1;
}

/**
 * bus1_cmd_transfer() - create nodes, or copy handles to a peer
 * @flags:	command flags, must be 0
 * @from:	file descriptor of the peer that owns the source handles
 * @to:		file descriptor of the peer that receives the new handles,
 *		or -1 for @from itself
 * @n:		number of elements in @src and @dst
 * @src:	@n transfers: {0, handle ID} to copy a handle of @from, or
 *		{BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID} to create a new node
 *		in @from (its ID is written back, flags cleared)
 * @dst:	@n elements, written with {0, new handle ID in @to}
 *
 * All @n transfers happen atomically. @src and @dst may be partially
 * written even on failure.
 *
 * Return: 0 on success, or a negative errno: -EINVAL for invalid flags,
 * -EBADRQC for an ID that is not a handle of @from, -EBADF or -EOPNOTSUPP
 * for a @to that is not a descriptor of a bus1 peer, -EFAULT for bad
 * pointers, -ENOTCONN when the engine of the peer is gone.
 */
_public_ int bus1_cmd_transfer(uint64_t flags,
			       int from,
			       int to,
			       size_t n,
			       struct bus1_transfer *src,
			       struct bus1_transfer *dst)
{
	struct bus1_cmd_transfer cmd = {
		.flags = flags,
		.to = to == -1 ? BUS1_INVALID : (uint64_t)(int64_t)to,
		.n_transfers = n,
		.ptr_src = BUS1_FROM_PTR(src),
		.ptr_dst = BUS1_FROM_PTR(dst),
	};

	return bus1_ioctl(from, BUS1_CMD_TRANSFER, &cmd);
}

/**
 * bus1_cmd_release() - release nodes and handles
 * @peerfd:	file descriptor of the peer
 * @n_ids:	number of elements in @ids
 * @ids:	node and handle IDs of the peer to release
 *
 * All IDs are released in one atomic transaction; an ID listed twice is
 * released once. Released IDs are never reused.
 *
 * Return: 0 on success, or a negative errno: -EBADRQC when an ID names no
 * node or handle of the peer (nothing is released then), -EINVAL for
 * too many IDs, -EFAULT for a bad @ids.
 */
_public_ int bus1_cmd_release(int peerfd, size_t n_ids, uint64_t *ids)
{
	struct bus1_cmd_release cmd = {
		.flags = 0,
		.n_ids = n_ids,
		.ptr_ids = BUS1_FROM_PTR(ids),
	};

	return bus1_ioctl(peerfd, BUS1_CMD_RELEASE, &cmd);
}

/**
 * bus1_cmd_send() - send one message to a set of handles
 * @peerfd:		file descriptor of the sending peer
 * @n_destinations:	number of elements in @destinations and @errors
 * @destinations:	handle IDs of the peer to send through
 * @errors:		written with one result per destination on success
 * @message:		the message: flags 0, type BUS1_MESSAGE_TYPE_USER,
 *			handles to transfer and the iovecs holding the
 *			payload (only the first n_data bytes are sent)
 *
 * Every destination gets its copy (with its own new handles for the
 * transfers), or none does.
 *
 * Return: 0 on success, or a negative errno: -EINVAL for invalid flags or
 * type, -EBADRQC for an ID that is not a handle of the peer, -EMSGSIZE when
 * the payload exceeds the limit or the iovecs hold fewer than n_data bytes,
 * -EDQUOT when a receiver's quota is exceeded, -EFAULT for bad pointers.
 */
_public_ int bus1_cmd_send(int peerfd,
			   size_t n_destinations,
			   uint64_t *destinations,
			   int32_t *errors,
			   struct bus1_message *message)
{
	struct bus1_cmd_send cmd = {
		.flags = 0,
		.n_destinations = n_destinations,
		.ptr_destinations = BUS1_FROM_PTR(destinations),
		.ptr_errors = BUS1_FROM_PTR(errors),
		.ptr_message = BUS1_FROM_PTR(message),
	};

	return bus1_ioctl(peerfd, BUS1_CMD_SEND, &cmd);
}

/**
 * bus1_cmd_recv() - fetch the next item of a peer's queue
 * @peerfd:	file descriptor of the peer
 * @metadata:	written with {0, node or handle ID, sender's UID}
 * @message:	in: flags 0, type BUS1_INVALID, the transfer slots and the
 *		iovecs to fill; out: type, n_transfers and n_data of the item
 *
 * Never blocks; wait with poll(2) for POLLIN.
 *
 * Return: 0 on success, or a negative errno: -EAGAIN when the queue is
 * empty, -EMSGSIZE when the item does not fit (message->n_data and
 * message->n_transfers are then set to what it needs, and it stays
 * queued), -EINVAL for invalid flags or type, -EFAULT for bad pointers
 * (the item stays queued).
 */
_public_ int bus1_cmd_recv(int peerfd,
			   struct bus1_metadata *metadata,
			   struct bus1_message *message)
{
	struct bus1_cmd_recv cmd = {
		.flags = 0,
		.ptr_metadata = BUS1_FROM_PTR(metadata),
		.ptr_message = BUS1_FROM_PTR(message),
	};

	return bus1_ioctl(peerfd, BUS1_CMD_RECV, &cmd);
}
