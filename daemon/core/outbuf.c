/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Output buffer. Capacity grows by doubling, so appending is amortised
 * O(1); the buffer is kept across batches and only cleared.
 */

#include <assert.h>
#include <errno.h>
#include <string.h>
#include "alloc.h"
#include "outbuf.h"

void outbuf_init(Outbuf *buf)
{
	*buf = (Outbuf)OUTBUF_NULL;
}

void outbuf_deinit(Outbuf *buf)
{
	core_free(buf->data);
	outbuf_init(buf);
}

void outbuf_clear(Outbuf *buf)
{
	buf->len = 0;
}

/* Make room for @n more bytes. Return: 0 or -ENOMEM. */
int outbuf_reserve(Outbuf *buf, size_t n)
{
	size_t cap;
	void *p;

	if (buf->cap - buf->len >= n)
		return 0;
	if (n > SIZE_MAX / 2 - buf->len)
		return -ENOMEM;

	cap = buf->cap ? buf->cap : 4096;
	while (cap - buf->len < n)
		cap *= 2;

	p = core_realloc(buf->data, cap);
	if (!p)
		return -ENOMEM;
	buf->data = p;
	buf->cap = cap;
	return 0;
}

/* Append @n zeroed bytes within reserved space. */
void *outbuf_put(Outbuf *buf, size_t n)
{
	void *p;

	assert(buf->cap - buf->len >= n);
	p = buf->data + buf->len;
	memset(p, 0, n);
	buf->len += n;
	return p;
}

/*
 * Append @n bytes copied from @src, then zeros up to the next multiple of
 * 8, within reserved space. Unlike outbuf_put(), the bytes are written
 * once: payloads can be large.
 */
void outbuf_put_bytes(Outbuf *buf, const void *src, size_t n)
{
	size_t padded = (n + 7) & ~(size_t)7;
	uint8_t *p;

	assert(buf->cap - buf->len >= padded);
	p = buf->data + buf->len;
	if (n)
		memcpy(p, src, n);
	memset(p + n, 0, padded - n);
	buf->len += padded;
}
