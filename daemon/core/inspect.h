/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Inspection for tests and diagnostics: a fingerprint of the whole
 * observable state of an engine, so a test can assert that a failed
 * request changed nothing. It walks the entire bus; never call it on a
 * hot path.
 */

#include <stdint.h>
#include "engine.h"

uint64_t engine_fingerprint(Engine *engine);
