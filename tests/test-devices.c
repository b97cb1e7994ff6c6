/* test-devices.c — the device model: instances of kinds with ids, realized in order and torn down in
 * reverse, interrupt lines and ports handed out by the core, quiesce reaching every device, and one
 * saved section per device with its own version (older ones loaded, newer ones refused by name). */
#include "bus.h"
#include "device.h"
#include "layout.h"
#include "state.h"
#include "test-util.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

extern const HvDeviceKind hv_serial_kind;

/* What the core called, in order: "realize probe0;teardown probe0;..." */
static GString *journal;

static void
journal_reset (void)
{
  if (journal == NULL)
    journal = g_string_new (NULL);
  g_string_truncate (journal, 0);
}

static gboolean
probe_realize (HvDevice *device, GError **error)
{
  g_string_append_printf (journal, "realize %s;", device->id);
  if (g_str_has_prefix (device->id, "broken"))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "it is broken");
      return FALSE;
    }
  device->impl = g_new0 (uint32_t, 1);
  return TRUE;
}

static void
probe_teardown (HvDevice *device)
{
  g_string_append_printf (journal, "teardown %s;", device->id);
  g_free (device->impl);
}

static void
probe_quiesce (HvDevice *device, gboolean quiesced)
{
  g_string_append_printf (journal, "%s %s;", quiesced ? "quiesce" : "release", device->id);
}

/* The state is one number the test sets; "extra" came with version 2 and defaults to 7. */
static GVariant *
probe_save (HvDevice *device)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_variant_dict_insert (&dict, "value", "u", *(uint32_t *) device->impl);
  g_variant_dict_insert (&dict, "extra", "u", 9);
  return g_variant_dict_end (&dict);
}

static gboolean
probe_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  uint32_t value, extra = 7;

  if (!hv_state_get (state, "the probe", "value", "u", &value, error)
      || !hv_state_get_since (state, "the probe", "extra", "u", version, 2, &extra, error))
    return FALSE;
  *(uint32_t *) device->impl = value;
  g_string_append_printf (journal, "load %s v%u extra %u;", device->id, version, extra);
  return TRUE;
}

static const HvDeviceKindInfo probe_info = { .name = "probe", .id_prefix = "probe" };

static const HvDeviceKind probe_kind = {
  .info = &probe_info,
  .order = HV_DEVICE_ORDER_PLATFORM,
  .state_version = 3,
  .realize = probe_realize,
  .teardown = probe_teardown,
  .quiesce = probe_quiesce,
  .save = probe_save,
  .load = probe_load,
};

/* A bus: realized first whatever the request order, no quiesce, no state. */
static const HvDeviceKindInfo probe_bus_info = {
  .name = "probe-bus",
  .id_prefix = "bus",
  .max_instances = 1,
};

static const HvDeviceKind probe_bus_kind = {
  .info = &probe_bus_info,
  .order = HV_DEVICE_ORDER_BUS,
  .realize = probe_realize,
  .teardown = probe_teardown,
};

static gboolean
com1_thief_realize (HvDevice *device, GError **error)
{
  return hv_device_claim_gsi (device, HV_IRQ_COM1, error);
}

static void
no_teardown (HvDevice *device)
{
}

static void
ignore_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
}

/* Saved sections passed through their serialized bytes, as they go through a state file. */
static GVariant *
sections_through_bytes (GVariant *sections)
{
  g_autoptr (GVariant) sunk = g_variant_ref_sink (sections);
  g_autoptr (GBytes) bytes = g_variant_get_data_as_bytes (sunk);
  return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("a{sa{sv}}"), bytes, FALSE));
}

static const HvDeviceKindInfo com1_thief_info = { .name = "com1-thief", .id_prefix = "thief" };

static const HvDeviceKind com1_thief_kind = {
  .info = &com1_thief_info,
  .order = HV_DEVICE_ORDER_PLATFORM,
  .realize = com1_thief_realize,
  .teardown = no_teardown,
};

