/* test-new-machine.c — the New Machine wizard against the real vireod --session on a private bus: it creates
 * a machine that then exists with the chosen settings, and invalid input (empty, over-long or taken name,
 * missing or unsuitable kernel file, memory over the host's) keeps Next and Create blocked with the reason in
 * view.  Screenshots of every page go to $VIREO_SCREENSHOT_DIR (default /tmp). */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "ui-fixture.h"
#include "vireo-new-machine.h"

#define WAIT_SECONDS 60

static VireoUiFixture fixture;

/* Lets the app handle what the last change queued. */
static void
pump (void)
{
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

typedef struct
{
  char *path;
  gboolean connect_now;
  guint emissions;
} Created;

static void
on_created (VireoNewMachine *wizard, const char *path, gboolean connect_now, Created *created)
{
  g_free (created->path);
  created->path = g_strdup (path);
  created->connect_now = connect_now;
  created->emissions++;
}

static gboolean
pointer_cleared (gpointer data)
{
  return *(gpointer *) data == NULL;
}

static GtkWidget *
part (gpointer wizard, const char *name)
{
  GObject *object = gtk_widget_get_template_child (GTK_WIDGET (wizard), VIREO_TYPE_NEW_MACHINE, name);

  g_assert_nonnull (object);
  return GTK_WIDGET (object);
}

static void
set_text (gpointer wizard, const char *row, const char *text)
{
  gtk_editable_set_text (GTK_EDITABLE (part (wizard, row)), text);
  pump ();
}

static gboolean
is_sensitive (gpointer wizard, const char *name)
{
  return gtk_widget_get_sensitive (part (wizard, name));
}

/* The message under a field: visible, in the error colour, and containing @expected. */
static void
assert_error_shown (gpointer wizard, const char *label_name, const char *expected)
{
  GtkWidget *label = part (wizard, label_name);

  g_assert_true (gtk_widget_get_visible (label));
  g_assert_true (gtk_widget_has_css_class (label, "error"));
  if (strstr (gtk_label_get_text (GTK_LABEL (label)), expected) == NULL)
    g_error ("“%s” shows “%s”, which does not say “%s”", label_name, gtk_label_get_text (GTK_LABEL (label)),
             expected);
}

static void
press (gpointer wizard, const char *button)
{
  g_assert_true (is_sensitive (wizard, button));
  g_assert_true (gtk_widget_get_visible (part (wizard, button)));
  /* "clicked" itself: gtk_widget_activate() on a button clicks it only after a 250 ms flash. */
  g_signal_emit_by_name (part (wizard, button), "clicked");
  pump ();
}

typedef struct
{
  gpointer wizard;
  guint page;
} PageQuery;

static gboolean
page_shown (gpointer data)
{
  PageQuery *query = data;
  double position = adw_carousel_get_position (ADW_CAROUSEL (part (query->wizard, "carousel")));

  return G_APPROX_VALUE (position, (double) query->page, 0.001);
}

/* The carousel settles on @page (at once: the tests turn animations off). */
static void
assert_page (gpointer wizard, guint page)
{
  PageQuery query = { wizard, page };

  g_assert_true (vireo_ui_wait (page_shown, &query, WAIT_SECONDS));
}

static void
screenshot (gpointer wizard, const char *name)
{
  g_autofree char *file = g_strconcat ("vireo-new-machine-", name, NULL);

  gtk_test_widget_wait_for_draw (GTK_WIDGET (wizard));
  /* A row whose text just changed can be caught between its layout and its redraw. */
  vireo_ui_spin (100);
  g_object_unref (vireo_ui_render (GTK_WIDGET (wizard), file));
}

/* Whether one of the wizard's shortcuts binds Escape to window.close. */
static gboolean
escape_closes (gpointer wizard)
{
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (wizard));

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr (GObject) controller = g_list_model_get_item (controllers, i);

      if (!GTK_IS_SHORTCUT_CONTROLLER (controller))
        continue;
      for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (controller)); j++)
        {
          g_autoptr (GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (controller), j);
          g_autofree char *trigger = gtk_shortcut_trigger_to_string (gtk_shortcut_get_trigger (shortcut));
          g_autofree char *action = gtk_shortcut_action_to_string (gtk_shortcut_get_action (shortcut));

          if (g_str_equal (trigger, "Escape") && strstr (action, "window.close") != NULL)
            return TRUE;
        }
    }
  return FALSE;
}

typedef struct
{
  gpointer wizard;
  const char *text;
} TextQuery;

