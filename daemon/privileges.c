/* SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later */
/*
 * Privileges. bus1d parses what every application on the machine sends,
 * so it should hold no privilege while it does. It needs exactly one
 * thing that takes privilege, opening the control device (the module
 * checks CAP_SYS_ADMIN at open; the node is root's, mode 0600), and
 * nothing once it has attached: the control file, the io_uring ring, the
 * signalfd and the stats socket are all open by then.
 *
 * So right after ATTACH the loop calls privileges_drop(): with --user
 * (bus1d started as root by hand) it first becomes that user, its group
 * and no supplementary groups; in every case it then drops every
 * capability (effective, permitted, inheritable and, with them, ambient)
 * and sets no_new_privs, so nothing it could ever execute gets privilege
 * back. Under systemd the unit starts it as a dynamic user whose only
 * capabilities are CAP_SYS_ADMIN and CAP_DAC_OVERRIDE (for the root-owned
 * node), and this drops those. The bounding set is left alone: clearing
 * it needs CAP_SETPCAP, and with nothing permitted and no_new_privs set it
 * grants nothing.
 */

#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <cap-ng.h>
#include "log.h"
#include "privileges.h"

/* Become @user: its UID, its primary GID, no supplementary groups. */
static int privileges_become(const char *user)
{
	struct passwd *pw;
	int r;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		r = errno ? -errno : -ESRCH;
		log_msg(LOG_ERR, "cannot find user %s: %s", user, strerror(-r));
		return r;
	}
	/* Applies the cleared capability set once the IDs are changed. */
	r = capng_change_id(pw->pw_uid, pw->pw_gid, CAPNG_DROP_SUPP_GRP);
	if (r) {
		log_msg(LOG_ERR, "cannot become user %s (uid %u): libcap-ng error %d",
			user, (unsigned int)pw->pw_uid, r);
		return -EPERM;
	}
	return 0;
}

/**
 * privileges_drop() - give up every privilege for good
 * @user:	user to become first, or NULL to stay who we are
 *
 * Return: 0, or a negative errno; the caller must then exit, since it
 * would run with privileges it promised to give up.
 */
int privileges_drop(const char *user)
{
	int r;

	capng_clear(CAPNG_SELECT_BOTH);
	if (user) {
		r = privileges_become(user);
		if (r < 0)
			return r;
	} else if (capng_apply(CAPNG_SELECT_CAPS)) {
		log_msg(LOG_ERR, "cannot drop capabilities");
		return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		log_msg(LOG_ERR, "cannot set no_new_privs: %m");
		return r;
	}

	/* Trust the kernel's view, not the library's. */
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_get_caps_process() ||
	    capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
		log_msg(LOG_ERR, "capabilities remain after dropping them");
		return -EPERM;
	}
	log_msg(LOG_INFO, "running as uid %u, gid %u, with no capabilities",
		(unsigned int)getuid(), (unsigned int)getgid());
	return 0;
}
