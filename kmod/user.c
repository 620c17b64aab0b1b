// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: users
 *
 * The engine's per-UID quotas bound everything the bus keeps, but only once
 * the engine has a request in hand. On the way there the module holds each
 * request's record and, for a large payload, its buffer: up to max_record
 * plus max_data bytes per open peer, so without a bound of its own what one
 * user can make the kernel hold grows with open files times processes, and
 * a request abandoned by a killed caller outlives its file until the engine
 * answers it. And every request waits in one queue for one engine, so one
 * user with many peers could put a backlog of expensive requests in front
 * of everybody else.
 *
 * So the module counts, per user (the effective UID pinned when /dev/bus1
 * was opened, in the initial user namespace, the engine's resource context
 * too), the two-way requests that exist (from allocation until freed:
 * queued, read, awaited, or abandoned) and the bytes of their records and
 * payload buffers. A request that would take a user beyond
 * max_user_requests or max_user_bytes fails with EDQUOT, as the engine's
 * own quota would. Both are module parameters, writable at runtime, read
 * at every charge.
 *
 * Users are kept in an xarray by UID while a peer of theirs exists; a
 * peer holds its user, and a request holds its peer.
 */

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/moduleparam.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include "user.h"

static unsigned int bus1_max_user_requests = 1024;
module_param_named(max_user_requests, bus1_max_user_requests, uint, 0644);
MODULE_PARM_DESC(max_user_requests,
		 "Requests one user may have on their way to the engine or awaiting its reply (default 1024)");

static unsigned long bus1_max_user_bytes = 256UL << 20;
module_param_named(max_user_bytes, bus1_max_user_bytes, ulong, 0644);
MODULE_PARM_DESC(max_user_bytes,
		 "Bytes of request records and payloads one user may have in the module before the engine accepts them (default 256 MiB)");

/**
 * struct bus1_user - what one user holds in the module
 * @ref:		reference count: one per peer of the user.
 * @uid:		the UID, in the initial user namespace; fixed.
 * @n_requests:		requests charged and not yet uncharged.
 * @n_bytes:		their bytes.
 */
struct bus1_user {
	struct kref ref;
	u32 uid;
	atomic_t n_requests;
	atomic_long_t n_bytes;
};

static DEFINE_XARRAY(bus1_users);

static struct bus1_user *bus1_user_lookup(u32 uid)
{
	struct bus1_user *user;

	xa_lock(&bus1_users);
	user = xa_load(&bus1_users, uid);
	if (user && !kref_get_unless_zero(&user->ref))
		user = NULL;
	xa_unlock(&bus1_users);
	return user;
}

/**
 * bus1_user_get() - find or create the user of a UID
 * @uid:	the UID, in the initial user namespace.
 *
 * Return: the user (a reference), or an ERR_PTR: -ENOMEM.
 */
struct bus1_user *bus1_user_get(u32 uid)
{
	struct bus1_user *user, *old;

	user = bus1_user_lookup(uid);
	if (user)
		return user;

	user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
	if (!user)
		return ERR_PTR(-ENOMEM);
	kref_init(&user->ref);
	user->uid = uid;

	xa_lock(&bus1_users);
	old = xa_load(&bus1_users, uid);
	if (old && kref_get_unless_zero(&old->ref)) {
		xa_unlock(&bus1_users);
		kfree(user);
		return old;
	}
	/* Absent, or its last reference is being dropped: take the slot. */
	old = __xa_store(&bus1_users, uid, user, GFP_KERNEL_ACCOUNT);
	xa_unlock(&bus1_users);
	if (xa_is_err(old)) {
		kfree(user);
		return ERR_PTR(xa_err(old));
	}
	return user;
}

static void bus1_user_free(struct kref *ref)
{
	struct bus1_user *user = container_of(ref, struct bus1_user, ref);

	/* A new user of the same UID may have taken the slot meanwhile. */
	xa_cmpxchg(&bus1_users, user->uid, user, NULL, 0);
	WARN_ON(atomic_read(&user->n_requests) ||
		atomic_long_read(&user->n_bytes));
	kfree(user);
}

/**
 * bus1_user_put() - drop a reference
 * @user:	the user, or NULL.
 */
void bus1_user_put(struct bus1_user *user)
{
	if (user)
		kref_put(&user->ref, bus1_user_free);
}

/**
 * bus1_user_charge() - count a request and its bytes against a user
 * @user:	the user.
 * @requests:	1 for a new request, 0 for more bytes of one already counted.
 * @bytes:	its bytes.
 *
 * Return: 0, or -EDQUOT (nothing is counted then).
 */
int bus1_user_charge(struct bus1_user *user, unsigned int requests,
		     size_t bytes)
{
	unsigned int max_requests = READ_ONCE(bus1_max_user_requests);
	unsigned long max_bytes = READ_ONCE(bus1_max_user_bytes);

	if (requests &&
	    atomic_add_return(requests, &user->n_requests) > max_requests) {
		atomic_sub(requests, &user->n_requests);
		return -EDQUOT;
	}
	if (bytes > max_bytes ||
	    atomic_long_add_return(bytes, &user->n_bytes) > max_bytes) {
		if (bytes <= max_bytes)
			atomic_long_sub(bytes, &user->n_bytes);
		atomic_sub(requests, &user->n_requests);
		return -EDQUOT;
	}
	return 0;
}

/**
 * bus1_user_uncharge() - undo bus1_user_charge()
 * @user:	the user, or NULL.
 * @requests:	as charged.
 * @bytes:	as charged.
 */
void bus1_user_uncharge(struct bus1_user *user, unsigned int requests,
			size_t bytes)
{
	if (!user)
		return;
	atomic_long_sub(bytes, &user->n_bytes);
	atomic_sub(requests, &user->n_requests);
}

/**
 * bus1_user_show() - list the users with something charged, for debugfs
 * @m:		the seq_file.
 *
 * One line per user: "UID REQUESTS BYTES".
 */
void bus1_user_show(struct seq_file *m)
{
	struct bus1_user *user;
	unsigned long uid;

	xa_lock(&bus1_users);
	xa_for_each(&bus1_users, uid, user)
		seq_printf(m, "%u %d %ld\n", user->uid,
			   atomic_read(&user->n_requests),
			   atomic_long_read(&user->n_bytes));
	xa_unlock(&bus1_users);
}

/**
 * bus1_user_exit() - release the user table at module unload
 *
 * Every peer is gone, and with them their users.
 */
void bus1_user_exit(void)
{
	xa_destroy(&bus1_users);
}
