/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Growable output buffer for records. Space is reserved before a request
 * is applied, so writing the records a request produces cannot fail.
 */

#include <stddef.h>
#include <stdint.h>

/**
 * struct Outbuf - growable byte buffer
 * @data:	the bytes, 8-byte aligned
 * @len:	bytes written
 * @cap:	bytes allocated
 */
typedef struct Outbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
} Outbuf;

#define OUTBUF_NULL { NULL, 0, 0 }

void outbuf_init(Outbuf *buf);
void outbuf_deinit(Outbuf *buf);
void outbuf_clear(Outbuf *buf);
int outbuf_reserve(Outbuf *buf, size_t n);
void *outbuf_put(Outbuf *buf, size_t n);
void outbuf_put_bytes(Outbuf *buf, const void *src, size_t n);
