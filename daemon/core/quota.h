/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
#pragma once

/*
 * Resource accounting: per-UID quotas with the bus1 fair-share algorithm
 * (../shared/spec/accounting.md). Three levels: a User per UID holds the
 * per-user maxima; under it a Quota per claimant UID; under that a Trace
 * per claimant actor. A Charge remembers what one successful claim took
 * and where, so releasing it needs nothing else.
 *
 * Everything is ordered by UID or actor ID, never by address, so the state
 * is a pure function of the calls made. All arithmetic is checked;
 * overflow rejects the charge.
 */

#include <stdbool.h>
#include <stdint.h>
#include <bsd/sys/tree.h>

enum {
	QUOTA_OBJECTS,
	QUOTA_BYTES,
	_QUOTA_N,
};

#define QUOTA_DEFAULT_MAX_OBJECTS (1ULL << 20)
#define QUOTA_DEFAULT_MAX_BYTES (1ULL << 30)

typedef struct Acct Acct;
typedef struct AcctUser AcctUser;
typedef struct AcctQuota AcctQuota;
typedef struct AcctTrace AcctTrace;

RB_HEAD(AcctUserTree, AcctUser);
RB_HEAD(AcctQuotaTree, AcctQuota);
RB_HEAD(AcctTraceTree, AcctTrace);

/**
 * struct AcctClaim - what one level took from the level above
 * @claimed:	taken from the level above, per slot
 * @available:	taken but not handed further down, per slot
 */
typedef struct AcctClaim {
	uint64_t claimed[_QUOTA_N];
	uint64_t available[_QUOTA_N];
} AcctClaim;

/**
 * struct AcctUser - resources of one UID
 * @rb:		link in Acct.users
 * @acct:	the root
 * @uid:	the UID
 * @n_refs:	actors plus quotas referring to it
 * @claim:	claimed is the maxima; available what no quota holds
 * @quotas:	quotas charged on this user, by claimant UID
 * @n_quotas:	entries in @quotas
 */
struct AcctUser {
	RB_ENTRY(AcctUser) rb;
	Acct *acct;
	uint32_t uid;
	uint64_t n_refs;
	AcctClaim claim;
	struct AcctQuotaTree quotas;
	uint64_t n_quotas;
};

/**
 * struct AcctQuota - what one claimant UID holds of one user
 * @rb:		link in AcctUser.quotas
 * @user:	the charged user (holds a reference)
 * @uid:	the claimant UID
 * @claim:	taken from the user; available is the quota's reserve
 * @traces:	traces of the claimant's actors, by actor ID
 * @n_traces:	entries in @traces
 */
struct AcctQuota {
	RB_ENTRY(AcctQuota) rb;
	AcctUser *user;
	uint32_t uid;
	AcctClaim claim;
	struct AcctTraceTree traces;
	uint64_t n_traces;
};

/**
 * struct AcctTrace - what one actor holds in one quota
 * @rb:		link in AcctQuota.traces
 * @quota:	the quota
 * @actor_id:	the actor
 * @n_charges:	live charges taken through this trace
 * @claim:	claimed is the actor's share; available is always 0
 *		between calls
 */
struct AcctTrace {
	RB_ENTRY(AcctTrace) rb;
	AcctQuota *quota;
	uint64_t actor_id;
	uint64_t n_charges;
	AcctClaim claim;
};

/**
 * struct AcctActor - a claimant (one per peer)
 * @user:	the actor's own user (holds a reference)
 * @id:		unique within the Acct, never reused
 */
typedef struct AcctActor {
	AcctUser *user;
	uint64_t id;
} AcctActor;

/**
 * struct AcctCharge - one successful claim; zeroed means "holds nothing"
 * @trace:	where it was taken, NULL if nothing is held
 * @amount:	what was taken, per slot
 */
typedef struct AcctCharge {
	AcctTrace *trace;
	uint64_t amount[_QUOTA_N];
} AcctCharge;

/**
 * struct AcctFailure - why a charge was refused, for the operator's log
 * @charged_uid:	the user that would have been charged
 * @claimant_uid:	the claimant actor's UID
 * @slot:		QUOTA_OBJECTS or QUOTA_BYTES
 * @asked:		amount asked in @slot
 * @held:		amount the claimant UID holds of @charged_uid in @slot
 * @available:		what the charged user had not handed out in @slot
 */
typedef struct AcctFailure {
	uint32_t charged_uid;
	uint32_t claimant_uid;
	unsigned int slot;
	uint64_t asked;
	uint64_t held;
	uint64_t available;
} AcctFailure;

/**
 * struct Acct - root of one accounting system
 * @maxima:	per-user limits, per slot
 * @users:	users with references, by UID
 * @n_users:	entries in @users
 * @actor_ids:	next actor ID
 * @n_failures:	charges refused so far
 * @last_failure: the most recent refusal
 * @spare_quota: a freed quota kept for the next one, or NULL
 * @spare_trace: a freed trace kept for the next one, or NULL
 */
struct Acct {
	uint64_t maxima[_QUOTA_N];
	struct AcctUserTree users;
	uint64_t n_users;
	uint64_t actor_ids;
	uint64_t n_failures;
	AcctFailure last_failure;
	AcctQuota *spare_quota;
	AcctTrace *spare_trace;
};

void acct_init(Acct *acct, const uint64_t maxima[_QUOTA_N]);
void acct_deinit(Acct *acct);

int acct_actor_init(Acct *acct, AcctActor *actor, uint32_t uid);
void acct_actor_deinit(AcctActor *actor);

AcctUser *acct_find_user(Acct *acct, uint32_t uid);
AcctQuota *acct_find_quota(AcctUser *user, uint32_t claimant_uid);

int acct_charge(AcctCharge *charge, AcctUser *user, AcctActor *actor,
		const uint64_t amount[_QUOTA_N]);
void acct_discharge(AcctCharge *charge);

const char *acct_slot_name(unsigned int slot);

/* Iteration in UID order, for stats. */
#define ACCT_FOREACH_USER(_u, _acct) \
	RB_FOREACH(_u, AcctUserTree, &(_acct)->users)
#define ACCT_FOREACH_QUOTA(_q, _user) \
	RB_FOREACH(_q, AcctQuotaTree, &(_user)->quotas)

int acct_user_compare(AcctUser *a, AcctUser *b);
int acct_quota_compare(AcctQuota *a, AcctQuota *b);
int acct_trace_compare(AcctTrace *a, AcctTrace *b);
RB_PROTOTYPE(AcctUserTree, AcctUser, rb, acct_user_compare)
RB_PROTOTYPE(AcctQuotaTree, AcctQuota, rb, acct_quota_compare)
RB_PROTOTYPE(AcctTraceTree, AcctTrace, rb, acct_trace_compare)
