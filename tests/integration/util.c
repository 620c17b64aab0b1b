/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Shared helpers of the integration tests; see util.h.
 *
 * Child processes report through their exit status only: a cmocka assert
 * in a child would longjmp into the parent's copy of the runner, so
 * children use plain checks and test_child_exit().
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "util.h"

int test_setup_device(void **state)
{
	(void)state;
	/* Inside the VM the device must be there: its absence is a failure. */
	if (access("/dev/bus1", R_OK | W_OK) != 0) {
		fprintf(stderr, "/dev/bus1 is not available: %m\n");
		return -1;
	}
	return 0;
}

int test_peer(void)
{
	int fd = bus1_peer_new();

	assert_true(fd >= 0);
	return fd;
}

/* A peer opened with effective UID @uid (its resource context). */
int test_peer_as(uid_t uid)
{
	int fd;

	assert_int_equal(seteuid(uid), 0);
	fd = bus1_peer_new();
	assert_int_equal(seteuid(0), 0);
	assert_true(fd >= 0);
	return fd;
}

void test_node(int fd, int to, uint64_t *node, uint64_t *handle)
{
	struct bus1_transfer src = { BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID };
	struct bus1_transfer dst = { 7, 7 };

	assert_int_equal(bus1_cmd_transfer(0, fd, to, 1, &src, &dst), 0);
	assert_int_equal(src.flags, 0);
	assert_int_equal(dst.flags, 0);
	assert_true(src.id & BUS1_MANAGED);
	assert_true(dst.id & BUS1_MANAGED);
	if (node)
		*node = src.id;
	if (handle)
		*handle = dst.id;
}

uint64_t test_handle(int from, int to, uint64_t handle)
{
	struct bus1_transfer src = { 0, handle };
	struct bus1_transfer dst = { 7, 7 };

	assert_int_equal(bus1_cmd_transfer(0, from, to, 1, &src, &dst), 0);
	assert_int_equal(dst.flags, 0);
	assert_true(dst.id & BUS1_MANAGED);
	return dst.id;
}

int test_send(int fd, size_t n_dst, uint64_t *dst, const void *data,
	      size_t n_data, size_t n_transfers, uint64_t *handles)
{
	struct bus1_transfer transfers[TEST_MAX_TRANSFERS];
	struct iovec vec = { (void *)data, n_data };
	struct bus1_message msg = {
		.type = BUS1_MESSAGE_TYPE_USER,
		.n_transfers = n_transfers,
		.ptr_transfers = BUS1_FROM_PTR(transfers),
		.n_data = n_data,
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	int32_t errors[64];
	size_t i;
	int r;

	if (n_transfers > TEST_MAX_TRANSFERS || n_dst > 64)
		return -E2BIG;
	for (i = 0; i < n_transfers; ++i)
		transfers[i] = (struct bus1_transfer){ 0, handles[i] };
	for (i = 0; i < n_dst; ++i)
		errors[i] = 0x5a5a;
	r = bus1_cmd_send(fd, n_dst, dst, errors, &msg);
	if (r < 0) {
		/* errors[] is written only on success. */
		for (i = 0; i < n_dst; ++i)
			if (errors[i] != 0x5a5a)
				return -EPROTO;
		return r;
	}
	for (i = 0; i < n_dst; ++i)
		if (errors[i] != 0)
			return -EPROTO;
	return 0;
}

void test_send_ok(int fd, uint64_t dst, const void *data, size_t n_data)
{
	assert_int_equal(test_send(fd, 1, &dst, data, n_data, 0, NULL), 0);
}

int test_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return pfd.revents;
}

bool test_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

	if (poll(&pfd, 1, 0) < 0)
		return false;
	return pfd.revents & POLLIN;
}

int test_recv(int fd, struct test_item *item)
{
	struct iovec vec = { item->data, sizeof(item->data) };

	memset(item, 0, sizeof(*item));
	memset(item->data, 0xee, sizeof(item->data));
	item->meta = (struct bus1_metadata){ 7, 7, 7 };
	item->msg = (struct bus1_message){
		.type = BUS1_INVALID,
		.n_transfers = TEST_MAX_TRANSFERS,
		.ptr_transfers = BUS1_FROM_PTR(item->transfers),
		.n_data = sizeof(item->data),
		.n_data_vecs = 1,
		.ptr_data_vecs = BUS1_FROM_PTR(&vec),
	};
	return bus1_cmd_recv(fd, &item->meta, &item->msg);
}

int test_recv_wait(int fd, struct test_item *item)
{
	int r = test_wait(fd, TEST_TIMEOUT_MS);

	if (r < 0)
		return r;
	return test_recv(fd, item);
}

