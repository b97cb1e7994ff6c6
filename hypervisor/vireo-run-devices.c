/* vireo-run-devices.c — vireo-run's --disk, --cdrom, --net, --channel and --boot made into the machine
 * spec's devices (and --device help): the files they name opened as the user running us, the values
 * checked with the spec. */
#include "vireo-run-private.h"
#include "block/block.h"
#include "net-options.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Opens a file the machine uses (as the user running us); the fd, or -1. */
int
vireo_run_open_regular_file (const char *path, const char *what, GError **error)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, saved == ENOENT ? HV_ERROR_NOT_FOUND : HV_ERROR_PERMISSION,
                   "cannot open the %s %s: %s", what, path, g_strerror (saved));
      return -1;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the %s %s is %s, not a regular file", what, path,
                   S_ISDIR (st.st_mode) ? "a directory" : "something else");
      close (fd);
      return -1;
    }
  return fd;
}

/* Opens @path into @spec's files; returns its handle. */
int
vireo_run_open_boot_file (HvMachineSpec *spec, const char *path, const char *what, GError **error)
{
  int fd = vireo_run_open_regular_file (path, what, error);
  return fd < 0 ? -1 : hv_machine_spec_add_fd (spec, fd);
}

void
vireo_run_disk_arg_clear (DiskArg *disk)
{
  g_free (disk->path);
  g_free (disk->serial);
}

static gboolean
parse_on_off (const char *value, gboolean *result)
{
  static const char *const on[] = { "on", "yes", "true", "1", NULL };
  static const char *const off[] = { "off", "no", "false", "0", NULL };

  if (g_strv_contains (on, value))
    *result = TRUE;
  else if (g_strv_contains (off, value))
    *result = FALSE;
  else
    return FALSE;
  return TRUE;
}

gboolean
vireo_run_parse_disk (const char *text, DiskArg *disk, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  static const char *const formats[] = { "raw", "qcow2", "auto", NULL };
  static const char *const caches[] = { "none", "writeback", NULL };

  if (parts[0] == NULL || parts[0][0] == '\0')
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "--disk needs a file: --disk FILE[,OPTION=VALUE...]");
      return FALSE;
    }
  disk->path = g_strdup (parts[0]);
  for (unsigned i = 1; parts[i]; i++)
    {
      char *equals = strchr (parts[i], '=');
      const char *value = equals ? equals + 1 : "";
      guint64 number;

      if (equals)
        *equals = '\0';
      if (g_str_equal (parts[i], "format") && g_strv_contains (formats, value))
        disk->format = g_intern_string (value);
      else if (g_str_equal (parts[i], "cache") && g_strv_contains (caches, value))
        disk->cache = g_intern_string (value);
      else if ((g_str_equal (parts[i], "readonly") || g_str_equal (parts[i], "read-only"))
               && parse_on_off (value, &disk->read_only))
        continue;
      else if (g_str_equal (parts[i], "bus") && g_str_equal (value, "virtio"))
        disk->sata = FALSE;
      else if (g_str_equal (parts[i], "bus") && (g_str_equal (value, "sata") || g_str_equal (value, "ahci")))
        disk->sata = TRUE;
      else if (g_str_equal (parts[i], "queues")
               && g_ascii_string_to_unsigned (value, 10, 1, 16, &number, NULL))
        disk->queues = (unsigned) number;
      else if (g_str_equal (parts[i], "serial") && strlen (value) <= 20)
        {
          g_free (disk->serial);
          disk->serial = g_strdup (value);
        }
      else
        {
          g_set_error (
              error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
              "--disk %s: “%s%s%s” is not an option (format=raw|qcow2, bus=virtio|sata, readonly=on|off, "
              "cache=none|writeback, serial=TEXT of up to 20 bytes, queues=1..16)",
              disk->path, parts[i], equals ? "=" : "", value);
          return FALSE;
        }
    }
  if (disk->sata && disk->queues)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "--disk %s: queues= is for virtio disks; a SATA disk has one queue of 32 commands",
                   disk->path);
      return FALSE;
    }
  return TRUE;
}