static gboolean
error_shown (gpointer data)
{
  TextQuery *query = data;

  return gtk_widget_get_visible (part (query->wizard, "error_group"))
         && strstr (gtk_label_get_text (GTK_LABEL (part (query->wizard, "error_label"))), query->text)
                != NULL;
}

static VireoNewMachine *
open_wizard (void)
{
  VireoNewMachine *wizard = vireo_new_machine_new (GTK_WINDOW (fixture.window), fixture.host);

  gtk_window_present (GTK_WINDOW (wizard));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (wizard));
  assert_page (wizard, 0);
  return wizard;
}

/* A machine made behind the wizard's back, straight through the service; returns once the app lists it. */
static void
create_machine_directly (const char *name)
{
  g_autofree char *path = vireo_ui_create_machine (&fixture, name, "hello", FALSE);

  g_assert_true (vireo_ui_wait_for_listed (&fixture, path, WAIT_SECONDS));
}

/* Every page filled with values that differ from the defaults, then Create: the machine the service lists
 * has exactly those settings, and the wizard announced it and closed. */
static void
test_create (void)
{
  g_autofree char *kernel = vireo_test_guest_path ("hello");
  VireoNewMachine *wizard = open_wizard ();
  VireoDBusManager *manager = vireo_host_get_manager (fixture.host);
  guint host_cpus = vireo_dbus_manager_get_host_cpus (manager);
  guint vcpus = MIN (host_cpus, 2);
  Created created = { NULL, FALSE, 0 };
  VireoDBusMachine *machine;
  g_autoptr (GVariant) settings = NULL;
  const char *text;
  gboolean flag;
  guint64 mib;
  guint32 count;

  g_signal_connect (wizard, "created", G_CALLBACK (on_created), &created);
  g_object_add_weak_pointer (G_OBJECT (wizard), (gpointer *) &wizard);

  /* 1: an ISO is the first choice; here a kernel, no initrd, a command line of our own. */
  g_assert_true (gtk_check_button_get_active (GTK_CHECK_BUTTON (part (wizard, "iso_radio"))));
  g_assert_false (is_sensitive (wizard, "next_button"));
  gtk_check_button_set_active (GTK_CHECK_BUTTON (part (wizard, "kernel_radio")), TRUE);
  pump ();
  g_assert_false (is_sensitive (wizard, "next_button"));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (part (wizard, "cmdline_row"))), ==, "console=ttyS0");
  set_text (wizard, "kernel_row", kernel);
  set_text (wizard, "cmdline_row", "console=ttyS0 quiet");
  g_assert_true (is_sensitive (wizard, "next_button"));
  screenshot (wizard, "1-boot");
  press (wizard, "next_button");
  assert_page (wizard, 1);

  /* 2: the location is the service's, read-only. */
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (wizard, "location_row"))), ==,
                   vireo_dbus_manager_get_storage_location (manager));
  g_assert_false (is_sensitive (wizard, "next_button"));
  screenshot (wizard, "2-name-empty");
  /* Surrounding spaces are not part of the name. */
  set_text (wizard, "name_row", "  Wizard Machine ");
  g_assert_true (is_sensitive (wizard, "next_button"));
  g_assert_false (gtk_widget_get_visible (part (wizard, "name_message")));
  screenshot (wizard, "2-name");
  press (wizard, "next_button");
  assert_page (wizard, 2);

  /* 3: the defaults fit the host; then 96 MiB and two processors where the host has them. */
  mib = (guint64) gtk_spin_button_get_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin")));
  g_assert_cmpuint (mib, >=, 32);
  g_assert_cmpuint (mib, <=, vireo_dbus_manager_get_host_memory_mib (manager));
  g_assert_cmpuint (gtk_adjustment_get_upper (GTK_ADJUSTMENT (gtk_widget_get_template_child (
                        GTK_WIDGET (wizard), VIREO_TYPE_NEW_MACHINE, "vcpus_adjustment"))),
                    ==, MIN (host_cpus, 64));
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin")), 96);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (wizard, "vcpus_spin")), vcpus);
  pump ();
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (wizard, "memory_row"))), ==, "96 MiB");
  g_assert_false (gtk_widget_get_visible (part (wizard, "memory_warning")));
  screenshot (wizard, "3-resources");
  press (wizard, "next_button");
  assert_page (wizard, 3);

  /* 4: NAT and no display, the opposite of the defaults. */
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (part (wizard, "network_row"))), ==, 0);
  g_assert_true (gtk_switch_get_active (GTK_SWITCH (part (wizard, "display_switch"))));
  adw_combo_row_set_selected (ADW_COMBO_ROW (part (wizard, "network_row")), 1);
  gtk_switch_set_active (GTK_SWITCH (part (wizard, "display_switch")), FALSE);
  pump ();
  screenshot (wizard, "4-devices");
  press (wizard, "next_button");
  assert_page (wizard, 4);

  /* 5: the summary, Create in place of Next. */
  g_assert_false (gtk_widget_get_visible (part (wizard, "next_button")));
  g_assert_true (gtk_widget_get_visible (part (wizard, "create_button")));
  g_assert_false (gtk_widget_get_visible (part (wizard, "error_group")));
  g_assert_true (gtk_check_button_get_active (GTK_CHECK_BUTTON (part (wizard, "connect_check"))));
  gtk_check_button_set_active (GTK_CHECK_BUTTON (part (wizard, "connect_check")), FALSE);
  screenshot (wizard, "5-summary");
  press (wizard, "create_button");
  g_assert_true (vireo_ui_wait (pointer_cleared, &wizard, WAIT_SECONDS));

  g_assert_cmpuint (created.emissions, ==, 1);
  g_assert_false (created.connect_now);
  g_assert_nonnull (created.path);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, created.path, WAIT_SECONDS));
  machine = vireo_host_find_machine (fixture.host, created.path);
  g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "Wizard Machine");
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  settings = vireo_dbus_machine_dup_settings (machine);
  g_assert_nonnull (settings);
  g_assert_true (g_variant_lookup (settings, "name", "&s", &text));
  g_assert_cmpstr (text, ==, "Wizard Machine");
  g_assert_true (g_variant_lookup (settings, "memory-mib", "t", &mib));
  g_assert_cmpuint (mib, ==, 96);
  g_assert_true (g_variant_lookup (settings, "vcpus", "u", &count));
  g_assert_cmpuint (count, ==, vcpus);
  g_assert_true (g_variant_lookup (settings, "boot", "&s", &text));
  g_assert_cmpstr (text, ==, "kernel");
  g_assert_true (g_variant_lookup (settings, "kernel", "&s", &text));
  g_assert_cmpstr (text, ==, kernel);
  g_assert_true (g_variant_lookup (settings, "initrd", "&s", &text));
  g_assert_cmpstr (text, ==, "");
  g_assert_true (g_variant_lookup (settings, "cmdline", "&s", &text));
  g_assert_cmpstr (text, ==, "console=ttyS0 quiet");
  g_assert_true (g_variant_lookup (settings, "network", "&s", &text));
  g_assert_cmpstr (text, ==, "nat");
  /* NAT is one network adapter on the Default Switch, with an address the service made for it. */
  {
    g_autoptr (GVariant) nics = g_variant_lookup_value (settings, "nics", G_VARIANT_TYPE ("aa{sv}"));
    g_autoptr (GVariant) nic = NULL;

    g_assert_nonnull (nics);
    g_assert_cmpuint (g_variant_n_children (nics), ==, 1);
    nic = g_variant_get_child_value (nics, 0);
    g_assert_true (g_variant_lookup (nic, "switch", "&s", &text));
    g_assert_cmpstr (text, ==, "Default Switch");
    g_assert_true (g_variant_lookup (nic, "mac", "&s", &text));
    g_assert_true (g_str_has_prefix (text, "52:54:00:"));
  }
  g_assert_true (g_variant_lookup (settings, "display", "b", &flag));
  g_assert_false (flag);
  g_free (created.path);
}

