/* fuzz-state.c — the saved-state parser: a "state" file read back as untrusted input
 * (hypervisor/snapshot-file.c), the checks of its top level, vCPUs and VM state that need no KVM
 * (x86/vcpu-state.c, x86/vm-state.c), and the devices' sections loaded into a display machine's
 * devices by the device model (hypervisor/device.c), as a restore loads them.  Version 1 files,
 * which snapshot.c upgrades first, have no sections the device model knows and are refused there.
 *
 * Input: u8 mode, then either the whole file (mode bit 0 clear: header and body as on disk) or only
 * the body (bit 0 set: a serialized a{sv} that the harness writes with hv_snapshot_write_state, so
 * that its header and checksum are right and the fuzzer spends its time on the contents). */
#include "fuzz-input.h"
#include "snapshot-file.h"
#include "state.h"
#include "vcpu-state.h"
#include "vm-state.h"
#include "fuzz-machine.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static char *dir_path;
static int dir_fd = -1;

static void
remove_dir (void)
{
  unlinkat (dir_fd, "state", 0);
  unlinkat (dir_fd, "state.tmp", 0);
  rmdir (dir_path);
}

/* A folder for the "state" file, in memory where possible: writing a state syncs it. */
static void
ensure_dir (void)
{
  if (dir_fd >= 0)
    return;
  dir_path = g_strdup ("/dev/shm/vireo-fuzz-state-XXXXXX");
  if (g_mkdtemp (dir_path) == NULL)
    {
      g_free (dir_path);
      dir_path = g_build_filename (g_get_tmp_dir (), "vireo-fuzz-state-XXXXXX", NULL);
      if (g_mkdtemp (dir_path) == NULL)
        fuzz_fail ("cannot create a folder for the state file");
    }
  dir_fd = open (dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    fuzz_fail ("cannot open %s", dir_path);
  atexit (remove_dir);
}

static gboolean
write_file (const uint8_t *data, size_t size)
{
  int fd = openat (dir_fd, "state", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  gboolean ok = fd >= 0 && write (fd, data, size) == (ssize_t) size;

  if (fd >= 0)
    close (fd);
  return ok;
}

static gboolean
write_body (const uint8_t *data, size_t size)
{
  gpointer copy = g_memdup2 (data, size);
  g_autoptr (GVariant) body = g_variant_ref_sink (
      g_variant_new_from_data (G_VARIANT_TYPE_VARDICT, copy, size, FALSE, g_free, copy));

  return hv_snapshot_write_state (dir_fd, body, NULL) && renameat (dir_fd, "state.tmp", dir_fd, "state") == 0;
}

/* Loads the sections into the devices of a display machine, as a restore does (hv_devices_load:
 * every section checked against the device of its id and kind, in realize order, the bus first),
 * then lets the machine run its I/O work. */
static void
load_devices (GVariant *sections)
{
  FuzzMachine fm;
  g_autoptr (GError) error = NULL;

  fuzz_machine_init (&fm);
  if (!hv_devices_load (fm.devices, sections, &error))
    {
      /* A refusal is a GError that names what is wrong. */
      g_assert (error->domain == HV_ERROR && error->code == HV_ERROR_BAD_IMAGE);
      fuzz_note_refusal ("devices", error);
    }
  test_machine_run_io (&fm.m);
  fuzz_machine_clear (&fm);
}

static void
check_state (GVariant *state)
{
  g_autoptr (GVariant) vcpus = g_variant_lookup_value (state, "vcpus", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (GVariant) vm = g_variant_lookup_value (state, "vm", G_VARIANT_TYPE_VARDICT);
  g_autoptr (GVariant) devices = g_variant_lookup_value (state, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  uint8_t id[HV_SNAPSHOT_ID_SIZE];
  uint64_t memory_size;
  uint32_t n_vcpus;

  hv_state_get (state, "the VM", "memory-size", "t", &memory_size, NULL);
  hv_state_get (state, "the VM", "vcpu-count", "u", &n_vcpus, NULL);
  hv_state_get_bytes (state, "the VM", "memory-id", id, sizeof id, sizeof id, NULL, NULL);
  for (gsize i = 0; vcpus != NULL && i < MIN (g_variant_n_children (vcpus), 64); i++)
    {
      g_autoptr (GVariant) vcpu = g_variant_get_child_value (vcpus, i);
      g_autoptr (GError) error = NULL;

      if (!hv_vcpu_state_check (vcpu, (unsigned) i, &error))
        fuzz_note_refusal ("vCPU", error);
    }
  if (vm != NULL)
    {
      g_autoptr (GError) error = NULL;
      if (!hv_vm_kvm_state_check (vm, &error))
        fuzz_note_refusal ("VM", error);
    }
  if (devices != NULL)
    load_devices (devices);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  unsigned version = 0;
  uint8_t mode;

  fuzz_setup_logging (TRUE);

  if (size < 1)
    return 0;
  ensure_dir ();
  mode = data[0];
  if (!((mode & 1) ? write_body (data + 1, size - 1) : write_file (data + 1, size - 1)))
    fuzz_fail ("cannot write the state file");

  state = hv_snapshot_read_state (dir_fd, &version, &error);
  if (state == NULL)
    {
      g_assert (error != NULL);
      fuzz_note_refusal ("state file", error);
      return 0;
    }
  g_assert (g_variant_is_normal_form (state) && (version == 1 || version == 2));
  check_state (state);
  return 0;
}