void test_expect_user(int fd, uint64_t node, const void *data, size_t n_data)
{
	struct test_item item;

	assert_int_equal(test_recv_wait(fd, &item), 0);
	assert_int_equal(item.msg.type, BUS1_MESSAGE_TYPE_USER);
	assert_int_equal(item.meta.flags, 0);
	assert_int_equal(item.meta.id, node);
	assert_int_equal(item.meta.account, geteuid());
	assert_int_equal(item.msg.n_data, n_data);
	assert_int_equal(item.msg.flags, 0);
	if (n_data)
		assert_memory_equal(item.data, data, n_data);
}

void test_expect_notify(int fd, uint64_t type, uint64_t id)
{
	struct test_item item;

	assert_int_equal(test_recv_wait(fd, &item), 0);
	assert_int_equal(item.msg.type, type);
	assert_int_equal(item.meta.flags, 0);
	assert_int_equal(item.meta.id, id);
	assert_int_equal(item.meta.account, BUS1_INVALID);
	assert_int_equal(item.msg.n_data, 0);
	assert_int_equal(item.msg.n_transfers, 0);
}

void test_expect_empty(int fd)
{
	struct test_item item;

	assert_false(test_readable(fd));
	assert_int_equal(test_recv(fd, &item), -EAGAIN);
}

int test_raw_ioctl(int fd, unsigned long request, void *arg)
{
	int r = ioctl(fd, request, arg);

	if (r < 0)
		return -errno;
	/* Success is 0, never a positive count (the RFC's recv returned 1). */
	return r == 0 ? 0 : -EPROTO;
}

int test_raw_transfer(int fd, uint64_t flags, uint64_t to, uint64_t n,
		      void *src, void *dst)
{
	struct bus1_cmd_transfer cmd = {
		flags, to, n, BUS1_FROM_PTR(src), BUS1_FROM_PTR(dst)
	};

	return test_raw_ioctl(fd, BUS1_CMD_TRANSFER, &cmd);
}

int test_raw_release(int fd, uint64_t flags, uint64_t n, void *ids)
{
	struct bus1_cmd_release cmd = { flags, n, BUS1_FROM_PTR(ids) };

	return test_raw_ioctl(fd, BUS1_CMD_RELEASE, &cmd);
}

int test_raw_send(int fd, uint64_t flags, uint64_t n, void *dst,
		  void *errors, void *message)
{
	struct bus1_cmd_send cmd = {
		flags, n, BUS1_FROM_PTR(dst), BUS1_FROM_PTR(errors),
		BUS1_FROM_PTR(message)
	};

	return test_raw_ioctl(fd, BUS1_CMD_SEND, &cmd);
}

int test_raw_recv(int fd, uint64_t flags, void *meta, void *message)
{
	struct bus1_cmd_recv cmd = {
		flags, BUS1_FROM_PTR(meta), BUS1_FROM_PTR(message)
	};

	return test_raw_ioctl(fd, BUS1_CMD_RECV, &cmd);
}

uint64_t test_param(const char *name)
{
	unsigned long long v = 0;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/bus1/parameters/%s", name);
	f = fopen(path, "re");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu", &v), 1);
	fclose(f);
	return v;
}

/* An address that is certainly not mapped: a page reserved PROT_NONE. */
void *test_bad_ptr(void)
{
	static void *bad;

	if (!bad) {
		bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		assert_true(bad != MAP_FAILED);
	}
	return bad;
}

/* The running engine's PID (guest-engine.sh writes it), or -1. */
pid_t test_engine_pid(void)
{
	FILE *f = fopen("/run/bus1d.pid", "re");
	int pid = -1;

	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return pid;
}

pid_t test_fork(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	return pid;
}

void test_child_exit(bool ok)
{
	_exit(ok ? 0 : 1);
}

