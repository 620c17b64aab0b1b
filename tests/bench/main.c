/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * bus1-bench [--short] [--reps N] [--out FILE] [--engine-pid PID]
 *            [--profile N] [--peers LIST] [--tests LIST] [--help]
 *
 * Runs P1-P6 of the benchmark plan for bus1 and its peers in one go and
 * prints one table (also written to FILE, default build/bench/results.txt
 * below $BUS1_TOP or the working directory). Every row is the median of N
 * repetitions (default 5) with min and max; "vs ref" is the speed relative
 * to the row named in "ref" (the socketpair of the same case unless noted):
 * above 1 faster, below 1 slower, whatever the unit.
 *
 * --short runs every benchmark once with tiny counts and no timing
 * verdicts: it checks that everything works (make check). The exit status
 * is nonzero if any benchmark failed or any peer could not be started.
 *
 * --peers LIST runs the comparisons only for the peers named in LIST
 * (e.g. "socketpair,bus1"); the bus1-only rows always run. --tests LIST
 * runs only the benchmarks named (e.g. "P1,P4").
 *
 * The peers: socketpair, pipe, bus1, dbus-broker, dbus-daemon and binder
 * (Android binder on /dev/binder, from `modprobe binder_linux
 * devices=binder`; P1-P3 only: one context manager per device rules out
 * the concurrent pairs). A peer that cannot run is reported "NOT
 * AVAILABLE" with the reason, and counts against the exit status.
 *
 * --profile N runs only the bus1 64-byte ping-pong, N round trips, and
 * prints context switches and CPU time per round trip of the application
 * and of the engine (--engine-pid, default /run/bus1d.pid); it is meant to
 * run with strace -c attached to the engine.
 */

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bench.h"

#define MAX_ROWS 128

struct row {
	char test[4];
	char kase[32];
	char peer[16];
	char unit[12];
	bool higher_better;
	int ref;
	unsigned int n;
	double v[BENCH_MAX_REPS];
	double median, min, max;
	char note[96];
};

static struct row rows[MAX_ROWS];
static unsigned int n_rows;
static unsigned int n_failed, n_unavailable;
static unsigned int reps = 5;
static bool short_mode;
static const char *only;
static const char *tests_only;
static FILE *out;
static char logbuf[32768];
static size_t n_logbuf;

