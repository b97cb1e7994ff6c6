/* test-service-definitions.c — machine definitions through the service: refused settings with their errors,
 * update, libvirt XML export and import, many machines, and scripting with the gdbus command line. */
#include "hv.h"
#include "service-fixture.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_errors (Fixture *f)
{
  g_autofree char *hello = vireo_test_guest_path ("hello");
  g_autofree char *long_name = g_strnfill (65, 'n');
  g_autoptr (VireoDBusMachine) target = NULL;
  g_autoptr (VireoDBusMachine) other = NULL;
  g_autoptr (VireoDBusMachine) with_display = NULL;
  g_autoptr (GHashTable) machines = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *remote = NULL;
  static const char *const need_running[] = { "Pause", "Resume", "TurnOff", "OpenSerial", "Save", "Reset" };

  /* CreateMachine: each bad setting is named in the message. */
  create_expect_error (f, g_variant_new_parsed ("{'kernel': <%s>}", hello), ERROR_NAME ("InvalidArgument"),
                       "name");
  create_expect_error (f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'colour': <'blue'>}", hello),
                       ERROR_NAME ("InvalidArgument"), "colour");
  create_expect_error (f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'vcpus': <'two'>}", hello),
                       ERROR_NAME ("InvalidArgument"), "vcpus");
  create_expect_error (
      f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'memory-mib': <uint64 1>}", hello),
      ERROR_NAME ("InvalidArgument"), "memory-mib");
  create_expect_error (f,
                       g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'vcpus': <uint32 65>}", hello),
                       ERROR_NAME ("InvalidArgument"), "vcpus");
  create_expect_error (f, g_variant_new_parsed ("{'name': <%s>, 'kernel': <%s>}", long_name, hello),
                       ERROR_NAME ("InvalidArgument"), "name");
  create_expect_error (f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'boot': <'floppy'>}", hello),
                       ERROR_NAME ("InvalidArgument"), "floppy");
  create_expect_error (f,
                       g_variant_new_parsed ("{'name': <'x'>, 'kernel': <'/nonexistent/vireo/kernel.elf'>}"),
                       ERROR_NAME ("NotFound"), "/nonexistent/vireo/kernel.elf");

  target = create_guest (f, "target", "hello");
  other = create_guest (f, "other", "hello");
  create_expect_error (f, guest_settings ("target", "hello"), ERROR_NAME ("Exists"), "target");

  /* Calls that need a running machine, on one that is off. */
  for (guint i = 0; i < G_N_ELEMENTS (need_running); i++)
    call_expect_error (target, need_running[i], NULL, ERROR_NAME ("InvalidState"), "target");
  call_expect_error (target, "Shutdown", g_variant_new ("(u)", 5), ERROR_NAME ("InvalidState"), "target");
  call_expect_error (target, "OpenDisplay", NULL, ERROR_NAME ("NotSupported"), "target");
  g_assert_cmpstr (vireo_dbus_machine_get_state (target), ==, "off");

  /* Changes that would break the rules leave the machine as it was. */
  call_expect_error (target, "Update", g_variant_new_parsed ("({'name': <'other'>},)"), ERROR_NAME ("Exists"),
                     "other");
  call_expect_error (target, "Rename", g_variant_new ("(s)", "other"), ERROR_NAME ("Exists"), "other");
  call_expect_error (target, "Rename", g_variant_new ("(s)", ""), ERROR_NAME ("InvalidArgument"), "name");
  call_expect_error (target, "Update", g_variant_new_parsed ("({'memory-mib': <uint64 1>},)"),
                     ERROR_NAME ("InvalidArgument"), "memory-mib");
  call_expect_error (target, "Update", g_variant_new_parsed ("({'vcpus': <'many'>},)"),
                     ERROR_NAME ("InvalidArgument"), "vcpus");
  g_assert_cmpstr (vireo_dbus_machine_get_name (target), ==, "target");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (target), ==, 64);
  g_assert_cmpuint (vireo_dbus_machine_get_vcpus (target), ==, 1);

  /* A NAT machine is made like any other (NAT runs now: /service/nat). */
  with_display = create (
      f, g_variant_new_parsed ("{'name': <'with nat'>, 'kernel': <%s>, 'network': <'nat'>}", hello));
  g_assert_cmpstr (vireo_dbus_machine_get_state (with_display), ==, "off");

  /* Importing what is not a libvirt domain. */
  call_expect_error (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("('this is <not> a domain', @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), NULL);
  call_expect_error (f->manager, "ImportLibvirtXml", g_variant_new_parsed ("('', @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), NULL);
  call_expect_error (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("('<domain type=\"kvm\"/>', {'colour': <'blue'>})"),
                     ERROR_NAME ("InvalidArgument"), "colour");
  /* One element with 90,000 attributes (under the size limit): refused by its shape, and the service
   * answers others meanwhile (the parse runs off its main loop). */
  {
    g_autoptr (GString) hostile = g_string_new ("<domain type='kvm'><name>a</name><x");
    for (int i = 0; i < 90000; i++)
      g_string_append_printf (hostile, " a%d='1'", i);
    g_string_append (hostile, "/></domain>");
    call_expect_error (
        f->manager, "ImportLibvirtXml",
        g_variant_new ("(s@a{sv})", hostile->str, g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0)),
        ERROR_NAME ("InvalidArgument"), "attributes per element");
    assert_vireod_answers (f);
  }

  /* A machine that does not exist. */
  reply = bus_call (f, ROOT_PATH "/machines/no_such_machine", MACHINE_IFACE, "Start", NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  g_test_message ("a call on a machine that does not exist: %s", error->message);
  g_assert_true (g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownObject") == 0
                 || g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownMethod") == 0);

  /* None of the failures left a machine behind, and the service is still there. */
  machines = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (machines), ==, 3);
  assert_vireod_answers (f);
}

static void
test_errors_running (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GVariant) settings = NULL;
  const char *notes = NULL;
  int fd;

  machine = create_guest (f, "busy", "echo");
  fd = start_and_wait_for (machine, "echo ready", seen);

  call_expect_error (machine, "Start", NULL, ERROR_NAME ("InvalidState"), "busy");
  call_expect_error (machine, "Update", g_variant_new_parsed ("({'memory-mib': <uint64 128>},)"),
                     ERROR_NAME ("InvalidState"), "memory-mib");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (machine), ==, 64);
  call_expect_error (machine, "Delete", g_variant_new ("(b)", FALSE), ERROR_NAME ("InvalidState"), "busy");
  call_expect_error (machine, "OpenDisplay", NULL, ERROR_NAME ("NotSupported"), "busy");

  /* What may change while it runs does. */
  call_ok (machine, "Update", g_variant_new_parsed ("({'notes': <'edited while running'>},)"));
  g_assert_cmpstr (vireo_dbus_machine_get_notes (machine), ==, "edited while running");
  settings = vireo_dbus_machine_dup_settings (machine);
  g_assert_true (g_variant_lookup (settings, "notes", "&s", &notes));
  g_assert_cmpstr (notes, ==, "edited while running");
  call_ok (machine, "Rename", g_variant_new ("(s)", "busy renamed"));
  g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "busy renamed");

  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  assert_vireod_answers (f);
  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  close (fd);
}

