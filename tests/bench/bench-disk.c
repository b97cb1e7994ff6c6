/* bench-disk.c — the disk benchmark (--only disk): blk-bench.elf on a raw and a qcow2 image under vireo and
 * QEMU, and host fio on the raw file as the ceiling. */
#include "bench.h"

/* Fills @path with @mib MiB of bytes that are neither zeros nor compressible, so that every block is
 * allocated and read from the file. */
static gboolean
write_filled_image (const char *path, int mib, GError **error)
{
  g_autofree guint8 *chunk = g_malloc (1 << 20);
  guint64 x = 0x2545f4914f6cdd1dull;
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, BENCH_ERROR, 0, "cannot create %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  for (int m = 0; m < mib; m++)
    {
      for (gsize i = 0; i < (1 << 20); i += 8)
        {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          memcpy (chunk + i, &x, 8);
        }
      if (write (fd, chunk, 1 << 20) != 1 << 20)
        {
          int saved = errno;
          close (fd);
          g_set_error (error, BENCH_ERROR, 0, "cannot write %s: %s", path, g_strerror (saved));
          return FALSE;
        }
    }
  fsync (fd);
  close (fd);
  return TRUE;
}

/* The raw image, and a qcow2 converted from it (every cluster allocated) when qemu-img is there. */
gboolean
make_disk_images (Bench *b, GError **error)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *raw = g_build_filename (b->disk_dir, "bench-disk.raw", NULL);
  g_autofree char *qcow2 = g_build_filename (b->disk_dir, "bench-disk.qcow2", NULL);

  if (!write_filled_image (raw, DISK_IMAGE_MIB, error))
    return FALSE;
  b->disk_images[0] = g_steal_pointer (&raw);
  if (qemu_img == NULL)
    {
      g_printerr ("vireo-bench: qemu-img not found (Debian: qemu-utils): raw only\n");
      return TRUE;
    }
  {
    const char *argv[] = { qemu_img, "convert", "-f", "raw", "-O", "qcow2", b->disk_images[0], qcow2, NULL };
    int status;

    if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, error)
        || !g_spawn_check_wait_status (status, error))
      return FALSE;
  }
  b->disk_images[1] = g_steal_pointer (&qcow2);
  return TRUE;
}

void
remove_disk_images (Bench *b)
{
  for (int f = 0; f < N_DISK_FORMATS; f++)
    if (b->disk_images[f] != NULL)
      {
        unlink (b->disk_images[f]);
        g_clear_pointer (&b->disk_images[f], g_free);
      }
}