/* Opens a disk image as the user running us and checks that it can be used (readable, not locked by
 * another VM, of a format we read), so a bad one is refused before the guest starts; adds it to the
 * spec as a virtio-blk device. */

/* A disk's backing files, as the image names them: a relative name is found next to the image that names
 * it, as QEMU does.  vireo-run opens them (read-only) and the spec carries the fds. */
typedef struct
{
  GPtrArray *paths; /* the image, then each backing file opened so far */
  GArray *fds;      /* our copies of the backing files' fds, in chain order */
} BackingChain;

static void
backing_chain_clear (BackingChain *chain)
{
  for (guint i = 0; chain->fds && i < chain->fds->len; i++)
    close (g_array_index (chain->fds, int, i));
  g_clear_pointer (&chain->fds, g_array_unref);
  g_clear_pointer (&chain->paths, g_ptr_array_unref);
}

static int
open_backing_file (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  BackingChain *chain = opaque;
  const char *parent = depth >= 1 && depth <= chain->paths->len ? chain->paths->pdata[depth - 1] : NULL;
  g_autofree char *dir = parent ? g_path_get_dirname (parent) : g_get_current_dir ();
  g_autofree char *path = g_path_is_absolute (name) ? g_strdup (name) : g_build_filename (dir, name, NULL);
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  int copy;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, saved == ENOENT ? HV_ERROR_NOT_FOUND : HV_ERROR_PERMISSION,
                   "cannot open its backing file %s: %s", path, g_strerror (saved));
      return -1;
    }
  copy = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot keep its backing file %s: %s", path,
                   g_strerror (saved));
      return -1;
    }
  /* Links arrive in chain order, each once (hv_block_open_backing). */
  g_array_append_val (chain->fds, copy);
  g_ptr_array_add (chain->paths, g_steal_pointer (&path));
  return fd;
}

gboolean
vireo_run_add_disk (HvMachineSpec *spec, const DiskArg *disk, GError **error)
{
  HvBlockOptions options = { .read_only = disk->read_only };
  BackingChain chain = { 0 };
  g_autoptr (HvBlock) check = NULL;
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  HvDeviceSpec *device;
  const char *what = disk->cdrom ? "cdrom" : "disk";
  int fd, copy;

  if (disk->cdrom && *disk->path == '\0')
    {
      hv_machine_spec_add_device (spec, "cdrom", NULL, NULL);
      return TRUE;
    }
  fd = open (disk->path, (disk->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int saved = errno;
      if (saved == ENOENT)
        g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "%s %s: there is no such file", what, disk->path);
      else if (saved == EISDIR)
        g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "%s %s: it is a folder, not a disk image", what,
                     disk->path);
      else if (!disk->read_only && (saved == EACCES || saved == EPERM || saved == EROFS))
        g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION,
                     "%s %s: cannot open it for writing: %s (readonly=on gives the guest a read-only disk)",
                     what, disk->path, g_strerror (saved));
      else
        g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION, "%s %s: cannot open it: %s", what, disk->path,
                     g_strerror (saved));
      return FALSE;
    }
  if (g_strcmp0 (disk->format, "raw") == 0)
    options.format = HV_BLOCK_FORMAT_RAW;
  else if (g_strcmp0 (disk->format, "qcow2") == 0)
    options.format = HV_BLOCK_FORMAT_QCOW2;
  if (g_strcmp0 (disk->cache, "none") == 0)
    options.cache = HV_BLOCK_CACHE_NONE;
  else if (g_strcmp0 (disk->cache, "writeback") == 0)
    options.cache = HV_BLOCK_CACHE_WRITEBACK;
  copy = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  chain.paths = g_ptr_array_new_with_free_func (g_free);
  chain.fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_ptr_array_add (chain.paths, g_strdup (disk->path));
  check = hv_block_open (copy, &options, open_backing_file, &chain, error);
  if (check == NULL)
    {
      g_prefix_error (error, "%s %s: ", what, disk->path);
      close (fd);
      backing_chain_clear (&chain);
      return FALSE;
    }

  if (disk->format)
    g_variant_dict_insert (&dict, "format", "s", disk->format);
  if (disk->cache && !disk->cdrom)
    g_variant_dict_insert (&dict, "cache", "s", disk->cache);
  if (disk->read_only && !disk->cdrom)
    g_variant_dict_insert (&dict, "read-only", "b", TRUE);
  if (disk->serial)
    g_variant_dict_insert (&dict, "serial", "s", disk->serial);
  if (disk->queues)
    g_variant_dict_insert (&dict, "queues", "u", (guint32) disk->queues);
  device = hv_machine_spec_add_device (spec,
                                       disk->cdrom  ? "cdrom"
                                       : disk->sata ? "sata-disk"
                                                    : "virtio-blk",
                                       NULL, g_variant_dict_end (&dict));
  hv_device_spec_set_fd (spec, device, "file", fd);
  if (chain.fds->len)
    hv_device_spec_set_fds (spec, device, "backing", (const int *) chain.fds->data, chain.fds->len);
  g_array_set_size (chain.fds, 0); /* the spec has them */
  backing_chain_clear (&chain);
  return TRUE;
}

