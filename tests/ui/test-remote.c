/* test-remote.c — a remote Vireo host in the app: "Connect to Server…" with its inline checks, the host's
 * machines in the sidebar and beside it, "Connection lost" when the tunnel dies, Reconnect and Forget.  The
 * remote host is the test's own vireod behind the test sshd (tests/ssh-fixture.c), so it lists the machines
 * the session host lists. */
#include "ssh-fixture.h"
#include "ui-fixture.h"
#include "display/vireo-display-private.h"
#include "vireo-connect-server.h"
#include "vireo-connection.h"
#include "vireo-new-machine.h"

#include <signal.h>
#include <string.h>

#define WAIT_SECONDS 60

static VireoUiFixture fixture;
static VireoSshFixture ssh;
static char *uri;
static char *machine_path;

static GtkWidget *
window_widget (void)
{
  return GTK_WIDGET (fixture.window);
}

static VireoHost *
remote_host (void)
{
  GListModel *hosts = vireo_application_get_hosts (fixture.app);

  for (guint i = 0; i < g_list_model_get_n_items (hosts); i++)
    {
      g_autoptr (GObject) host = g_list_model_get_item (hosts, i);
      if (vireo_host_get_kind (VIREO_HOST (host)) == VIREO_HOST_REMOTE)
        return VIREO_HOST (host);
    }
  return NULL;
}

static char **
remembered (void)
{
  g_autoptr (GSettings) settings = vireo_application_get_settings ();

  g_assert_nonnull (settings);
  return g_settings_get_strv (settings, "remote-hosts");
}

static gboolean
remote_lists_machine (gpointer data)
{
  VireoHost *host = remote_host ();

  return host && vireo_host_get_available (host) && vireo_host_find_machine (host, machine_path);
}

/* The dialog says what is wrong while the address is typed, and adds the host on Connect. */
static void
test_connect_dialog (void)
{
  GtkWindow *dialog;
  GtkEditable *entry;
  g_auto (GStrv) uris = NULL;
  g_autofree char *title = g_strdup_printf ("127.0.0.1:%d", ssh.port);

  machine_path = vireo_ui_create_machine (&fixture, "far-alpha", "echo", FALSE);
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (fixture.app), "connect-server"));
  g_action_group_activate_action (G_ACTION_GROUP (fixture.app), "connect-server", NULL);
  vireo_ui_spin (300);
  dialog = vireo_ui_find_window ("connect-server");
  g_assert_nonnull (dialog);
  entry = GTK_EDITABLE (vireo_ui_find_named (GTK_WIDGET (dialog), "server-address"));
  g_assert_nonnull (entry);
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "connect"));

  gtk_editable_set_text (entry, "myserver");
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "must start with “ssh://”", WAIT_SECONDS));
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "connect"));
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "remote-connect-invalid"));

  gtk_editable_set_text (entry, uri);
  vireo_ui_spin (300);
  g_assert_null (vireo_ui_find_label (GTK_WIDGET (dialog), "is not a host address"));
  g_assert_true (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "connect"));
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "remote-connect-valid"));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "connect");
  gtk_window_destroy (dialog);

  /* Remembered, listed, selected, and its machines shown. */
  uris = remembered ();
  g_assert_cmpuint (g_strv_length (uris), ==, 1);
  g_assert_cmpstr (uris[0], ==, uri);
  g_assert_nonnull (remote_host ());
  g_assert_true (vireo_ui_wait (remote_lists_machine, NULL, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "far-alpha", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Connected · 1 machine", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (window_widget (), title));
  vireo_ui_spin (500);
  g_object_unref (vireo_ui_render (window_widget (), "remote-sidebar-connected"));

  /* The same address again is refused before Connect. */
  dialog = vireo_connect_server_show (fixture.app, GTK_WINDOW (fixture.window));
  entry = GTK_EDITABLE (vireo_ui_find_named (GTK_WIDGET (dialog), "server-address"));
  gtk_editable_set_text (entry, uri);
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "already in the list", WAIT_SECONDS));
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "connect"));
  gtk_window_destroy (dialog);
}

/* A remote host's machine takes paths on that host: the wizard's file button asks for one and says why, and
 * the path is not judged against this computer's files. */
