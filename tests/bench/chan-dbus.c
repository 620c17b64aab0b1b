/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * D-Bus as a channel (sd-bus), and the two buses it runs on.
 *
 * Each side connects to the bus after fork() (an sd-bus connection cannot
 * cross a fork), takes the well-known name org.bus1.Bench.p<pair>s<side>
 * and sends "ay" payloads as method calls to the other side's name. In a
 * ping-pong, side 0 does a real method call (sd_bus_call) and side 1
 * answers it with a method return; in a stream every message is a call
 * without a reply expected. Incoming calls are caught by a filter, so
 * sd-bus never answers them with UnknownMethod.
 *
 * dbus-daemon is started with a minimal configuration file and reports its
 * address on a pipe. dbus-broker is started without systemd the way its own
 * test suite does (test/dbus/util-broker.c): a socketpair end is passed as
 * --controller, and org.bus1.DBus.Broker.AddListener is called over the
 * other end with a listening socket and an allow-everything policy. The
 * policy signature is that of dbus-broker 33 (Debian 12).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>
#include "bench.h"

#define DBUS_PATH "/org/bus1/Bench"
#define DBUS_IFACE "org.bus1.Bench"
#define DBUS_START_TIMEOUT_MS 10000

struct dbus_chan {
	sd_bus *bus;
	sd_bus_message *got;
	sd_bus_message *pending;
	char peer[64];
};

struct dbus_bus {
	pid_t pid;
	sd_bus *controller;
	char address[256];
	char config[64];
};

static int dbus_filter(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	struct dbus_chan *d = userdata;

	(void)e;
	if (!sd_bus_message_is_method_call(m, DBUS_IFACE, "Data"))
		return 0;
	sd_bus_message_unref(d->got);
	d->got = sd_bus_message_ref(m);
	return 1;
}

static int dbus_chan_setup(struct chan *c)
{
	c->priv = calloc(1, sizeof(struct dbus_chan));
	return c->priv ? 0 : -ENOMEM;
}

static int dbus_chan_side(struct chan *c, int side)
{
	struct dbus_chan *d = c->priv;
	char name[64];
	int r;

	c->side = side;
	snprintf(name, sizeof(name), DBUS_IFACE ".p%ds%d", c->index, side);
	snprintf(d->peer, sizeof(d->peer), DBUS_IFACE ".p%ds%d", c->index,
		 !side);
	r = sd_bus_new(&d->bus);
	if (r < 0)
		return r;
	r = sd_bus_set_address(d->bus, c->address);
	if (r < 0)
		return r;
	r = sd_bus_set_bus_client(d->bus, 1);
	if (r < 0)
		return r;
	r = sd_bus_start(d->bus);
	if (r < 0)
		return r;
	r = sd_bus_add_filter(d->bus, NULL, dbus_filter, d);
	if (r < 0)
		return r;
	r = sd_bus_request_name(d->bus, name, 0);
	return r < 0 ? r : 0;
}

static int dbus_append(sd_bus_message *m, const void *buf, size_t n)
{
	return sd_bus_message_append_array(m, 'y', buf, n);
}

static ssize_t dbus_read(sd_bus_message *m, void *buf, size_t n)
{
	const void *p;
	size_t l;
	int r;

	r = sd_bus_message_read_array(m, 'y', &p, &l);
	if (r < 0)
		return r;
	if (l > n)
		return -EMSGSIZE;
	memcpy(buf, p, l);
	return l;
}

static int dbus_chan_send(struct chan *c, const void *buf, size_t n)
{
	struct dbus_chan *d = c->priv;
	sd_bus_message *m = NULL;
	int r;

	if (d->pending) {
		r = sd_bus_message_new_method_return(d->pending, &m);
		d->pending = sd_bus_message_unref(d->pending);
	} else {
		r = sd_bus_message_new_method_call(d->bus, &m, d->peer,
						   DBUS_PATH, DBUS_IFACE,
						   "Data");
		if (r >= 0)
			r = sd_bus_message_set_expect_reply(m, 0);
	}
	if (r >= 0)
		r = dbus_append(m, buf, n);
	if (r >= 0)
		r = sd_bus_send(d->bus, m, NULL);
	sd_bus_message_unref(m);
	return r < 0 ? r : 0;
}