/* vmm_argv for blk-bench.elf with the image of format @f as its virtio-blk disk, direct I/O. */
static GPtrArray *
disk_argv (const Bench *b, VmmId id, int f)
{
  g_autofree char *cmdline = g_strdup_printf ("scale=%d", b->disk_scale);
  GPtrArray *argv = vmm_argv (b, id, "blk-bench", cmdline, 0);

  g_ptr_array_remove_index (argv, argv->len - 1); /* the NULL */
  if (id == VMM_VIREO)
    {
      g_ptr_array_add (argv, g_strdup ("--disk"));
      g_ptr_array_add (argv, g_strdup_printf ("%s,format=%s,cache=none", b->disk_images[f], disk_formats[f]));
    }
  else
    {
      g_ptr_array_add (argv, g_strdup ("-drive"));
      g_ptr_array_add (argv, g_strdup_printf ("file=%s,format=%s,if=none,id=disk0,cache=none,aio=io_uring",
                                              b->disk_images[f], disk_formats[f]));
      g_ptr_array_add (argv, g_strdup ("-device"));
      /* Modern only: the guest looks for the virtio 1.x device ID, as vireo offers it. */
      g_ptr_array_add (argv, g_strdup ("virtio-blk-pci,drive=disk0,disable-legacy=on"));
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

static GPtrArray *
fio_argv (const Bench *b, const DiskWorkload *w)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (b->vmm[VMM_FIO].path));
  g_ptr_array_add (argv, g_strdup_printf ("--name=%s", w->name));
  g_ptr_array_add (argv, g_strdup_printf ("--filename=%s", b->disk_images[0]));
  g_ptr_array_add (argv, g_strdup ("--direct=1"));
  g_ptr_array_add (argv, g_strdup ("--ioengine=io_uring"));
  g_ptr_array_add (argv, g_strdup_printf ("--rw=%s", w->fio_rw));
  g_ptr_array_add (argv, g_strdup_printf ("--bs=%u", w->bytes));
  g_ptr_array_add (argv, g_strdup_printf ("--iodepth=%u", w->depth));
  g_ptr_array_add (argv, g_strdup_printf ("--runtime=%d", b->fio_seconds));
  g_ptr_array_add (argv, g_strdup ("--time_based"));
  g_ptr_array_add (argv, g_strdup ("--minimal"));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* IOPS for small requests, MB/s (10^6 bytes) for 1 MiB ones, from @requests done in @ns. */
static double
disk_rate (const DiskWorkload *w, double requests, double ns)
{
  double per_second = requests / (ns / 1e9);
  return w->bytes >= (1u << 20) ? per_second * w->bytes / 1e6 : per_second;
}

/* fio's terse (v3) line: field 7/8 read KiB/s and IOPS, 48/49 the same for writes. */
static gboolean
parse_fio (const DiskWorkload *w, const char *out, double *value)
{
  g_auto (GStrv) fields = g_strsplit (out, ";", -1);
  gboolean write = strstr (w->fio_rw, "write") != NULL;
  guint iops_field = write ? 48 : 7, bw_field = write ? 47 : 6;

  if (g_strv_length (fields) <= iops_field || !g_str_equal (fields[0], "3"))
    return FALSE;
  if (w->bytes >= (1u << 20))
    *value = g_ascii_strtod (fields[bw_field], NULL) * 1024 / 1e6;
  else
    *value = g_ascii_strtod (fields[iops_field], NULL);
  return *value > 0;
}

static void
bench_disk_fio (Bench *b, int rep)
{
  for (gsize i = 0; i < N_DISK_WORKLOADS && vmm_usable (b, VMM_FIO); i++)
    {
      const DiskWorkload *w = &disk_workloads[i];
      g_autoptr (GPtrArray) argv = fio_argv (b, w);
      RunSpec spec = { { NULL }, NULL, -1, FALSE };
      RunResult r;
      double value;

      if (!run_vmm (b, VMM_FIO, w->name, argv, &spec, &r))
        return;
      if (!parse_fio (w, r.out->str, &value))
        {
          b->vmm[VMM_FIO].failure = g_strdup_printf ("cannot read fio's output: %.200s", r.out->str);
          run_result_clear (&r);
          return;
        }
      /* The host file is the ceiling for both formats (fio cannot write inside a qcow2 image). */
      for (int f = 0; f < N_DISK_FORMATS; f++)
        record (b, VMM_FIO, M_DISK_FIRST + f * N_DISK_WORKLOADS + i, value);
      progress (b, "[disk %d/%d] fio   %-18s %10.1f %s", rep + 1, b->runs, w->name, value,
                w->bytes >= (1u << 20) ? "MB/s" : "IOPS");
      run_result_clear (&r);
    }
}

void
bench_disk (Bench *b)
{
  static const VmmId ids[] = { VMM_VIREO, VMM_QEMU, VMM_FIO };
  g_autofree char *go[N_DISK_WORKLOADS] = { NULL };
  g_autofree char *done[N_DISK_WORKLOADS] = { NULL };
  RunSpec spec = { { NULL }, "blk-bench: finished", -1, FALSE };

  /* Markers in pairs: "go NAME\n" (the newline keeps qd1 from matching qd32) and "done NAME ". */
  for (gsize i = 0; i < N_DISK_WORKLOADS; i++)
    {
      go[i] = g_strdup_printf ("blk-bench: go %s\n", disk_workloads[i].name);
      done[i] = g_strdup_printf ("blk-bench: done %s ", disk_workloads[i].name);
      spec.markers[2 * i] = go[i];
      spec.markers[2 * i + 1] = done[i];
    }
  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];

      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (gsize k = 0; k < G_N_ELEMENTS (ids); k++)
        {
          VmmId id = order[k];

          if (!vmm_usable (b, id))
            continue;
          if (id == VMM_FIO)
            {
              bench_disk_fio (b, rep);
              continue;
            }
          for (int f = 0; f < N_DISK_FORMATS; f++)
            {
              g_autoptr (GPtrArray) argv = NULL;
              RunResult r;

              if (b->disk_images[f] == NULL || !vmm_usable (b, id))
                continue;
              argv = disk_argv (b, id, f);
              if (!run_vmm (b, id, "blk-bench.elf", argv, &spec, &r))
                continue;
              for (gsize i = 0; i < N_DISK_WORKLOADS; i++)
                {
                  const DiskWorkload *w = &disk_workloads[i];
                  gint64 ns = r.marker_ns[2 * i + 1] - r.marker_ns[2 * i];
                  double value;

                  if (r.marker_ns[2 * i] < 0 || r.marker_ns[2 * i + 1] < 0 || ns <= 0)
                    continue;
                  value = disk_rate (w, (double) w->count * b->disk_scale, (double) ns);
                  record (b, id, M_DISK_FIRST + f * N_DISK_WORKLOADS + i, value);
                  progress (b, "[disk %d/%d] %-5s %-5s %-18s %10.1f %s", rep + 1, b->runs, vmm_names[id],
                            disk_formats[f], w->name, value, w->bytes >= (1u << 20) ? "MB/s" : "IOPS");
                }
              run_result_clear (&r);
            }
        }
    }
}

