/* test-firmware.c — Debian's unmodified SeaBIOS booted by vireo-run (no kernel, no disks, no display):
 * its banner and "No bootable device" arrive on COM1 through etc/sercon-port, then it retries by
 * resetting the machine.  The same firmware under QEMU is the check of the test itself.  Bad firmware
 * images get one clear error line. */
#include "boot-sector.h"
#include "spec.h"
#include "test-util.h"

#include <gio/gio.h>

#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SEABIOS "/usr/share/seabios/bios-256k.bin"
#define BANNER  "SeaBIOS (version "
#define NO_BOOT "No bootable device."
/* Guest ring 0 is emulated on some hosts (ARCHITECTURE.md): SeaBIOS takes a second or two there. */
#define BOOT_TIMEOUT_S     120
#define STATUS_SETUP_ERROR 1
#define STATUS_RESET       3

typedef struct
{
  double banner_s;  /* seconds from start to the banner, < 0 if it never came */
  double no_boot_s; /* to "No bootable device." */
  char *output;     /* the serial console */
  int status;       /* exit status, -1 when it had to be stopped */
  char *err;
} FirmwareRun;

static void
firmware_run_clear (FirmwareRun *run)
{
  g_free (run->output);
  g_free (run->err);
}

typedef void (*AtNoBoot) (gpointer data);

/* Runs @argv (its serial console writing to @console_path) until it exits or, with @stop_at_no_boot,
 * until "No bootable device." is seen (then @at_no_boot runs first, if given); polls the console file
 * for the two lines' arrival. */
static void
run_firmware (const char *const *argv, const char *console_path, gboolean stop_at_no_boot,
              AtNoBoot at_no_boot, gpointer at_no_boot_data, FirmwareRun *run)
{
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean exited = FALSE;

  memset (run, 0, sizeof *run);
  run->banner_s = run->no_boot_s = -1;
  run->status = -1;
  proc = g_subprocess_newv (argv,
                            G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error);
  g_assert_no_error (error);

  while (g_get_monotonic_time () - start < BOOT_TIMEOUT_S * G_USEC_PER_SEC)
    {
      g_autofree char *text = NULL;
      double now = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;

      if (g_file_get_contents (console_path, &text, NULL, NULL))
        {
          if (run->banner_s < 0 && strstr (text, BANNER))
            run->banner_s = now;
          if (run->no_boot_s < 0 && strstr (text, NO_BOOT))
            run->no_boot_s = now;
        }
      if (stop_at_no_boot && run->no_boot_s >= 0)
        {
          if (at_no_boot)
            at_no_boot (at_no_boot_data);
          break;
        }
      /* A process that ended is reaped by GLib's worker; the main context tells us. */
      g_main_context_iteration (NULL, FALSE);
      if (g_subprocess_get_identifier (proc) == NULL)
        {
          exited = TRUE;
          break;
        }
      g_usleep (20 * 1000);
    }

  if (!exited)
    {
      /* Never left behind, however the test ends. */
      g_subprocess_force_exit (proc);
    }
  else
    run->status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  {
    g_autoptr (GInputStream) err = g_object_ref (g_subprocess_get_stderr_pipe (proc));
    char buf[4096];
    gssize n = g_input_stream_read (err, buf, sizeof buf - 1, NULL, NULL);
    run->err = g_strndup (buf, n > 0 ? (gsize) n : 0);
  }
  g_file_get_contents (console_path, &run->output, NULL, NULL);
  g_test_message ("status %d, banner after %.2f s, no boot after %.2f s\nconsole: %s\nstderr: %s",
                  run->status, run->banner_s, run->no_boot_s, run->output ? run->output : "", run->err);
}

static char *
console_file (const char *dir)
{
  char *path = g_build_filename (dir, "console.txt", NULL);
  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  return path;
}

