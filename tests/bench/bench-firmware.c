/* bench-firmware.c — the firmware benchmark (--only firmware): Debian's SeaBIOS boots a boot sector from a
 * virtio disk under vireo and QEMU. */
#include "bench.h"

/* A 1 MiB raw disk whose boot sector prints BOOT_SECTOR_MARKER and resets the machine. */
gboolean
make_boot_image (Bench *b, GError **error)
{
  g_autofree uint8_t *disk = g_malloc0 (1 << 20);
  g_autofree char *path = g_build_filename (b->disk_dir ? b->disk_dir : g_get_tmp_dir (), "bench-boot.raw",
                                            NULL);

  vireo_boot_sector_fill (disk, BOOT_SECTOR_MARKER "\r\n", TRUE);
  if (!g_file_set_contents (path, (const char *) disk, 1 << 20, error))
    return FALSE;
  b->boot_image = g_steal_pointer (&path);
  return TRUE;
}

/* Both boot Debian's SeaBIOS on an i440FX machine with the boot image as a virtio disk and nothing else:
 * no display, no NIC (QEMU: -nodefaults). */
static GPtrArray *
firmware_argv (const Bench *b, VmmId id)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *mem = g_strdup_printf ("%dM", b->memory_mib);

  g_ptr_array_add (argv, g_strdup (b->vmm[id].path));
  if (id == VMM_VIREO)
    {
      g_ptr_array_add (argv, g_strdup ("-m"));
      g_ptr_array_add (argv, g_strdup (mem));
      g_ptr_array_add (argv, g_strdup ("--firmware"));
      g_ptr_array_add (argv, g_strdup (SEABIOS_IMAGE));
      g_ptr_array_add (argv, g_strdup ("--disk"));
      g_ptr_array_add (argv, g_strdup_printf ("%s,format=raw,readonly=on", b->boot_image));
    }
  else
    {
      const char *const fixed[] = { "-enable-kvm", "-cpu",        "qemu64",          "-machine",
                                    "pc",          "-nodefaults", "-no-user-config", "-display",
                                    "none",        "-serial",     "stdio",           "-no-reboot",
                                    "-bios",       SEABIOS_IMAGE };
      for (gsize i = 0; i < G_N_ELEMENTS (fixed); i++)
        g_ptr_array_add (argv, g_strdup (fixed[i]));
      g_ptr_array_add (argv, g_strdup ("-m"));
      g_ptr_array_add (argv, g_strdup (mem));
      g_ptr_array_add (argv, g_strdup ("-drive"));
      g_ptr_array_add (argv,
                       g_strdup_printf ("file=%s,format=raw,if=none,id=disk0,readonly=on", b->boot_image));
      g_ptr_array_add (argv, g_strdup ("-device"));
      g_ptr_array_add (argv, g_strdup ("virtio-blk-pci,drive=disk0"));
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

void
bench_firmware (Bench *b)
{
  static const VmmId ids[] = { VMM_VIREO, VMM_QEMU };
  /* vireo-run reports the reset by its exit status; QEMU (-no-reboot) exits 0. */
  RunSpec specs[N_VMMS] = {
    [VMM_VIREO] = { { BOOT_SECTOR_MARKER, NULL }, BOOT_SECTOR_MARKER, -1, FALSE, VIREO_EXIT_RESET },
    [VMM_QEMU] = { { BOOT_SECTOR_MARKER, NULL }, BOOT_SECTOR_MARKER, -1, FALSE, 0 },
  };

  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];
      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
        {
          VmmId id = order[i];
          g_autoptr (GPtrArray) argv = NULL;
          RunResult r;

          if (!vmm_usable (b, id))
            continue;
          argv = firmware_argv (b, id);
          if (!run_vmm (b, id, "SeaBIOS boot sector", argv, &specs[id], &r))
            continue;
          record (b, id, M_FW_FIRST_BYTE, r.marker_ns[0] / NS_PER_MS);
          record (b, id, M_FW_EXIT, r.exit_ns / NS_PER_MS);
          record (b, id, M_FW_CPU, r.user_ms + r.sys_ms);
          progress (b, "[firmware %d/%d] %-5s boot sector %8.1f ms, exit %8.1f ms, cpu %7.1f ms", rep + 1,
                    b->runs, vmm_names[id], r.marker_ns[0] / NS_PER_MS, r.exit_ns / NS_PER_MS,
                    r.user_ms + r.sys_ms);
          run_result_clear (&r);
        }
    }
}

void
print_firmware_results (const Bench *b)
{
  static const VmmId pair[] = { VMM_VIREO, VMM_QEMU };
  static const VmmId vq[][2] = { { VMM_VIREO, VMM_QEMU } };

  print_heading ("5. Firmware: Debian's SeaBIOS boots a boot sector from a virtio disk, which prints a line "
                 "and resets (i440FX on both)",
                 pair, 2, vq, 1);
  print_row (b, "exec -> boot sector's first byte", "ms", M_FW_FIRST_BYTE, pair, 2, vq, 1);
  print_row (b, "exec -> VMM exit after the reset", "ms", M_FW_EXIT, pair, 2, vq, 1);
  print_row (b, "VMM CPU time, user+sys", "ms", M_FW_CPU, pair, 2, vq, 1);
  for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
    if (b->vmm[id].path != NULL && b->boot_image != NULL)
      {
        g_autoptr (GPtrArray) argv = firmware_argv (b, id);
        g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
        g_print ("  %-5s %s\n", vmm_names[id], cmd);
      }
}
