/* vireo-ssh-prompt.c — ssh's questions as dialogs: a yes/no for a host key ssh does not know yet (with the
 * fingerprint ssh shows), a password entry for a passphrase.  ssh reaches us through the vireo binary run as
 * its SSH_ASKPASS (vireo-ssh.c), so the question appears where the user is: over the app's window. */
#include "vireo-ssh-prompt.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <string.h>

#include "vireo-ssh.h"

/* The program ssh runs to ask: $VIREO_ASKPASS_PROGRAM, else this very program when it is vireo (not a test
 * that links the app), else the installed vireo. */
static char *
askpass_program (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *installed = g_build_filename (VIREO_BINDIR, "vireo", NULL);
  g_autofree char *base = self ? g_path_get_basename (self) : NULL;

  if (g_getenv ("VIREO_ASKPASS_PROGRAM"))
    return g_strdup (g_getenv ("VIREO_ASKPASS_PROGRAM"));
  if (g_strcmp0 (base, "vireo") == 0)
    return g_steal_pointer (&self);
  if (g_file_test (installed, G_FILE_TEST_IS_EXECUTABLE))
    return g_steal_pointer (&installed);
  return NULL;
}

static void
on_response (AdwMessageDialog *dialog, const char *response, gpointer request)
{
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "vireo-entry");

  /* One answer per question: the request is gone once answered. */
  g_signal_handlers_disconnect_by_func (dialog, on_response, request);
  if (g_str_equal (response, "yes"))
    vireo_ssh_prompt_answer (request, "yes");
  else if (g_str_equal (response, "unlock") && entry)
    vireo_ssh_prompt_answer (request, gtk_editable_get_text (entry));
  else
    vireo_ssh_prompt_answer (request, NULL);
  /* GTK 4.8's password entry, destroyed while it has the focus, reads itself after it is gone. */
  if (entry)
    gtk_window_set_focus (GTK_WINDOW (dialog), NULL);
}

static void
show_prompt (VireoSshPromptKind kind, const char *prompt, gpointer request, gpointer data)
{
  GtkApplication *app = data;
  GtkWindow *parent = gtk_application_get_active_window (app);
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent, NULL, prompt));
  const char *question = strstr (prompt, "Are you sure you want to continue connecting");

  if (kind == VIREO_SSH_PROMPT_CONFIRM)
    {
      /* ssh's last line asks to type yes, no or the fingerprint: the buttons answer it. */
      if (question && question > prompt)
        {
          g_autofree char *facts = g_strstrip (g_strndup (prompt, question - prompt));
          adw_message_dialog_format_body (dialog, "%s\n\n%s", facts,
                                          _ ("Connect only if you know this is the host’s key."));
        }
      adw_message_dialog_set_heading (dialog, _ ("Trust This Host?"));
      adw_message_dialog_add_responses (dialog, "no", _ ("_Cancel"), "yes", _ ("_Trust and Connect"), NULL);
      adw_message_dialog_set_response_appearance (dialog, "yes", ADW_RESPONSE_SUGGESTED);
      /* A key is trusted on purpose, never by pressing Enter. */
      adw_message_dialog_set_default_response (dialog, "no");
      adw_message_dialog_set_close_response (dialog, "no");
    }
  else
    {
      GtkWidget *entry = gtk_password_entry_new ();

      adw_message_dialog_set_heading (dialog, _ ("Password Needed"));
      gtk_password_entry_set_show_peek_icon (GTK_PASSWORD_ENTRY (entry), TRUE);
      g_object_set (entry, "activates-default", TRUE, NULL);
      adw_message_dialog_set_extra_child (dialog, entry);
      g_object_set_data (G_OBJECT (dialog), "vireo-entry", entry);
      adw_message_dialog_add_responses (dialog, "cancel", _ ("_Cancel"), "unlock", _ ("_Unlock"), NULL);
      adw_message_dialog_set_response_appearance (dialog, "unlock", ADW_RESPONSE_SUGGESTED);
      adw_message_dialog_set_default_response (dialog, "unlock");
      adw_message_dialog_set_close_response (dialog, "cancel");
    }
  gtk_widget_set_name (GTK_WIDGET (dialog), "ssh-prompt");
  g_signal_connect (dialog, "response", G_CALLBACK (on_response), request);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
vireo_ssh_prompt_install (GtkApplication *app)
{
  g_autofree char *program = askpass_program ();

  if (program)
    vireo_ssh_set_prompt (program, show_prompt, app);
}

void
vireo_ssh_prompt_uninstall (void)
{
  vireo_ssh_set_prompt (NULL, NULL, NULL);
}