static const HvDeviceKind *const probe_kinds[] = {
  &probe_kind, &probe_bus_kind, &hv_serial_kind, &com1_thief_kind, NULL,
};

static HvDevice *
add_ok (HvDevices *devices, const char *kind, const char *id)
{
  g_autoptr (GError) error = NULL;
  HvDevice *device = hv_devices_add (devices, kind, id, &error);

  g_assert_no_error (error);
  g_assert_nonnull (device);
  return device;
}

static void
add_fails (HvDevices *devices, const char *kind, const char *id, HvError code, const char *words)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (hv_devices_add (devices, kind, id, &error));
  g_test_message ("refused: %s", error->message);
  g_assert_error (error, HV_ERROR, (gint) code);
  g_assert_nonnull (strstr (error->message, words));
}

static void
test_ids (void)
{
  g_autoptr (HvDevices) devices = hv_devices_new (probe_kinds);

  journal_reset ();
  g_assert_cmpstr (add_ok (devices, "probe", NULL)->id, ==, "probe0");
  g_assert_cmpstr (add_ok (devices, "probe", NULL)->id, ==, "probe1");
  g_assert_cmpstr (add_ok (devices, "probe", "front-panel")->id, ==, "front-panel");
  g_assert_cmpuint (hv_devices_lookup (devices, "front-panel")->index, ==, 2);
  g_assert_true (hv_devices_find_kind (devices, "probe") == hv_devices_lookup (devices, "probe0"));

  add_fails (devices, "probe", "probe1", HV_ERROR_INVALID_ARGUMENT, "already has a device “probe1”");
  add_fails (devices, "probe", "1st", HV_ERROR_INVALID_ARGUMENT, "not a device id");
  add_fails (devices, "probe", "a b", HV_ERROR_INVALID_ARGUMENT, "not a device id");
  add_fails (devices, "floppy", NULL, HV_ERROR_INVALID_ARGUMENT, "no device kind “floppy”");
  add_ok (devices, "probe-bus", NULL);
  add_fails (devices, "probe-bus", NULL, HV_ERROR_INVALID_ARGUMENT, "at most 1 device of kind");

  /* A withdrawn request frees its id; the others keep theirs. */
  g_assert_true (hv_devices_remove (devices, "probe0"));
  g_assert_null (hv_devices_lookup (devices, "probe0"));
  g_assert_cmpuint (hv_devices_lookup (devices, "probe1")->index, ==, 0);
  g_assert_cmpstr (add_ok (devices, "probe", NULL)->id, ==, "probe0");
  g_assert_cmpuint (hv_devices_get_count (devices), ==, 4);
  /* Nothing was realized, so nothing is torn down. */
  g_clear_pointer (&devices, hv_devices_free);
  g_assert_cmpstr (journal->str, ==, "");
}

static void
test_order (void)
{
  g_autoptr (HvDevices) devices = hv_devices_new (probe_kinds);
  g_autoptr (GError) error = NULL;
  HvBus *pio = hv_bus_new ("port I/O");
  HvDeviceHost host = { .pio = pio };

  journal_reset ();
  add_ok (devices, "probe", NULL);
  add_ok (devices, "probe-bus", NULL);
  add_ok (devices, "probe", NULL);
  g_assert_true (hv_devices_realize (devices, &host, &error));
  g_assert_no_error (error);
  /* Buses first, then request order. */
  g_assert_cmpstr (journal->str, ==, "realize bus0;realize probe0;realize probe1;");
  add_fails (devices, "probe", NULL, HV_ERROR_INVALID_STATE, "built");

  journal_reset ();
  g_clear_pointer (&devices, hv_devices_free);
  g_assert_cmpstr (journal->str, ==, "teardown probe1;teardown probe0;teardown bus0;");

  /* A device that fails names itself; those before it are torn down, it and those after never were
   * realized. */
  devices = hv_devices_new (probe_kinds);
  journal_reset ();
  add_ok (devices, "probe", NULL);
  add_ok (devices, "probe", "broken");
  add_ok (devices, "probe", NULL);
  g_assert_false (hv_devices_realize (devices, &host, &error));
  g_test_message ("refused: %s", error->message);
  g_assert_error (error, HV_ERROR, HV_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "broken (probe): it is broken");
  g_clear_pointer (&devices, hv_devices_free);
  g_assert_cmpstr (journal->str, ==, "realize probe0;realize broken;teardown probe0;");
  hv_bus_free (pio);
}

