/* main.c — the vireo app's entry point. */
#include <glib/gi18n.h>
#include <locale.h>

#include "vireo-application.h"
#include "vireo-ssh.h"

int
main (int argc, char **argv)
{
  g_autoptr (VireoApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* Run by ssh as its SSH_ASKPASS on the app's behalf (vireo-ssh.c): pass the question on, print the answer. */
  if (g_getenv ("VIREO_ASKPASS_SOCKET"))
    return vireo_ssh_askpass_main (argc > 1 ? argv[1] : "");

  app = vireo_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
