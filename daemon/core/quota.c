/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Quota: the fair-share algorithm of accounting.md.
 *
 * A charge is checked for every slot before anything is applied, so a
 * refused charge leaves the counters as they were (apart from a quota or
 * trace created for it and freed again). Levels are created on demand and
 * freed as soon as nothing refers to them: a trace when its last charge
 * goes, a quota with its last trace (handing its reserve back), a user
 * with its last actor and quota. So n_traces and n_quotas count only
 * participants that hold something, and shares grow back when they leave.
 *
 * A receiver that keeps its queue short empties its quotas after nearly
 * every message, so the last freed quota and trace are kept for reuse:
 * that halves the cost of accounting a send in a ping-pong.
 */

#include <assert.h>
#include <errno.h>
#include "alloc.h"
#include "quota.h"

int acct_user_compare(AcctUser *a, AcctUser *b)
{
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

int acct_quota_compare(AcctQuota *a, AcctQuota *b)
{
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

int acct_trace_compare(AcctTrace *a, AcctTrace *b)
{
	return a->actor_id < b->actor_id ? -1 : a->actor_id > b->actor_id;
}

RB_GENERATE(AcctUserTree, AcctUser, rb, acct_user_compare)
RB_GENERATE(AcctQuotaTree, AcctQuota, rb, acct_quota_compare)
RB_GENERATE(AcctTraceTree, AcctTrace, rb, acct_trace_compare)

const char *acct_slot_name(unsigned int slot)
{
	return slot == QUOTA_OBJECTS ? "objects" : "bytes";
}

/* ceil(log2(v)) for v >= 1: 0 for 1, 1 for 2, 2 for 3..4, ... */
static uint64_t ceil_log2(uint64_t v)
{
	return v <= 1 ? 0 : 64 - __builtin_clzll(v - 1);
}

/* A(n) = 2: each claimant may take half of what remains. */
static bool alloc_exponential(uint64_t n, uint64_t *a)
{
	(void)n;
	*a = 2;
	return true;
}

/* A(n) = (n + 1) * ceil_log2(n + 1) + (n + 1). */
static bool alloc_quasilinear(uint64_t n, uint64_t *a)
{
	uint64_t n1, t;

	if (__builtin_add_overflow(n, 1, &n1) ||
	    __builtin_mul_overflow(n1, ceil_log2(n1), &t) ||
	    __builtin_add_overflow(t, n1, a))
		return false;
	return true;
}

/*
 * reserve = (charge + share) * A - share: what must remain for a claimant
 * holding @share to take @charge more. Return false on overflow.
 */
static bool reserve(uint64_t a, uint64_t share, uint64_t charge,
		    uint64_t *min)
{
	uint64_t t;

	if (__builtin_add_overflow(charge, share, &t) ||
	    __builtin_mul_overflow(t, a, &t))
		return false;
	/* a >= 1, so t >= share */
	*min = t - share;
	return true;
}

void acct_init(Acct *acct, const uint64_t maxima[_QUOTA_N])
{
	unsigned int i;

	*acct = (Acct){};
	for (i = 0; i < _QUOTA_N; ++i)
		acct->maxima[i] = maxima[i];
	RB_INIT(&acct->users);
}

void acct_deinit(Acct *acct)
{
	assert(RB_EMPTY(&acct->users));
	core_free(acct->spare_quota);
	core_free(acct->spare_trace);
	acct->spare_quota = NULL;
	acct->spare_trace = NULL;
}

AcctUser *acct_find_user(Acct *acct, uint32_t uid)
{
	AcctUser key = { .uid = uid };

	return RB_FIND(AcctUserTree, &acct->users, &key);
}

AcctQuota *acct_find_quota(AcctUser *user, uint32_t claimant_uid)
{
	AcctQuota key = { .uid = claimant_uid };

	return RB_FIND(AcctQuotaTree, &user->quotas, &key);
}

static AcctUser *acct_ref_user(Acct *acct, uint32_t uid)
{
	AcctUser *user;
	unsigned int i;

	user = acct_find_user(acct, uid);
	if (user) {
		++user->n_refs;
		return user;
	}

	user = core_calloc(1, sizeof(*user));
	if (!user)
		return NULL;
	user->acct = acct;
	user->uid = uid;
	user->n_refs = 1;
	for (i = 0; i < _QUOTA_N; ++i) {
		user->claim.claimed[i] = acct->maxima[i];
		user->claim.available[i] = acct->maxima[i];
	}
	RB_INIT(&user->quotas);
	RB_INSERT(AcctUserTree, &acct->users, user);
	++acct->n_users;
	return user;
}

static void acct_unref_user(AcctUser *user)
{
	unsigned int i;

	if (--user->n_refs)
		return;

	assert(RB_EMPTY(&user->quotas));
	for (i = 0; i < _QUOTA_N; ++i)
		assert(user->claim.available[i] == user->claim.claimed[i]);
	RB_REMOVE(AcctUserTree, &user->acct->users, user);
	--user->acct->n_users;
	core_free(user);
}

/* Return: 0, or -ENOMEM. */
int acct_actor_init(Acct *acct, AcctActor *actor, uint32_t uid)
{
	actor->user = acct_ref_user(acct, uid);
	if (!actor->user)
		return -ENOMEM;
	actor->id = acct->actor_ids++;
	return 0;
}

void acct_actor_deinit(AcctActor *actor)
{
	if (!actor->user)
		return;
	acct_unref_user(actor->user);
	actor->user = NULL;
}

static AcctQuota *acct_quota_get(AcctUser *user, uint32_t uid)
{
	AcctQuota *quota;

	quota = acct_find_quota(user, uid);
	if (quota)
		return quota;

	quota = user->acct->spare_quota;
	if (quota) {
		user->acct->spare_quota = NULL;
		*quota = (AcctQuota){};
	} else {
		quota = core_calloc(1, sizeof(*quota));
		if (!quota)
			return NULL;
	}
	quota->user = user;
	quota->uid = uid;
	RB_INIT(&quota->traces);
	RB_INSERT(AcctQuotaTree, &user->quotas, quota);
	++user->n_quotas;
	++user->n_refs;
	return quota;
}

/* Free @quota if it has no traces, handing its reserve back. */
static void acct_quota_put(AcctQuota *quota)
{
	AcctUser *user = quota->user;
	unsigned int i;

	if (quota->n_traces)
		return;

	for (i = 0; i < _QUOTA_N; ++i) {
		assert(quota->claim.claimed[i] == quota->claim.available[i]);
		user->claim.available[i] += quota->claim.available[i];
	}
	RB_REMOVE(AcctQuotaTree, &user->quotas, quota);
	--user->n_quotas;
	if (user->acct->spare_quota)
		core_free(quota);
	else
		user->acct->spare_quota = quota;
	acct_unref_user(user);
}

static AcctTrace *acct_trace_get(AcctQuota *quota, uint64_t actor_id)
{
	AcctTrace key = { .actor_id = actor_id }, *trace;

	trace = RB_FIND(AcctTraceTree, &quota->traces, &key);
	if (trace)
		return trace;

	trace = quota->user->acct->spare_trace;
	if (trace) {
		quota->user->acct->spare_trace = NULL;
		*trace = (AcctTrace){};
	} else {
		trace = core_calloc(1, sizeof(*trace));
		if (!trace)
			return NULL;
	}
	trace->quota = quota;
	trace->actor_id = actor_id;
	RB_INSERT(AcctTraceTree, &quota->traces, trace);
	++quota->n_traces;
	return trace;
}

static void acct_trace_unlink(AcctTrace *trace)
{
	AcctQuota *quota = trace->quota;
	Acct *acct = quota->user->acct;
	unsigned int i;

	for (i = 0; i < _QUOTA_N; ++i)
		assert(!trace->claim.claimed[i] && !trace->claim.available[i]);
	RB_REMOVE(AcctTraceTree, &quota->traces, trace);
	--quota->n_traces;
	if (acct->spare_trace)
		core_free(trace);
	else
		acct->spare_trace = trace;
}

/* Free @trace if no charge refers to it, and its quota if that was all. */
static void acct_trace_put(AcctTrace *trace)
{
	AcctQuota *quota = trace->quota;

	if (trace->n_charges)
		return;
	acct_trace_unlink(trace);
	acct_quota_put(quota);
}

static void acct_fail(AcctTrace *trace, AcctActor *actor, unsigned int slot,
		      uint64_t asked)
{
	AcctQuota *quota = trace->quota;
	Acct *acct = quota->user->acct;

	++acct->n_failures;
	acct->last_failure = (AcctFailure){
		.charged_uid = quota->user->uid,
		.claimant_uid = actor->user->uid,
		.slot = slot,
		.asked = asked,
		.held = quota->claim.claimed[slot] - quota->claim.available[slot],
		.available = quota->user->claim.available[slot],
	};
}

/*
 * Check one slot. Return true with *@req2 set to what the quota must take
 * from the user, false if the slot is over quota (or overflows).
 */
static bool acct_check(AcctTrace *trace, unsigned int slot, uint64_t amount,
		       uint64_t *req2)
{
	AcctQuota *quota = trace->quota;
	AcctUser *user = quota->user;
	uint64_t a, min, min2;

	if (!alloc_exponential(quota->n_traces, &a) ||
	    !reserve(a, trace->claim.claimed[slot], amount, &min))
		return false;
	if (quota->claim.available[slot] >= min) {
		*req2 = 0;
		return true;
	}
	*req2 = min - quota->claim.available[slot];

	min2 = *req2;
	if (quota->uid != user->uid &&
	    (!alloc_quasilinear(user->n_quotas, &a) ||
	     !reserve(a, quota->claim.claimed[slot], *req2, &min2)))
		return false;
	return user->claim.available[slot] >= min2;
}

/**
 * acct_charge() - charge @amount on @user with @actor as claimant
 * @charge:	empty charge record, filled on success
 * @user:	the user to charge
 * @actor:	the claimant
 * @amount:	per slot
 *
 * Return: 0, -EDQUOT if any slot is over quota (nothing is charged, and
 * the reason is left in Acct.last_failure), or -ENOMEM.
 */
int acct_charge(AcctCharge *charge, AcctUser *user, AcctActor *actor,
		const uint64_t amount[_QUOTA_N])
{
	uint64_t req2[_QUOTA_N];
	AcctQuota *quota;
	AcctTrace *trace;
	unsigned int i;

	assert(!charge->trace);

	quota = acct_quota_get(user, actor->user->uid);
	if (!quota)
		return -ENOMEM;
	trace = acct_trace_get(quota, actor->id);
	if (!trace) {
		acct_quota_put(quota);
		return -ENOMEM;
	}

	for (i = 0; i < _QUOTA_N; ++i) {
		if (!acct_check(trace, i, amount[i], &req2[i])) {
			acct_fail(trace, actor, i, amount[i]);
			acct_trace_put(trace);
			return -EDQUOT;
		}
	}

	for (i = 0; i < _QUOTA_N; ++i) {
		user->claim.available[i] -= req2[i];
		quota->claim.claimed[i] += req2[i];
		quota->claim.available[i] += req2[i];
		quota->claim.available[i] -= amount[i];
		trace->claim.claimed[i] += amount[i];
		charge->amount[i] = amount[i];
	}
	++trace->n_charges;
	charge->trace = trace;
	return 0;
}

/* Give back what the quota keeps beyond the average of its traces. */
static void acct_quota_shrink(AcctQuota *quota, unsigned int slot)
{
	AcctClaim *c = &quota->claim;
	uint64_t a, average, min;

	average = (c->claimed[slot] - c->available[slot]) / quota->n_traces;
	if (!alloc_exponential(quota->n_traces, &a) ||
	    !reserve(a, average, 0, &min))
		return;
	if (min < c->available[slot]) {
		quota->user->claim.available[slot] += c->available[slot] - min;
		c->claimed[slot] -= c->available[slot] - min;
		c->available[slot] = min;
	}
}

/**
 * acct_discharge() - give back what @charge holds
 * @charge:	a charge record, possibly empty; emptied
 */
void acct_discharge(AcctCharge *charge)
{
	AcctTrace *trace = charge->trace;
	AcctQuota *quota;
	unsigned int i;

	if (!trace)
		return;
	quota = trace->quota;

	for (i = 0; i < _QUOTA_N; ++i) {
		trace->claim.available[i] += charge->amount[i];
		trace->claim.claimed[i] -= trace->claim.available[i];
		quota->claim.available[i] += trace->claim.available[i];
		trace->claim.available[i] = 0;
	}
	*charge = (AcctCharge){};

	/* a trace that goes no longer counts among the quota's actors */
	if (!--trace->n_charges)
		acct_trace_unlink(trace);
	if (!quota->n_traces) {
		acct_quota_put(quota);
		return;
	}
	for (i = 0; i < _QUOTA_N; ++i)
		acct_quota_shrink(quota, i);
}