static void
test_remote_paths (void)
{
  const char *remote_iso = "/srv/vireo-remote-only/installer.iso";
  GtkWindow *wizard = GTK_WINDOW (vireo_new_machine_new (GTK_WINDOW (fixture.window), remote_host ()));
  GtkWidget *button, *entry;
  GtkWindow *dialog;
  g_autofree char *says = g_strdup_printf ("This machine runs on 127.0.0.1:%d", ssh.port);

  gtk_window_present (wizard);
  vireo_ui_spin (300);
  button = GTK_WIDGET (
      gtk_widget_get_template_child (GTK_WIDGET (wizard), VIREO_TYPE_NEW_MACHINE, "iso_choose"));
  g_assert_nonnull (button);
  g_signal_emit_by_name (button, "clicked");
  vireo_ui_spin (300);
  dialog = vireo_ui_find_window ("remote-path-dialog");
  g_assert_nonnull (dialog);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), says));
  entry = vireo_ui_find_named (GTK_WIDGET (dialog), "remote-path");
  gtk_editable_set_text (GTK_EDITABLE (entry), remote_iso);
  g_assert_true (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "choose"));
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "remote-path-dialog"));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "choose");
  gtk_window_destroy (dialog);
  vireo_ui_spin (300);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (gtk_widget_get_template_child (
                       GTK_WIDGET (wizard), VIREO_TYPE_NEW_MACHINE, "iso_row"))),
                   ==, remote_iso);
  /* Not there on this computer, which is not where it must be. */
  g_assert_null (vireo_ui_find_label (GTK_WIDGET (wizard), "does not exist"));
  gtk_window_destroy (wizard);
}

/* The mapped display under @root, or NULL. */
static VireoDisplay *
find_display (GtkWidget *root)
{
  return (VireoDisplay *) vireo_ui_find_mapped_type (root, VIREO_TYPE_DISPLAY);
}

static gboolean
display_connected (gpointer data)
{
  VireoDisplay *display = find_display (data);
  int width = 0, height = 0;

  if (!display || vireo_display_get_state (display) != VIREO_DISPLAY_CONNECTED)
    return FALSE;
  vireo_display_get_guest_size (display, &width, &height);
  return width > 0;
}

/* The guest's test pattern has yellow and blue bars along the row at 3/4 of the display's height. */
static gboolean
pattern_shown (gpointer data)
{
  static gint64 last_look;
  VireoDisplay *display = find_display (data);
  g_autoptr (GdkTexture) shot = NULL;
  gboolean yellow = FALSE, blue = FALSE;
  int y;

  /* A render takes a while here: done on every turn of the main loop, it would starve the SPICE session it
   * waits for. */
  if (!display || g_get_monotonic_time () - last_look < G_USEC_PER_SEC)
    return FALSE;
  last_look = g_get_monotonic_time ();
  shot = vireo_ui_render (GTK_WIDGET (display), NULL);
  y = gdk_texture_get_height (shot) * 3 / 4;
  for (int x = 0; x < gdk_texture_get_width (shot); x++)
    {
      guint32 pixel = vireo_ui_pixel (shot, x, y);
      yellow |= pixel == 0xffff00;
      blue |= pixel == 0x0000ff;
    }
  return yellow && blue;
}

static gboolean
guest_ready (gpointer path)
{
  g_autofree char *output = vireo_ui_serial_output (&fixture, path);

  return strstr (output, "display: input ready") != NULL;
}

/* A remote machine's display in its connection window: SPICE through ssh and vireo-tunnel. */
static void
test_remote_display (void)
{
  g_autofree char *path = vireo_ui_create_machine (&fixture, "far-screen", "display", TRUE);
  VireoDBusMachine *machine;
  GtkWindow *window;

  vireo_ui_machine_call (&fixture, path, "Start");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "running", WAIT_SECONDS));
  /* The guest has drawn its pattern once it says so. */
  g_assert_true (vireo_ui_wait (guest_ready, path, WAIT_SECONDS));
  {
    char *listed = machine_path;

    machine_path = path;
    g_assert_true (vireo_ui_wait (remote_lists_machine, NULL, WAIT_SECONDS));
    machine_path = listed;
  }
  machine = vireo_host_find_machine (remote_host (), path);
  window = vireo_application_connect (fixture.app, remote_host (), machine);
  g_assert_true (VIREO_IS_CONNECTION (window));
  if (!vireo_ui_wait (display_connected, window, WAIT_SECONDS))
    g_error ("the remote display never connected");
  g_assert_true (find_display (GTK_WIDGET (window))->streams == VIREO_STREAM_SOURCE (remote_host ()));
  /* Connected within seconds, the first whole frame through the tunnel has then taken from one to three
   * minutes here (locally: at once): a deadline, not an expectation. */
  g_assert_true (vireo_ui_wait (pattern_shown, window, 4 * WAIT_SECONDS));
  g_object_unref (vireo_ui_render (GTK_WIDGET (window), "remote-connection-display"));
  gtk_window_destroy (window);
  vireo_ui_machine_call (&fixture, path, "TurnOff");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "off", WAIT_SECONDS));
}

static gboolean
remote_lost (gpointer data)
{
  return vireo_host_get_state (remote_host ()) == VIREO_HOST_LOST;
}

