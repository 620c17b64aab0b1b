/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * The accounting algorithm with fixed numbers, derived by hand from
 * accounting.md. Notation: for a charge of c by an actor holding s in a
 * quota, the quota needs min = (c + s) * 2 - s = 2c + s available; if it
 * has less, it asks the user for req2 = min - quota.available, which a
 * self quota gets if user.available >= req2 and a foreign quota if
 * user.available >= (req2 + quota.claimed) * A(n) - quota.claimed, with
 * n the number of quotas of the user and A(n) = (n+1)*ceil_log2(n+1)
 * + (n+1): A(1) = 4, A(2) = 9, A(3) = 12, A(4) = 20.
 *
 * Every table ends by discharging all it charged and checks that every
 * counter is back at its start and every quota is gone.
 */

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "core/quota.h"

#define MAX_ACTORS 8
#define MAX_STEPS 32
#define NONE UINT64_MAX

enum {
	CHARGE,
	DISCHARGE,
};

/*
 * One step: charge (or discharge step @ref's charge) on the user of actor
 * @on by actor @by; then, unless NONE, the charged user's available
 * objects and the (charged, claimant) quota's claimed/available objects.
 */
typedef struct Step {
	int op;
	unsigned int on, by;
	uint64_t objects, bytes;
	int r;
	uint64_t user_avail, quota_claimed, quota_avail;
	unsigned int ref;
} Step;

typedef struct Table {
	uint64_t max_objects, max_bytes;
	uint32_t uids[MAX_ACTORS];
	unsigned int n_actors;
	Step steps[MAX_STEPS];
	unsigned int n_steps;
} Table;

static void run_table(const Table *t)
{
	const uint64_t maxima[_QUOTA_N] = { t->max_objects, t->max_bytes };
	AcctCharge charges[MAX_STEPS] = {};
	AcctActor actors[MAX_ACTORS];
	AcctUser *user;
	AcctQuota *quota;
	unsigned int i;
	Acct acct;
	int r;

	acct_init(&acct, maxima);
	for (i = 0; i < t->n_actors; ++i)
		assert_int_equal(acct_actor_init(&acct, &actors[i], t->uids[i]), 0);

	for (i = 0; i < t->n_steps; ++i) {
		const Step *s = &t->steps[i];
		const uint64_t amount[_QUOTA_N] = { s->objects, s->bytes };

		user = actors[s->on].user;
		if (s->op == CHARGE) {
			r = acct_charge(&charges[i], user, &actors[s->by], amount);
			if (r != s->r)
				fail_msg("step %u: charge %llu by actor %u: %d, expected %d",
					 i, (unsigned long long)s->objects, s->by, r, s->r);
			if (r)
				assert_null(charges[i].trace);
		} else {
			acct_discharge(&charges[s->ref]);
			assert_null(charges[s->ref].trace);
		}
		if (s->user_avail != NONE &&
		    user->claim.available[QUOTA_OBJECTS] != s->user_avail)
			fail_msg("step %u: user available %llu, expected %llu", i,
				 (unsigned long long)user->claim.available[QUOTA_OBJECTS],
				 (unsigned long long)s->user_avail);
		if (s->quota_claimed != NONE) {
			quota = acct_find_quota(user, actors[s->by].user->uid);
			assert_non_null(quota);
			if (quota->claim.claimed[QUOTA_OBJECTS] != s->quota_claimed ||
			    quota->claim.available[QUOTA_OBJECTS] != s->quota_avail)
				fail_msg("step %u: quota %llu/%llu, expected %llu/%llu", i,
					 (unsigned long long)quota->claim.claimed[QUOTA_OBJECTS],
					 (unsigned long long)quota->claim.available[QUOTA_OBJECTS],
					 (unsigned long long)s->quota_claimed,
					 (unsigned long long)s->quota_avail);
		}
	}

	/* discharge the rest, newest first, and check everything is back */
	for (i = t->n_steps; i-- > 0;)
		acct_discharge(&charges[i]);
	for (i = 0; i < t->n_actors; ++i) {
		user = actors[i].user;
		assert_int_equal(user->claim.available[QUOTA_OBJECTS], t->max_objects);
		assert_int_equal(user->claim.available[QUOTA_BYTES], t->max_bytes);
		assert_int_equal(user->claim.claimed[QUOTA_OBJECTS], t->max_objects);
		assert_int_equal(user->n_quotas, 0);
	}
	for (i = 0; i < t->n_actors; ++i)
		acct_actor_deinit(&actors[i]);
	assert_int_equal(acct.n_users, 0);
	acct_deinit(&acct);
}

#define C(_on, _by, _obj, _r, _ua, _qc, _qa) \
	{ CHARGE, _on, _by, _obj, 0, _r, _ua, _qc, _qa, 0 }