/* Each kind of bad input keeps its page's Next blocked and says why; fixing it unblocks. */
static void
test_invalid_input (void)
{
  g_autofree char *kernel = vireo_test_guest_path ("hello");
  g_autofree char *long_name = g_strnfill (65, 'x');
  g_autofree char *unreadable = g_build_filename (fixture.base, "unreadable.elf", NULL);
  VireoDBusManager *manager = vireo_host_get_manager (fixture.host);
  guint64 host_mib = vireo_dbus_manager_get_host_memory_mib (manager);
  GListModel *machines = vireo_host_get_machines (fixture.host);
  VireoNewMachine *wizard;
  guint n_machines;

  create_machine_directly ("Taken");
  wizard = open_wizard ();
  g_object_add_weak_pointer (G_OBJECT (wizard), (gpointer *) &wizard);

  /* The kernel: missing, a folder, unreadable; the initrd likewise. */
  gtk_check_button_set_active (GTK_CHECK_BUTTON (part (wizard, "kernel_radio")), TRUE);
  pump ();
  set_text (wizard, "kernel_row", "/nonexistent/vireo/kernel.elf");
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "kernel_message", "does not exist");
  screenshot (wizard, "invalid-1-kernel-missing");
  set_text (wizard, "kernel_row", fixture.base);
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "kernel_message", "folder");
  set_text (wizard, "kernel_row", "vmlinuz");
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "kernel_message", "full path");
  g_assert_true (g_file_set_contents (unreadable, "x", 1, NULL));
  g_assert_cmpint (g_chmod (unreadable, 0), ==, 0);
  if (access (unreadable, R_OK) < 0) /* root reads anything */
    {
      set_text (wizard, "kernel_row", unreadable);
      g_assert_false (is_sensitive (wizard, "next_button"));
      assert_error_shown (wizard, "kernel_message", "cannot be read");
    }
  set_text (wizard, "kernel_row", kernel);
  g_assert_true (is_sensitive (wizard, "next_button"));
  set_text (wizard, "initrd_row", "/nonexistent/vireo/initrd.img");
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "kernel_message", "initrd.img");
  g_assert_true (gtk_widget_has_css_class (part (wizard, "initrd_row"), "error"));
  set_text (wizard, "initrd_row", "");
  g_assert_true (is_sensitive (wizard, "next_button"));

  /* A disk image instead: required, and its format is read from the file. */
  gtk_check_button_set_active (GTK_CHECK_BUTTON (part (wizard, "disk_radio")), TRUE);
  pump ();
  g_assert_true (gtk_widget_get_visible (part (wizard, "disk_group")));
  g_assert_false (gtk_widget_get_visible (part (wizard, "kernel_group")));
  g_assert_false (is_sensitive (wizard, "next_button"));
  set_text (wizard, "image_row", "/nonexistent/vireo/disk.qcow2");
  assert_error_shown (wizard, "image_message", "does not exist");
  {
    g_autofree char *qcow2 = g_build_filename (fixture.base, "disk.qcow2", NULL);
    g_autofree char *raw = g_build_filename (fixture.base, "disk.img", NULL);

    g_assert_true (g_file_set_contents (qcow2, "QFI\xfb\0\0\0\3", 8, NULL));
    g_assert_true (g_file_set_contents (raw, "\0\0\0\0\0\0\0\0", 8, NULL));
    set_text (wizard, "image_row", qcow2);
    g_assert_true (is_sensitive (wizard, "next_button"));
    g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (wizard, "image_format_label"))), "qcow2"));
    screenshot (wizard, "invalid-1-disk");
    set_text (wizard, "image_row", raw);
    g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (wizard, "image_format_label"))), "Raw"));
  }
  gtk_check_button_set_active (GTK_CHECK_BUTTON (part (wizard, "kernel_radio")), TRUE);
  pump ();
  g_assert_true (is_sensitive (wizard, "next_button"));
  press (wizard, "next_button");

  /* Empty: a quiet hint, not an error, and no way on. */
  g_assert_false (is_sensitive (wizard, "next_button"));
  g_assert_true (gtk_widget_get_visible (part (wizard, "name_message")));
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (part (wizard, "name_message"))), !=, "");
  set_text (wizard, "name_row", "   ");
  g_assert_false (is_sensitive (wizard, "next_button"));

  set_text (wizard, "name_row", "Taken");
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "name_message", "already");
  g_assert_true (gtk_widget_has_css_class (part (wizard, "name_row"), "error"));
  set_text (wizard, "name_row", " Taken\t");
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "name_message", "already");
  screenshot (wizard, "invalid-2-name-taken");

  set_text (wizard, "name_row", long_name);
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "name_message", "65");

  set_text (wizard, "name_row", "Taken 2");
  g_assert_true (is_sensitive (wizard, "next_button"));
  g_assert_false (gtk_widget_get_visible (part (wizard, "name_message")));
  g_assert_false (gtk_widget_has_css_class (part (wizard, "name_row"), "error"));
  press (wizard, "next_button");

  /* Memory: over half the host warns but passes; over the host blocks. */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin")), (double) (host_mib / 2 + 32));
  pump ();
  g_assert_true (gtk_widget_get_visible (part (wizard, "memory_warning")));
  g_assert_true (is_sensitive (wizard, "next_button"));
  screenshot (wizard, "invalid-3-memory-warning");
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin")), (double) (host_mib + 1));
  pump ();
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin"))), ==,
                    host_mib + 1);
  g_assert_false (is_sensitive (wizard, "next_button"));
  assert_error_shown (wizard, "resources_message", "more memory than this computer has");
  screenshot (wizard, "invalid-3-memory");
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin")), 64);
  pump ();
  g_assert_true (is_sensitive (wizard, "next_button"));
  g_assert_false (gtk_widget_get_visible (part (wizard, "resources_message")));
  press (wizard, "next_button");
  press (wizard, "next_button");
  assert_page (wizard, 4);
  g_assert_true (is_sensitive (wizard, "create_button"));

  /* Another machine takes the name while the summary is open: Create blocks and the summary says why. */
  create_machine_directly ("Taken 2");
  pump ();
  g_assert_false (is_sensitive (wizard, "create_button"));
  g_assert_true (gtk_widget_get_visible (part (wizard, "error_group")));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (wizard, "error_label"))), "already"));
  screenshot (wizard, "invalid-5-summary-blocked");

  /* Back to the name, fix it, forward again: Create is open. */
  press (wizard, "back_button");
  press (wizard, "back_button");
  press (wizard, "back_button");
  assert_page (wizard, 1);
  g_assert_false (is_sensitive (wizard, "next_button"));
  set_text (wizard, "name_row", "Taken 3");
  for (guint i = 0; i < 3; i++)
    press (wizard, "next_button");
  g_assert_true (is_sensitive (wizard, "create_button"));
  g_assert_false (gtk_widget_get_visible (part (wizard, "error_group")));

  /* Escape cancels without creating anything: it is bound to window.close, which is activated here. */
  g_assert_true (escape_closes (wizard));
  n_machines = g_list_model_get_n_items (machines);
  gtk_widget_activate_action (GTK_WIDGET (wizard), "window.close", NULL);
  g_assert_true (vireo_ui_wait (pointer_cleared, &wizard, WAIT_SECONDS));
  vireo_ui_spin (500);
  g_assert_cmpuint (g_list_model_get_n_items (machines), ==, n_machines);
}

