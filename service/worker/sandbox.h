/* sandbox.h — what confines vireo-worker once it holds everything it needs (sandbox.c). */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Moves the process into a mount namespace of its own whose root is an empty read-only tmpfs holding
 * only /usr (read-only), /proc and the harmless device nodes (null, zero, random, urandom).  The
 * namespace is owned by a user namespace that maps only the worker's own uid and gid, so it needs no
 * privilege and grants none outside.  Must run while the process has one thread; paths opened before
 * stay usable through their fds.  FALSE and @error when the kernel refuses (user namespaces turned off):
 * the caller logs it and carries on under seccomp alone. */
gboolean vireo_sandbox_enter_namespace (uid_t user, GError **error);

/* Started as root for a machine of the system service (@user not (uid_t) -1 in
 * vireo_sandbox_enter_namespace too): the worker becomes @user (uid and gid), losing every capability.
 * The namespace maps root and @user to themselves, so vireod (root) stays known as root to the worker's
 * D-Bus peers' checks; a namespace that only mapped @user would show it as the overflow uid. */
gboolean vireo_sandbox_become_user (uid_t user, GError **error);

/* Empties every capability set of the process (bounding, ambient, inheritable, permitted, effective);
 * with @keep_effective only the bounding and ambient sets, so that a change of user can follow. */
gboolean vireo_sandbox_drop_capabilities (gboolean keep_effective, GError **error);

/* Installs the process-wide seccomp allow-list on the calling thread, which must still be the only one,
 * and makes every thread the core starts narrow it to its role (hv_set_thread_start_hook).  A call
 * outside the list kills the process with SIGSYS.  Needs no-new-privs. */
gboolean vireo_sandbox_apply_seccomp (GError **error);

/* The test hook: with VIREO_WORKER_TEST_FORBIDDEN_SYSCALL set to "main", "vcpu", "io" or "display"
 * (optionally followed by ":MS", a delay in milliseconds), the first thread of that role makes a call its
 * filter forbids (socket(AF_PACKET)) once it is confined, so tests can see the worker die of SIGSYS.  It can
 * only make the worker die, never widen the sandbox. */
#define VIREO_SANDBOX_TEST_VARIABLE "VIREO_WORKER_TEST_FORBIDDEN_SYSCALL"

G_END_DECLS