#define D(_on, _by, _ref, _ua, _qc, _qa) \
	{ DISCHARGE, _on, _by, 0, 0, 0, _ua, _qc, _qa, _ref }

/*
 * Three actors a0, a1, a2 of UID 1 charging their own user (max 1024).
 * Each may take half of what the others left: 512, then 256, then 128.
 */
static void test_self_halves(void **state)
{
	static const Table t = {
		.max_objects = 1024, .max_bytes = 1 << 20,
		.uids = { 1, 1, 1 }, .n_actors = 3,
		.steps = {
			/* 0: a0 asks 513: min = 1026 > 1024 */
			C(0, 0, 513, -EDQUOT, 1024, NONE, NONE),
			/* 1: a0 asks 512: min = 1024, req2 = 1024 <= 1024;
			 * the quota keeps 1024 - 512 in reserve */
			C(0, 0, 512, 0, 0, 1024, 512),
			/* 2: a0 asks 1 more: min = 2 + 512 = 514 > 512,
			 * req2 = 2 > 0 */
			C(0, 0, 1, -EDQUOT, 0, 1024, 512),
			/* 3: a1 asks 257: min = 514 > 512, req2 = 2 > 0 */
			C(0, 1, 257, -EDQUOT, 0, 1024, 512),
			/* 4: a1 asks 256: min = 512 <= 512, from the reserve */
			C(0, 1, 256, 0, 0, 1024, 256),
			/* 5: a2 asks 129: min = 258 > 256, req2 = 2 > 0 */
			C(0, 2, 129, -EDQUOT, 0, 1024, 256),
			/* 6: a2 asks 128: min = 256 <= 256 */
			C(0, 2, 128, 0, 0, 1024, 128),
			/* 7: a0 gives back 512: quota available 640, two traces
			 * left holding 384, average 192, min = 192: 448 back
			 * to the user */
			D(0, 0, 1, 448, 576, 192),
			/* 8: a0 asks 224: min = 448 > 192, req2 = 256 <= 448 */
			C(0, 0, 224, 0, 192, 832, 224),
		},
		.n_steps = 9,
	};

	(void)state;
	run_table(&t);
}

/*
 * Receiver r (UID 0, max 1024) and foreign actors b0, b1 (UID 1000),
 * c (UID 2000), d (UID 3000). Each new foreign UID gets a smaller share;
 * the receiver's user keeps most for itself.
 */
static void test_foreign_shares(void **state)
{
	enum { R, B0, B1, CC, DD };
	static const Table t = {
		.max_objects = 1024, .max_bytes = 1 << 20,
		.uids = { 0, 1000, 1000, 2000, 3000 }, .n_actors = 5,
		.steps = {
			/* 0: b0 asks 129: n = 1, A = 4: req2 = 258,
			 * 258 * 4 = 1032 > 1024 */
			C(R, B0, 129, -EDQUOT, 1024, NONE, NONE),
			/* 1: b0 asks 128: 256 * 4 = 1024 <= 1024 */
			C(R, B0, 128, 0, 768, 256, 128),
			/* 2: b0 asks 1: min = 130 > 128, req2 = 2,
			 * (2 + 256) * 4 - 256 = 776 > 768 */
			C(R, B0, 1, -EDQUOT, 768, 256, 128),
			/* 3: c asks 43: n = 2, A = 9: 86 * 9 = 774 > 768 */
			C(R, CC, 43, -EDQUOT, 768, NONE, NONE),
			/* 4: c asks 42: 84 * 9 = 756 <= 768 */
			C(R, CC, 42, 0, 684, 84, 42),
			/* 5: d asks 29: n = 3, A = 12: 58 * 12 = 696 > 684 */
			C(R, DD, 29, -EDQUOT, 684, NONE, NONE),
			/* 6: d asks 28: 56 * 12 = 672 <= 684 */
			C(R, DD, 28, 0, 628, 56, 28),
			/* 7: b1 (same UID as b0) asks 65: min = 130 > 128,
			 * req2 = 2, (2 + 256) * 12 - 256 = 2840 > 628 */
			C(R, B1, 65, -EDQUOT, 628, 256, 128),
			/* 8: b1 asks 64: min = 128, from b0's quota reserve */
			C(R, B1, 64, 0, 628, 256, 64),
			/* 9: r asks 315 of its own user: min = 630 > 628 */
			C(R, R, 315, -EDQUOT, 628, NONE, NONE),
			/* 10: r asks 314: min = 628 <= 628, no fair share
			 * applies to a user's own quota */
			C(R, R, 314, 0, 0, 628, 314),
		},
		.n_steps = 11,
	};

	(void)state;
	run_table(&t);
}