/* What the service refuses is shown on the summary page with its message, and the wizard stays open to fix it.
 * Here another program takes the name between the app's last look at the list and Create. */
static void
test_service_error (void)
{
  g_autofree char *kernel = vireo_test_guest_path ("hello");
  g_autofree char *taken = NULL;
  VireoNewMachine *wizard = open_wizard ();
  Created created = { NULL, FALSE, 0 };

  g_signal_connect (wizard, "created", G_CALLBACK (on_created), &created);
  gtk_check_button_set_active (GTK_CHECK_BUTTON (part (wizard, "kernel_radio")), TRUE);
  set_text (wizard, "kernel_row", kernel);
  press (wizard, "next_button");
  set_text (wizard, "name_row", "Raced");
  for (guint i = 1; i < 4; i++)
    press (wizard, "next_button");
  assert_page (wizard, 4);

  /* A synchronous call on the test's own connection: the app has not seen the new machine when Create goes. */
  taken = vireo_ui_create_machine (&fixture, "Raced", "hello", FALSE);
  g_signal_emit_by_name (part (wizard, "create_button"), "clicked");
  g_assert_true (gtk_widget_get_visible (part (wizard, "spinner")));
  g_assert_false (is_sensitive (wizard, "create_button"));
  g_assert_false (is_sensitive (wizard, "back_button"));
  /* Closing is refused while the service works on it. */
  gtk_window_close (GTK_WINDOW (wizard));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (wizard)));

  g_assert_true (vireo_ui_wait_for_listed (&fixture, taken, WAIT_SECONDS));
  {
    TextQuery query = { wizard, "could not be created" };
    g_assert_true (vireo_ui_wait (error_shown, &query, WAIT_SECONDS));
  }
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (wizard, "error_label"))), "Raced"));
  g_assert_false (gtk_widget_get_visible (part (wizard, "spinner")));
  g_assert_true (is_sensitive (wizard, "back_button"));
  g_assert_cmpuint (created.emissions, ==, 0);
  screenshot (wizard, "service-error");

  /* Back, a new name, Create: done. */
  press (wizard, "back_button");
  press (wizard, "back_button");
  press (wizard, "back_button");
  press (wizard, "back_button");
  set_text (wizard, "name_row", "Raced Again");
  for (guint i = 0; i < 4; i++)
    press (wizard, "next_button");
  g_assert_false (gtk_widget_get_visible (part (wizard, "error_group")));
  g_object_add_weak_pointer (G_OBJECT (wizard), (gpointer *) &wizard);
  press (wizard, "create_button");
  g_assert_true (vireo_ui_wait (pointer_cleared, &wizard, WAIT_SECONDS));
  g_assert_cmpuint (created.emissions, ==, 1);
  g_assert_true (created.connect_now);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, created.path, WAIT_SECONDS));
  g_assert_cmpstr (vireo_dbus_machine_get_name (vireo_host_find_machine (fixture.host, created.path)), ==,
                   "Raced Again");
  g_free (created.path);
}

