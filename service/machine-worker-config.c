/* machine-worker-config.c — what Start sends the worker: the machine's spec with the files it needs
 * (kernel, firmware, disk images and their backing chains, TAPs) opened here, as the machine's user
 * where it has one, and passed as fds, with the state folder and the machine's settings. */
#include "machine-worker-private.h"
#include "image-info.h"
#include "hv-limits.h"
#include "open-as.h"
#include "host-net.h"
#include "net-options.h"
#include "switch-registry.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int
open_for_worker (const char *path, int flags, const char *what, GError **error)
{
  int fd = open (path, flags | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR,
                   saved == ENOENT                       ? VIREO_ERROR_NOT_FOUND
                   : (saved == EACCES || saved == EPERM) ? VIREO_ERROR_PERMISSION_DENIED
                                                         : VIREO_ERROR_FAILED,
                   "cannot open the %s %s: %s", what, path, g_strerror (saved));
    }
  return fd;
}

/* A file the guest will read (kernel, initrd): opened with the rights of the user who named it, whatever
 * now stands at @path (a link to a file that user cannot read, swapped in after the definition was checked,
 * fails as it would for them), without blocking (a FIFO swapped in must not hang vireod), and refused
 * unless it is a regular file.  The descriptor is blocking again when returned. */
static int
open_guest_file (const char *path, gint64 uid, int flags, const char *what, GError **error)
{
  struct stat st;
  int fd = vireo_open_as (uid, path, flags);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR,
                   saved == ENOENT                       ? VIREO_ERROR_NOT_FOUND
                   : (saved == EACCES || saved == EPERM) ? VIREO_ERROR_PERMISSION_DENIED
                                                         : VIREO_ERROR_FAILED,
                   "cannot open the %s %s: %s", what, path, g_strerror (saved));
      return -1;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "the %s %s is not a regular file", what,
                   path);
      close (fd);
      return -1;
    }
  if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK) < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot use the %s %s: %s", what, path,
                   g_strerror (saved));
      close (fd);
      return -1;
    }
  return fd;
}

/* A disk image: as open_guest_file(), but an image in the machine's own folder is opened with vireod's
 * rights (vireo_machine_config_open_image). */
static int
open_guest_image (const VireoMachineConfig *c, const char *path, int flags, GError **error)
{
  struct stat st;
  int fd;

  if (!vireo_machine_config_in_own_folder (c, path))
    return open_guest_file (path, c->files_uid, flags, "disk image", error);
  fd = vireo_machine_config_open_image (c, path, flags);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, saved == ENOENT ? VIREO_ERROR_NOT_FOUND : VIREO_ERROR_FAILED,
                   "cannot open the disk image %s: %s", path, g_strerror (saved));
      return -1;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the disk image %s is not a regular file", path);
      close (fd);
      return -1;
    }
  if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK) < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot use the disk image %s: %s", path,
                   g_strerror (saved));
      close (fd);
      return -1;
    }
  return fd;
}

/* Appends @fd (taking it) to @fds and returns its handle. */
static gint32
pass_fd (GUnixFDList *fds, int fd)
{
  gint32 handle = g_unix_fd_list_append (fds, fd, NULL);
  close (fd);
  return handle;
}

/* Opens the disk images of @c with the rights of the user who named them (read-write unless read-only)
 * and, for an image with a backing file, the chain (read-only, found as QEMU finds it), into the
 * spec's disk devices. */