/* The tunnel dies while the host is down: "Connection lost" with ssh's reason, not "No Machines"; once the
 * host is back, Reconnect brings the machines back. */
static void
test_connection_lost (void)
{
  g_autofree char *status = NULL;

  vireo_ssh_fixture_stop_server (&ssh);
  g_assert_true (vireo_test_signal_processes ("ssh", ssh.config, SIGKILL, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (remote_lost, NULL, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Connection Lost", WAIT_SECONDS));
  /* Retries fail while sshd is away; each says why. */
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Connection refused", WAIT_SECONDS));
  g_assert_null (vireo_ui_find_label (window_widget (), "No Machines"));
  g_assert_nonnull (vireo_ui_find_label (window_widget (), "Connection lost"));
  status = g_strdup (vireo_host_get_status (remote_host ()));
  g_test_message ("the remote host says: %s", status);
  g_assert_true (g_str_has_prefix (status, "Connection lost: "));
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (window_widget (), "remote-connection-lost"));

  vireo_ssh_fixture_start_server (&ssh);
  g_assert_true (gtk_widget_activate_action (window_widget (), "win.host-reconnect", "s", uri));
  g_assert_true (vireo_ui_wait (remote_lists_machine, NULL, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "far-alpha", WAIT_SECONDS));
}

/* Forget: gone from the sidebar and from the setting; the window shows a local host again. */
static void
test_forget (void)
{
  g_auto (GStrv) uris = NULL;
  g_autofree char *title = g_strdup_printf ("127.0.0.1:%d", ssh.port);

  g_assert_true (gtk_widget_activate_action (window_widget (), "win.host-forget", "s", uri));
  vireo_ui_spin (300);
  g_assert_null (remote_host ());
  uris = remembered ();
  g_assert_cmpuint (g_strv_length (uris), ==, 0);
  g_assert_null (vireo_ui_find_label (window_widget (), title));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "My Machines", WAIT_SECONDS));
}

static gboolean
remote_connected (gpointer data)
{
  VireoHost *host = remote_host ();

  return host && vireo_host_get_available (host);
}

/* A host key ssh does not know: ssh asks through vireo (its SSH_ASKPASS), the app shows the question with the
 * fingerprint, and Trust lets ssh record the key and connect. */
static void
test_host_key_prompt (void)
{
  g_autofree char *known_hosts = g_build_filename (ssh.dir, "new_known_hosts", NULL);
  g_autofree char *saved_command = g_strdup (g_getenv ("VIREO_SSH_COMMAND"));
  g_autofree char *command = g_strdup_printf ("%s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=ask",
                                              saved_command, known_hosts);
  g_autofree char *user_uri = g_strdup_printf ("ssh://root@127.0.0.1:%d", ssh.port);
  g_autofree char *recorded = NULL;
  g_autoptr (GError) error = NULL;
  GtkWindow *prompt = NULL;
  const char *body;

  if (!g_getenv ("VIREO_ASKPASS_PROGRAM"))
    {
      g_test_skip ("VIREO_ASKPASS_PROGRAM does not name the vireo binary");
      return;
    }
  g_setenv ("VIREO_SSH_COMMAND", command, TRUE);
  g_assert_true (vireo_application_add_host_uri (fixture.app, user_uri, &error));
  g_assert_no_error (error);
  for (int i = 0; i < WAIT_SECONDS * 10 && !(prompt = vireo_ui_find_window ("ssh-prompt")); i++)
    vireo_ui_spin (100);
  g_assert_nonnull (prompt);
  body = adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (prompt));
  g_test_message ("ssh asks: %s", body);
  g_assert_nonnull (strstr (body, "fingerprint is SHA256:"));
  g_assert_nonnull (strstr (body, "Connect only if you know this is the host’s key"));
  g_assert_null (strstr (body, "(yes/no"));
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (prompt)), ==, "Trust This Host?");
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (prompt), "remote-host-key-prompt"));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (prompt), "yes");
  /* A click closes the dialog; emitting the response does not. */
  gtk_window_destroy (prompt);

  g_assert_true (vireo_ui_wait (remote_connected, NULL, WAIT_SECONDS));
  g_assert_true (g_file_get_contents (known_hosts, &recorded, NULL, NULL));
  g_assert_nonnull (strstr (recorded, "ssh-ed25519"));
  g_setenv ("VIREO_SSH_COMMAND", saved_command, TRUE);
  vireo_application_forget_host (fixture.app, G_OBJECT (remote_host ()));
  g_assert_null (remote_host ());
}

