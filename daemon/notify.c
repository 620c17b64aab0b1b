/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * sd_notify(3) in a few lines: the state string is sent as one datagram to
 * the AF_UNIX socket in $NOTIFY_SOCKET, a path or, with a leading '@', a
 * name in the abstract namespace. Without the variable there is no service
 * manager listening and nothing is sent. A fresh socket per message keeps
 * no state; bus1d notifies twice in its life.
 */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "notify.h"

/**
 * notify_send() - tell the service manager about a state change
 * @state:	newline-separated assignments, e.g. "READY=1".
 *
 * Return: 1 if sent, 0 if no service manager asked for notifications,
 * negative errno on failure.
 */
int notify_send(const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len, n = strlen(state);
	socklen_t salen;
	ssize_t l;
	int fd, r;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	/* an abstract name is exactly @len bytes, a path includes its NUL */
	salen = offsetof(struct sockaddr_un, sun_path) + len +
		(path[0] == '/');

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	l = sendto(fd, state, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	r = l < 0 ? -errno : (size_t)l == n ? 1 : -EIO;
	close(fd);
	return r;
}