static ssize_t dbus_chan_recv(struct chan *c, void *buf, size_t n)
{
	struct dbus_chan *d = c->priv;
	ssize_t l;
	int r;

	while (!d->got) {
		r = sd_bus_process(d->bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = sd_bus_wait(d->bus, UINT64_MAX);
		if (r < 0 && r != -EINTR)
			return r;
	}
	l = dbus_read(d->got, buf, n);
	if (sd_bus_message_get_expect_reply(d->got))
		d->pending = d->got;
	else
		sd_bus_message_unref(d->got);
	d->got = NULL;
	return l;
}

static ssize_t dbus_chan_roundtrip(struct chan *c, const void *buf, size_t n,
				   void *rbuf, size_t rn)
{
	struct dbus_chan *d = c->priv;
	sd_bus_message *m = NULL, *reply = NULL;
	ssize_t l;
	int r;

	r = sd_bus_message_new_method_call(d->bus, &m, d->peer, DBUS_PATH,
					   DBUS_IFACE, "Data");
	if (r >= 0)
		r = dbus_append(m, buf, n);
	if (r >= 0)
		r = sd_bus_call(d->bus, m, 0, NULL, &reply);
	l = r < 0 ? r : dbus_read(reply, rbuf, rn);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return l;
}

static void dbus_chan_close(struct chan *c)
{
	struct dbus_chan *d = c->priv;

	if (!d)
		return;
	sd_bus_message_unref(d->got);
	sd_bus_message_unref(d->pending);
	sd_bus_flush_close_unref(d->bus);
	free(d);
	c->priv = NULL;
}

const struct chan_ops chan_dbus = {
	.name = "dbus",
	.max_msg = SIZE_MAX,
	.setup = dbus_chan_setup,
	.side = dbus_chan_side,
	.send = dbus_chan_send,
	.recv = dbus_chan_recv,
	.roundtrip = dbus_chan_roundtrip,
	.close = dbus_chan_close,
};

static const char dbus_config[] =
	"<!DOCTYPE busconfig PUBLIC "
	"\"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
	"\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <type>session</type>\n"
	"  <listen>unix:tmpdir=/tmp</listen>\n"
	"  <auth>EXTERNAL</auth>\n"
	"  <policy context=\"default\">\n"
	"    <allow user=\"*\"/>\n"
	"    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
	"    <allow receive_sender=\"*\" eavesdrop=\"true\"/>\n"
	"    <allow own=\"*\"/>\n"
	"  </policy>\n"
	"  <limit name=\"max_incoming_bytes\">1000000000</limit>\n"
	"  <limit name=\"max_outgoing_bytes\">1000000000</limit>\n"
	"  <limit name=\"max_message_size\">33554432</limit>\n"
	"  <limit name=\"max_connections_per_user\">100000</limit>\n"
	"  <limit name=\"max_completed_connections\">100000</limit>\n"
	"  <limit name=\"max_names_per_connection\">100000</limit>\n"
	"</busconfig>\n";

const char *dbus_bus_address(struct dbus_bus *bus)
{
	return bus->address;
}

struct dbus_bus *dbus_bus_stop(struct dbus_bus *bus)
{
	if (!bus)
		return NULL;
	if (bus->pid > 0) {
		kill(bus->pid, SIGTERM);
		waitpid(bus->pid, NULL, 0);
	}
	sd_bus_flush_close_unref(bus->controller);
	if (bus->config[0])
		unlink(bus->config);
	free(bus);
	return NULL;
}

static void exec_child(int keep, char **argv)
{
	int flags = fcntl(keep, F_GETFD);

	fcntl(keep, F_SETFD, flags & ~FD_CLOEXEC);
	execv(argv[0], argv);
	_exit(127);
}

int dbus_bus_start_daemon(struct dbus_bus **busp, char *why, size_t n_why)
{
	char arg_config[96], arg_fd[32];
	char *argv[] = { "/usr/bin/dbus-daemon", "--nofork", arg_config,
			 arg_fd, NULL };
	struct dbus_bus *bus;
	struct pollfd pfd;
	int p[2], fd, r;
	ssize_t l;
	char *nl;

	if (access(argv[0], X_OK) < 0) {
		snprintf(why, n_why, "%s not installed", argv[0]);
		return -ENOENT;
	}
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	snprintf(bus->config, sizeof(bus->config),
		 "/tmp/bus1-bench-dbus.XXXXXX");
	fd = mkstemp(bus->config);
	if (fd < 0 || write(fd, dbus_config, strlen(dbus_config)) !=
		      (ssize_t)strlen(dbus_config)) {
		snprintf(why, n_why, "cannot write a config file in /tmp");
		if (fd >= 0)
			close(fd);
		dbus_bus_stop(bus);
		return -EIO;
	}
	close(fd);
	if (pipe2(p, O_CLOEXEC) < 0) {
		dbus_bus_stop(bus);
		return -errno;
	}
	snprintf(arg_config, sizeof(arg_config), "--config-file=%s",
		 bus->config);
	snprintf(arg_fd, sizeof(arg_fd), "--print-address=%d", p[1]);
	bus->pid = fork();
	if (bus->pid == 0)
		exec_child(p[1], argv);
	close(p[1]);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	r = poll(&pfd, 1, DBUS_START_TIMEOUT_MS);
	l = r > 0 ? read(p[0], bus->address, sizeof(bus->address) - 1) : -1;
	close(p[0]);
	if (bus->pid < 0 || l <= 0) {
		snprintf(why, n_why, "dbus-daemon printed no address within %d ms",
			 DBUS_START_TIMEOUT_MS);
		dbus_bus_stop(bus);
		return -EIO;
	}
	bus->address[l] = 0;
	nl = strchr(bus->address, '\n');
	if (nl)
		*nl = 0;
	*busp = bus;
	return 0;
}

/* An allow-everything policy, "(a(u(<batch>))a(buu(<batch>))a(ss)bs)". */
#define POLICY_BATCH "bta(btbs)a(btssssuutt)a(btssssuutt)"

static int append_policy(sd_bus_message *m)
{
	int r;

	r = sd_bus_message_open_container(m, 'v', "(a(u(" POLICY_BATCH "))"
					  "a(buu(" POLICY_BATCH "))a(ss)bs)");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'r', "a(u(" POLICY_BATCH
						  "))a(buu(" POLICY_BATCH
						  "))a(ss)bs");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a',
						  "(u(" POLICY_BATCH "))");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'r',
						  "u(" POLICY_BATCH ")");
	/* the fall-back UID: connect, own, send and receive all allowed */
	if (r >= 0)
		r = sd_bus_message_append(m, "u", (uint32_t)-1);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'r', POLICY_BATCH);
	if (r >= 0)
		r = sd_bus_message_append(
			m, POLICY_BATCH, true, UINT64_C(1),
			1, true, UINT64_C(1), true, "",
			1, true, UINT64_C(1), "", "", "", "", 0, 0,
			UINT64_C(0), UINT64_MAX,
			1, true, UINT64_C(1), "", "", "", "", 0, 0,
			UINT64_C(0), UINT64_MAX);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_append(m, "a(buu(" POLICY_BATCH "))", 0);
	if (r >= 0)
		r = sd_bus_message_append(m, "a(ss)", 0);
	if (r >= 0)
		r = sd_bus_message_append(m, "bs", false, "session");
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