void
vireo_run_list_device_kinds (void)
{
  printf ("Device kinds for --device KIND[,id=ID][,OPTION=VALUE...]:\n");
  for (gsize i = 0; hv_device_kind_infos[i]; i++)
    {
      const HvDeviceKindInfo *info = hv_device_kind_infos[i];
      if (info->board)
        continue;
      printf ("  %-16s %s", info->name, info->description);
      if (info->max_instances)
        printf (" (at most %u)", info->max_instances);
      printf ("\n");
      for (const HvSpecOptionInfo *o = info->options; o && o->name; o++)
        if (o->type != HV_SPEC_OPTION_FD && o->type != HV_SPEC_OPTION_FDS)
          {
            g_autofree char *values = o->values ? g_strjoinv ("|", (char **) o->values) : NULL;
            printf ("      %s=%s  %s\n", o->name,
                    o->type == HV_SPEC_OPTION_BOOL   ? "on|off"
                    : o->type == HV_SPEC_OPTION_UINT ? "N"
                    : values                         ? values
                                                     : "TEXT",
                    o->description);
          }
        else if (o->required)
          printf ("      (%s: a file, which only --disk gives)\n", o->name);
    }
}

/* --channel NAME=unix:PATH, repeated: one virtio-serial device whose port NAME is joined to the Unix
 * stream socket at PATH, which vireo-run connects to (the host program listens there, as a guest agent
 * client does).  A malformed channel is HV_ERROR_INVALID_ARGUMENT; a socket that cannot be reached is
 * HV_ERROR_NOT_FOUND. */
gboolean
vireo_run_add_channels (HvMachineSpec *spec, char **channels, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  HvDeviceSpec *device;
  g_autofree char *joined = NULL;

  for (gsize i = 0; channels[i]; i++)
    {
      const char *eq = strchr (channels[i], '=');
      struct sockaddr_un addr = { .sun_family = AF_UNIX };
      const char *path;
      int fd;

      if (eq == NULL || eq == channels[i] || !g_str_has_prefix (eq + 1, "unix:"))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” is not NAME=unix:PATH", channels[i]);
          goto fail;
        }
      path = eq + 1 + strlen ("unix:");
      if (*path == '\0' || strlen (path) >= sizeof addr.sun_path)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "“%s”: the socket path is empty or too long", channels[i]);
          goto fail;
        }
      strcpy (addr.sun_path, path);
      fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
        {
          int saved = errno;
          if (fd >= 0)
            close (fd);
          g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "cannot connect to “%s”: %s", path,
                       g_strerror (saved));
          goto fail;
        }
      g_ptr_array_add (names, g_strndup (channels[i], eq - channels[i]));
      g_array_append_val (fds, fd);
    }
  g_ptr_array_add (names, NULL);
  joined = g_strjoinv (",", (char **) names->pdata);
  device = hv_machine_spec_add_device (spec, "virtio-serial", NULL,
                                       g_variant_new_parsed ("{'ports': <%s>}", joined));
  hv_device_spec_set_fds (spec, device, "fds", (const int *) fds->data, fds->len);
  return TRUE;