static void
test_quiesce (void)
{
  g_autoptr (HvDevices) devices = hv_devices_new (probe_kinds);
  g_autoptr (GError) error = NULL;
  HvBus *pio = hv_bus_new ("port I/O");
  HvDeviceHost host = { .pio = pio };

  add_ok (devices, "probe", NULL);
  add_ok (devices, "probe-bus", NULL);
  add_ok (devices, "probe", NULL);
  g_assert_true (hv_devices_realize (devices, &host, &error));

  journal_reset ();
  hv_devices_quiesce (devices, TRUE);
  g_assert_cmpstr (journal->str, ==, "quiesce probe0;quiesce probe1;");
  /* Every device is marked, also one with nothing to do (the bus). */
  for (unsigned i = 0; i < hv_devices_get_count (devices); i++)
    g_assert_true (hv_devices_get (devices, i)->quiesced);
  /* Twice is once: a save after a pause quiesces again. */
  hv_devices_quiesce (devices, TRUE);
  g_assert_cmpstr (journal->str, ==, "quiesce probe0;quiesce probe1;");
  hv_devices_quiesce (devices, FALSE);
  g_assert_cmpstr (journal->str, ==, "quiesce probe0;quiesce probe1;release probe0;release probe1;");
  for (unsigned i = 0; i < hv_devices_get_count (devices); i++)
    g_assert_false (hv_devices_get (devices, i)->quiesced);
  g_clear_pointer (&devices, hv_devices_free);
  hv_bus_free (pio);
}

/* A set of two probes and a bus, realized; probe0 holds 10 and probe1 holds 11. */
static HvDevices *
probes_new (HvBus *pio)
{
  HvDevices *devices = hv_devices_new (probe_kinds);
  g_autoptr (GError) error = NULL;
  HvDeviceHost host = { .pio = pio };

  add_ok (devices, "probe", NULL);
  add_ok (devices, "probe-bus", NULL);
  add_ok (devices, "probe", NULL);
  g_assert_true (hv_devices_realize (devices, &host, &error));
  g_assert_no_error (error);
  return devices;
}

static uint32_t
probe_value (HvDevices *devices, const char *id)
{
  return *(uint32_t *) hv_devices_lookup (devices, id)->impl;
}

static gboolean
has_section (GVariant *sections, const char *id)
{
  g_autoptr (GVariant) section = g_variant_lookup_value (sections, id, NULL);
  return section != NULL;
}

/* @sections with @path ("probe1/version") replaced by @value (GVariant text); "probe1" alone
 * replaces the whole section, "-probe1" drops it. */