static void
test_update_export_import (Fixture *f)
{
  g_autoptr (VireoDBusMachine) original = create_guest (f, "original", "hello");
  g_autoptr (VireoDBusMachine) copy = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) copy_settings = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GHashTable) machines = NULL;
  g_autofree char *definition = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *copy_path = NULL;
  g_autofree char *name_element = NULL;
  const char *cmdline = NULL;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  call_ok (original, "Update",
           g_variant_new_parsed ("({'memory-mib': <uint64 128>, 'vcpus': <uint32 2>,"
                                 " 'cmdline': <'quiet answer=42'>, 'notes': <'round trip'>},)"));
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (original), ==, 128);
  g_assert_cmpuint (vireo_dbus_machine_get_vcpus (original), ==, 2);
  g_assert_cmpstr (vireo_dbus_machine_get_notes (original), ==, "round trip");
  settings = vireo_dbus_machine_dup_settings (original);
  g_assert_true (g_variant_lookup (settings, "cmdline", "&s", &cmdline));
  g_assert_cmpstr (cmdline, ==, "quiet answer=42");
  g_clear_pointer (&settings, g_variant_unref);

  call_ok (original, "Rename", g_variant_new ("(s)", "renamed"));
  g_assert_cmpstr (vireo_dbus_machine_get_name (original), ==, "renamed");
  definition = read_definition (f, original);
  g_assert_nonnull (strstr (definition, "renamed"));

  reply = call_full (original, "ExportLibvirtXml", NULL, NULL, NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(s)", &xml);
  name_element = g_strdup_printf ("<name>%s</name>", "renamed");
  g_assert_nonnull (strstr (xml, name_element));
  g_assert_nonnull (strstr (xml, vireo_dbus_machine_get_uuid (original)));
  g_clear_pointer (&reply, g_variant_unref);

  /* Imported as a copy: a new machine, the same settings. */
  reply = call_full (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("(%s, {'name': <'copy'>, 'keep-uuid': <false>})", xml), NULL,
                     NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(o)", &copy_path);
  g_assert_cmpstr (copy_path, !=, machine_path (original));
  copy = machine_proxy (f, copy_path);
  g_assert_cmpstr (vireo_dbus_machine_get_name (copy), ==, "copy");
  g_assert_cmpstr (vireo_dbus_machine_get_uuid (copy), !=, vireo_dbus_machine_get_uuid (original));
  g_assert_cmpstr (vireo_dbus_machine_get_state (copy), ==, "off");
  settings = vireo_dbus_machine_dup_settings (original);
  copy_settings = vireo_dbus_machine_dup_settings (copy);
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      g_autoptr (GVariant) copied = g_variant_lookup_value (copy_settings, key, NULL);

      if (g_str_equal (key, "name"))
        continue;
      g_assert_nonnull (copied);
      if (!g_variant_equal (value, copied))
        {
          g_autofree char *was = g_variant_print (value, TRUE);
          g_autofree char *is = g_variant_print (copied, TRUE);
          g_test_message ("setting “%s” did not survive export and import: %s became %s", key, was, is);
        }
      g_assert_true (g_variant_equal (value, copied));
    }

  /* Importing it again with its UUID collides with the original. */
  call_expect_error (f->manager, "ImportLibvirtXml", g_variant_new_parsed ("(%s, {'name': <'copy 2'>})", xml),
                     ERROR_NAME ("Exists"), vireo_dbus_machine_get_uuid (original));

  delete_machine (f, copy, TRUE);
  delete_machine (f, original, FALSE);
  machines = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (machines), ==, 0);
}