fail:
  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, int, i));
  return FALSE;
}

/* --net user[,hostfwd=FORWARD]...[,restrict=on|off][,tftp=DIR] or --net bridge=BR[,queues=N] or --net
 * tap=FD[,FD]... (one fd per queue pair, queues of one multiqueue TAP), each [,mac=MAC][,link=on|off]
 * [,rom=on|off], as a virtio-net device; @mac (--mac) is used when the text
 * names none.  *@rom says whether the NIC wants iPXE's option ROM.  The values are checked with the spec
 * (hv_machine_spec_check); a TFTP directory that cannot be opened is HV_ERROR_NOT_FOUND or
 * HV_ERROR_PERMISSION, as is a bridge that cannot be joined: setup errors rather than usage ones. */
gboolean
vireo_run_add_net_device (HvMachineSpec *spec, const char *text, const char *mac, gboolean *rom,
                          GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  g_autoptr (GPtrArray) forwards = g_ptr_array_new ();
  g_autofree char *hostfwd = NULL;
  const char *tftp = NULL;
  const char *bridge = NULL;
  g_autoptr (GArray) taps = g_array_new (FALSE, FALSE, sizeof (int));
  guint64 queues = 0;
  gboolean user, on;
  HvDeviceSpec *device;
  GVariantDict options;
  gsize i;

  *rom = HV_NET_ROM_DEFAULT;
  user = g_strcmp0 (parts[0], "user") == 0;
  if (parts[0] && g_str_has_prefix (parts[0], "bridge=") && parts[0][7] != '\0')
    bridge = parts[0] + 7;
  else if (parts[0] && g_str_has_prefix (parts[0], "tap=") && parts[0][4] != '\0')
    {
      /* The fds follow one another: tap=FD,FD,... (the parts that are numbers). */
      for (i = 0; parts[i] && (i == 0 || g_ascii_isdigit (parts[i][0])); i++)
        {
          const char *number = i == 0 ? parts[0] + 4 : parts[i];
          char *end;
          long fd = strtol (number, &end, 10);
          int copy;

          if (*end != '\0' || fd < 0 || fd > G_MAXINT || fcntl ((int) fd, F_GETFD) < 0)
            {
              g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” is not an open file descriptor",
                           number);
              goto fail;
            }
          /* Our own duplicate: the spec closes what it holds. */
          copy = fcntl ((int) fd, F_DUPFD_CLOEXEC, 3);
          g_array_append_val (taps, copy);
        }
    }
  else if (!user)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a network; there are: user (NAT, with hostfwd=, restrict=, tftp=), "
                   "bridge=BRIDGE, tap=FD",
                   parts[0]);
      return FALSE;
    }
  g_variant_dict_init (&options, NULL);
  g_variant_dict_insert (&options, "backend", "s", user ? "user" : "tap");
  for (i = MAX (taps->len, 1); parts[i]; i++)
    {
      const char *value = strchr (parts[i], '=');

      if (value == NULL)
        goto bad;
      value++;
      if (g_str_has_prefix (parts[i], "mac="))
        mac = value;
      else if (g_str_has_prefix (parts[i], "queues="))
        {
          if (!g_ascii_string_to_unsigned (value, 10, 1, HV_NET_QUEUES_MAX, &queues, NULL))
            goto bad;
          /* slirp is one thread: say so here, in one line, rather than as a device error. */
          if (user && queues > 1)
            {
              g_variant_dict_clear (&options);
              g_set_error (
                  error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                  "the NAT (user) has one queue pair, not queues=%u: only bridge= and tap= have several",
                  (unsigned) queues);
              goto fail;
            }
        }
      else if (g_str_has_prefix (parts[i], "link=") && parse_on_off (value, &on))
        g_variant_dict_insert (&options, "link", "b", on);
      else if (g_str_has_prefix (parts[i], "rom=") && parse_on_off (value, &on))
        *rom = on;
      else if (!user)
        goto bad;
      else if (g_str_has_prefix (parts[i], "hostfwd="))
        g_ptr_array_add (forwards, (gpointer) value);
      else if (g_str_has_prefix (parts[i], "tftp=") && value[0] != '\0')
        tftp = value;
      else if (g_str_has_prefix (parts[i], "restrict=") && parse_on_off (value, &on))
        g_variant_dict_insert (&options, "restrict", "b", on);
      else
        goto bad;
    }
  if (forwards->len > 0)
    {
      g_ptr_array_add (forwards, NULL);
      hostfwd = g_strjoinv (";", (char **) forwards->pdata);
      g_variant_dict_insert (&options, "hostfwd", "s", hostfwd);
    }
  if (mac)
    g_variant_dict_insert (&options, "mac", "s", mac);
  /* tap=: as many pairs as fds unless queues= says otherwise (then the spec check says they differ). */
  if (queues == 0 && taps->len > 1)
    queues = taps->len;
  if (queues > 1)
    g_variant_dict_insert (&options, "queues", "u", (guint32) queues);
  device = hv_machine_spec_add_device (spec, "virtio-net", NULL, g_variant_dict_end (&options));
  if (tftp)
    {
      int fd = open (tftp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, saved == ENOENT ? HV_ERROR_NOT_FOUND : HV_ERROR_PERMISSION,
                       "cannot open the TFTP directory %s: %s", tftp, g_strerror (saved));
          return FALSE;
        }
      hv_device_spec_set_fd (spec, device, "tftp", fd);
    }
  if (bridge)
    {
      g_array_set_size (taps, MAX (queues, 1));
      if (!hv_net_open_bridge_taps (bridge, taps->len, (int *) taps->data, NULL, error))
        return FALSE;
    }
  if (taps->len > 0)
    hv_device_spec_set_fds (spec, device, "tap", (const int *) taps->data, taps->len);
  return TRUE;