static GVariant *
sections_spoiled (GVariant *sections, const char *path, const char *value)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", 2);
  GVariantBuilder builder;
  GVariantIter iter;
  const char *id;
  GVariant *section;
  gboolean found = FALSE;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_variant_iter_init (&iter, sections);
  while (g_variant_iter_next (&iter, "{&s@a{sv}}", &id, &section))
    {
      if (parts[0][0] == '-' && strcmp (id, parts[0] + 1) == 0)
        ;
      else if (strcmp (id, parts[0]) != 0)
        g_variant_builder_add (&builder, "{s@a{sv}}", id, section);
      else if (parts[1] == NULL)
        g_variant_builder_add (&builder, "{s@a{sv}}", id, g_variant_new_parsed (value));
      else
        {
          g_autoptr (GVariant) spoiled = vireo_test_state_spoiled (section, parts[1], value);
          found = TRUE;
          g_variant_builder_add (&builder, "{s@a{sv}}", id, spoiled);
        }
      g_variant_unref (section);
    }
  if (!found && parts[1] == NULL && parts[0][0] != '-' && !has_section (sections, parts[0]))
    g_variant_builder_add (&builder, "{s@a{sv}}", parts[0], g_variant_new_parsed (value));
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
expect_load_error (HvBus *pio, GVariant *sections, const char *words)
{
  g_autoptr (HvDevices) devices = probes_new (pio);
  g_autoptr (GError) error = NULL;

  g_assert_false (hv_devices_load (devices, sections, &error));
  g_test_message ("refused: %s", error->message);
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_nonnull (strstr (error->message, words));
}

