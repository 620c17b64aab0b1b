/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Random operation sequences over a few peers, with allocation failures
 * injected at random: every failed request must leave the state unchanged,
 * the module's view (held items, readable state) must match the engine
 * after every step, and tearing everything down must free everything (run
 * under valgrind). The engine's output buffer starts small, so lending
 * runs out of memory too, and RECV then needs FETCH.
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
	uint8_t data[4096];
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
		for (i = 0; i < n; ++i)
			src[i] = (struct bus1_transfer){ 0, ids[i] };
		/* up to 4 KiB, so lending them outgrows a small buffer */
		return t_send_full(s->t, a->peer, 0, 0, BUS1_MESSAGE_TYPE_USER,
				   n, dsts, rnd(s, n + 1), src, s->data,
				   rnd(s, sizeof(s->data)));
	case 4:
	case 5:
		err = t_recv_full(s->t, a->peer, rnd(s, 3) ? T_COMMIT : T_DEFER,
				  &r);
		if (err)
			return err;
		for (i = 0; i < r.n_transfers; ++i)
			remember(a, r.ids[i]);
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

static uint64_t run(uint64_t seed)
{
	Stress s = { .t = t_new(), .next_peer = 1, .rng = seed };
	unsigned int i, j, n_fail = 0, n_err = 0;
	uint64_t fp, n_lend_failures;
	Slot *a, *b;
	long nth;
	int err;

	memset(s.data, 'x', sizeof(s.data));
	t_out_reset(s.t, 4096);
	for (i = 0; i < N_SLOTS; ++i)
		slot_open(&s, &s.slots[i]);

	for (i = 0; i < N_STEPS; ++i) {
		a = &s.slots[rnd(&s, N_SLOTS)];
		b = &s.slots[rnd(&s, N_SLOTS)];
		/* deferred RECV_DONE records go before the next request */
		t_settle(s.t);
		fp = t_fp(s.t);
		nth = rnd(&s, 4) ? -1 : (long)rnd(&s, 12);
		if (nth >= 0) {
			/* small again, so this step's output must grow it */
			t_out_reset(s.t, 4096);
			t_fail_alloc(nth);
		}
		err = step(&s, a, b);
		t_fail_none();
		if (err && err != -EAGAIN) {
			++n_err;
			assert_int_equal(t_fp(s.t), fp);
		}
		if (err == -ENOMEM)
			++n_fail;
		for (j = 0; j < N_SLOTS; ++j)
			t_check(s.t, s.slots[j].peer);
	}
	assert_true(n_fail > 10);
	assert_true(n_err > 100);
	assert_true(engine_counters(s.t->engine)->items_received > 100);

	print_message("seed %llx: %u errors, %u ENOMEM, %llu lent, %llu received, %llu retracted, %llu lend failures\n",
		      (unsigned long long)seed, n_err, n_fail,
		      (unsigned long long)engine_counters(s.t->engine)->items_lent,
		      (unsigned long long)engine_counters(s.t->engine)->items_received,
		      (unsigned long long)engine_counters(s.t->engine)->items_retracted,
		      (unsigned long long)engine_counters(s.t->engine)->lend_failures);

	for (i = 0; i < N_SLOTS; ++i)
		t_peer_release(s.t, s.slots[i].peer);
	assert_int_equal(t_fp(s.t), 0xcbf29ce484222325ULL);
	n_lend_failures = engine_counters(s.t->engine)->lend_failures;
	t_free(s.t);
	return n_lend_failures;
}

static void test_stress(void **state)
{
	uint64_t seed, n_lend_failures = 0;

	(void)state;
	for (seed = 1; seed <= 8; ++seed)
		n_lend_failures += run(seed * 0x9e3779b97f4a7c15ULL);
	/* lending ran out of memory, and RECV recovered through FETCH */
	assert_true(n_lend_failures > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
