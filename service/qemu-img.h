/* qemu-img.h — qemu-img (package qemu-utils) as a watched subprocess: run as a given user, with one
 * descriptor as its fd 3 (and maybe a folder as its fd 4), its "-p" progress reported as it comes, and what it said kept for the error. */
#pragma once

#include "open-as.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* The qemu-img on $PATH, or NULL (with @error NotSupported saying which package to install). */
char *vireo_qemu_img_find (GError **error);

/* @fraction from 0.0 to below 1.0, rising by at least 0.01 from one call to the next. */
typedef void (*VireoQemuImgProgress) (double fraction, gpointer user_data);

/* Runs @argv (argv[0] the path of qemu-img) as @identity (copied; NULL or not changing: vireod's own
 * user), with @fd (taken; -1 for none) as its fd 3 and nothing else inherited.  Cancelling
 * @cancellable ends it.  Fails with Failed and what qemu-img said, or PermissionDenied when it could
 * not take the identity. */
void vireo_qemu_img_run_async (const char *const *argv, int fd, const VireoIdentity *identity,
                               VireoQemuImgProgress progress, gpointer progress_data,
                               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
/* The same, with @folder_fd (taken; -1 for none) as its fd 4 too: a folder to write a result in
 * (/proc/self/fd/4/<name>) while fd 3 is what it reads. */
void vireo_qemu_img_run_with_folder_async (const char *const *argv, int fd, int folder_fd,
                                           const VireoIdentity *identity, VireoQemuImgProgress progress,
                                           gpointer progress_data, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
gboolean vireo_qemu_img_run_finish (GAsyncResult *result, GError **error);
/* The same, and on success what it printed (progress taken out), one line per line, whitespace trimmed. */
gboolean vireo_qemu_img_run_finish_with_output (GAsyncResult *result, char **output, GError **error);

G_END_DECLS