static void
test_sections (void)
{
  HvBus *pio = hv_bus_new ("port I/O");
  HvBus *pio2 = hv_bus_new ("port I/O");
  g_autoptr (HvDevices) devices = probes_new (pio);
  g_autoptr (HvDevices) restored = probes_new (pio2);
  g_autoptr (GVariant) sections = NULL;
  g_autoptr (GError) error = NULL;
  const char *kind;
  uint32_t version;

  *(uint32_t *) hv_devices_lookup (devices, "probe0")->impl = 10;
  *(uint32_t *) hv_devices_lookup (devices, "probe1")->impl = 11;
  sections = sections_through_bytes (hv_devices_save (devices));
  g_assert_true (g_variant_is_of_type (sections, G_VARIANT_TYPE ("a{sa{sv}}")));
  /* One section per device with state; the bus has none. */
  g_assert_cmpuint (g_variant_n_children (sections), ==, 2);
  {
    g_autoptr (GVariant) section = g_variant_lookup_value (sections, "probe1", NULL);
    g_assert_true (g_variant_lookup (section, "kind", "&s", &kind));
    g_assert_cmpstr (kind, ==, "probe");
    g_assert_true (g_variant_lookup (section, "version", "u", &version));
    g_assert_cmpuint (version, ==, 3);
  }

  journal_reset ();
  g_assert_true (hv_devices_load (restored, sections, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (probe_value (restored, "probe0"), ==, 10);
  g_assert_cmpuint (probe_value (restored, "probe1"), ==, 11);
  g_assert_cmpstr (journal->str, ==, "load probe0 v3 extra 9;load probe1 v3 extra 9;");

  /* An older section loads: a field it lacks takes its default, one it had must be there. */
  {
    g_autoptr (GVariant) old = sections_spoiled (sections, "probe1/version", "uint32 1");
    g_autoptr (GVariant) older = NULL;
    GVariantDict dict;
    g_autoptr (GVariant) section = g_variant_lookup_value (old, "probe1", NULL);
    g_autoptr (GVariant) state = g_variant_lookup_value (section, "state", NULL);
    g_autoptr (GVariant) trimmed = NULL;
    g_autofree char *text = NULL;
    g_autoptr (HvDevices) target = probes_new (pio2);

    g_variant_dict_init (&dict, state);
    g_variant_dict_remove (&dict, "extra");
    trimmed = g_variant_ref_sink (g_variant_dict_end (&dict));
    text = g_variant_print (trimmed, TRUE);
    older = sections_spoiled (old, "probe1/state", text);
    journal_reset ();
    g_assert_true (hv_devices_load (target, older, &error));
    g_assert_no_error (error);
    g_assert_cmpstr (journal->str, ==, "load probe0 v3 extra 9;load probe1 v1 extra 7;");
    g_assert_cmpuint (probe_value (target, "probe1"), ==, 11);

    /* Version 3 has it: missing there, it is an error. */
    g_clear_pointer (&older, g_variant_unref);
    older = sections_spoiled (sections, "probe1/state", text);
    expect_load_error (pio2, older, "“extra” is missing");
  }

  /* Refused, each naming the device. */
  {
    static const struct
    {
      const char *path;
      const char *value;
      const char *words;
    } cases[] = {
      { "probe1/version", "uint32 4", "device “probe1” (probe) has version 4" },
      { "probe1/version", "uint32 0", "has version 0" },
      { "probe1/version", "'three'", "“version” is of type s" },
      { "probe1/kind", "'serial'", "it was a “serial”" },
      { "probe1/state", "'nothing'", "“state” is of type s" },
      { "probe1/state", "@a{sv} {}", "“value” is missing" },
      { "-probe1", "", "state of device “probe1” (probe) is missing" },
      { "floppy0", "@a{sv} {}", "“floppy0”, which this machine lacks" },
      { "bus0", "@a{sv} {}", "“bus0”, which this machine lacks" },
    };
    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autoptr (GVariant) spoiled = sections_spoiled (sections, cases[i].path, cases[i].value);
        g_test_message ("spoiled: %s = %s", cases[i].path, cases[i].value);
        expect_load_error (pio2, spoiled, cases[i].words);
      }
  }
  /* The same id twice. */
  {
    GVariantBuilder builder;
    g_autoptr (GVariant) twice = NULL;
    g_autoptr (GVariant) section = g_variant_lookup_value (sections, "probe0", NULL);
    g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
    g_variant_builder_add (&builder, "{s@a{sv}}", "probe0", section);
    g_variant_builder_add (&builder, "{s@a{sv}}", "probe0", section);
    twice = g_variant_ref_sink (g_variant_builder_end (&builder));
    expect_load_error (pio2, twice, "“probe0” has more than one section");
  }

  g_clear_pointer (&devices, hv_devices_free);
  g_clear_pointer (&restored, hv_devices_free);
  hv_bus_free (pio);
  hv_bus_free (pio2);
}

/* Two serial ports: each at its own ports and interrupt line, with its own output, and its own
 * section. */
typedef struct
{
  VireoTestPlatform tp;
  HvBus *pio;
  HvDevices *devices;
  int out[2][2]; /* a pipe per port */
} TwoPorts;

static void
two_ports_init (TwoPorts *f)
{
  g_autoptr (GError) error = NULL;
  HvDeviceHost host;

  vireo_test_platform_init (&f->tp);
  f->pio = hv_bus_new ("port I/O");
  f->devices = hv_devices_new (NULL);
  for (unsigned i = 0; i < 2; i++)
    {
      HvDevice *serial = add_ok (f->devices, "serial", NULL);
      g_assert_no_errno (pipe2 (f->out[i], O_CLOEXEC | O_NONBLOCK));
      /* The device takes the fds among its options. */
      hv_device_set_options (
          serial, g_variant_new_parsed ("{'output': <%h>}", fcntl (f->out[i][1], F_DUPFD_CLOEXEC, 3)));
    }
  add_fails (f->devices, "serial", NULL, HV_ERROR_INVALID_ARGUMENT, "at most 2 devices");
  host = (HvDeviceHost){ .platform = &f->tp.platform, .pio = f->pio, .ram_size = 64 << 20 };
  g_assert_true (hv_devices_realize (f->devices, &host, &error));
  g_assert_no_error (error);
}

static void
two_ports_clear (TwoPorts *f)
{
  g_clear_pointer (&f->devices, hv_devices_free);
  g_clear_pointer (&f->pio, hv_bus_free);
  for (unsigned i = 0; i < 2; i++)
    for (unsigned j = 0; j < 2; j++)
      close (f->out[i][j]);
  vireo_test_platform_clear (&f->tp);
}

static void
port_write (TwoPorts *f, uint16_t port, uint8_t value)
{
  g_assert_true (hv_bus_dispatch (f->pio, port, &value, 1, TRUE));
}

static uint8_t
port_read (TwoPorts *f, uint16_t port)
{
  uint8_t value = 0xff;
  g_assert_true (hv_bus_dispatch (f->pio, port, &value, 1, FALSE));
  return value;
}

static char *
drain (int fd)
{
  char buffer[64] = { 0 };
  ssize_t n = read (fd, buffer, sizeof buffer - 1);
  return g_strndup (buffer, n > 0 ? (gsize) n : 0);
}

static void
test_two_serial_ports (void)
{
  TwoPorts f, g;
  g_autoptr (GVariant) sections = NULL;
  g_autoptr (GError) error = NULL;
  const uint16_t com1 = HV_PORT_COM1, com2 = HV_PORT_COM2;

  two_ports_init (&f);
  g_assert_cmpstr (hv_devices_get (f.devices, 0)->id, ==, "serial0");
  g_assert_cmpstr (hv_devices_get (f.devices, 1)->id, ==, "serial1");

  /* Each transmits to its own output. */
  port_write (&f, com1, 'A');
  port_write (&f, com2, 'B');
  port_write (&f, com2, 'C');
  {
    g_autofree char *one = drain (f.out[0][0]);
    g_autofree char *two = drain (f.out[1][0]);
    g_assert_cmpstr (one, ==, "A");
    g_assert_cmpstr (two, ==, "BC");
  }
  /* Each raises its own line: COM2's transmitter interrupt on IRQ 3, COM1 quiet on IRQ 4. */
  port_write (&f, com2 + 4, 0x08); /* MCR: OUT2 */
  port_write (&f, com2 + 1, 0x02); /* IER: THRI */
  g_assert_true (f.tp.irq_level[HV_IRQ_COM2]);
  g_assert_false (f.tp.irq_level[HV_IRQ_COM1]);

  /* Each saves its own section, and loads it back into its own instance. */
  port_write (&f, com1 + 7, 0x11); /* SCR */
  port_write (&f, com2 + 7, 0x22);
  sections = sections_through_bytes (hv_devices_save (f.devices));
  g_assert_cmpuint (g_variant_n_children (sections), ==, 2);
  two_ports_init (&g);
  g_assert_true (hv_devices_load (g.devices, sections, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (port_read (&g, com1 + 7), ==, 0x11);
  g_assert_cmpuint (port_read (&g, com2 + 7), ==, 0x22);
  g_assert_cmpuint (port_read (&g, com2 + 1), ==, 0x02);
  g_assert_cmpuint (port_read (&g, com1 + 1), ==, 0x00);
  /* The interrupt pending at the save is pending again. */
  g_assert_true (g.tp.irq_level[HV_IRQ_COM2]);
  g_assert_false (g.tp.irq_level[HV_IRQ_COM1]);
  two_ports_clear (&g);

  /* A section of the version before ports had places (COM1's, then) loads into serial0; put on
   * serial1 it is refused, since that port is elsewhere. */
  {
    g_autoptr (GVariant) section = g_variant_lookup_value (sections, "serial0", NULL);
    g_autoptr (GVariant) state = g_variant_lookup_value (section, "state", NULL);
    g_autoptr (GVariant) v1_state = NULL;
    g_autoptr (GVariant) v1_sections = NULL;
    g_autoptr (GVariant) swapped = NULL;
    GVariantDict dict;
    GVariantBuilder builder;

    g_variant_dict_init (&dict, state);
    g_assert_true (g_variant_dict_remove (&dict, "port"));
    g_assert_true (g_variant_dict_remove (&dict, "gsi"));
    v1_state = g_variant_ref_sink (g_variant_dict_end (&dict));
    g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
    g_variant_builder_add_parsed (
        &builder, "{'serial0', {'kind': <'serial'>, 'version': <uint32 1>, 'state': <%@a{sv}>}}", v1_state);
    g_variant_builder_add_value (&builder, g_variant_get_child_value (sections, 1));
    v1_sections = g_variant_ref_sink (g_variant_builder_end (&builder));
    two_ports_init (&g);
    g_assert_true (hv_devices_load (g.devices, v1_sections, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (port_read (&g, com1 + 7), ==, 0x11);
    two_ports_clear (&g);

    g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
    g_variant_builder_add_value (&builder, g_variant_get_child_value (sections, 0));
    g_variant_builder_add_parsed (
        &builder, "{'serial1', {'kind': <'serial'>, 'version': <uint32 1>, 'state': <%@a{sv}>}}", v1_state);
    swapped = g_variant_ref_sink (g_variant_builder_end (&builder));
    two_ports_init (&g);
    g_assert_false (hv_devices_load (g.devices, swapped, &error));
    g_test_message ("refused: %s", error->message);
    g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
    g_assert_nonnull (strstr (error->message, "“serial1”"));
    g_assert_nonnull (strstr (error->message, "it was at port 0x3f8, IRQ 4; this one is at 0x2f8, IRQ 3"));
    g_clear_error (&error);
    two_ports_clear (&g);
  }
  two_ports_clear (&f);
}

/* The core hands out interrupt lines and ports: a second claim is refused naming the owner. */
static void
test_resource_conflicts (void)
{
  VireoTestPlatform tp;
  HvBus *pio = hv_bus_new ("port I/O");
  g_autoptr (HvDevices) devices = hv_devices_new (probe_kinds);
  g_autoptr (GError) error = NULL;
  HvDeviceHost host;

  vireo_test_platform_init (&tp);
  host = (HvDeviceHost){ .platform = &tp.platform, .pio = pio };
  add_ok (devices, "serial", NULL);
  add_ok (devices, "com1-thief", NULL);
  g_assert_false (hv_devices_realize (devices, &host, &error));
  g_test_message ("refused: %s", error->message);
  g_assert_cmpstr (error->message, ==, "thief0 (com1-thief): interrupt line 4 is serial0's already");
  g_clear_pointer (&devices, hv_devices_free);
  g_clear_error (&error);
  /* Devices leave their ranges to the bus, which goes with the machine. */
  hv_bus_free (pio);
  pio = hv_bus_new ("port I/O");
  host.pio = pio;

  /* A port range someone else has. */
  g_assert_true (hv_bus_register (pio, HV_PORT_COM2 + 4, 1, "jumper", ignore_io, NULL, &error));
  devices = hv_devices_new (probe_kinds);
  add_ok (devices, "serial", NULL);
  add_ok (devices, "serial", NULL);
  g_assert_false (hv_devices_realize (devices, &host, &error));
  g_test_message ("refused: %s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "serial1 (serial): "));
  g_assert_nonnull (strstr (error->message, "jumper"));
  g_clear_pointer (&devices, hv_devices_free);
  g_clear_error (&error);

  /* A PCI device without a PCI bus. */
  devices = hv_devices_new (NULL);
  add_ok (devices, "virtio-keyboard", NULL);
  g_assert_false (hv_devices_realize (devices, &host, &error));
  g_test_message ("refused: %s", error->message);
  g_assert_cmpstr (error->message, ==,
                   "keyboard0 (virtio-keyboard): it needs a PCI bus: the machine has no “pci-host” "
                   "device");
  g_clear_pointer (&devices, hv_devices_free);
  hv_bus_free (pio);
  vireo_test_platform_clear (&tp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/devices/ids", test_ids);
  g_test_add_func ("/devices/order", test_order);
  g_test_add_func ("/devices/quiesce", test_quiesce);
  g_test_add_func ("/devices/sections", test_sections);
  g_test_add_func ("/devices/two-serial-ports", test_two_serial_ports);
  g_test_add_func ("/devices/resource-conflicts", test_resource_conflicts);
  return g_test_run ();
}