static void
test_seabios_no_bootable_device (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *console = NULL;
  g_autofree char *serial = NULL;
  FirmwareRun run;

  if (!vireo_test_require_kvm ())
    return;
  if (!g_file_test (SEABIOS, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("SeaBIOS is not installed (" SEABIOS ", package seabios)");
      return;
    }
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  console = console_file (dir);
  serial = g_strconcat ("file:", console, NULL);
  {
    /* No --kernel: SeaBIOS is the default. */
    const char *argv[] = { vireo_test_vireo_run (), "--serial", serial, NULL };
    run_firmware (argv, console, FALSE, NULL, NULL, &run);
  }
  g_printerr ("# vireo: SeaBIOS banner after %.2f s, \"" NO_BOOT "\" after %.2f s\n", run.banner_s,
              run.no_boot_s);

  g_assert_cmpfloat (run.banner_s, >=, 0);
  g_assert_cmpfloat (run.no_boot_s, >=, run.banner_s);
  /* Its screen reaches COM1 as sercon draws it. */
  g_assert_nonnull (strstr (run.output, "SeaBIOS (version 1."));
  g_assert_nonnull (strstr (run.output, "No bootable device.  Retrying in 5 seconds."));
  /* Then it retries the way a PC does, through the reset control register. */
  g_assert_cmpint (run.status, ==, STATUS_RESET);
  g_assert_nonnull (strstr (run.err, "reset"));
  firmware_run_clear (&run);
  unlink (console);
  rmdir (dir);
}

/* The test's own check: the same SeaBIOS under QEMU prints the same two lines. */
static void
test_seabios_under_qemu (void)
{
  g_autofree char *qemu = g_find_program_in_path ("qemu-system-x86_64");
  g_autofree char *dir = NULL;
  g_autofree char *console = NULL;
  g_autofree char *serial = NULL;
  FirmwareRun run;

  if (!vireo_test_require_kvm ())
    return;
  if (qemu == NULL || !g_file_test (SEABIOS, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("qemu-system-x86_64 or SeaBIOS is not installed");
      return;
    }
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  console = console_file (dir);
  serial = g_strconcat ("file:", console, NULL);
  {
    /* -nographic makes SeaBIOS use sercon on COM1; QEMU never retries, so it is stopped. */
    const char *argv[] = { qemu,          "-enable-kvm", "-cpu",       "qemu64", "-m",       "256",
                           "-nodefaults", "-nographic",  "-serial",    serial,   "-monitor", "none",
                           "-bios",       SEABIOS,       "-no-reboot", NULL };
    run_firmware (argv, console, TRUE, NULL, NULL, &run);
  }
  g_printerr ("# QEMU: SeaBIOS banner after %.2f s, \"" NO_BOOT "\" after %.2f s\n", run.banner_s,
              run.no_boot_s);
  g_assert_cmpfloat (run.banner_s, >=, 0);
  g_assert_cmpfloat (run.no_boot_s, >=, run.banner_s);
  g_assert_nonnull (strstr (run.output, "SeaBIOS (version 1."));
  g_assert_nonnull (strstr (run.output, NO_BOOT));
  firmware_run_clear (&run);
  unlink (console);
  rmdir (dir);
}

typedef struct
{
  const char *socket;
  const char *dir;
  char *ppm; /* what spicy-screenshot saved */
} Screenshot;

static void
take_screenshot (gpointer data)
{
  Screenshot *shot = data;
  g_autofree char *uri = g_strconcat ("spice+unix://", shot->socket, NULL);
  g_autoptr (GError) error = NULL;
  int status;

  shot->ppm = g_build_filename (shot->dir, "shot.ppm", NULL);
  g_spawn_sync (NULL,
                (char *[]){ (char *) "spicy-screenshot", (char *) "--uri", uri, (char *) "--out-file",
                            shot->ppm, NULL },
                NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
}

/* With a display, SeaBIOS finds SeaVGABIOS behind the Bochs display's ROM BAR, which sets a mode and
 * draws the BIOS's text screen into the framebuffer (and sercon still mirrors it to COM1). */
static void
test_seabios_on_the_display (void)
{
  g_autofree char *tool = g_find_program_in_path ("spicy-screenshot");
  g_autofree char *dir = NULL;
  g_autofree char *console = NULL;
  g_autofree char *serial = NULL;
  g_autofree char *socket = NULL;
  g_autofree char *display = NULL;
  g_autofree char *data = NULL;
  Screenshot shot = { 0 };
  FirmwareRun run;
  gsize length;
  int width, height, maxval, header = 0;
  unsigned lit_top = 0, lit_below = 0, grey = 0;

  if (!vireo_test_require_kvm ())
    return;
  if (tool == NULL || !g_file_test (SEABIOS, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("spicy-screenshot (spice-client-gtk) or SeaBIOS is not installed");
      return;
    }
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  console = console_file (dir);
  serial = g_strconcat ("file:", console, NULL);
  socket = g_build_filename (dir, "display.sock", NULL);
  display = g_strconcat ("spice:", socket, NULL);
  shot.socket = socket;
  shot.dir = dir;
  {
    const char *argv[] = { vireo_test_vireo_run (), "--serial", serial, "--display", display, NULL };
    run_firmware (argv, console, TRUE, take_screenshot, &shot, &run);
  }
  g_assert_cmpfloat (run.no_boot_s, >=, 0);
  g_assert_nonnull (strstr (run.output, "SeaBIOS (version 1."));
  g_assert_nonnull (shot.ppm);

  g_assert_true (g_file_get_contents (shot.ppm, &data, &length, NULL));
  g_assert_cmpint (sscanf (data, "P6 %d %d %d%n", &width, &height, &maxval, &header), ==, 3);
  header++;
  /* The mode SeaVGABIOS picks from the display's EDID, and the text screen's rows in it: the banner
   * on the first row of 16 pixels, in the light grey of attribute 7 on black, and nothing far below
   * the few lines the BIOS wrote. */
  g_assert_cmpint (width, ==, 1024);
  g_assert_cmpint (height, ==, 768);
  g_assert_cmpuint (length, >=, (gsize) header + 1024 * 768 * 3);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        const guint8 *rgb = (const guint8 *) data + header + ((gsize) y * width + x) * 3;
        gboolean lit = rgb[0] | rgb[1] | rgb[2];
        if (lit && y < 16)
          lit_top++;
        if (lit && y >= 400)
          lit_below++;
        grey += rgb[0] == 0xaa && rgb[1] == 0xaa && rgb[2] == 0xaa;
      }
  g_test_message ("%u lit pixels in the first text row, %u grey in all, %u below the text screen", lit_top,
                  grey, lit_below);
  g_assert_cmpuint (lit_top, >, 200);
  g_assert_cmpuint (grey, >, 500);
  g_assert_cmpuint (lit_below, ==, 0);

  firmware_run_clear (&run);
  unlink (shot.ppm);
  g_free (shot.ppm);
  unlink (console);
  unlink (socket);
  rmdir (dir);
}

static gboolean
output_contains (VireoTestGuest *guest, const char *needle)
{
  g_autofree char *text = vireo_test_guest_output (guest);
  return strstr (text, needle) != NULL;
}

/* A machine booting firmware saved while SeaBIOS waits to retry, and restored into a new VM with the
 * same firmware: the wait goes on where it was, and ends in SeaBIOS's reset. */
static void
test_seabios_save_restore (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  VireoTestGuest guest;
  HvExitInfo info = { 0 };
  int dir_fd, firmware_fd;
  gint64 deadline;

  if (!vireo_test_require_kvm ())
    return;
  if (!g_file_test (SEABIOS, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("SeaBIOS is not installed (" SEABIOS ", package seabios)");
      return;
    }
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  firmware_fd = open (SEABIOS, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (dir_fd, >=, 0);
  g_assert_cmpint (firmware_fd, >=, 0);

  vireo_test_guest_init (&guest, 128 << 20, 2);
  g_assert_true (hv_vm_set_firmware_fd (guest.vm, firmware_fd, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "Retrying in 5 seconds", BOOT_TIMEOUT_S));
  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_true (hv_vm_save (guest.vm, dir_fd, &error));
  g_assert_no_error (error);
  g_assert_false (output_contains (&guest, "Rebooting"));
  vireo_test_guest_clear (&guest);

  vireo_test_guest_init (&guest, 128 << 20, 2);
  g_assert_true (hv_vm_set_firmware_fd (guest.vm, firmware_fd, &error));
  g_assert_true (hv_vm_set_restore (guest.vm, dir_fd, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  /* Nothing is printed again: the new machine carries on from the wait. */
  deadline = g_get_monotonic_time () + BOOT_TIMEOUT_S * G_USEC_PER_SEC;
  while (!hv_vm_has_exited (guest.vm) && g_get_monotonic_time () < deadline)
    g_usleep (50 * 1000);
  hv_vm_wait (guest.vm, &info);
  {
    g_autofree char *output = vireo_test_guest_output (&guest);
    g_test_message ("restored: %s; output: %s", info.message, output);
  }
  g_assert_cmpint (info.reason, ==, HV_EXIT_RESET);
  g_assert_true (output_contains (&guest, "Rebooting"));
  g_assert_false (output_contains (&guest, "SeaBIOS (version"));
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);

  close (firmware_fd);
  unlinkat (dir_fd, "state", 0);
  unlinkat (dir_fd, "memory", 0);
  close (dir_fd);
  g_assert_no_errno (rmdir (dir));
}

/* A 1 MiB disk whose boot sector writes @message to COM1 and halts. */
static void
write_boot_disk (const char *path, const char *message)
{
  g_autofree uint8_t *disk = g_malloc0 (1 << 20);

  vireo_boot_sector_fill (disk, message, FALSE);
  g_assert_true (g_file_set_contents (path, (const char *) disk, 1 << 20, NULL));
}

/* Runs vireo-run with SeaBIOS, its serial console in @dir, the options @args (NULL-terminated), until
 * @needle appears on COM1 or BOOT_TIMEOUT_S pass; the console's text. */
/* Whether @text holds @needle and the rest of its line: the console is read while the guest writes it, and
 * a test that looks past the needle must not see half a line. */
static gboolean
has_line (const char *text, const char *needle)
{
  const char *at = strstr (text, needle);

  return at != NULL && strchr (at, '\n') != NULL;
}

static char *
boot_until (const char *dir, const char *const *args, const char *needle, const char *what)
{
  g_autofree char *console = console_file (dir);
  g_autofree char *serial = g_strconcat ("file:", console, NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  char *text = NULL;
  gboolean seen = FALSE;

  g_ptr_array_add (argv, (char *) vireo_test_vireo_run ());
  g_ptr_array_add (argv, (char *) "--serial");
  g_ptr_array_add (argv, serial);
  g_ptr_array_add (argv, (char *) "--memory");
  g_ptr_array_add (argv, (char *) "64M");
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_newv ((const char *const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  g_assert_no_error (error);
  while (!seen && g_get_monotonic_time () - start < BOOT_TIMEOUT_S * G_USEC_PER_SEC)
    {
      g_clear_pointer (&text, g_free);
      seen = g_file_get_contents (console, &text, NULL, NULL) && has_line (text, needle);
      if (!seen)
        g_usleep (50 * 1000);
    }
  g_subprocess_force_exit (proc);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  g_test_message ("console: %s", text ? text : "");
  g_printerr ("# vireo: SeaBIOS ran %s after %.2f s\n", what,
              (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC);
  g_assert_true (seen);
  return text;
}

static gboolean
require_seabios (void)
{
  if (!vireo_test_require_kvm ())
    return FALSE;
  if (!g_file_test (SEABIOS, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("SeaBIOS is not installed (" SEABIOS ", package seabios)");
      return FALSE;
    }
  return TRUE;
}

/* Boots a raw disk whose boot sector prints "vireo: boot sector ran", with @extra_args (NULL-terminated)
 * after its --disk; returns the console's text up to that line. */
static char *
boot_the_boot_sector (const char *const *extra_args, const char *what)
{
  g_autofree char *dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  g_autofree char *image = g_build_filename (dir, "boot.img", NULL);
  g_autofree char *disk = NULL;
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  char *text;

  write_boot_disk (image, "vireo: boot sector ran\r\n");
  disk = g_strconcat (image, ",format=raw", NULL);
  g_ptr_array_add (args, (gpointer) "--disk");
  g_ptr_array_add (args, disk);
  for (; *extra_args != NULL; extra_args++)
    g_ptr_array_add (args, (gpointer) *extra_args);
  g_ptr_array_add (args, NULL);
  text = boot_until (dir, (const char *const *) args->pdata, "vireo: boot sector ran", what);
  vireo_test_remove_tree (dir);
  return text;
}

/* SeaBIOS finds the virtio disk, loads its boot sector at 0x7c00 and runs it: the firmware's own
 * virtio-blk driver is the judge of the device here. */
static void
test_seabios_boots_a_disk (void)
{
  const char *no_more[] = { NULL };
  g_autofree char *text = NULL;

  if (!require_seabios ())
    return;
  text = boot_the_boot_sector (no_more, "the disk's boot sector");
  g_assert_nonnull (strstr (text, "Booting from Hard Disk"));
}

/* With a NIC carrying iPXE's option ROM, SeaBIOS runs the ROM's initialisation at POST (iPXE prints its
 * banner) and still boots the disk: the ROM only runs further when the network is in the boot order.
 * iPXE itself stops at an emulation failure on this host when it runs (ARCHITECTURE.md), so this is
 * what can be checked here: that offering the ROM costs a disk boot nothing. */
static void
test_seabios_boots_a_disk_beside_ipxe (void)
{
  const char *nic[] = { "--net", "user,restrict=on", NULL };
  g_autofree char *text = NULL;

  if (!require_seabios ())
    return;
  if (!g_file_test (HV_NET_ROM, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("iPXE is not installed (" HV_NET_ROM ", package ipxe-qemu)");
      return;
    }
  text = boot_the_boot_sector (nic, "the disk's boot sector beside iPXE");
  g_assert_nonnull (strstr (text, "iPXE"));
  g_assert_nonnull (strstr (text, "Booting from Hard Disk"));
}

/* Real-mode code that reads one sector with int 13h AH=42h (extended read, the drive in DL as the
 * firmware gave it) to 0x8000 and, with interrupts off so that SeaBIOS's serial console cannot write in
 * between, writes the NUL-terminated text there at a given offset to COM1, then " <- int 13h"; "vireo:
 * int 13h failed" when the read fails.  Assembled from 16-bit code at 0x7c00
 * (SeaBIOS runs a boot sector there, and a no-emulation El Torito image at 07c0:0000). */
static const uint8_t int13_reader[] = {
  0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xfb, 0xbe, 0x3c, 0x7c, 0xb4,
  0x42, 0xcd, 0x13, 0xfa, 0xbe, 0x5c, 0x7c, 0x72, 0x07, 0xbe, 0x00, 0x80, 0x03, 0x36, 0x4c, 0x7c, 0xba,
  0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xbe, 0x4e, 0x7c, 0xac, 0x84, 0xc0, 0x74,
  0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd, 0x66, 0x90, 0x10, 0x00, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3c, 0x2d, 0x20, 0x69, 0x6e, 0x74,
  0x20, 0x31, 0x33, 0x68, 0x0d, 0x0a, 0x00, 0x76, 0x69, 0x72, 0x65, 0x6f, 0x3a, 0x20, 0x69, 0x6e, 0x74,
  0x20, 0x31, 0x33, 0x68, 0x20, 0x66, 0x61, 0x69, 0x6c, 0x65, 0x64, 0x00,
};
#define INT13_READER_LBA    0x44 /* u64: the sector to read */
#define INT13_READER_OFFSET 0x4c /* u16: where the text starts in it */

static void
put_int13_reader (uint8_t *at, uint64_t lba, uint16_t offset)
{
  memcpy (at, int13_reader, sizeof int13_reader);
  for (unsigned i = 0; i < 8; i++)
    at[INT13_READER_LBA + i] = (uint8_t) (lba >> (8 * i));
  at[INT13_READER_OFFSET] = (uint8_t) offset;
  at[INT13_READER_OFFSET + 1] = (uint8_t) (offset >> 8);
}

/* SeaBIOS boots from the SATA disk through its AHCI driver, and the boot sector reads the disk's
 * second sector back through int 13h. */
static void
test_seabios_boots_a_sata_disk (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *image = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *text = NULL;
  g_autofree uint8_t *data = g_malloc0 (1 << 20);
  const char *message = "vireo: sector 1 of the SATA disk";

  if (!require_seabios ())
    return;
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  image = g_build_filename (dir, "sata.img", NULL);
  put_int13_reader (data, 1, 0);
  data[510] = 0x55;
  data[511] = 0xaa;
  memcpy (data + 512, message, strlen (message));
  g_assert_true (g_file_set_contents (image, (const char *) data, 1 << 20, NULL));
  disk = g_strconcat (image, ",format=raw,bus=sata", NULL);
  {
    const char *args[] = { "--disk", disk, NULL };
    text = boot_until (dir, args, "vireo: sector 1 of the SATA disk <- int 13h",
                       "the SATA disk's boot sector");
  }
  g_assert_nonnull (strstr (text, "Booting from Hard Disk"));
  g_assert_null (strstr (text, "int 13h failed"));
  vireo_test_remove_tree (dir);
}

/* Real-mode code that fills 512 bytes at 0x8000 with 0xa5, writes them to sector 2 of its boot drive with
 * int 13h AH=43h, clears the buffer, reads sector 2 back (AH=42h) and checks it, then prints "vireo: int 13h
 * wrote and read back sector 2" on COM1, or "vireo: int 13h write failed".  Assembled from 16-bit code at
 * 0x7c00; the drive number SeaBIOS passes in DL is kept at 0x7c64, the disk address packet follows. */
static const uint8_t int13_writer[] = {
  0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xfb, 0x88, 0x16, 0x64, 0x7c, 0xfc,
  0xbf, 0x00, 0x80, 0xb0, 0xa5, 0xb9, 0x00, 0x02, 0xf3, 0xaa, 0xbe, 0x65, 0x7c, 0xb8, 0x00, 0x43, 0x8a, 0x16,
  0x64, 0x7c, 0xcd, 0x13, 0x72, 0x28, 0xbf, 0x00, 0x80, 0x31, 0xc0, 0xb9, 0x00, 0x02, 0xf3, 0xaa, 0xbe, 0x65,
  0x7c, 0xb4, 0x42, 0x8a, 0x16, 0x64, 0x7c, 0xcd, 0x13, 0x72, 0x11, 0xbf, 0x00, 0x80, 0xb0, 0xa5, 0xb9, 0x00,
  0x02, 0xf3, 0xae, 0x75, 0x05, 0xbe, 0x75, 0x7c, 0xeb, 0x03, 0xbe, 0xa3, 0x7c, 0xfa, 0xba, 0xf8, 0x03, 0xac,
  0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x80, 0x00,
  0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x76, 0x69, 0x72, 0x65, 0x6f, 0x3a, 0x20, 0x69, 0x6e,
  0x74, 0x20, 0x31, 0x33, 0x68, 0x20, 0x77, 0x72, 0x6f, 0x74, 0x65, 0x20, 0x61, 0x6e, 0x64, 0x20, 0x72, 0x65,
  0x61, 0x64, 0x20, 0x62, 0x61, 0x63, 0x6b, 0x20, 0x73, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x32, 0x0d, 0x0a,
  0x00, 0x76, 0x69, 0x72, 0x65, 0x6f, 0x3a, 0x20, 0x69, 0x6e, 0x74, 0x20, 0x31, 0x33, 0x68, 0x20, 0x77, 0x72,
  0x69, 0x74, 0x65, 0x20, 0x66, 0x61, 0x69, 0x6c, 0x65, 0x64, 0x0d, 0x0a, 0x00,
};

/* SeaBIOS writes a sector through its own driver of @bus ("virtio" or "sata") for a boot sector's int 13h
 * call, on a qcow2 image; qemu-img check and qemu-io judge the image afterwards. */
static void
test_seabios_int13_write (gconstpointer data)
{
  const char *bus = data;
  g_autofree char *dir = NULL;
  g_autofree char *raw = NULL;
  g_autofree char *image = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *text = NULL;
  g_autofree char *out = NULL;
  g_autofree uint8_t *sectors = g_malloc0 (1 << 20);

  if (!require_seabios ())
    return;
  if (!vireo_test_require_programs ((const char *const[]){ "qemu-img", "qemu-io", NULL }))
    return;
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  raw = g_build_filename (dir, "boot.raw", NULL);
  image = g_build_filename (dir, "boot.qcow2", NULL);
  memcpy (sectors, int13_writer, sizeof int13_writer);
  sectors[510] = 0x55;
  sectors[511] = 0xaa;
  g_assert_true (g_file_set_contents (raw, (const char *) sectors, 1 << 20, NULL));
  {
    const char *argv[] = { "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image, NULL };
    g_assert_cmpint (vireo_test_run_judge (argv, NULL), ==, 0);
  }
  disk = g_strdup_printf ("%s,format=qcow2,bus=%s", image, bus);
  {
    const char *args[] = { "--disk", disk, NULL };
    text = boot_until (dir, args, "vireo: int 13h ", "the int 13h writer");
  }
  g_assert_nonnull (strstr (text, "vireo: int 13h wrote and read back sector 2"));
  {
    const char *check[] = { "qemu-img", "check", "-q", image, NULL };
    const char *read[] = {
      "qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0xa5 1024 512", "-c", "read -P 0 1536 512", image, NULL
    };
    g_assert_cmpint (vireo_test_run_judge (check, NULL), ==, 0);
    g_assert_cmpint (vireo_test_run_judge (read, &out), ==, 0);
    g_assert_null (strstr (out, "Pattern verification failed"));
  }
  vireo_test_remove_tree (dir);
}

/* SeaBIOS boots a CD-ROM's El Torito no-emulation image (made by xorriso) through its AHCI/ATAPI driver,
 * and the image reads the ISO's primary volume descriptor (LBA 16, 2048 bytes) through int 13h and
 * prints the volume name in it. */
static void
test_seabios_boots_a_cdrom (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *content = NULL;
  g_autofree char *boot = NULL;
  g_autofree char *iso = NULL;
  g_autofree char *xorriso = g_find_program_in_path ("xorriso");
  g_autofree char *text = NULL;
  uint8_t image[2048] = { 0 };

  if (!require_seabios ())
    return;
  if (xorriso == NULL)
    {
      g_test_skip ("xorriso is not installed (it makes the bootable ISO)");
      return;
    }
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  content = g_build_filename (dir, "content", NULL);
  g_assert_no_errno (g_mkdir (content, 0700));
  boot = g_build_filename (content, "boot.img", NULL);
  iso = g_build_filename (dir, "boot.iso", NULL);
  put_int13_reader (image, 16, 40); /* the volume identifier, space-padded, then zeros */
  g_assert_true (g_file_set_contents (boot, (const char *) image, sizeof image, NULL));
  {
    const char *argv[] = { xorriso,           "-as", "mkisofs",  "-V",
                           "VIREOBOOTCD",     "-b",  "boot.img", "-no-emul-boot",
                           "-boot-load-size", "4",   "-o",       iso,
                           content,           NULL };
    g_assert_cmpint (vireo_test_run_judge (argv, NULL), ==, 0);
  }
  {
    const char *args[] = { "--cdrom", iso, NULL };
    text = boot_until (dir, args, " <- int 13h", "the CD-ROM's boot image");
  }
  g_assert_nonnull (strstr (text, "Booting from DVD/CD"));
  g_assert_nonnull (strstr (text, "VIREOBOOTCD"));
  g_assert_null (strstr (text, "int 13h failed"));
  vireo_test_remove_tree (dir);
}

/* Two bootable disks, a virtio one and a SATA one, each printing its name: the firmware boots the first
 * of the boot order ("bootorder" in fw_cfg), which is the order given unless --boot says otherwise. */
static void
make_two_boot_disks (const char *dir, char **virtio, char **sata)
{
  g_autofree char *a = g_build_filename (dir, "a.img", NULL);
  g_autofree char *b = g_build_filename (dir, "b.img", NULL);

  write_boot_disk (a, "vireo: booted the virtio disk\r\n");
  write_boot_disk (b, "vireo: booted the SATA disk\r\n");
  *virtio = g_strconcat (a, ",format=raw", NULL);
  *sata = g_strconcat (b, ",format=raw,bus=sata", NULL);
}

static void
test_seabios_boot_order (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *virtio = NULL;
  g_autofree char *sata = NULL;

  if (!require_seabios ())
    return;
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  make_two_boot_disks (dir, &virtio, &sata);
  {
    /* SeaBIOS on its own would try the SATA disk first (its AHCI driver probes before virtio). */
    const char *args[] = { "--disk", virtio, "--disk", sata, NULL };
    g_autofree char *text = boot_until (dir, args, "vireo: booted the", "the first disk given");
    g_assert_nonnull (strstr (text, "vireo: booted the virtio disk"));
  }
  {
    const char *args[] = { "--disk", sata, "--disk", virtio, NULL };
    g_autofree char *text = boot_until (dir, args, "vireo: booted the", "the first disk given");
    g_assert_nonnull (strstr (text, "vireo: booted the SATA disk"));
  }
  {
    const char *args[] = { "--disk", virtio, "--disk", sata, "--boot", "sata0,disk0", NULL };
    g_autofree char *text = boot_until (dir, args, "vireo: booted the", "the disk --boot names first");
    g_assert_nonnull (strstr (text, "vireo: booted the SATA disk"));
  }
  vireo_test_remove_tree (dir);
}

/* Reads the console (vireo-run's stdout) into @text until it holds @needle and the rest of its line, at
 * most BOOT_TIMEOUT_S. */
static gboolean
read_console_until (GInputStream *console, GString *text, const char *needle)
{
  gint64 deadline = g_get_monotonic_time () + BOOT_TIMEOUT_S * G_USEC_PER_SEC;

  while (!has_line (text->str, needle) && g_get_monotonic_time () < deadline)
    {
      char buffer[512];
      gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (console), buffer,
                                                           sizeof buffer, NULL, NULL);
      if (n == 0)
        return FALSE;
      if (n < 0)
        g_usleep (20 * 1000);
      else
        g_string_append_len (text, buffer, n);
    }
  return has_line (text->str, needle);
}

/* The firmware's boot menu from the serial console: Esc while it offers the menu, then the second entry
 * (the SATA disk, as the boot order puts the virtio disk first). */
static void
test_seabios_boot_menu_on_serial (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *virtio = NULL;
  g_autofree char *sata = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  GInputStream *console;
  GOutputStream *keys;

  if (!require_seabios ())
    return;
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  make_two_boot_disks (dir, &virtio, &sata);
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                               | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                           &error, vireo_test_vireo_run (), "--serial", "stdio", "--memory", "64M", "--disk",
                           virtio, "--disk", sata, "--boot-menu", "30000", NULL);
  g_assert_no_error (error);
  console = g_subprocess_get_stdout_pipe (proc);
  keys = g_subprocess_get_stdin_pipe (proc);

  g_assert_true (read_console_until (console, text, "Press ESC for boot menu"));
  g_assert_true (g_output_stream_write_all (keys, "\x1b", 1, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (read_console_until (console, text, "Select boot device"));
  /* The menu lists the devices in boot order. */
  g_assert_true (read_console_until (console, text, "2. "));
  g_assert_true (g_output_stream_write_all (keys, "2", 1, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (read_console_until (console, text, "vireo: booted the"));
  g_test_message ("console: %s", text->str);
  g_assert_nonnull (strstr (text->str, "vireo: booted the SATA disk"));
  g_subprocess_force_exit (proc);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  vireo_test_remove_tree (dir);
}

/* The boot menu from the keyboard a display client types on (hv_vm_input_key, as SPICE delivers keys):
 * the firmware has no virtio-input driver, so the keys reach it through the PS/2 keyboard.  Esc, then the
 * second entry (the SATA disk). */
static void
test_seabios_boot_menu_on_keyboard (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *virtio = NULL;
  g_autofree char *sata = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (GError) error = NULL;
  const char *order[] = { "disk0", "sata0", NULL };
  VireoTestGuest guest;
  HvDeviceSpec *device;

  if (!require_seabios ())
    return;
  dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  make_two_boot_disks (dir, &virtio, &sata);
  a = g_build_filename (dir, "a.img", NULL);
  b = g_build_filename (dir, "b.img", NULL);
  spec->memory = 64ull << 20;
  spec->boot = HV_BOOT_FIRMWARE;
  spec->firmware = hv_machine_spec_add_fd (spec, open (SEABIOS, O_RDONLY | O_CLOEXEC));
  spec->boot_menu_ms = 30000;
  g_strfreev (spec->boot_order);
  spec->boot_order = g_strdupv ((char **) order);
  device = hv_machine_spec_add_device (spec, "virtio-blk", "disk0", NULL);
  hv_device_spec_set_fd (spec, device, "file", open (a, O_RDWR | O_CLOEXEC));
  device = hv_machine_spec_add_device (spec, "sata-disk", "sata0", NULL);
  hv_device_spec_set_fd (spec, device, "file", open (b, O_RDWR | O_CLOEXEC));

  vireo_test_guest_init (&guest, spec->memory, 1);
  g_assert_true (hv_vm_apply_spec (guest.vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (guest.vm, guest.input_pipe[0], guest.output_fd);
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "Press ESC for boot menu", BOOT_TIMEOUT_S));
  hv_vm_input_key (guest.vm, 0x01); /* Esc, make and break */
  hv_vm_input_key (guest.vm, 0x81);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "2. ", BOOT_TIMEOUT_S));
  hv_vm_input_key (guest.vm, 0x03); /* 2 */
  hv_vm_input_key (guest.vm, 0x83);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "vireo: booted the", BOOT_TIMEOUT_S));
  g_assert_true (vireo_test_guest_wait_for_output (&guest, " disk\r\n", BOOT_TIMEOUT_S)); /* the whole line */
  {
    g_autofree char *output = vireo_test_guest_output (&guest);
    g_test_message ("console: %s", output);
    g_assert_nonnull (strstr (output, "Select boot device"));
    g_assert_nonnull (strstr (output, "vireo: booted the SATA disk"));
  }
  hv_vm_stop (guest.vm);
  vireo_test_guest_clear (&guest);
  vireo_test_remove_tree (dir);
}

static void
test_bad_firmware_images (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vireo-firmware-XXXXXX", NULL);
  g_autofree char *empty = g_build_filename (dir, "empty.bin", NULL);
  g_autofree char *odd = g_build_filename (dir, "odd.bin", NULL);
  g_autofree char *huge = g_build_filename (dir, "huge.bin", NULL);
  g_autofree char *odd_data = g_malloc0 (100000);
  const struct
  {
    const char *path;
    const char *message;
  } cases[] = {
    { empty, "multiple of 64 KiB" },
    { odd, "100000 bytes" },
    { huge, "at most 16 MiB" },
    { dir, "not a regular file" },
    { "/nonexistent/bios.bin", "No such file" },
  };

  if (!vireo_test_require_kvm ())
    return;
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_true (g_file_set_contents (odd, odd_data, 100000, NULL));
  {
    /* Sparse: 32 MiB of nothing. */
    FILE *f = fopen (huge, "w");
    g_assert_nonnull (f);
    g_assert_cmpint (ftruncate (fileno (f), 32 << 20), ==, 0);
    fclose (f);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *argv[] = { vireo_test_vireo_run (), "--firmware", cases[i].path, NULL };
      g_autoptr (GSubprocess) proc = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      proc = g_subprocess_newv (argv,
                                G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                    | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                &error);
      g_assert_no_error (error);
      g_assert_true (g_subprocess_communicate_utf8 (proc, "", NULL, &out, &err, &error));
      g_test_message ("%s: %s", cases[i].path, err);
      g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, STATUS_SETUP_ERROR);
      g_assert_true (g_str_has_prefix (err, "vireo-run: "));
      g_assert_nonnull (strstr (err, cases[i].message));
      g_assert_cmpstr (strchr (err, '\n') + 1, ==, "");
      g_assert_cmpstr (out, ==, "");
    }
  unlink (empty);
  unlink (odd);
  unlink (huge);
  rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/firmware/seabios-no-bootable-device", test_seabios_no_bootable_device);
  g_test_add_func ("/firmware/seabios-under-qemu", test_seabios_under_qemu);
  g_test_add_func ("/firmware/seabios-on-the-display", test_seabios_on_the_display);
  g_test_add_func ("/firmware/seabios-save-restore", test_seabios_save_restore);
  g_test_add_func ("/firmware/bad-images", test_bad_firmware_images);
  g_test_add_func ("/firmware/seabios-boots-a-disk", test_seabios_boots_a_disk);
  g_test_add_func ("/firmware/seabios-boots-a-disk-beside-ipxe", test_seabios_boots_a_disk_beside_ipxe);
  g_test_add_func ("/firmware/seabios-boots-a-sata-disk", test_seabios_boots_a_sata_disk);
  g_test_add_func ("/firmware/seabios-boots-a-cdrom", test_seabios_boots_a_cdrom);
  g_test_add_data_func ("/firmware/seabios-int13-write-virtio", "virtio", test_seabios_int13_write);
  g_test_add_data_func ("/firmware/seabios-int13-write-sata", "sata", test_seabios_int13_write);
  g_test_add_func ("/firmware/seabios-boot-order", test_seabios_boot_order);
  g_test_add_func ("/firmware/seabios-boot-menu-on-serial", test_seabios_boot_menu_on_serial);
  g_test_add_func ("/firmware/seabios-boot-menu-on-keyboard", test_seabios_boot_menu_on_keyboard);
  return g_test_run ();
}