void
print_disk_results (const Bench *b)
{
  static const VmmId disk_cols[] = { VMM_VIREO, VMM_QEMU, VMM_FIO };
  static const VmmId disk_ratios[][2] = { { VMM_VIREO, VMM_QEMU }, { VMM_VIREO, VMM_FIO } };
  g_autofree char *title = g_strdup_printf (
      "4. Disk: blk-bench.elf (virtio-blk driven from guest ring 3, polled), scale=%d, cache=none, "
      "%d MiB images; fio: the host on the raw file (%d s per job), the ceiling for both formats",
      b->disk_scale, DISK_IMAGE_MIB, b->fio_seconds);

  print_heading (title, disk_cols, 3, disk_ratios, 2);
  for (int f = 0; f < N_DISK_FORMATS; f++)
    for (gsize i = 0; i < N_DISK_WORKLOADS; i++)
      {
        g_autofree char *label = g_strdup_printf ("%s %s", disk_formats[f], disk_workloads[i].label);

        if (b->disk_images[f] == NULL)
          continue;
        print_row (b, label, disk_workloads[i].bytes >= (1u << 20) ? "MB/s" : "IOPS",
                   M_DISK_FIRST + f * N_DISK_WORKLOADS + i, disk_cols, 3, disk_ratios, 2);
      }
  g_print ("  higher is better; commands (raw shown; qcow2 differs in the image and format=):\n");
  for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
    if (b->vmm[id].path != NULL && b->disk_images[0] != NULL)
      {
        g_autoptr (GPtrArray) argv = disk_argv (b, id, 0);
        g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
        g_print ("  %-5s %s\n", vmm_names[id], cmd);
      }
  if (b->vmm[VMM_FIO].path != NULL && b->disk_images[0] != NULL)
    {
      g_autoptr (GPtrArray) argv = fio_argv (b, &disk_workloads[0]);
      g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
      g_print ("  fio   %s (--rw, --bs, --iodepth per row)\n", cmd);
    }
}
