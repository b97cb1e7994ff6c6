/* state-seed.c — writes the seeds of the state fuzz target (tests/fuzz/corpus/state/): the saved
 * state of a freshly made display machine's devices (fuzz-machine.c), saved by the device model
 * under the top-level keys snapshot.c writes, once as a body (mode 1) and once as a whole "state"
 * file (mode 0).  vCPU and VM states need KVM and are left out.
 *
 * Usage: state-seed FOLDER   (tests/fuzz/make-seeds.py runs it when it has been built) */
#include "snapshot-file.h"
#include "state.h"
#include "fuzz-machine.h"
#include "hv.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static void
write_seed (const char *folder, const char *name, uint8_t mode, const void *data, gsize len)
{
  g_autofree char *path = g_build_filename (folder, name, NULL);
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_autoptr (GError) error = NULL;

  g_byte_array_append (bytes, &mode, 1);
  g_byte_array_append (bytes, data, (guint) len);
  if (!g_file_set_contents (path, (const char *) bytes->data, bytes->len, &error))
    g_error ("%s", error->message);
}

/* Boots @guest_path (the echo test guest waits for input), pauses it and saves it; the "state"
 * file's bytes, or NULL when KVM is not there. */
static GBytes *
save_real_vm (const char *guest_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVm) vm = hv_vm_new ("/dev/kvm", &error);
  g_autofree char *tmp = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  gsize len;
  int dir_fd;

  if (vm == NULL)
    {
      g_printerr ("state-seed: no VM state seed: %s\n", error->message);
      return NULL;
    }
  if (!hv_vm_set_memory (vm, 32u << 20, &error) || !hv_vm_set_kernel (vm, guest_path, NULL, NULL, &error)
      || !hv_vm_start (vm, &error))
    g_error ("%s", error->message);
  g_usleep (200 * 1000);
  tmp = g_dir_make_tmp ("vireo-state-seed-XXXXXX", &error);
  g_assert_no_error (error);
  dir_fd = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!hv_vm_pause (vm, &error) || !hv_vm_save (vm, dir_fd, &error))
    g_error ("%s", error->message);
  close (dir_fd);
  path = g_build_filename (tmp, "state", NULL);
  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  unlink (path);
  g_free (path);
  path = g_build_filename (tmp, "memory", NULL);
  unlink (path);
  rmdir (tmp);
  hv_vm_stop (vm);
  return g_bytes_new (contents, len);
}

int
main (int argc, char **argv)
{
  FuzzMachine fm;
  GError *error = NULL;
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  uint8_t id[HV_SNAPSHOT_ID_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
  g_autoptr (GVariant) state = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *file = NULL;
  gsize file_len;
  int dir_fd;

  if (argc != 2 && argc != 3)
    g_error ("usage: state-seed FOLDER [GUEST.elf]");
  fuzz_machine_init (&fm);
  g_variant_dict_insert (&dict, "memory-size", "t", (guint64) TEST_RAM_SIZE);
  g_variant_dict_insert (&dict, "vcpu-count", "u", 1);
  g_variant_dict_insert_value (&dict, "memory-id", hv_state_new_bytes (id, sizeof id));
  g_variant_dict_insert (&dict, "saved-at", "x", (gint64) 0);
  g_variant_dict_insert (&dict, "writer", "s", "vireo " VIREO_VERSION);
  g_variant_dict_insert_value (&dict, "devices", hv_devices_save (fm.devices));
  state = g_variant_ref_sink (g_variant_dict_end (&dict));
  write_seed (argv[1], "devices-body", 1, g_variant_get_data (state), g_variant_get_size (state));

  /* The same as a whole file, header and checksum as hv_snapshot_write_state() writes them. */
  tmp = g_dir_make_tmp ("vireo-state-seed-XXXXXX", &error);
  g_assert_no_error (error);
  dir_fd = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_true (hv_snapshot_write_state (dir_fd, state, &error));
  g_assert_no_error (error);
  close (dir_fd);
  file = g_build_filename (tmp, "state.tmp", NULL);
  {
    g_autofree char *contents = NULL;
    g_assert_true (g_file_get_contents (file, &contents, &file_len, &error));
    write_seed (argv[1], "devices-file", 0, contents, file_len);
  }
  unlink (file);
  rmdir (tmp);
  fuzz_machine_clear (&fm);

  if (argc == 3)
    {
      g_autoptr (GBytes) vm_state = save_real_vm (argv[2]);
      gsize len;
      const uint8_t *data = vm_state ? g_bytes_get_data (vm_state, &len) : NULL;

      if (data != NULL)
        {
          write_seed (argv[1], "vm-file", 0, data, len);
          write_seed (argv[1], "vm-body", 1, data + 32, len - 32); /* after the 32-byte header */
        }
    }
  return 0;
}