static gboolean
open_disks (const VireoMachineConfig *c, HvMachineSpec *spec, GError **error)
{
  for (guint i = 0; c->disks && i < c->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (c->disks, i);
      HvDeviceSpec *device = hv_machine_spec_lookup_device (spec, disk->target);
      g_autoptr (GArray) chain = g_array_new (FALSE, FALSE, sizeof (int));
      g_autofree char *path = g_strdup (disk->path);
      int fd;

      g_assert (device != NULL);
      /* An empty CD-ROM drive: no file. */
      if (*disk->path == '\0')
        continue;
      fd = open_guest_image (c, disk->path, disk->readonly ? O_RDONLY : O_RDWR, error);
      if (fd < 0)
        return FALSE;
      hv_device_spec_set_fd (spec, device, "file", fd);
      /* A raw image has no backing file, whatever its first bytes (the guest's) look like. */
      while (strcmp (disk->format, "raw") != 0)
        {
          g_autoptr (GError) local = NULL;
          HvImageInfo info;
          g_autofree char *backing = NULL;
          int current = chain->len ? g_array_index (chain, int, chain->len - 1) : fd;

          if (!hv_image_info_read (current, &info, &local))
            {
              g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "the disk image %s: %s", path,
                           local->message);
              break;
            }
          if (info.backing == NULL)
            {
              hv_image_info_clear (&info);
              hv_device_spec_set_fds (spec, device, "backing", (const int *) chain->data, chain->len);
              g_array_set_size (chain, 0);
              break;
            }
          backing = hv_image_backing_path (path, info.backing);
          hv_image_info_clear (&info);
          if (chain->len >= HV_IMAGE_CHAIN_MAX)
            {
              g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "the disk image %s has a chain of backing files longer than %d (does it loop?)",
                           disk->path, HV_IMAGE_CHAIN_MAX);
              break;
            }
          fd = open_guest_file (backing, c->files_uid, O_RDONLY, "backing file", error);
          if (fd < 0)
            break;
          g_array_append_val (chain, fd);
          g_free (path);
          path = g_steal_pointer (&backing);
        }
      for (guint j = 0; j < chain->len; j++)
        close (g_array_index (chain, int, j));
      if (error && *error)
        return FALSE;
    }
  return TRUE;
}

/* A TAP device on its switch's bridge for each NIC not on NAT, as the NIC's "tap" fds (one queue of a
 * multiqueue TAP per queue pair the spec gives it): the worker may not make network devices (it has no
 * privileges), so vireod does, and the device goes away when the worker (the last holder of the fds)
 * ends.  Attaching and detaching queues, as the guest's driver asks for pairs, needs no privilege. */
static gboolean
open_taps (VireoMachine *machine, HvMachineSpec *spec, GError **error)
{
  const VireoMachineConfig *c = machine->config;

  for (guint i = 0; i < c->nics->len; i++)
    {
      const VireoNicConfig *nic = g_ptr_array_index (c->nics, i);
      g_autofree char *id = g_strdup_printf ("net%u", i);
      g_autofree char *kind = NULL;
      g_autofree char *bridge = NULL;
      g_autofree char *tap = NULL;
      HvDeviceSpec *device = hv_machine_spec_lookup_device (spec, id);
      int fds[HV_NET_QUEUES_MAX];
      guint32 queues = 1;

      g_assert (device != NULL);
      if (!vireo_switch_registry_lookup (nic->switch_name, &kind, &bridge))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND,
                       "NIC %u is on the virtual switch “%s”, which does not exist any more; choose another",
                       i + 1, nic->switch_name);
          return FALSE;
        }
      if (strcmp (kind, "nat") == 0)
        continue;
      g_variant_lookup (device->options, "queues", "u", &queues);
      queues = CLAMP (queues, 1, HV_NET_QUEUES_MAX);
      if (!vireo_host_net_open_taps (bridge, queues, fds, &tap, error))
        {
          g_prefix_error (error, "NIC %u (switch “%s”): ", i + 1, nic->switch_name);
          return FALSE;
        }
      g_message ("%s: NIC %u is %s on the bridge %s (%u queue pair%s)", c->name, i + 1, tap, bridge, queues,
                 queues == 1 ? "" : "s");
      hv_device_spec_set_fds (spec, device, "tap", fds, queues);
    }
  return TRUE;
}

/* What the worker needs: the machine spec (the configuration with its files as fds, spec.h) and the
 * worker's own keys, as one a{sv} with handles into @fds. */