static void
test_many_machines (Fixture *f)
{
  g_autoptr (GHashTable) paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) machines = NULL;
  GList *objects;
  GHashTableIter iter;
  gpointer value;

  for (int i = 0; i < 50; i++)
    {
      g_autofree char *name = g_strdup_printf ("machine %02d", i);
      g_autoptr (GError) error = NULL;
      char *path = try_create (f, guest_settings (name, "hello"), &error);

      g_assert_no_error (error);
      g_assert_true (g_hash_table_add (paths, path));
    }

  machines = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (machines), ==, 50);
  g_hash_table_iter_init (&iter, machines);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const char *name = NULL;
      g_assert_true (g_variant_lookup (value, "Name", "&s", &name));
      g_assert_true (g_str_has_prefix (name, "machine "));
      g_assert_true (g_hash_table_add (names, g_strdup (name)));
    }
  g_assert_cmpuint (g_hash_table_size (names), ==, 50);

  /* The object manager client sees the same 50 machines (beside the Default Switch). */
  objects = g_dbus_object_manager_get_objects (f->objects);
  {
    guint n_machines = 0;
    for (GList *l = objects; l != NULL; l = l->next)
      {
        g_autoptr (GDBusInterface) iface = g_dbus_object_get_interface (l->data, MACHINE_IFACE);
        n_machines += iface != NULL;
      }
    g_assert_cmpuint (n_machines, ==, 50);
  }
  g_assert_cmpuint (g_list_length (objects), ==, 51);
  g_list_free_full (objects, g_object_unref);
}

/* ---- gdbus ---- */

/* Runs `gdbus call --session --dest org.vireo.Vireo1 --object-path PATH --method METHOD ARGS...` and
 * returns its standard output; @status gets its wait status, @errors its standard error. */
static char *
gdbus_call (const char *path, const char *method, const char *const *args, int *status, char **errors)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *gdbus = g_find_program_in_path ("gdbus");
  g_autoptr (GString) line = g_string_new ("gdbus");
  char *output = NULL;

  g_ptr_array_add (argv, gdbus);
  g_ptr_array_add (argv, (char *) "call");
  g_ptr_array_add (argv, (char *) "--session");
  g_ptr_array_add (argv, (char *) "--dest");
  g_ptr_array_add (argv, (char *) BUS_NAME);
  g_ptr_array_add (argv, (char *) "--object-path");
  g_ptr_array_add (argv, (char *) path);
  g_ptr_array_add (argv, (char *) "--method");
  g_ptr_array_add (argv, (char *) method);
  for (guint i = 0; args && args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  /* The command as one would type it (the README's lines): GVariant text in double quotes. */
  for (guint i = 1; argv->pdata[i]; i++)
    {
      const char *arg = argv->pdata[i];
      g_autofree char *quoted = NULL;

      if (strpbrk (arg, "\"$`\\!") != NULL)
        quoted = g_shell_quote (arg);
      else if (strpbrk (arg, " '{<>;&|()*?[") != NULL)
        quoted = g_strdup_printf ("\"%s\"", arg);
      g_string_append_printf (line, " %s", quoted ? quoted : arg);
    }
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &output, errors, status,
                &error);
  g_assert_no_error (error);
  g_test_message ("$ %s\n%s%s", line->str, output, errors && *errors ? *errors : "");
  return output;
}

