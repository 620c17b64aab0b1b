/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * The service manager's readiness protocol (sd_notify(3)), without
 * libsystemd: one datagram to the socket named by $NOTIFY_SOCKET.
 */

int notify_send(const char *state);
