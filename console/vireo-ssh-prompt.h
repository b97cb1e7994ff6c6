/* vireo-ssh-prompt.h — ssh's questions (an unknown host key, a key's passphrase) as dialogs of the app: the
 * prompt of vireo-ssh.h, installed by the application for as long as it runs. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* From now on ssh asks through @app's windows; vireo itself, in its prompt mode, is SSH_ASKPASS. */
void vireo_ssh_prompt_install (GtkApplication *app);
void vireo_ssh_prompt_uninstall (void);

G_END_DECLS