void bench_log(const char *fmt, ...)
{
	va_list ap;
	int l;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	va_start(ap, fmt);
	l = vsnprintf(logbuf + n_logbuf, sizeof(logbuf) - n_logbuf, fmt, ap);
	va_end(ap);
	if (l > 0)
		n_logbuf += (size_t)l < sizeof(logbuf) - n_logbuf ?
			(size_t)l : sizeof(logbuf) - n_logbuf - 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct row *row_new(const char *test, const char *kase,
			   const char *peer, const char *unit,
			   bool higher_better, int ref)
{
	struct row *r = &rows[n_rows++];

	snprintf(r->test, sizeof(r->test), "%s", test);
	snprintf(r->kase, sizeof(r->kase), "%s", kase);
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	r->higher_better = higher_better;
	r->ref = ref;
	return r;
}

static void row_done(struct row *r)
{
	double s[BENCH_MAX_REPS];

	if (!r->n)
		return;
	memcpy(s, r->v, r->n * sizeof(*s));
	qsort(s, r->n, sizeof(*s), cmp_double);
	r->min = s[0];
	r->max = s[r->n - 1];
	r->median = r->n % 2 ? s[r->n / 2] :
		(s[r->n / 2 - 1] + s[r->n / 2]) / 2;
	bench_log("  %-3s %-24s %-12s %12.3f %-8s (min %.3f, max %.3f)\n",
		  r->test, r->kase, r->peer, r->median, r->unit, r->min,
		  r->max);
}

static void row_fail(struct row *r, double err)
{
	snprintf(r->note, sizeof(r->note), "FAILED: %s",
		 strerror((int)-err));
	r->n = 0;
	++n_failed;
	bench_log("  %-3s %-24s %-12s %s\n", r->test, r->kase, r->peer,
		  r->note);
}

/* Adds the repetition @v to @r; false (and the row marked failed) if < 0. */
static bool row_add(struct row *r, double v)
{
	if (v < 0) {
		row_fail(r, v);
		return false;
	}
	r->v[r->n++] = v;
	return true;
}

static int row_unavailable(const char *test, const char *kase,
			   const char *peer, const char *why)
{
	struct row *r = row_new(test, kase, peer, "", false, -1);

	snprintf(r->note, sizeof(r->note), "NOT AVAILABLE: %s", why);
	++n_unavailable;
	return r - rows;
}

static double speed(const struct row *r)
{
	const struct row *ref = &rows[r->ref];

	if (r->ref < 0 || !r->n || !ref->n || ref->median <= 0 ||
	    r->median <= 0)
		return NAN;
	return r->higher_better ? r->median / ref->median :
		ref->median / r->median;
}

static void print_table(FILE *f)
{
	const struct row *r;
	unsigned int i;
	char ref[48];
	double s;

	fprintf(f, "%-3s %-24s %-12s %12s %-8s %12s %12s %8s  %s\n", "", "case",
		"peer", "median", "unit", "min", "max", "vs ref", "ref");
	for (i = 0; i < n_rows; ++i) {
		r = &rows[i];
		if (!r->n) {
			fprintf(f, "%-3s %-24s %-12s %s\n", r->test, r->kase,
				r->peer, r->note);
			continue;
		}
		s = speed(r);
		ref[0] = 0;
		if (r->ref >= 0 && r->ref != (int)i)
			snprintf(ref, sizeof(ref), "%s %s", rows[r->ref].peer,
				 rows[r->ref].kase);
		if (isnan(s))
			fprintf(f, "%-3s %-24s %-12s %12.3f %-8s %12.3f %12.3f %8s  %s\n",
				r->test, r->kase, r->peer, r->median, r->unit,
				r->min, r->max, "-", ref);
		else
			fprintf(f, "%-3s %-24s %-12s %12.3f %-8s %12.3f %12.3f %8.3f  %s\n",
				r->test, r->kase, r->peer, r->median, r->unit,
				r->min, r->max, s, ref);
	}
}

/* The row of @peer in @kase of @test, or -1. */
static int find(const char *test, const char *kase, const char *peer)
{
	unsigned int i;

	for (i = 0; i < n_rows; ++i)
		if (!strcmp(rows[i].test, test) && !strcmp(rows[i].kase, kase) &&
		    !strcmp(rows[i].peer, peer))
			return i;
	return -1;
}

static void verdict(FILE *f, const char *what, int a, int b, double limit,
		    bool at_least)
{
	double s = a >= 0 && b >= 0 && rows[a].n && rows[b].n ?
		(rows[a].higher_better ? rows[a].median / rows[b].median :
		 rows[b].median / rows[a].median) : NAN;

	if (isnan(s))
		fprintf(f, "target %-58s NOT MEASURED\n", what);
	else
		fprintf(f, "target %-58s %s (%.3f)\n", what,
			(at_least ? s >= limit : s <= limit) ? "MET" : "MISSED",
			s);
}

static void print_targets(FILE *f)
{
	int a, b;

	fprintf(f, "\ntargets (speed of bus1 relative to the reference; "
		"same run):\n");
	verdict(f, "P1 round trip at most 4x socketpair (speed >= 0.25)",
		find("P1", "64 B round trip", "bus1"),
		find("P1", "64 B round trip", "socketpair"), 0.25, true);
	verdict(f, "P1 faster than dbus-broker (speed >= 1)",
		find("P1", "64 B round trip", "bus1"),
		find("P1", "64 B round trip", "dbus-broker"), 1.0, true);
	verdict(f, "P2 64 B >= 0.3x socketpair msgs/s",
		find("P2", "64 B stream", "bus1"),
		find("P2", "64 B stream", "socketpair"), 0.3, true);
	verdict(f, "P3 1 MiB >= 0.3x socketpair bandwidth",
		find("P3", "1 MiB bulk", "bus1"),
		find("P3", "1 MiB bulk", "socketpair"), 0.3, true);
	/* per-destination cost at most half: speed vs unicast >= 2 */
	verdict(f, "P4 64-way send cost/dest <= 1/2 unicast (speed >= 2)",
		find("P4", "send/dest, 64 dst", "bus1"),
		find("P4", "send/dest, 1 dst", "bus1"), 2.0, true);
	a = find("P5", "send+recv, 100000 live", "bus1");
	b = find("P5", "send+recv, 10 live", "bus1");
	verdict(f, "P5 100k live handles within 2x of 10 (speed >= 0.5)",
		a, b, 0.5, true);
}

static void measure(struct row *r, double (*fn)(void *), void *arg)
{
	unsigned int i;

	for (i = 0; i < reps; ++i)
		if (!row_add(r, fn(arg)))
			return;
	row_done(r);
}

struct peer {
	const char *name;
	const struct chan_ops *ops;
	const struct chan_ops *bulk_ops;
	const char *address;
	const char *why;
};

struct args {
	const struct peer *peer;
	size_t size;
	unsigned int iters;
	unsigned int window;
	unsigned int n;
	bool bulk;
};

static double do_pingpong(void *p)
{
	struct args *a = p;

	return run_pingpong(a->peer->ops, a->peer->address, a->size, a->iters);
}

static double do_stream(void *p)
{
	struct args *a = p;
	double v;

	v = run_stream(a->bulk ? a->peer->bulk_ops : a->peer->ops,
		       a->peer->address, a->size, a->iters, a->window, a->n);
	/* bulk in MiB/s */
	return v >= 0 && a->bulk ? v * a->size / (1024.0 * 1024.0) : v;
}

static double do_pairs(void *p)
{
	struct args *a = p;

	return run_pairs(a->peer->ops, a->n, a->iters);
}

static double do_scale(void *p)
{
	struct args *a = p;

	return bus1_scale(a->n, a->iters);
}

/* Runs one case for every peer; the first peer is the reference. */
static void run_case(const char *test, const char *kase, const char *unit,
		     bool higher_better, double (*fn)(void *), struct args *a,
		     const struct peer *peers, size_t n_peers)
{
	int ref = -1, i;
	struct row *r;
	size_t k;

	for (k = 0; k < n_peers; ++k) {
		if (only && !strstr(only, peers[k].name))
			continue;
		if (peers[k].why) {
			i = row_unavailable(test, kase, peers[k].name,
					    peers[k].why);
			bench_log("  %-3s %-24s %-12s %s\n", test, kase,
				  peers[k].name, rows[i].note);
			continue;
		}
		r = row_new(test, kase, peers[k].name, unit, higher_better,
			    ref);
		if (ref < 0)
			r->ref = ref = r - rows;
		a->peer = &peers[k];
		measure(r, fn, a);
	}
}

static bool want(const char *test)
{
	return !tests_only || strstr(tests_only, test);
}

static unsigned int scaled(unsigned int n)
{
	unsigned int s = short_mode ? n / 100 : n;

	return s ? s : 1;
}

/*
 * P4: one run gives both figures, the send alone and send plus all
 * receives, per destination; fewer iterations for wider fan-out keep the
 * run time flat.
 */
static void run_multicast(const unsigned int *dsts)
{
	struct row *send[3], *total[3];
	unsigned int i, k, iters;
	char kase[32];
	double v, t;

	for (i = 0; i < 3; ++i) {
		snprintf(kase, sizeof(kase), "send/dest, %u dst", dsts[i]);
		send[i] = row_new("P4", kase, "bus1", "us/dst", false, -1);
		send[i]->ref = send[0] - rows;
	}
	for (i = 0; i < 3; ++i) {
		snprintf(kase, sizeof(kase), "send+recv/dest, %u", dsts[i]);
		total[i] = row_new("P4", kase, "bus1", "us/dst", false, -1);
		total[i]->ref = total[0] - rows;
	}
	for (i = 0; i < 3; ++i) {
		iters = short_mode ? 2 : 64 / dsts[i] * 4 + 16;
		for (k = 0; k < reps; ++k) {
			v = bus1_multicast(dsts[i], iters, &t);
			if (v < 0) {
				row_fail(send[i], v);
				row_fail(total[i], v);
				break;
			}
			row_add(send[i], v);
			row_add(total[i], t);
		}
		row_done(send[i]);
		row_done(total[i]);
	}
}

static void run_all(const struct peer *peers, size_t n_peers)
{
	static const unsigned int live[] = { 10, 10000, 100000 };
	static const unsigned int pairs[] = { 1, 8, 64 };
	static const unsigned int dsts[] = { 1, 8, 64 };
	struct peer two[2] = { peers[0], peers[2] };
	struct args a;
	char kase[32];
	int ref = -1;
	size_t i;

	if (want("P1")) {
		bench_log("P1 ping-pong\n");
		a = (struct args){ .size = 64, .iters = scaled(500) };
		run_case("P1", "64 B round trip", "us/rt", false, do_pingpong,
			 &a, peers, n_peers);
	}

	if (want("P2")) {
		bench_log("P2 streaming\n");
		a = (struct args){ .size = 64, .iters = scaled(2000),
				   .window = 32 };
		run_case("P2", "64 B stream", "msg/s", true, do_stream, &a,
			 peers, n_peers);
		a = (struct args){ .size = 4096, .iters = scaled(1000),
				   .window = 32 };
		run_case("P2", "4 KiB stream", "msg/s", true, do_stream, &a,
			 peers, n_peers);
	}

	if (want("P3")) {
		bench_log("P3 bulk\n");
		a = (struct args){ .size = 1 << 20, .iters = scaled(32),
				   .window = 4, .bulk = true };
		run_case("P3", "1 MiB bulk", "MiB/s", true, do_stream, &a,
			 peers, n_peers);
	}

	if (want("P4")) {
		bench_log("P4 multicast (bus1, one process)\n");
		run_multicast(dsts);
	}

	if (want("P5")) {
		bench_log("P5 scale\n");
		for (i = 0; i < 3; ++i) {
			struct row *r;

			snprintf(kase, sizeof(kase), "send+recv, %u live",
				 live[i]);
			r = row_new("P5", kase, "bus1", "us/op", false, ref);
			if (ref < 0)
				r->ref = ref = r - rows;
			a = (struct args){ .n = short_mode ? live[i] / 100 :
						    live[i],
					   .iters = scaled(300) };
			measure(r, do_scale, &a);
		}
		for (i = 0; i < 3; ++i) {
			snprintf(kase, sizeof(kase), "%u pairs ping-pong",
				 pairs[i]);
			a = (struct args){ .n = pairs[i],
					   .iters = scaled(1000 / pairs[i] +
							   10) };
			run_case("P5", kase, "rt/s", true, do_pairs, &a, two,
				 2);
		}
	}

	if (want("P6")) {
		bench_log("P6 handle passing (socketpair: SCM_RIGHTS fds)\n");
		a = (struct args){ .size = 64, .iters = scaled(1000),
				   .window = 32, .n = 1 };
		run_case("P6", "1 handle/msg", "msg/s", true, do_stream, &a,
			 two, 2);
		a.n = 16;
		run_case("P6", "16 handles/msg", "msg/s", true, do_stream, &a,
			 two, 2);
	}
}

static long engine_pid(long pid)
{
	FILE *f;

	if (pid > 0)
		return pid;
	f = fopen("/run/bus1d.pid", "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

struct pstat {
	unsigned long long vcsw, ivcsw;
	unsigned long long wvcsw, wivcsw;
	unsigned long long ticks;
	unsigned int n_workers;
	char worker[32];
};

static void task_switches(const char *dir, unsigned long long *v,
			  unsigned long long *iv, char *comm, size_t n_comm)
{
	char path[320], line[256], name[32];
	unsigned long long x;
	FILE *f;

	snprintf(path, sizeof(path), "%s/status", dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &x) == 1)
			*v += x;
		if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &x) == 1)
			*iv += x;
		if (comm && sscanf(line, "Name: %31s", name) == 1)
			snprintf(comm, n_comm, "%s", name);
	}
	fclose(f);
}

