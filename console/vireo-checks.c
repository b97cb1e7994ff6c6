/* vireo-checks.c — what a machine's settings may be, checked as the user types: name, memory, files (kernel,
 * initial ramdisk, disk images), kernel command line and CPUID mask, with the host's limits they are judged
 * against.  The New Machine wizard and the settings window both use these, so both say the same thing. */
#include "vireo-checks.h"
#include "vireo-text.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vireo-format.h"

/* The service's limits (data/org.vireo.Vireo1.xml); checked here too so that the reason shows while typing. */
#define VCPUS_MAX         64
#define CMDLINE_MAX_BYTES 4095

char *
vireo_check_machine_file (const char *path, gboolean writable)
{
  g_autofree char *display = NULL;
  struct stat st;

  g_return_val_if_fail (path != NULL, NULL);

  display = g_filename_display_name (path);
  if (!g_path_is_absolute (path))
    return g_strdup_printf (_ ("“%s” is not a full path; it must start with “/”."), display);
  if (g_stat (path, &st) < 0)
    {
      if (errno == EACCES || errno == EPERM)
        return g_strdup_printf (_ ("“%s” cannot be reached (permission denied)."), display);
      if (errno == ENOENT || errno == ENOTDIR)
        return g_strdup_printf (_ ("“%s” does not exist."), display);
      return g_strdup_printf (_ ("“%s” cannot be used: %s."), display, g_strerror (errno));
    }
  if (S_ISDIR (st.st_mode))
    return g_strdup_printf (_ ("“%s” is a folder, not a file."), display);
  if (!S_ISREG (st.st_mode))
    return g_strdup_printf (_ ("“%s” is not a regular file."), display);
  if (g_access (path, R_OK) < 0)
    return g_strdup_printf (_ ("“%s” cannot be read (permission denied)."), display);
  if (writable && g_access (path, W_OK) < 0)
    return g_strdup_printf (_ ("“%s” cannot be written; make it writable or make the disk read-only."),
                            display);
  return NULL;
}

const char *
vireo_detect_image_format (const char *path)
{
  unsigned char magic[4];
  ssize_t n;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  /* O_NONBLOCK: a FIFO where an image was expected must not hang the app. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    return NULL;
  do
    n = pread (fd, magic, sizeof magic, 0);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n < 0)
    return NULL;
  return n == (ssize_t) sizeof magic && memcmp (magic, "QFI\xfb", sizeof magic) == 0 ? "qcow2" : "raw";
}

static gboolean
has_control_characters (const char *text)
{
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return TRUE;
  return FALSE;
}

char *
vireo_check_machine_name (VireoHost *host, const char *name, VireoDBusMachine *except)
{
  GListModel *machines;
  glong chars;

  g_return_val_if_fail (VIREO_IS_HOST (host), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  if (*name == '\0')
    return g_strdup (_ ("A name is required."));
  if (!g_utf8_validate (name, -1, NULL) || has_control_characters (name))
    return g_strdup (_ ("The name cannot contain control characters such as tabs or line breaks."));
  chars = g_utf8_strlen (name, -1);
  if (chars > VIREO_MACHINE_NAME_MAX_CHARS)
    return g_strdup_printf (_ ("The name is %ld characters long; the limit is %d."), chars,
                            VIREO_MACHINE_NAME_MAX_CHARS);
  /* The same comparison the service makes, so that the app refuses exactly what it would. */
  machines = vireo_host_get_machines (host);
  for (guint i = 0; i < g_list_model_get_n_items (machines); i++)
    {
      g_autoptr (VireoDBusMachine) machine = g_list_model_get_item (machines, i);
      const char *other = vireo_dbus_machine_get_name (machine);

      if (machine != except && other != NULL && g_utf8_collate (other, name) == 0)
        return g_strdup_printf (_ ("Another machine is already called “%s”."), name);
    }
  return NULL;
}

char *
vireo_check_cmdline (const char *cmdline)
{
  g_return_val_if_fail (cmdline != NULL, NULL);

  if (strlen (cmdline) > CMDLINE_MAX_BYTES)
    return g_strdup_printf (_ ("The command line is %zu bytes long; the limit is %d."), strlen (cmdline),
                            CMDLINE_MAX_BYTES);
  if (has_control_characters (cmdline))
    return g_strdup (_ ("The command line cannot contain control characters."));
  return NULL;
}

char *
vireo_check_memory (guint64 mib, guint64 host_mib)
{
  g_autofree char *host_amount = NULL;

  if (mib < VIREO_MEMORY_MIB_MIN)
    return g_strdup_printf (_ ("A machine needs at least %d MiB."), VIREO_MEMORY_MIB_MIN);
  if (host_mib == 0 || mib <= host_mib)
    return NULL;
  host_amount = vireo_format_memory (host_mib);
  /* Plain %llu: xgettext cannot see through G_GUINT64_FORMAT, and the message would not be translatable. */
  return g_strdup_printf (_ ("%llu MiB is more memory than this computer has (%llu MiB, %s)."),
                          (unsigned long long) mib, (unsigned long long) host_mib, host_amount);
}