/* A key with a passphrase: ssh asks for it through the app, and the typed passphrase unlocks it. */
static void
test_passphrase_prompt (void)
{
  g_autofree char *key = g_build_filename (ssh.dir, "locked_key", NULL);
  g_autofree char *pub = g_strconcat (key, ".pub", NULL);
  g_autofree char *authorized = g_build_filename (ssh.dir, "authorized_keys", NULL);
  g_autofree char *saved_command = g_strdup (g_getenv ("VIREO_SSH_COMMAND"));
  /* The command line's IdentityFile is offered before the config's. */
  g_autofree char *command = g_strdup_printf ("%s -o IdentityFile=%s", saved_command, key);
  g_autofree char *session_uri = vireo_ssh_fixture_uri (&ssh, "/session");
  g_autofree char *pub_text = NULL, *keys = NULL, *both = NULL;
  const char *keygen[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "open sesame", "-f", key, NULL };
  g_autoptr (GError) error = NULL;
  GtkWindow *prompt = NULL;
  GtkWidget *entry;

  if (!g_getenv ("VIREO_ASKPASS_PROGRAM"))
    {
      g_test_skip ("VIREO_ASKPASS_PROGRAM does not name the vireo binary");
      return;
    }
  g_assert_cmpint (vireo_test_run_judge (keygen, NULL), ==, 0);
  g_assert_true (g_file_get_contents (pub, &pub_text, NULL, NULL));
  g_assert_true (g_file_get_contents (authorized, &keys, NULL, NULL));
  both = g_strconcat (keys, pub_text, NULL);
  g_assert_true (g_file_set_contents (authorized, both, -1, NULL));

  g_setenv ("VIREO_SSH_COMMAND", command, TRUE);
  g_assert_true (vireo_application_add_host_uri (fixture.app, session_uri, &error));
  g_assert_no_error (error);
  for (int i = 0; i < WAIT_SECONDS * 10 && !(prompt = vireo_ui_find_window ("ssh-prompt")); i++)
    vireo_ui_spin (100);
  g_assert_nonnull (prompt);
  g_test_message ("ssh asks: %s", adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (prompt)));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (prompt)), "locked_key"));
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (prompt)), ==, "Password Needed");
  entry = adw_message_dialog_get_extra_child (ADW_MESSAGE_DIALOG (prompt));
  g_assert_true (GTK_IS_PASSWORD_ENTRY (entry));
  gtk_editable_set_text (GTK_EDITABLE (entry), "open sesame");
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (prompt), "remote-passphrase-prompt"));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (prompt), "unlock");
  gtk_window_destroy (prompt);

  g_assert_true (vireo_ui_wait (remote_connected, NULL, WAIT_SECONDS));
  g_setenv ("VIREO_SSH_COMMAND", saved_command, TRUE);
  vireo_application_forget_host (fixture.app, G_OBJECT (remote_host ()));
}

int
main (int argc, char **argv)
{
  const char *unavailable = vireo_ssh_fixture_unavailable ();
  g_autofree char *ssh_dir = NULL, *system_bus = NULL;
  g_autofree char *session_bus = NULL, *build_dir = NULL, *path = NULL;
  const char *environment[4] = { NULL };
  int status;

  if (unavailable)
    {
      g_print ("1..0 # SKIP %s\n", unavailable);
      return 0;
    }
  /* ssh's questions come through the app's own binary, which the test program is not. */
  if (g_getenv ("VIREO_APP"))
    g_setenv ("VIREO_ASKPASS_PROGRAM", g_getenv ("VIREO_APP"), TRUE);
  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  ssh_dir = g_build_filename (fixture.base, "ssh", NULL);
  system_bus = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s", g_test_dbus_get_bus_address (fixture.bus));
  session_bus = g_strdup_printf ("DBUS_SESSION_BUS_ADDRESS=%s", g_test_dbus_get_bus_address (fixture.bus));
  /* vireo-tunnel from the build tree, as if installed on the remote host. */
  build_dir = g_path_get_dirname (g_getenv ("VIREOD"));
  path = g_strdup_printf ("PATH=%s/tunnel", build_dir);
  environment[0] = system_bus;
  environment[1] = session_bus;
  environment[2] = path;
  vireo_ssh_fixture_start (&ssh, ssh_dir, environment);
  uri = vireo_ssh_fixture_uri (&ssh, "");

  g_test_add_func ("/remote/connect-dialog", test_connect_dialog);
  g_test_add_func ("/remote/paths", test_remote_paths);
  g_test_add_func ("/remote/display", test_remote_display);
  g_test_add_func ("/remote/connection-lost", test_connection_lost);
  g_test_add_func ("/remote/forget", test_forget);
  g_test_add_func ("/remote/host-key-prompt", test_host_key_prompt);
  g_test_add_func ("/remote/passphrase-prompt", test_passphrase_prompt);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  vireo_ssh_fixture_stop (&ssh);
  g_free (uri);
  g_free (machine_path);
  return status;
}