/* An ISO built here with xorriso: @volume_id is its label, which is what osinfo-db recognises media by.
 * NULL (and a skipped test) when xorriso is missing. */
static char *
make_iso (const char *name, const char *volume_id)
{
  g_autofree char *xorriso = g_find_program_in_path ("xorriso");
  g_autofree char *tree = g_build_filename (fixture.base, "iso-tree", NULL);
  g_autofree char *readme = g_build_filename (tree, "README.txt", NULL);
  g_autofree char *iso = g_build_filename (fixture.base, name, NULL);
  g_autoptr (GError) error = NULL;
  int status = 0;
  const char *argv[] = { NULL, "-as", "mkisofs", "-quiet", "-V", volume_id, "-o", iso, tree, NULL };

  if (xorriso == NULL)
    return NULL;
  argv[0] = xorriso;
  g_assert_cmpint (g_mkdir_with_parents (tree, 0755), ==, 0);
  g_assert_true (g_file_set_contents (readme, "A test medium for Vireo.\n", -1, NULL));
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                               &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_steal_pointer (&iso);
}

static gboolean
subtitle_has (gpointer data)
{
  TextQuery *query = data;
  const char *subtitle = adw_action_row_get_subtitle (ADW_ACTION_ROW (part (query->wizard, "os_row")));

  return subtitle != NULL && strstr (subtitle, query->text) != NULL;
}