GVariant *
vireo_machine_build_worker_config (VireoMachine *machine, GUnixFDList *fds, GError **error)
{
  VireoMachineConfig *c = machine->config;
  g_autoptr (HvMachineSpec) spec = vireo_machine_config_to_spec (c);
  g_autofree char *state_dir = vireo_machine_store_state_dir (machine->daemon->store, c->uuid);
  g_autoptr (GError) local = NULL;
  GVariantDict dict;
  int fd;

  if (spec->boot == HV_BOOT_FIRMWARE)
    {
      /* The firmware is the system's (Debian's SeaBIOS), opened with vireod's own rights. */
      HvDeviceSpec *adapter = hv_machine_spec_find_kind (spec, "bochs-display");

      fd = open_guest_file (HV_DEFAULT_FIRMWARE, VIREO_OWN_UID, O_RDONLY, "firmware", error);
      if (fd < 0)
        return NULL;
      spec->firmware = hv_machine_spec_add_fd (spec, fd);
      if (adapter)
        {
          fd = open_guest_file (HV_DISPLAY_ROM, VIREO_OWN_UID, O_RDONLY, "display's option ROM", error);
          if (fd < 0)
            return NULL;
          hv_device_spec_set_fd (spec, adapter, "rom", fd);
        }
      /* iPXE behind each NIC, so the firmware can boot from the network; without the package
       * (ipxe-qemu) the NICs work, only network boot does not. */
      for (guint i = 0; i < c->nics->len && g_file_test (HV_NET_ROM, G_FILE_TEST_IS_REGULAR); i++)
        {
          g_autofree char *id = g_strdup_printf ("net%u", i);
          HvDeviceSpec *nic = hv_machine_spec_lookup_device (spec, id);

          fd = open_guest_file (HV_NET_ROM, VIREO_OWN_UID, O_RDONLY, "NIC's option ROM", error);
          if (fd < 0)
            return NULL;
          hv_device_spec_set_fd (spec, nic, "rom", fd);
        }
    }
  /* Also when restoring: a restored guest that resets boots the kernel afresh. */
  else if ((fd = open_guest_file (c->kernel, c->files_uid, O_RDONLY, "kernel", error)) < 0)
    return NULL;
  else
    spec->kernel = hv_machine_spec_add_fd (spec, fd);
  if (spec->boot == HV_BOOT_KERNEL && c->initrd && *c->initrd)
    {
      fd = open_guest_file (c->initrd, c->files_uid, O_RDONLY, "initrd", error);
      if (fd < 0)
        return NULL;
      spec->initrd = hv_machine_spec_add_fd (spec, fd);
    }
  if (!open_disks (c, spec, error) || !open_taps (machine, spec, error))
    return NULL;
  if (!hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &local))
    {
      g_propagate_error (error, vireo_error_from_hv (local));
      return NULL;
    }
  /* The spec's handles are the first fds of the list. */
  for (unsigned i = 0; i < hv_machine_spec_get_n_fds (spec); i++)
    if (g_unix_fd_list_append (fds, hv_machine_spec_get_fd (spec, (int) i), error) != (int) i)
      return NULL;
  {
    g_autoptr (GVariant) message = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
    g_variant_dict_init (&dict, message);
  }

  fd = open_for_worker (machine->daemon->kvm_path, O_RDWR, "KVM device", error);
  if (fd < 0)
    {
      (*error)->code = (*error)->code == VIREO_ERROR_PERMISSION_DENIED ? VIREO_ERROR_PERMISSION_DENIED
                                                                       : VIREO_ERROR_NO_KVM;
      g_variant_dict_clear (&dict);
      return NULL;
    }
  g_variant_dict_insert (&dict, "kvm-fd", "h", pass_fd (fds, fd));

  if (g_mkdir_with_parents (state_dir, 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot create %s: %s", state_dir,
                   g_strerror (saved));
      g_variant_dict_clear (&dict);
      return NULL;
    }
  fd = open_for_worker (state_dir, O_RDONLY | O_DIRECTORY, "state folder", error);
  if (fd < 0)
    {
      g_variant_dict_clear (&dict);
      return NULL;
    }
  if (machine->worker_uid != 0 && !vireo_machine_give_state_dir (fd, machine->worker_uid, error))
    {
      close (fd);
      g_variant_dict_clear (&dict);
      return NULL;
    }
  g_variant_dict_insert (&dict, "state-dir-fd", "h", pass_fd (fds, fd));
  if (machine->restoring)
    g_variant_dict_insert (&dict, "restore", "b", TRUE);
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/* The machine as the core will check it, before opening anything: on this host (its RAM). */
gboolean
vireo_machine_check_spec_for_start (const VireoMachineConfig *config, GError **error)
{
  g_autoptr (HvMachineSpec) spec = vireo_machine_config_to_spec (config);
  return hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS, error);
}