int dbus_bus_start_broker(struct dbus_bus **busp, char *why, size_t n_why)
{
	char arg_fd[32];
	char *argv[] = { "/usr/bin/dbus-broker", "--controller", arg_fd,
			 "--machine-id", "0123456789abcdef0123456789abcdef",
			 "--max-bytes", "1000000000", "--max-objects", "1000000",
			 "--max-matches", "1000000", NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t n_sa = sizeof(sa);
	sd_bus_message *m = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	struct dbus_bus *bus;
	int pair[2], lfd = -1, r;

	if (access(argv[0], X_OK) < 0) {
		snprintf(why, n_why, "%s not installed (apt-get install dbus-broker)",
			 argv[0]);
		return -ENOENT;
	}
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;

	/* Autobind: the kernel picks a free abstract address. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa_family_t)) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &n_sa) < 0 ||
	    listen(lfd, 256) < 0) {
		snprintf(why, n_why, "listening socket: %s", strerror(errno));
		r = -errno;
		goto fail;
	}
	snprintf(bus->address, sizeof(bus->address), "unix:abstract=%.*s",
		 (int)(n_sa - offsetof(struct sockaddr_un, sun_path) - 1),
		 sa.sun_path + 1);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       pair) < 0) {
		r = -errno;
		goto fail;
	}
	snprintf(arg_fd, sizeof(arg_fd), "%d", pair[1]);
	bus->pid = fork();
	if (bus->pid == 0)
		exec_child(pair[1], argv);
	close(pair[1]);
	if (bus->pid < 0) {
		close(pair[0]);
		r = -errno;
		goto fail;
	}

	r = sd_bus_new(&bus->controller);
	if (r >= 0)
		r = sd_bus_set_fd(bus->controller, pair[0], pair[0]);
	else
		close(pair[0]);
	if (r >= 0)
		r = sd_bus_start(bus->controller);
	if (r >= 0)
		r = sd_bus_message_new_method_call(bus->controller, &m, NULL,
						   "/org/bus1/DBus/Broker",
						   "org.bus1.DBus.Broker",
						   "AddListener");
	if (r >= 0)
		r = sd_bus_message_append(m, "oh", "/org/bus1/DBus/Listener/0",
					  lfd);
	if (r >= 0)
		r = append_policy(m);
	if (r >= 0)
		r = sd_bus_call(bus->controller, m, DBUS_START_TIMEOUT_MS * 1000ULL,
				&e, NULL);
	sd_bus_message_unref(m);
	if (r < 0) {
		snprintf(why, n_why, "AddListener on the controller failed: %s",
			 e.message ?: strerror(-r));
		sd_bus_error_free(&e);
		goto fail;
	}
	close(lfd);
	*busp = bus;
	return 0;

fail:
	if (lfd >= 0)
		close(lfd);
	dbus_bus_stop(bus);
	return r;
}