/* The wizard (a weak pointer: *wizard) closed, having created the machine, or shows why it could not. */
typedef struct
{
  VireoNewMachine **wizard;
} DoneQuery;

static gboolean
wizard_done (gpointer data)
{
  DoneQuery *done = data;
  TextQuery query = { *done->wizard, "could not be created" };

  return *done->wizard == NULL || error_shown (&query);
}

static GVariant *
find_drive (GVariant *disks, const char *device)
{
  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *kind = "disk";

      g_variant_lookup (disk, "device", "&s", &kind);
      if (g_str_equal (kind, device))
        return g_steal_pointer (&disk);
    }
  return NULL;
}

/* An installation ISO osinfo-db knows (a Debian 11 netinst's label): recognised, its name and resources filled
 * in, and the machine made with a new qcow2 disk and a SATA CD-ROM holding the ISO, the disk first in the boot
 * order (blank, so the CD starts the installer). */
static void
test_iso (void)
{
  g_autofree char *iso = NULL;
  g_autofree char *unknown = NULL;
  g_autofree char *not_iso = g_build_filename (fixture.base, "not-an.iso", NULL);
  VireoDBusManager *manager = vireo_host_get_manager (fixture.host);
  guint64 host_mib = vireo_dbus_manager_get_host_memory_mib (manager);
  guint64 expected_mib = MAX (32, MIN (1024, host_mib / 2) / 32 * 32);
  VireoNewMachine *wizard;
  Created created = { NULL, FALSE, 0 };
  TextQuery query;

  if (!g_file_test ("/usr/share/osinfo/os", G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("osinfo-db is not installed (apt-get install osinfo-db)");
      return;
    }
  iso = make_iso ("debian-11.6.0-amd64-netinst.iso", "Debian 11.6.0 amd64 n");
  if (iso == NULL)
    {
      g_test_skip ("xorriso is not installed (apt-get install xorriso): no ISO to recognise");
      return;
    }
  unknown = make_iso ("my-disc.iso", "MY_DISC");
  g_assert_true (g_file_set_contents (not_iso, "not an ISO 9660 image", -1, NULL));

  wizard = open_wizard ();
  g_signal_connect (wizard, "created", G_CALLBACK (on_created), &created);
  g_assert_true (gtk_check_button_get_active (GTK_CHECK_BUTTON (part (wizard, "iso_radio"))));
  g_assert_true (gtk_widget_get_visible (part (wizard, "iso_group")));
  g_assert_false (gtk_widget_get_visible (part (wizard, "kernel_group")));
  g_assert_false (is_sensitive (wizard, "next_button"));
  screenshot (wizard, "iso-1-empty");

  /* A file that is not an ISO: said so, no way on. */
  set_text (wizard, "iso_row", not_iso);
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (wizard), "not an ISO image", WAIT_SECONDS));
  assert_error_shown (wizard, "iso_message", "not an ISO image");
  g_assert_false (is_sensitive (wizard, "next_button"));

  /* An ISO osinfo-db does not know: general settings, named after the file. */
  set_text (wizard, "iso_row", unknown);
  query = (TextQuery){ wizard, "Unknown system" };
  g_assert_true (vireo_ui_wait (subtitle_has, &query, WAIT_SECONDS));
  g_assert_true (is_sensitive (wizard, "next_button"));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (part (wizard, "name_row"))), ==, "my-disc");
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (GTK_SPIN_BUTTON (part (wizard, "disk_size_spin"))),
                    ==, 30);
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin"))), ==,
                    MAX (32, MIN (2048, host_mib / 2) / 32 * 32));
  screenshot (wizard, "iso-1-unknown");

  /* Debian 11: its name, 1 GiB (within half the host) and 20 GiB, as osinfo-db recommends. */
  set_text (wizard, "iso_row", iso);
  query = (TextQuery){ wizard, "Debian 11" };
  g_assert_true (vireo_ui_wait (subtitle_has, &query, WAIT_SECONDS));
  g_assert_true (is_sensitive (wizard, "next_button"));
  g_assert_false (gtk_widget_get_visible (part (wizard, "iso_message")));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (part (wizard, "name_row"))), ==, "Debian 11");
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (GTK_SPIN_BUTTON (part (wizard, "memory_spin"))), ==,
                    expected_mib);
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (GTK_SPIN_BUTTON (part (wizard, "disk_size_spin"))),
                    ==, 20);
  screenshot (wizard, "iso-1-debian");
  press (wizard, "next_button");
  assert_page (wizard, 1);
  g_assert_true (is_sensitive (wizard, "next_button"));
  screenshot (wizard, "iso-2-name");
  press (wizard, "next_button");
  assert_page (wizard, 2);
  g_assert_true (gtk_widget_get_visible (part (wizard, "storage_group")));
  screenshot (wizard, "iso-3-resources");
  press (wizard, "next_button");
  press (wizard, "next_button");
  assert_page (wizard, 4);
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (wizard), "20 GiB, qcow2"));
  screenshot (wizard, "iso-5-summary");

  g_object_add_weak_pointer (G_OBJECT (wizard), (gpointer *) &wizard);
  press (wizard, "create_button");
  g_assert_true (vireo_ui_wait (wizard_done, &(DoneQuery){ &wizard }, WAIT_SECONDS));
  if (wizard != NULL)
    {
      /* A service without the disk methods: the wizard says so, and leaves no half-made machine. */
      const char *said = gtk_label_get_text (GTK_LABEL (part (wizard, "error_label")));

      if (strstr (said, "CreateDisk") == NULL)
        g_error ("the wizard says “%s”, not that the service lacks CreateDisk", said);
      screenshot (wizard, "iso-service-without-disks");
      vireo_ui_spin (500);
      for (guint i = 0; i < g_list_model_get_n_items (vireo_host_get_machines (fixture.host)); i++)
        {
          g_autoptr (VireoDBusMachine) machine = g_list_model_get_item (
              vireo_host_get_machines (fixture.host), i);
          g_assert_cmpstr (vireo_dbus_machine_get_name (machine), !=, "Debian 11");
        }
      gtk_window_destroy (GTK_WINDOW (wizard));
      g_test_skip ("this vireod has no Machine.CreateDisk (branch svc-storage): the machine's disks are not "
                   "checked");
      return;
    }

  /* What the service made. */
  g_assert_cmpuint (created.emissions, ==, 1);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, created.path, WAIT_SECONDS));
  {
    VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, created.path);
    g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
    g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
    g_autoptr (GVariant) disk = NULL;
    g_autoptr (GVariant) cdrom = NULL;
    const char *text;
    guint32 order;
    guint64 mib;

    g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "Debian 11");
    g_assert_true (g_variant_lookup (settings, "boot", "&s", &text));
    g_assert_cmpstr (text, ==, "disk");
    g_assert_true (g_variant_lookup (settings, "memory-mib", "t", &mib));
    g_assert_cmpuint (mib, ==, expected_mib);
    g_assert_nonnull (disks);
    g_assert_cmpuint (g_variant_n_children (disks), ==, 2);
    disk = find_drive (disks, "disk");
    cdrom = find_drive (disks, "cdrom");
    g_assert_nonnull (disk);
    g_assert_nonnull (cdrom);
    g_assert_true (g_variant_lookup (disk, "format", "&s", &text));
    g_assert_cmpstr (text, ==, "qcow2");
    g_assert_true (g_variant_lookup (disk, "boot-order", "u", &order));
    g_assert_cmpuint (order, ==, 1);
    g_assert_true (g_variant_lookup (cdrom, "path", "&s", &text));
    g_assert_cmpstr (text, ==, iso);
    g_assert_true (g_variant_lookup (cdrom, "bus", "&s", &text));
    g_assert_cmpstr (text, ==, "sata");
    g_assert_true (g_variant_lookup (cdrom, "boot-order", "u", &order));
    g_assert_cmpuint (order, ==, 2);
  }
  g_free (created.path);
}