char *
vireo_describe_host (VireoDBusManager *manager)
{
  guint64 host_mib = manager ? vireo_dbus_manager_get_host_memory_mib (manager) : 0;
  guint host_cpus = manager ? vireo_dbus_manager_get_host_cpus (manager) : 0;
  g_autofree char *amount = NULL;
  g_autofree char *cpus = NULL;

  if (host_mib == 0 || host_cpus == 0)
    return NULL;
  amount = vireo_format_memory (host_mib);
  cpus = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u processor", "%u processors", host_cpus),
                          host_cpus);
  /* Translators: the first %s is "N processors", the second an amount of memory such as "16 GiB". */
  return g_strdup_printf (_ ("This computer has %s and %s of memory."), cpus, amount);
}

void
vireo_set_resource_ranges (VireoDBusManager *manager, GtkAdjustment *memory, GtkAdjustment *vcpus)
{
  guint64 host_mib = manager ? vireo_dbus_manager_get_host_memory_mib (manager) : 0;
  guint host_cpus = manager ? vireo_dbus_manager_get_host_cpus (manager) : 0;

  gtk_adjustment_set_upper (memory, host_mib > 0 ? (double) MAX (host_mib * 4, VIREO_DEFAULT_MEMORY_MIB)
                                                 : G_MAXUINT32);
  gtk_adjustment_set_upper (vcpus, host_cpus > 0 ? MIN (host_cpus, VCPUS_MAX) : VCPUS_MAX);
}

char *
vireo_entry_row_get_stripped_text (AdwEntryRow *row)
{
  g_return_val_if_fail (ADW_IS_ENTRY_ROW (row), NULL);

  /* The service trims names the same way: what the user sees checked is what gets stored. */
  return vireo_utf8_strip (gtk_editable_get_text (GTK_EDITABLE (row)));
}

/* The syntax the service takes: "-flag,-flag" with the lowercase names of /proc/cpuinfo.  Whether each name
 * is a feature the service knows, it says itself. */
char *
vireo_check_cpuid_mask (const char *text)
{
  g_autofree char *all = g_strstrip (g_strdup (text));
  g_auto (GStrv) items = NULL;

  if (*all == '\0')
    return NULL;
  items = g_strsplit (all, ",", -1);
  for (guint i = 0; items[i] != NULL; i++)
    {
      char *item = g_strstrip (items[i]);
      char *name;

      if (*item == '\0')
        return g_strdup_printf (_ ("Item %u is empty: remove the extra comma."), i + 1);
      if (*item != '-')
        return g_strdup_printf (_ ("“%s” must start with “-”: features can only be hidden."), item);
      name = g_strstrip (item + 1);
      if (*name == '\0')
        return g_strdup_printf (_ ("Item %u is a “-” without a feature name."), i + 1);
      for (const char *p = name; *p != '\0'; p++)
        if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '_')
          return g_strdup_printf (_ ("“%s” is not a feature name: use the lowercase names of /proc/cpuinfo, "
                                     "such as “avx512f”."),
                                  name);
    }
  return NULL;
}

gboolean
vireo_memory_is_large (guint64 mib, guint64 host_mib)
{
  return host_mib > 0 && mib > host_mib / 2 && mib <= host_mib;
}

char *
vireo_check_mac (const char *text)
{
  guint8 bytes[6];

  if (text == NULL || *text == '\0')
    return g_strdup (_ ("Type a MAC address, or generate one."));
  if (strlen (text) != 17)
    return g_strdup (_ ("A MAC address is six pairs of hexadecimal digits separated by colons, e.g. "
                        "52:54:00:12:34:56."));
  for (guint i = 0; i < 6; i++)
    {
      const char *pair = text + i * 3;

      if (!g_ascii_isxdigit (pair[0]) || !g_ascii_isxdigit (pair[1]) || (i < 5 && pair[2] != ':'))
        return g_strdup (_ ("A MAC address is six pairs of hexadecimal digits separated by colons, e.g. "
                            "52:54:00:12:34:56."));
      bytes[i] = g_ascii_xdigit_value (pair[0]) << 4 | g_ascii_xdigit_value (pair[1]);
    }
  /* The low bit of the first byte marks a group address: no adapter may take one as its own. */
  if (bytes[0] & 1)
    return g_strdup (_ ("This is a multicast address: the first pair must be even (e.g. 52)."));
  if ((bytes[0] | bytes[1] | bytes[2] | bytes[3] | bytes[4] | bytes[5]) == 0)
    return g_strdup (_ ("00:00:00:00:00:00 is not an address an adapter can have."));
  return NULL;
}

char *
vireo_generate_mac (void)
{
  guint32 random = g_random_int ();

  return g_strdup_printf ("52:54:00:%02x:%02x:%02x", random >> 16 & 0xff, random >> 8 & 0xff, random & 0xff);
}

char *
vireo_check_forward_address (const char *text)
{
  g_autoptr (GInetAddress) address = NULL;

  if (text == NULL || *text == '\0')
    return NULL;
  address = g_inet_address_new_from_string (text);
  if (address == NULL || g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV4)
    /* Translators: %s is what the user typed. */
    return g_strdup_printf (_ ("“%s” is not an IPv4 address of this computer, e.g. 127.0.0.1."), text);
  return NULL;
}