/*
 * Context switches of the main thread and of all other threads (io_uring
 * workers, iou-wrk-*) of a process, and its CPU ticks, from /proc. Workers
 * that exited meanwhile take their counts with them; they idle for
 * seconds before they exit, so a busy run keeps them.
 */
static int proc_stat(long pid, struct pstat *ps)
{
	char path[64], dir[320], buf[1024], *p;
	unsigned long long ut, st;
	struct dirent *de;
	DIR *d;
	FILE *f;

	*ps = (struct pstat){ 0 };
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", path, de->d_name);
		if (strtol(de->d_name, NULL, 10) == pid) {
			task_switches(dir, &ps->vcsw, &ps->ivcsw, NULL, 0);
		} else {
			task_switches(dir, &ps->wvcsw, &ps->wivcsw, ps->worker,
				      sizeof(ps->worker));
			++ps->n_workers;
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	/* utime and stime are fields 14 and 15; p is at the end of field 2 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%llu %llu", &ut, &st) != 2)
		return -EIO;
	ps->ticks = ut + st;
	return 0;
}

static int profile(unsigned int iters, long pid)
{
	struct pstat e0, e1;
	struct rusage u0, u1, c0, c1;
	double hz = sysconf(_SC_CLK_TCK), us;
	int r;

	pid = engine_pid(pid);
	if (pid <= 0 || proc_stat(pid, &e0) < 0) {
		fprintf(stderr, "bus1-bench: no engine pid (--engine-pid)\n");
		return 1;
	}
	getrusage(RUSAGE_SELF, &u0);
	getrusage(RUSAGE_CHILDREN, &c0);
	us = run_pingpong(&chan_bus1, NULL, 64, iters);
	getrusage(RUSAGE_SELF, &u1);
	getrusage(RUSAGE_CHILDREN, &c1);
	r = proc_stat(pid, &e1);
	if (us < 0 || r < 0) {
		fprintf(stderr, "bus1-bench: profile run failed: %s\n",
			strerror(us < 0 ? (int)-us : -r));
		return 1;
	}
#define TV(t) ((t).tv_sec * 1e6 + (t).tv_usec)
	printf("profile: bus1 64 B ping-pong, %u round trips, %.1f us/rt\n",
	       iters, us);
	printf("profile: engine  %.2f voluntary + %.2f involuntary ctx switches/rt (main thread), %.1f us CPU/rt (all threads)\n",
	       (double)(e1.vcsw - e0.vcsw) / iters,
	       (double)(e1.ivcsw - e0.ivcsw) / iters,
	       (e1.ticks - e0.ticks) / hz * 1e6 / iters);
	printf("profile: engine  %u other thread(s) (%s) now, %u before: %.2f voluntary + %.2f involuntary ctx switches/rt\n",
	       e1.n_workers, e1.n_workers ? e1.worker : "-", e0.n_workers,
	       (double)(e1.wvcsw - e0.wvcsw) / iters,
	       (double)(e1.wivcsw - e0.wivcsw) / iters);
	printf("profile: side 0  %.2f voluntary + %.2f involuntary ctx switches/rt, %.1f us CPU/rt\n",
	       (double)(u1.ru_nvcsw - u0.ru_nvcsw) / iters,
	       (double)(u1.ru_nivcsw - u0.ru_nivcsw) / iters,
	       (TV(u1.ru_utime) + TV(u1.ru_stime) - TV(u0.ru_utime) -
		TV(u0.ru_stime)) / iters);
	printf("profile: side 1  %.2f voluntary + %.2f involuntary ctx switches/rt, %.1f us CPU/rt\n",
	       (double)(c1.ru_nvcsw - c0.ru_nvcsw) / iters,
	       (double)(c1.ru_nivcsw - c0.ru_nivcsw) / iters,
	       (TV(c1.ru_utime) + TV(c1.ru_stime) - TV(c0.ru_utime) -
		TV(c0.ru_stime)) / iters);
	printf("profile: application syscalls per rt by construction: 2 SEND + 2 poll + 2 RECV ioctls/poll (3 per side)\n");
	return 0;
}

static FILE *open_out(const char *path)
{
	const char *top = getenv("BUS1_TOP") ?: ".";
	char dir[4096], def[4200];
	FILE *f;

	if (!path) {
		snprintf(dir, sizeof(dir), "%s/build", top);
		mkdir(dir, 0755);
		snprintf(dir, sizeof(dir), "%s/build/bench", top);
		mkdir(dir, 0755);
		snprintf(def, sizeof(def), "%s/results.txt", dir);
		path = def;
	}
	f = fopen(path, "we");
	if (f)
		bench_log("results go to %s\n", path);
	else
		bench_log("cannot write %s: %s\n", path, strerror(errno));
	return f;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "short", no_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "engine-pid", required_argument, NULL, 'e' },
		{ "profile", required_argument, NULL, 'p' },
		{ "peers", required_argument, NULL, 'P' },
		{ "tests", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct dbus_bus *daemon = NULL, *broker = NULL;
	char why_daemon[160] = "", why_broker[160] = "", why_binder[160] = "";
	const char *out_path = NULL;
	unsigned int prof = 0;
	long pid = -1;
	int c, binder;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			short_mode = true;
			break;
		case 'r':
			reps = strtoul(optarg, NULL, 10);
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'e':
			pid = strtol(optarg, NULL, 10);
			break;
		case 'p':
			prof = strtoul(optarg, NULL, 10);
			break;
		case 'P':
			only = optarg;
			break;
		case 'T':
			tests_only = optarg;
			break;
		case 'h':
			printf("usage: %s [--short] [--reps N] [--out FILE] [--engine-pid PID]\n"
			       "       [--profile N] [--peers LIST] [--tests LIST]\n"
			       "peers: socketpair,pipe,bus1,dbus-broker,dbus-daemon,binder\n"
			       "tests: P1,P2,P3,P4,P5,P6\n", argv[0]);
			return 0;
		default:
			return 2;
		}
	}
	if (short_mode)
		reps = 1;
	if (reps < 1 || reps > BENCH_MAX_REPS) {
		fprintf(stderr, "bus1-bench: --reps must be 1..%d\n",
			BENCH_MAX_REPS);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (prof)
		return profile(prof, pid);

	out = open_out(out_path);
	if (dbus_bus_start_broker(&broker, why_broker, sizeof(why_broker)) < 0)
		bench_log("dbus-broker: not available: %s\n", why_broker);
	else
		bench_log("dbus-broker: listening on %s\n",
			  dbus_bus_address(broker));
	if (dbus_bus_start_daemon(&daemon, why_daemon, sizeof(why_daemon)) < 0)
		bench_log("dbus-daemon: not available: %s\n", why_daemon);
	else
		bench_log("dbus-daemon: listening on %s\n",
			  dbus_bus_address(daemon));
	binder = binder_probe(why_binder, sizeof(why_binder));
	if (binder < 0)
		bench_log("binder: not available: %s\n", why_binder);
	else
		bench_log("binder: /dev/binder, protocol %d; P3 bulk as synchronous transactions\n",
			  binder);

	{
		const struct peer peers[] = {
			{ .name = "socketpair", .ops = &chan_seqpacket,
			  .bulk_ops = &chan_stream },
			{ .name = "pipe", .ops = &chan_pipe, .bulk_ops = &chan_pipe },
			{ .name = "bus1", .ops = &chan_bus1, .bulk_ops = &chan_bus1 },
			{ "dbus-broker", &chan_dbus, &chan_dbus,
			  broker ? dbus_bus_address(broker) : NULL,
			  broker ? NULL : why_broker },
			{ "dbus-daemon", &chan_dbus, &chan_dbus,
			  daemon ? dbus_bus_address(daemon) : NULL,
			  daemon ? NULL : why_daemon },
			{ "binder", &chan_binder, &chan_binder_bulk, NULL,
			  binder < 0 ? why_binder : NULL },
		};

		bench_log("bus1-bench: %s mode, %u repetition(s)\n",
			  short_mode ? "short" : "full", reps);
		run_all(peers, sizeof(peers) / sizeof(*peers));
	}
	daemon = dbus_bus_stop(daemon);
	broker = dbus_bus_stop(broker);

	printf("\n");
	print_table(stdout);
	if (!short_mode)
		print_targets(stdout);
	if (out) {
		fprintf(out, "%.*s\n", (int)n_logbuf, logbuf);
		print_table(out);
		if (!short_mode)
			print_targets(out);
		fclose(out);
	}
	printf("bench: %u rows, %u failed, %u not available\n", n_rows,
	       n_failed, n_unavailable);
	return n_failed || n_unavailable ? 1 : 0;
}