void test_join(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * Checks that the next node created on @fd gets the IDs a fresh peer gets
 * after @n_prior_creates creates: i.e. nothing else consumed an ID of @fd.
 * Consumes one create on @fd.
 */
void test_assert_next_ids(int fd, unsigned int n_prior_creates)
{
	uint64_t node, handle, ref_node = 0, ref_handle = 0;
	unsigned int i;
	int ref;

	ref = test_peer();
	for (i = 0; i <= n_prior_creates; ++i)
		test_node(ref, -1, &ref_node, &ref_handle);
	close(ref);

	test_node(fd, -1, &node, &handle);
	assert_int_equal(node, ref_node);
	assert_int_equal(handle, ref_handle);
}

/*
 * Checks that no ID of @fd was consumed since the largest one the test saw,
 * @max_seen (0 for a fresh peer): IDs are (counter << 1) | 1 with a counter
 * that grows by one per ID. Consumes one create on @fd.
 */
void test_assert_next_after(int fd, uint64_t max_seen)
{
	uint64_t node, handle;

	test_node(fd, -1, &node, &handle);
	assert_int_equal(node < handle ? node : handle,
			 max_seen ? max_seen + 2 : 1);
}

/* Monotonic seconds, for the timings the volume tests print. */
double test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Expects @n notifications of @type about exactly the IDs @ids, in any
 * order: one transaction's notifications to one peer have no defined
 * order among themselves.
 */
void test_expect_notify_set(int fd, uint64_t type, size_t n,
			    const uint64_t *ids)
{
	bool seen[64] = { false };
	struct test_item item;
	size_t i, j;

	assert_true(n <= 64);
	for (i = 0; i < n; ++i) {
		assert_int_equal(test_recv_wait(fd, &item), 0);
		assert_int_equal(item.msg.type, type);
		assert_int_equal(item.meta.account, BUS1_INVALID);
		assert_int_equal(item.msg.n_data, 0);
		assert_int_equal(item.msg.n_transfers, 0);
		for (j = 0; j < n; ++j)
			if (!seen[j] && ids[j] == item.meta.id)
				break;
		assert_true(j < n);
		seen[j] = true;
	}
}

/*
 * The engine's stats document (it sends it and closes), in a buffer that
 * the next call reuses.
 */
const char *test_stats(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX,
				    .sun_path = "/run/bus1d/stats.sock" };
	static char doc[1 << 16];
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	while ((n = read(fd, doc + len, sizeof(doc) - 1 - len)) > 0)
		len += n;
	assert_int_equal(n, 0);
	close(fd);
	doc[len] = '\0';
	assert_true(len > 0 && doc[len - 1] == '\n');
	return doc;
}

/*
 * A "key: value" counter of the module's debugfs file
 * /sys/kernel/debug/bus1/engine; debugfs is mounted if it is not yet.
 */
uint64_t test_debugfs(const char *key)
{
	static const char path[] = "/sys/kernel/debug/bus1/engine";
	size_t n = strlen(key);
	uint64_t v = UINT64_MAX;
	char line[256];
	FILE *f;

	if (access(path, R_OK))
		mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 10);
	fclose(f);
	assert_int_not_equal(v, UINT64_MAX);
	return v;
}

/* The engine's stats document, parsed; the caller puts it. */
struct json_object *test_stats_json(void)
{
	struct json_object *doc = json_tokener_parse(test_stats());

	if (!doc)
		fail_msg("the engine's stats are not JSON");
	return doc;
}

/*
 * The member at @path of @obj, names separated by dots ("totals.peers",
 * "engine.items.lent"), or NULL if one is missing.
 */
struct json_object *test_json_at(struct json_object *obj, const char *path)
{
	char name[128];
	const char *dot;
	size_t n;

	while (obj && *path) {
		dot = strchrnul(path, '.');
		n = dot - path;
		assert_true(n < sizeof(name));
		memcpy(name, path, n);
		name[n] = '\0';
		if (!json_object_object_get_ex(obj, name, &obj))
			return NULL;
		path = *dot ? dot + 1 : dot;
	}
	return obj;
}

/* The number at @path of @obj; its absence fails the test. */
uint64_t test_json_u64(struct json_object *obj, const char *path)
{
	struct json_object *v = test_json_at(obj, path);

	if (!v || !json_object_is_type(v, json_type_int))
		fail_msg("no number at \"%s\" in the engine's stats", path);
	return json_object_get_uint64(v);
}

/* The number at @path of the engine's stats, read now. */
uint64_t test_stats_u64(const char *path)
{
	struct json_object *doc = test_stats_json();
	uint64_t v = test_json_u64(doc, path);

	json_object_put(doc);
	return v;
}

/* The entry of user @uid in @doc's "users", or NULL if it has none. */
struct json_object *test_json_user(struct json_object *doc, unsigned int uid)
{
	struct json_object *users = test_json_at(doc, "users"), *u;
	size_t i, n;

	assert_non_null(users);
	n = json_object_array_length(users);
	for (i = 0; i < n; ++i) {
		u = json_object_array_get_idx(users, i);
		if (test_json_u64(u, "uid") == uid)
			return u;
	}
	return NULL;
}

/*
 * Slot @slot ("objects" or "bytes") of user @uid in @doc; all 0 if the
 * engine holds nothing for that user.
 */
struct test_slot test_json_slot(struct json_object *doc, unsigned int uid,
				const char *slot)
{
	struct json_object *u = test_json_user(doc, uid), *s;
	struct test_slot r = {};

	if (!u)
		return r;
	s = test_json_at(u, slot);
	assert_non_null(s);
	r.limit = test_json_u64(s, "limit");
	r.available = test_json_u64(s, "available");
	r.claimed = test_json_u64(s, "claimed");
	r.used = test_json_u64(s, "used");
	return r;
}
