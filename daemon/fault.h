/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Fault injection for tests: bus1d misbehaves on purpose, so the kernel
 * module's handling of a crashed, hung, slow, lying or starved engine can
 * be tested against the real engine. Configured by --fault SPEC (repeatable)
 * and the environment variable BUS1D_FAULT (specs separated by ';'); see
 * FAULT_HELP for the syntax. Without faults every call is a cheap no-op and
 * fault_process() is engine_process_part().
 *
 * The core stays deterministic: allocation failures are decided here,
 * through the core's allocation hook, with a PRNG of our own.
 */

#include <stdbool.h>
#include <stddef.h>
#include "core/engine.h"

typedef struct Fault Fault;

#define FAULT_HELP \
	"Fault injection (tests only; SPEC also from $BUS1D_FAULT, ';'-separated):\n" \
	"  abort,at=N[,point=P]       abort() at the Nth request read\n" \
	"  abort,type=T[,point=P]     ... or at the first request of type T\n" \
	"                             (peer-new peer-release transfer release send\n" \
	"                             fetch recv-done route-done); P is before\n" \
	"                             (default: before applying it) or after\n" \
	"                             (applied, not answered)\n" \
	"  stop-reading[,at=N][,for=MS]  at the Nth request (default 1), stop\n" \
	"                             answering and reading: forever, or for MS\n" \
	"                             ms, then carry on with that request\n" \
	"  delay,ms=N                 sleep N ms before writing each batch of replies\n" \
	"  alloc,nth=N                fail the Nth allocation made while applying\n" \
	"  alloc,p=P[,seed=S]         fail each allocation with probability P\n" \
	"  corrupt,kind=K[,at=N][,count=M]  corrupt the Nth reply (default 1)\n" \
	"                             and the M-1 replies after it (default M=1,\n" \
	"                             0 = all); K is unknown-seq, duplicate,\n" \
	"                             wrong-type, truncated, oversized, bogus-peer,\n" \
	"                             unknown-type, garbage; or, for K counts,\n" \
	"                             item-type, item-token, the Nth ITEM record\n" \
	"                             (a lent item) and the M-1 after it\n"

int fault_new(Fault **faultp);
Fault *fault_free(Fault *f);

int fault_parse(Fault *f, const char *specs);
void fault_install(Fault *f);

int fault_process(Fault *f, Engine *engine, const void *records, size_t len,
		  Outbuf *out, EngineYieldFn yield, void *userdata,
		  size_t *done);
bool fault_stalled(Fault *f);
void fault_before_write(Fault *f);