bad:
  g_variant_dict_clear (&options);
  g_set_error (
      error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
      user ? "“%s” is not hostfwd=tcp|udp:[ADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, restrict=on|off, "
             "tftp=DIR, mac=MAC, link=on|off or rom=on|off"
           : "“%s” is not queues=1..8, mac=MAC, link=on|off or rom=on|off (a bridge has no NAT options)",
      parts[i]);
fail:
  for (guint j = 0; j < taps->len; j++)
    close (g_array_index (taps, int, j));
  return FALSE;
}

/* The firmware's boot order: @boot as given, or else every disk and CD-ROM in the order given. */
void
vireo_run_set_boot_order (HvMachineSpec *spec, const char *boot)
{
  g_autoptr (GStrvBuilder) order = g_strv_builder_new ();

  if (boot)
    {
      g_auto (GStrv) entries = g_strsplit (boot, ",", -1);
      for (gsize i = 0; entries[i]; i++)
        if (*g_strstrip (entries[i]))
          g_strv_builder_add (order, entries[i]);
    }
  else
    for (guint i = 0; i < spec->devices->len; i++)
      {
        const HvDeviceSpec *device = spec->devices->pdata[i];
        const HvDeviceKindInfo *info = hv_device_kind_info_lookup (device->kind);
        if (info && info->boot_class
            && (strcmp (info->boot_class, "disk") == 0 || strcmp (info->boot_class, "cdrom") == 0))
          g_strv_builder_add (order, device->id);
      }
  g_strfreev (spec->boot_order);
  spec->boot_order = g_strv_builder_end (order);
}