/* The same, expecting success and the output @expected (NULL: any). */
static char *
gdbus_call_ok (const char *path, const char *method, const char *const *args, const char *expected)
{
  g_autofree char *errors = NULL;
  g_autoptr (GError) error = NULL;
  int status;
  char *output = gdbus_call (path, method, args, &status, &errors);

  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  if (expected)
    g_assert_cmpstr (output, ==, expected);
  return output;
}

static void
test_gdbus (Fixture *f)
{
  g_autofree char *gdbus = g_find_program_in_path ("gdbus");
  g_autofree char *kernel = vireo_test_guest_path ("shutdown");
  g_autofree char *create_args = NULL;
  g_autofree char *created = NULL;
  g_autofree char *listed = NULL;
  g_autofree char *errors = NULL;
  g_autofree char *failed = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  ObjectQuery query = { f, NULL };
  int status;
  int fd;

  if (gdbus == NULL)
    {
      g_test_skip ("needs the gdbus program");
      return;
    }

  /* The command lines of the README's "Scripting with gdbus". */
  create_args = g_strdup_printf ("{'name': <'demo'>, 'kernel': <'%s'>, 'memory-mib': <uint64 64>}", kernel);
  created = gdbus_call_ok (ROOT_PATH, "org.vireo.Vireo1.Manager.CreateMachine",
                           (const char *const[]){ create_args, NULL }, NULL);
  reply = g_variant_parse (G_VARIANT_TYPE ("(o)"), created, NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  g_assert_true (g_str_has_prefix (path, ROOT_PATH "/machines/"));
  machine = machine_proxy (f, path);
  g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "demo");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (machine), ==, 64);

  listed = gdbus_call_ok (ROOT_PATH, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", NULL, NULL);
  g_assert_nonnull (strstr (listed, path));
  g_assert_nonnull (strstr (listed, "'Name': <'demo'>"));

  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Start", NULL, "()\n");
  gdbus_call_ok (path, "org.freedesktop.DBus.Properties.Get",
                 (const char *const[]){ "org.vireo.Vireo1.Machine", "State", NULL }, "(<'running'>,)\n");

  /* The guest reacts to the power button once it has armed it. */
  fd = open_serial (machine);
  g_assert_true (serial_wait_for (fd, seen, 0, "waiting for power button", WAIT_SECONDS));
  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Shutdown", (const char *const[]){ "30", NULL }, "()\n");
  gdbus_call_ok (path, "org.freedesktop.DBus.Properties.Get",
                 (const char *const[]){ "org.vireo.Vireo1.Machine", "State", NULL }, "(<'off'>,)\n");
  close (fd);

  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Start", NULL, "()\n");
  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.TurnOff", NULL, "()\n");
  gdbus_call_ok (path, "org.freedesktop.DBus.Properties.Get",
                 (const char *const[]){ "org.vireo.Vireo1.Machine", "State", NULL }, "(<'off'>,)\n");

  /* A failure names its error for scripts to match on. */
  failed = gdbus_call (ROOT_PATH, "org.vireo.Vireo1.Manager.CreateMachine",
                       (const char *const[]){ create_args, NULL }, &status, &errors);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (errors, "org.vireo.Vireo1.Error.Exists"));
  g_assert_nonnull (strstr (errors, "demo"));

  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Delete", (const char *const[]){ "false", NULL }, "()\n");
  query.path = path;
  g_clear_object (&machine);
  g_assert_true (vireo_test_wait_until (machine_gone, &query, WAIT_SECONDS));
}

static const ServiceTest service_tests[] = {
  { "/service/errors", test_errors, FALSE },
  { "/service/errors-running", test_errors_running, TRUE },
  { "/service/update-export-import", test_update_export_import, FALSE },
  { "/service/many-machines", test_many_machines, FALSE },
  { "/service/gdbus", test_gdbus, TRUE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (service_tests); i++)
    g_test_add_data_func (service_tests[i].path, &service_tests[i], run_service_test);
  return g_test_run ();
}
