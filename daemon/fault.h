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
#include <stdint.h>
#include "core/engine.h"

typedef struct Fault Fault;

/**
 * struct FaultCounts - what the injector did, for the stats document
 * @replies_damaged:	replies changed in place (wrong type, size or peer):
 *			the kernel refuses each and fails its request with EIO
 * @records_added:	bogus records written after an intact reply (unknown
 *			seq, duplicate, unknown type, garbage, a short copy):
 *			the kernel refuses each, no application notices
 * @items_damaged:	ITEM records damaged: the kernel refuses each, and
 *			that item is lost for its receiver
 * @allocs_failed:	allocations failed on purpose
 * @delays:		batches of replies held back by delay,ms=
 * @stalls:		pauses taken by stop-reading,for=
 * @stopped:		1 once stop-reading stopped reading for good
 *
 * An abort has no counter: the engine is gone.
 */
typedef struct FaultCounts {
	uint64_t replies_damaged;
	uint64_t records_added;
	uint64_t items_damaged;
	uint64_t allocs_failed;
	uint64_t delays;
	uint64_t stalls;
	uint64_t stopped;
} FaultCounts;

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
FaultCounts fault_counts(void);

int fault_process(Fault *f, Engine *engine, const void *records, size_t len,
		  Outbuf *out, EngineYieldFn yield, void *userdata,
		  size_t *done);
bool fault_stalled(Fault *f);
void fault_before_write(Fault *f);
