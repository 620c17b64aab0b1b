/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Allocation wrappers with a failure hook for tests. A zero-sized request
 * still returns a unique pointer, so callers need no special case for empty
 * arrays.
 */

#include <stdlib.h>
#include "alloc.h"

static _Thread_local CoreAllocFailFn alloc_fail_fn;
static _Thread_local void *alloc_fail_userdata;

void core_alloc_set_fail_hook(CoreAllocFailFn fn, void *userdata)
{
	alloc_fail_fn = fn;
	alloc_fail_userdata = userdata;
}

static bool alloc_should_fail(void)
{
	return alloc_fail_fn && alloc_fail_fn(alloc_fail_userdata);
}

void *core_malloc(size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *core_calloc(size_t n, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	if (!n || !size)
		return calloc(1, 1);
	return calloc(n, size);
}

void *core_realloc(void *p, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
}

void core_free(void *p)
{
	free(p);
}