/* An existing image copied into the machine's folder (Machine.ImportDisk): the machine has the copy, in qcow2,
 * and nothing else; the original is untouched. */
static void
test_import (void)
{
  g_autofree char *source = g_build_filename (fixture.base, "appliance.img", NULL);
  g_autofree char *original = g_malloc0 (1 << 20);
  VireoDBusManager *manager = vireo_host_get_manager (fixture.host);
  VireoNewMachine *wizard = open_wizard ();
  Created created = { NULL, FALSE, 0 };

  memcpy (original, "VIREO", 5);
  g_assert_true (g_file_set_contents (source, original, 1 << 20, NULL));
  g_signal_connect (wizard, "created", G_CALLBACK (on_created), &created);
  g_object_add_weak_pointer (G_OBJECT (wizard), (gpointer *) &wizard);
  gtk_check_button_set_active (GTK_CHECK_BUTTON (part (wizard, "disk_radio")), TRUE);
  set_text (wizard, "image_row", source);
  gtk_switch_set_active (GTK_SWITCH (part (wizard, "import_switch")), TRUE);
  pump ();
  g_assert_false (is_sensitive (wizard, "readonly_row"));
  g_assert_true (is_sensitive (wizard, "next_button"));
  screenshot (wizard, "import-1-boot");
  press (wizard, "next_button");
  set_text (wizard, "name_row", "Imported");
  for (guint i = 1; i < 4; i++)
    press (wizard, "next_button");
  assert_page (wizard, 4);
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (wizard), "A qcow2 copy"));
  screenshot (wizard, "import-5-summary");
  press (wizard, "create_button");
  g_assert_true (vireo_ui_wait (wizard_done, &(DoneQuery){ &wizard }, WAIT_SECONDS));
  if (wizard != NULL)
    g_error ("the wizard says “%s”", gtk_label_get_text (GTK_LABEL (part (wizard, "error_label"))));

  g_assert_cmpuint (created.emissions, ==, 1);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, created.path, WAIT_SECONDS));
  {
    VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, created.path);
    g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
    g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
    g_autoptr (GVariant) disk = NULL;
    g_autofree char *folder = g_build_filename (vireo_dbus_manager_get_storage_location (manager),
                                                vireo_dbus_machine_get_uuid (machine), NULL);
    g_autofree char *parent = NULL;
    g_autofree char *contents = NULL;
    gsize length = 0;
    const char *text;

    g_assert_cmpuint (g_variant_n_children (disks), ==, 1);
    disk = g_variant_get_child_value (disks, 0);
    g_assert_true (g_variant_lookup (disk, "format", "&s", &text));
    g_assert_cmpstr (text, ==, "qcow2");
    g_assert_true (g_variant_lookup (disk, "path", "&s", &text));
    parent = g_path_get_dirname (text);
    g_assert_cmpstr (parent, ==, folder);
    g_assert_true (g_file_get_contents (source, &contents, &length, NULL));
    g_assert_cmpmem (contents, length, original, 1 << 20);
  }
  g_free (created.path);
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  /* Pages slide in at once, so that screenshots show where the wizard is. */
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  g_test_add_func ("/new-machine/create", test_create);
  g_test_add_func ("/new-machine/invalid-input", test_invalid_input);
  g_test_add_func ("/new-machine/service-error", test_service_error);
  g_test_add_func ("/new-machine/iso", test_iso);
  g_test_add_func ("/new-machine/import", test_import);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  return status;
}
