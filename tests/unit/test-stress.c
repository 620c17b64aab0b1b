/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Random operation sequences over a few peers, with allocation failures
 * injected at random: every failed request must leave the state unchanged,
 * every peer's reported readable state must match what RECV would do, and
 * tearing everything down must free everything (run under valgrind).
 */

#include <string.h>
#include "util.h"

#define N_SLOTS 4
#define N_IDS 32
#define N_STEPS 10000

typedef struct Slot {
	uint64_t peer;
	uint64_t ids[N_IDS];
	size_t n_ids;
} Slot;

typedef struct Stress {
	T *t;
	Slot slots[N_SLOTS];
	uint64_t next_peer;
	uint64_t rng;
} Stress;

static uint64_t rnd(Stress *s, uint64_t n)
{
	/* xorshift64: the test's own determinism, not the engine's */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng % n;
}

static void remember(Slot *slot, uint64_t id)
{
	slot->ids[slot->n_ids++ % N_IDS] = id;
}

static uint64_t pick_id(Stress *s, Slot *slot)
{
	size_t n = slot->n_ids < N_IDS ? slot->n_ids : N_IDS;

	if (!n || !rnd(s, 10))
		return ID(rnd(s, 40));
	return slot->ids[rnd(s, n)];
}

static void slot_open(Stress *s, Slot *slot)
{
	memset(slot, 0, sizeof(*slot));
	slot->peer = s->next_peer++;
	assert_true(slot->peer < T_MAX_PEERS);
	assert_int_equal(t_peer_new(s->t, slot->peer, slot->peer * 10), 0);
}

static int step(Stress *s, Slot *a, Slot *b)
{
	struct bus1_transfer src[3], dst[3];
	uint64_t ids[3], dsts[3];
	unsigned int i, n = 1 + rnd(s, 3);
	TRecv r;
	int err;

	switch (rnd(s, 7)) {
	case 0:
		for (i = 0; i < n; ++i)
			src[i] = rnd(s, 2) ?
				(struct bus1_transfer){ BUS1_TRANSFER_FLAG_CREATE, BUS1_INVALID } :
				(struct bus1_transfer){ 0, pick_id(s, a) };
		err = t_transfer(s->t, a->peer, b->peer, 0, n, src, dst);
		for (i = 0; !err && i < n; ++i) {
			remember(a, src[i].id);
			remember(b, dst[i].id);
		}
		return err;
	case 1:
		for (i = 0; i < n; ++i)
			ids[i] = pick_id(s, a);
		return t_release(s->t, a->peer, 0, n, ids);
	case 2:
	case 3:
		for (i = 0; i < n; ++i) {
			dsts[i] = pick_id(s, a);
			ids[i] = pick_id(s, a);
		}
		return t_send(s->t, a->peer, n, dsts, rnd(s, n + 1), ids, "data");
	case 4:
	case 5:
		err = t_recv_full(s->t, a->peer, 0, 0, BUS1_INVALID, rnd(s, 4), 8,
				  0, T_LEND, &r);
		if (err)
			return err;
		if (rnd(s, 3)) {
			for (i = 0; i < r.n_transfers; ++i)
				remember(a, r.ids[i]);
			t_recv_done(s->t, a->peer, r.seq, 1);
		} else {
			t_recv_done(s->t, a->peer, r.seq, 0);
		}
		return 0;
	default:
		if (rnd(s, 8))
			return 0;
		/* closing allocates nothing, so it works under injection */
		t_peer_release(s->t, a->peer);
		t_fail_none();
		slot_open(s, a);
		return 0;
	}
}

static void run(uint64_t seed)
{
	Stress s = { .t = t_new(), .next_peer = 1, .rng = seed };
	unsigned int i, j, n_fail = 0, n_err = 0;
	Slot *a, *b;
	uint64_t fp;
	long nth;
	int err;

	for (i = 0; i < N_SLOTS; ++i)
		slot_open(&s, &s.slots[i]);

	for (i = 0; i < N_STEPS; ++i) {
		a = &s.slots[rnd(&s, N_SLOTS)];
		b = &s.slots[rnd(&s, N_SLOTS)];
		fp = t_fp(s.t);
		nth = rnd(&s, 4) ? -1 : (long)rnd(&s, 12);
		if (nth >= 0)
			t_fail_alloc(nth);
		err = step(&s, a, b);
		t_fail_none();
		if (err && err != -EAGAIN && err != -EMSGSIZE) {
			++n_err;
			assert_int_equal(t_fp(s.t), fp);
		}
		if (err == -ENOMEM)
			++n_fail;
		for (j = 0; j < N_SLOTS; ++j)
			t_assert_readable(s.t, s.slots[j].peer,
					  s.t->readable[s.slots[j].peer]);
	}
	assert_true(n_fail > 10);
	assert_true(n_err > 100);

	for (i = 0; i < N_SLOTS; ++i)
		t_peer_release(s.t, s.slots[i].peer);
	assert_int_equal(t_fp(s.t), 0xcbf29ce484222325ULL);
	t_free(s.t);
}

static void test_stress(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 8; ++seed)
		run(seed * 0x9e3779b97f4a7c15ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
