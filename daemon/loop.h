/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

#include "core/engine.h"
#include "fault.h"
#include "stats.h"

/* Called once the engine has attached; a negative errno ends the loop. */
typedef int (*LoopAttachedFn)(void *userdata);

int loop_run(Engine *engine, const char *device, Fault *fault, Stats *stats,
	     LoopAttachedFn attached, void *userdata);