/* Shares grow back: once c leaves, b's quota competes with one less. */
static void test_foreign_leave(void **state)
{
	static const Table t = {
		.max_objects = 1024, .max_bytes = 1 << 20,
		.uids = { 0, 1000, 2000 }, .n_actors = 3,
		.steps = {
			/* 0: c asks 128: n = 1, 256 * 4 = 1024 */
			C(0, 2, 128, 0, 768, 256, 128),
			/* 1: b asks 43: n = 2, A = 9: 86 * 9 = 774 > 768 */
			C(0, 1, 43, -EDQUOT, 768, NONE, NONE),
			/* 2: c gives everything back, its quota goes */
			D(0, 2, 0, 1024, NONE, NONE),
			/* 3: b asks 128: n = 1 again, 1024 <= 1024 */
			C(0, 1, 128, 0, 768, 256, 128),
		},
		.n_steps = 4,
	};

	(void)state;
	run_table(&t);
}

/* All slots are checked before any is applied. */
static void test_slots_atomic(void **state)
{
	const uint64_t maxima[_QUOTA_N] = { 1024, 4096 };
	const uint64_t too_many_bytes[_QUOTA_N] = { 1, 600 };
	const uint64_t fits[_QUOTA_N] = { 1, 512 };
	AcctActor r, b;
	AcctCharge charge = {};
	Acct acct;

	(void)state;
	acct_init(&acct, maxima);
	assert_int_equal(acct_actor_init(&acct, &r, 0), 0);
	assert_int_equal(acct_actor_init(&acct, &b, 1000), 0);

	/* objects: 2 * 4 = 8 <= 1024; bytes: 1200 * 4 = 4800 > 4096 */
	assert_int_equal(acct_charge(&charge, r.user, &b, too_many_bytes), -EDQUOT);
	assert_null(charge.trace);
	assert_int_equal(r.user->claim.available[QUOTA_OBJECTS], 1024);
	assert_int_equal(r.user->n_quotas, 0);
	assert_int_equal(acct.n_failures, 1);
	assert_int_equal(acct.last_failure.charged_uid, 0);
	assert_int_equal(acct.last_failure.claimant_uid, 1000);
	assert_int_equal(acct.last_failure.slot, QUOTA_BYTES);
	assert_int_equal(acct.last_failure.asked, 600);
	assert_int_equal(acct.last_failure.held, 0);
	assert_int_equal(acct.last_failure.available, 4096);

	/* bytes: 1024 * 4 = 4096 <= 4096 */
	assert_int_equal(acct_charge(&charge, r.user, &b, fits), 0);
	assert_int_equal(r.user->claim.available[QUOTA_OBJECTS], 1022);
	assert_int_equal(r.user->claim.available[QUOTA_BYTES], 3072);
	acct_discharge(&charge);
	assert_int_equal(r.user->claim.available[QUOTA_OBJECTS], 1024);
	assert_int_equal(r.user->claim.available[QUOTA_BYTES], 4096);

	acct_actor_deinit(&b);
	acct_actor_deinit(&r);
	acct_deinit(&acct);
}

/* Overflow anywhere in the arithmetic rejects the charge. */
static void test_overflow(void **state)
{
	const uint64_t maxima[_QUOTA_N] = { UINT64_MAX, UINT64_MAX };
	const uint64_t huge[_QUOTA_N] = { 1ULL << 63, 0 };
	const uint64_t most[_QUOTA_N] = { (1ULL << 62) - 1, 0 };
	AcctCharge c1 = {}, c2 = {};
	AcctActor r, b;
	Acct acct;

	(void)state;
	acct_init(&acct, maxima);
	assert_int_equal(acct_actor_init(&acct, &r, 0), 0);
	assert_int_equal(acct_actor_init(&acct, &b, 1000), 0);

	/* self: 2 * 2^63 overflows */
	assert_int_equal(acct_charge(&c1, r.user, &r, huge), -EDQUOT);
	/* foreign: 2 * (2^62 - 1) fits, times A(1) = 4 overflows */
	assert_int_equal(acct_charge(&c2, r.user, &b, most), -EDQUOT);
	/* self: 2 * (2^62 - 1) fits in UINT64_MAX */
	assert_int_equal(acct_charge(&c1, r.user, &r, most), 0);
	acct_discharge(&c1);
	assert_int_equal(r.user->claim.available[QUOTA_OBJECTS], UINT64_MAX);

	acct_actor_deinit(&b);
	acct_actor_deinit(&r);
	acct_deinit(&acct);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_halves),
		cmocka_unit_test(test_foreign_shares),
		cmocka_unit_test(test_foreign_leave),
		cmocka_unit_test(test_slots_atomic),
		cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
