/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the integration tests: peers and nodes set up with one
 * call, a receive that waits with poll() and keeps the item in a struct,
 * raw ioctl wrappers that bypass libbus1 (so both paths are exercised),
 * and the module limits from sysfs.
 *
 * Helpers that cannot fail in a working bus assert with cmocka; helpers
 * whose failure is what a test checks return a negative errno.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>
#include "libbus1.h"

#define TEST_TIMEOUT_MS 5000
#define TEST_MAX_TRANSFERS 16
#define TEST_MAX_DATA 4096

struct test_item {
	struct bus1_metadata meta;
	struct bus1_message msg;
	struct bus1_transfer transfers[TEST_MAX_TRANSFERS];
	unsigned char data[TEST_MAX_DATA];
};

int test_setup_device(void **state);

int test_peer(void);
int test_peer_as(uid_t uid);
void test_node(int fd, int to, uint64_t *node, uint64_t *handle);
uint64_t test_handle(int from, int to, uint64_t handle);

int test_send(int fd, size_t n_dst, uint64_t *dst, const void *data,
	      size_t n_data, size_t n_transfers, uint64_t *handles);
void test_send_ok(int fd, uint64_t dst, const void *data, size_t n_data);

int test_wait(int fd, int timeout_ms);
int test_recv(int fd, struct test_item *item);
int test_recv_wait(int fd, struct test_item *item);
void test_expect_user(int fd, uint64_t node, const void *data, size_t n_data);
void test_expect_notify(int fd, uint64_t type, uint64_t id);
void test_expect_empty(int fd);
bool test_readable(int fd);

int test_raw_transfer(int fd, uint64_t flags, uint64_t to, uint64_t n,
		      void *src, void *dst);
int test_raw_release(int fd, uint64_t flags, uint64_t n, void *ids);
int test_raw_send(int fd, uint64_t flags, uint64_t n, void *dst,
		  void *errors, void *message);
int test_raw_recv(int fd, uint64_t flags, void *meta, void *message);
int test_raw_ioctl(int fd, unsigned long request, void *arg);

uint64_t test_param(const char *name);
uint64_t test_debugfs(const char *key);
const char *test_stats(void);

/* A user's slot in the engine's stats (see daemon/stats.c). */
struct test_slot {
	unsigned long long limit, available, claimed, used;
};

/*
 * The stats document parsed with json-c: bus1(7) says accounting output is
 * not an interface, so tests look members up by name, never by position.
 */
struct json_object;
struct json_object *test_stats_json(void);
struct json_object *test_json_at(struct json_object *obj, const char *path);
uint64_t test_json_u64(struct json_object *obj, const char *path);
uint64_t test_stats_u64(const char *path);
struct json_object *test_json_user(struct json_object *doc, unsigned int uid);
struct test_slot test_json_slot(struct json_object *doc, unsigned int uid,
				const char *slot);

void *test_bad_ptr(void);
pid_t test_engine_pid(void);
pid_t test_fork(void);
void test_child_exit(bool ok);
void test_join(pid_t pid);

void test_assert_next_ids(int fd, unsigned int n_prior_creates);
void test_assert_next_after(int fd, uint64_t max_seen);
double test_now(void);
void test_expect_notify_set(int fd, uint64_t type, size_t n,
			    const uint64_t *ids);
