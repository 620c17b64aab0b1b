/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Every allocation of the core goes through these wrappers, so tests can
 * make any single allocation fail and check that the operation it belongs
 * to leaves no trace. The failure hook is thread-local: engines running in
 * different threads of one process do not see each other's hooks.
 */

#include <stdbool.h>
#include <stddef.h>

typedef bool (*CoreAllocFailFn)(void *userdata);

void core_alloc_set_fail_hook(CoreAllocFailFn fn, void *userdata);

void *core_malloc(size_t size);
void *core_calloc(size_t n, size_t size);
void *core_realloc(void *p, size_t size);
void core_free(void *p);
