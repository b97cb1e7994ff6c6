/* vireo-run.c — boot a guest from the command line with the Vireo core, like `lkvm run`: the options
 * checked, the VM set up from the spec they make (vireo-run-devices.c), the console and the run loop. */
#include "vireo-run-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

/* Exit statuses; keep in sync with the --help text and README. */
enum
{
  EXIT_POWER_OFF = 0,
  EXIT_SETUP_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_RESET = 3,
  EXIT_TRIPLE_FAULT = 4,
  EXIT_EMULATION_FAILURE = 5,
  EXIT_INTERNAL_ERROR = 6,
  EXIT_STOPPED = 7,
};

#define ESCAPE_CHAR 0x01 /* Ctrl-A */

typedef struct
{
  HvVm *vm;
  GMainLoop *loop;
  unsigned signals;
  int console_fd;     /* stdin while it is a terminal */
  int guest_input_fd; /* write end of the pipe to the guest's serial receiver */
  gboolean escape;
  gboolean termios_saved;
  struct termios saved_termios;
} Runner;

static void say (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  /* On a raw terminal a bare \n would not return the carriage. */
  fprintf (stderr, "\r\nvireo-run: %s\r\n", text);
}

static int
exit_status_for (HvExitReason reason)
{
  switch (reason)
    {
    case HV_EXIT_POWER_OFF:
      return EXIT_POWER_OFF;
    case HV_EXIT_RESET:
      return EXIT_RESET;
    case HV_EXIT_TRIPLE_FAULT:
      return EXIT_TRIPLE_FAULT;
    case HV_EXIT_EMULATION_FAILURE:
      return EXIT_EMULATION_FAILURE;
    case HV_EXIT_STOPPED:
      return EXIT_STOPPED;
    case HV_EXIT_NONE:
    case HV_EXIT_INTERNAL_ERROR:
      break;
    }
  return EXIT_INTERNAL_ERROR;
}

static void
request_shutdown (Runner *runner)
{
  g_autoptr (GError) error = NULL;
  if (hv_vm_request_shutdown (runner->vm, &error))
    say ("pressed the guest's power button; if it does not shut down, Ctrl-A x or a second signal "
         "stops it");
}

static gboolean
on_signal (gpointer data)
{
  Runner *runner = data;

  if (runner->signals++ == 0)
    request_shutdown (runner);
  else
    hv_vm_stop (runner->vm);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_vm_exit (int fd, GIOCondition condition, gpointer data)
{
  Runner *runner = data;
  g_main_loop_quit (runner->loop);
  return G_SOURCE_REMOVE;
}

static void
write_all (int fd, const uint8_t *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      data += n;
      len -= (gsize) n;
    }
}

/* Terminal input: Ctrl-A starts a command (x quits, s presses the power button, a sends Ctrl-A, h helps);
 * everything else goes to the guest. */
static gboolean
on_console_input (int fd, GIOCondition condition, gpointer data)
{
  Runner *runner = data;
  uint8_t buf[256], out[256];
  gsize n_out = 0;
  ssize_t n = read (fd, buf, sizeof buf);

  if (n <= 0)
    {
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return G_SOURCE_CONTINUE;
      return G_SOURCE_REMOVE;
    }

  for (ssize_t i = 0; i < n; i++)
    {
      if (runner->escape)
        {
          runner->escape = FALSE;
          switch (buf[i])
            {
            case 'x':
            case 'X':
              hv_vm_stop (runner->vm);
              continue;
            case 's':
            case 'S':
              request_shutdown (runner);
              continue;
            case ESCAPE_CHAR:
            case 'a':
              out[n_out++] = ESCAPE_CHAR;
              continue;
            default:
              say ("Ctrl-A x: stop the VM   Ctrl-A s: press the power button   Ctrl-A a: send Ctrl-A");
              continue;
            }
        }
      if (buf[i] == ESCAPE_CHAR)
        runner->escape = TRUE;
      else
        out[n_out++] = buf[i];
    }
  write_all (runner->guest_input_fd, out, n_out);
  return G_SOURCE_CONTINUE;
}

static void
restore_terminal (Runner *runner)
{
  if (runner->termios_saved)
    tcsetattr (runner->console_fd, TCSANOW, &runner->saved_termios);
  runner->termios_saved = FALSE;
}

/* Puts the terminal in raw input mode (output processing stays on) and routes it through the escape
 * handler.  Returns the fd the guest's serial port reads. */
static int
set_up_terminal (Runner *runner, GError **error)
{
  struct termios raw;
  int fds[2];

  if (tcgetattr (STDIN_FILENO, &runner->saved_termios) < 0)
    return STDIN_FILENO;
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    return -1;

  raw = runner->saved_termios;
  raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  tcsetattr (STDIN_FILENO, TCSANOW, &raw);
  runner->termios_saved = TRUE;
  runner->console_fd = STDIN_FILENO;
  runner->guest_input_fd = fds[1];
  g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_console_input, runner);
  fprintf (stderr, "vireo-run: serial console on this terminal; Ctrl-A h for help, Ctrl-A x to quit\r\n");
  return fds[0];
}

/* Listens on @path (mode 0600) and waits for one client: the serial console is that connection. */
static int
wait_for_unix_client (const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int listener, client;
  mode_t old_umask;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "socket path “%s” is too long", path);
      return -1;
    }
  strcpy (addr.sun_path, path);

  listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0)
    goto fail;
  unlink (path);
  old_umask = umask (0077);
  if (bind (listener, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      umask (old_umask);
      goto fail;
    }
  umask (old_umask);
  if (listen (listener, 1) < 0)
    goto fail;
  fprintf (stderr, "vireo-run: waiting for a serial console client on %s\n", path);
  do
    client = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
  while (client < 0 && errno == EINTR);
  if (client < 0)
    goto fail;
  close (listener);
  unlink (path);
  return client;

fail:
  {
    int saved = errno;
    g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "serial socket %s: %s", path, g_strerror (saved));
  }
  if (listener >= 0)
    close (listener);
  return -1;
}

static gboolean
set_up_serial (Runner *runner, const char *spec, int *input_fd, int *output_fd, GError **error)
{
  *input_fd = -1;
  *output_fd = -1;

  if (g_strcmp0 (spec, "stdio") == 0)
    {
      *output_fd = STDOUT_FILENO;
      *input_fd = isatty (STDIN_FILENO) ? set_up_terminal (runner, error) : STDIN_FILENO;
      return *input_fd >= 0;
    }
  if (g_str_has_prefix (spec, "file:") && spec[5] != '\0')
    {
      /* O_NOFOLLOW: vireo-run often runs as root, and a link planted where the log goes must not make it
       * truncate the file the link points to. */
      *output_fd = open (spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (*output_fd < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot write serial output to %s: %s", spec + 5,
                       g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  if (g_str_has_prefix (spec, "unix:") && spec[5] != '\0')
    {
      *output_fd = wait_for_unix_client (spec + 5, error);
      *input_fd = *output_fd;
      return *output_fd >= 0;
    }
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
               "--serial: “%s” is not stdio, file:PATH or unix:PATH", spec);
  return FALSE;
}

static const char description[]
    = "Boots a PVH ELF kernel or a Linux bzImage under KVM, or without --kernel a BIOS (SeaBIOS), and\n"
      "connects its serial port (COM1).  A BIOS with nothing to boot says so and retries after 5 s,\n"
      "resetting the machine (exit status 3).\n"
      "\n"
      "On a terminal, Ctrl-A h lists the console's commands.  SIGINT/SIGTERM press the ACPI power button;\n"
      "a second one stops the VM at once.\n"
      "\n"
      "Exit status:\n"
      "  0  the guest powered off\n"
      "  1  the VM could not be set up (KVM, files, memory)\n"
      "  2  the command line is wrong\n"
      "  3  the guest reset the machine\n"
      "  4  the guest triple-faulted\n"
      "  5  KVM could not emulate an instruction the guest ran\n"
      "  6  another KVM or VMM failure\n"
      "  7  the VM was stopped from the host (second signal, Ctrl-A x)\n"
      "\n"
      "Networking: --net user gives the guest a virtio-net NIC on a private NAT network (10.0.2.0/24, DHCP\n"
      "from 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3); hostfwd=udp:127.0.0.1:5555-:7 forwards a host port\n"
      "(on 127.0.0.1 unless an address is given) to the guest; restrict=on keeps the guest from reaching\n"
      "anything but its forwards; tftp=DIR serves DIR over TFTP from 10.0.2.2.  --net bridge=BR puts the "
      "NIC\n"
      "on the Linux bridge BR through a TAP device vireo-run makes (needs root or CAP_NET_ADMIN), with\n"
      "checksum and segmentation offloads; queues=N gives it N queue pairs (a multiqueue TAP; the guest's\n"
      "CPUs each use their own).  --net tap=FD uses a TAP device already open (IFF_TAP, IFF_NO_PI,\n"
      "IFF_VNET_HDR) as file descriptor FD; tap=FD,FD,... gives one queue of a TAP made with\n"
      "IFF_MULTI_QUEUE per queue pair.  The NAT has one pair.  link=off starts with the cable out.  When\n"
      "firmware boots, each NIC gets iPXE's option ROM (" HV_NET_ROM ", package ipxe-qemu) for network\n"
      "boot (--boot network); rom=off leaves it out.  Repeat --net for more NICs.\n"
      "\n"
      "Environment: VIREO_KVM_DEVICE names the KVM device to use instead of /dev/kvm.";

int
main (int argc, char **argv)
{
  g_autofree char *kernel = NULL;
  g_autofree char *firmware = NULL;
  g_autofree char *initrd = NULL;
  g_autofree char *cmdline = NULL;
  g_autofree char *memory = NULL;
  g_autofree char *serial = NULL;
  g_autofree char *cpuid_mask = NULL;
  g_autofree char *display = NULL;
  g_auto (GStrv) devices = NULL;
  g_auto (GStrv) disks = NULL;
  g_auto (GStrv) cdroms = NULL;
  g_autoptr (GArray) disk_args = g_array_new (FALSE, TRUE, sizeof (DiskArg));
  g_auto (GStrv) nets = NULL;
  g_auto (GStrv) macs = NULL;
  g_auto (GStrv) channels = NULL;
  g_autoptr (GPtrArray) rom_nics = g_ptr_array_new (); /* HvDeviceSpec: NICs that want iPXE */
  g_autofree char *boot = NULL;
  int boot_menu_ms = 0;
  int cpus = 1;
  gboolean version = FALSE;
  GOptionEntry entries[] = {
    { "kernel", 'k', 0, G_OPTION_ARG_FILENAME, &kernel, "Kernel to boot (PVH ELF or bzImage)", "FILE" },
    { "initrd", 'i', 0, G_OPTION_ARG_FILENAME, &initrd, "Initial ramdisk", "FILE" },
    { "cmdline", 'c', 0, G_OPTION_ARG_STRING, &cmdline, "Kernel command line", "STR" },
    { "firmware", 'f', 0, G_OPTION_ARG_FILENAME, &firmware,
      "Firmware to boot instead of a kernel (default without --kernel: " HV_DEFAULT_FIRMWARE ")", "FILE" },
    { "memory", 'm', 0, G_OPTION_ARG_STRING, &memory, "Guest memory, e.g. 512M or 2G (default 256M)",
      "SIZE" },
    { "cpus", 'p', 0, G_OPTION_ARG_INT, &cpus, "Number of vCPUs, 1 to 64 (default 1)", "N" },
    { "serial", 's', 0, G_OPTION_ARG_STRING, &serial,
      "Serial console: stdio (default), file:PATH or unix:PATH (waits for a client)", "SPEC" },
    { "cpuid-mask", 0, 0, G_OPTION_ARG_STRING, &cpuid_mask, "CPU features to hide, e.g. -cx16,-avx512f",
      "LIST" },
    { "display", 'd', 0, G_OPTION_ARG_STRING, &display,
      "Give the guest a display and serve it: spice:PATH (a SPICE unix socket, for remote-viewer "
      "spice+unix://PATH)",
      "SPEC" },
    { "device", 0, 0, G_OPTION_ARG_STRING_ARRAY, &devices,
      "Add a device: KIND[,id=ID][,OPTION=VALUE...]; repeat for more (--device help lists the kinds)",
      "SPEC" },
    { "disk", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &disks,
      "Add a disk: FILE[,format=raw|qcow2][,bus=virtio|sata][,readonly=on][,cache=none|writeback]"
      "[,serial=TEXT][,queues=N (virtio)]; repeat for more",
      "SPEC" },
    { "channel", 0, 0, G_OPTION_ARG_STRING_ARRAY, &channels,
      "Add a virtio-serial port NAME joined to the Unix socket PATH, which must be listening "
      "(org.qemu.guest_agent.0 for the QEMU guest agent); repeat for more",
      "NAME=unix:PATH" },
    { "cdrom", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cdroms,
      "Add a SATA CD-ROM drive with the disc image FILE (an ISO; \"\" for an empty drive); repeat for more",
      "FILE" },
    { "net", 'n', 0, G_OPTION_ARG_STRING_ARRAY, &nets,
      "Add a NIC: user[,hostfwd=tcp|udp:[ADDR]:HOSTPORT-:GUESTPORT]...[,restrict=on][,tftp=DIR], "
      "bridge=BRIDGE[,queues=N] or tap=FD[,FD]..., each [,mac=MAC][,link=on|off][,rom=on|off]; repeat for "
      "more",
      "SPEC" },
    { "mac", 0, 0, G_OPTION_ARG_STRING_ARRAY, &macs,
      "MAC address of the NIC of the --net given in the same position (aa:bb:cc:dd:ee:ff)", "MAC" },
    { "boot", 'b', 0, G_OPTION_ARG_STRING, &boot,
      "What the firmware boots, first to last: device ids (disk0, ...) and classes (disk, cdrom, network), "
      "comma-separated (default: the disks in the order given)",
      "LIST" },
    { "boot-menu", 0, 0, G_OPTION_ARG_INT, &boot_menu_ms,
      "Offer the firmware's boot menu (Esc, also on the serial console) for MS milliseconds", "MS" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- run a virtual machine");
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVm) vm = NULL;
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (GMainLoop) loop = NULL;
  Runner runner = { .console_fd = -1, .guest_input_fd = -1 };
  HvExitInfo info = { 0 };
  uint64_t memory_bytes = 256ull << 20;
  int input_fd, output_fd, status;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context, description);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "vireo-run: %s (see --help)\n", error->message);
      return EXIT_USAGE;
    }
  if (version)
    {
      printf ("vireo-run %s\n", VIREO_VERSION);
      return 0;
    }
  if (argc > 1)
    {
      fprintf (stderr, "vireo-run: unexpected argument “%s” (see --help)\n", argv[1]);
      return EXIT_USAGE;
    }
  if (devices && g_strv_contains ((const char *const *) devices, "help"))
    {
      vireo_run_list_device_kinds ();
      return 0;
    }
  if (kernel && (boot || boot_menu_ms))
    {
      fprintf (stderr,
               "vireo-run: --boot and --boot-menu choose what the firmware boots; with --kernel there "
               "is no firmware\n");
      return EXIT_USAGE;
    }
  if (boot_menu_ms < 0 || boot_menu_ms > HV_BOOT_MENU_MS_MAX)
    {
      fprintf (stderr, "vireo-run: --boot-menu: %d ms is not between 0 and %d\n", boot_menu_ms,
               HV_BOOT_MENU_MS_MAX);
      return EXIT_USAGE;
    }
  if (kernel && firmware)
    {
      fprintf (stderr, "vireo-run: --kernel and --firmware: boot a kernel or firmware, not both\n");
      return EXIT_USAGE;
    }
  if (kernel == NULL && (initrd || cmdline))
    {
      fprintf (stderr, "vireo-run: --initrd and --cmdline need --kernel (see --help)\n");
      return EXIT_USAGE;
    }
  if ((memory && !hv_parse_memory_size (memory, &memory_bytes, &error))
      || !hv_check_memory_size (memory_bytes, &error))
    {
      fprintf (stderr, "vireo-run: --memory: %s\n", error->message);
      return EXIT_USAGE;
    }
  if (cpus < 0 || !hv_check_vcpus ((unsigned) cpus, &error))
    {
      if (error == NULL)
        g_set_error (&error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%d vCPUs is out of range", cpus);
      fprintf (stderr, "vireo-run: --cpus: %s\n", error->message);
      return EXIT_USAGE;
    }
  if (!hv_check_cpuid_mask (cpuid_mask, &error))
    {
      fprintf (stderr, "vireo-run: --cpuid-mask: %s\n", error->message);
      return EXIT_USAGE;
    }
  if (serial && !g_str_equal (serial, "stdio") && !g_str_has_prefix (serial, "file:")
      && !g_str_has_prefix (serial, "unix:"))
    {
      fprintf (stderr, "vireo-run: --serial: “%s” is not stdio, file:PATH or unix:PATH\n", serial);
      return EXIT_USAGE;
    }
  if (display && (!g_str_has_prefix (display, "spice:") || display[6] == '\0'))
    {
      fprintf (stderr, "vireo-run: --display: “%s” is not spice:PATH\n", display);
      return EXIT_USAGE;
    }

  /* The same machine spec vireod sends its workers (spec.h), checked the same way. */
  spec->memory = memory_bytes;
  spec->vcpus = (unsigned) cpus;
  g_free (spec->cpuid_mask);
  spec->cpuid_mask = g_strdup (cpuid_mask ? cpuid_mask : "");
  g_free (spec->cmdline);
  spec->cmdline = g_strdup (cmdline ? cmdline : "");
  hv_machine_spec_add_device (spec, "serial", "serial0", NULL);
  if (display)
    {
      hv_machine_spec_add_device (spec, "bochs-display", "display0", NULL);
      hv_machine_spec_add_device (spec, "virtio-keyboard", "keyboard0", NULL);
      hv_machine_spec_add_device (spec, "virtio-tablet", "tablet0", NULL);
    }
  g_array_set_clear_func (disk_args, (GDestroyNotify) vireo_run_disk_arg_clear);
  for (gsize i = 0; disks && disks[i]; i++)
    {
      DiskArg disk = { 0 };
      if (!vireo_run_parse_disk (disks[i], &disk, &error))
        {
          vireo_run_disk_arg_clear (&disk);
          fprintf (stderr, "vireo-run: %s\n", error->message);
          return EXIT_USAGE;
        }
      g_array_append_val (disk_args, disk);
    }
  for (gsize i = 0; cdroms && cdroms[i]; i++)
    {
      DiskArg disk = { .path = g_strdup (cdroms[i]), .read_only = TRUE, .cdrom = TRUE };
      g_array_append_val (disk_args, disk);
    }
  if (macs && g_strv_length (macs) > (nets ? g_strv_length (nets) : 0))
    {
      fprintf (stderr, "vireo-run: --mac: there are more --mac than --net options\n");
      return EXIT_USAGE;
    }
  for (gsize i = 0; nets && nets[i]; i++)
    {
      gboolean rom;

      if (!vireo_run_add_net_device (spec, nets[i], macs && i < g_strv_length (macs) ? macs[i] : NULL, &rom,
                                     &error))
        {
          fprintf (stderr, "vireo-run: --net: %s\n", error->message);
          return g_error_matches (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT) ? EXIT_USAGE : EXIT_SETUP_ERROR;
        }
      if (rom)
        g_ptr_array_add (rom_nics, spec->devices->pdata[spec->devices->len - 1]);
    }
  if (channels && !vireo_run_add_channels (spec, channels, &error))
    {
      fprintf (stderr, "vireo-run: --channel: %s\n", error->message);
      return g_error_matches (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT) ? EXIT_USAGE : EXIT_SETUP_ERROR;
    }
  for (gsize i = 0; devices && devices[i]; i++)
    if (!hv_machine_spec_add_device_text (spec, devices[i], &error))
      {
        fprintf (stderr, "vireo-run: --device: %s\n", error->message);
        return EXIT_USAGE;
      }
  if (!hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS, &error))
    {
      fprintf (stderr, "vireo-run: %s\n", error->message);
      return EXIT_USAGE;
    }

  /* KVM first: without it, nothing else matters. */
  vm = hv_vm_new (g_getenv ("VIREO_KVM_DEVICE"), &error);
  if (vm == NULL)
    {
      fprintf (stderr, "vireo-run: %s\n", error->message);
      return EXIT_SETUP_ERROR;
    }
  if (kernel == NULL)
    {
      spec->boot = HV_BOOT_FIRMWARE;
      spec->firmware = vireo_run_open_boot_file (spec, firmware ? firmware : HV_DEFAULT_FIRMWARE, "firmware",
                                                 &error);
      if (spec->firmware < 0)
        {
          fprintf (stderr, "vireo-run: %s\n", error->message);
          return EXIT_SETUP_ERROR;
        }
      if (display)
        {
          HvDeviceSpec *adapter = hv_machine_spec_lookup_device (spec, "display0");
          int rom = vireo_run_open_regular_file (HV_DISPLAY_ROM, "display's option ROM", &error);
          if (rom < 0)
            {
              fprintf (stderr, "vireo-run: %s\n", error->message);
              return EXIT_SETUP_ERROR;
            }
          hv_device_spec_set_fd (spec, adapter, "rom", rom);
        }
      /* iPXE for network boot, where it is installed (ipxe-qemu); booting without it still works. */
      for (guint i = 0; i < rom_nics->len && g_file_test (HV_NET_ROM, G_FILE_TEST_IS_REGULAR); i++)
        {
          int rom = vireo_run_open_regular_file (HV_NET_ROM, "NIC's option ROM", &error);
          if (rom < 0)
            {
              fprintf (stderr, "vireo-run: %s\n", error->message);
              return EXIT_SETUP_ERROR;
            }
          hv_device_spec_set_fd (spec, rom_nics->pdata[i], "rom", rom);
        }
    }
  else if ((spec->kernel = vireo_run_open_boot_file (spec, kernel, "kernel", &error)) < 0
           || (initrd && (spec->initrd = vireo_run_open_boot_file (spec, initrd, "initrd", &error)) < 0))
    {
      fprintf (stderr, "vireo-run: %s\n", error->message);
      return EXIT_SETUP_ERROR;
    }
  for (guint i = 0; i < disk_args->len; i++)
    if (!vireo_run_add_disk (spec, &g_array_index (disk_args, DiskArg, i), &error))
      {
        fprintf (stderr, "vireo-run: %s\n", error->message);
        return EXIT_SETUP_ERROR;
      }
  if (spec->boot == HV_BOOT_FIRMWARE)
    {
      vireo_run_set_boot_order (spec, boot);
      spec->boot_menu_ms = (unsigned) boot_menu_ms;
      if (!hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error))
        {
          fprintf (stderr, "vireo-run: --boot: %s\n", error->message);
          return EXIT_USAGE;
        }
    }
  if (!hv_vm_apply_spec (vm, spec, &error) || (display && !hv_vm_set_spice_socket (vm, display + 6, &error)))
    {
      fprintf (stderr, "vireo-run: %s\n", error->message);
      return EXIT_SETUP_ERROR;
    }

  runner.vm = vm;
  loop = g_main_loop_new (NULL, FALSE);
  runner.loop = loop;
  g_unix_signal_add (SIGINT, on_signal, &runner);
  g_unix_signal_add (SIGTERM, on_signal, &runner);
  g_unix_signal_add (SIGHUP, on_signal, &runner);
  /* A closed console must not kill us mid-write; the write fails and the byte is dropped instead. */
  signal (SIGPIPE, SIG_IGN);

  if (!set_up_serial (&runner, serial ? serial : "stdio", &input_fd, &output_fd, &error))
    {
      restore_terminal (&runner);
      fprintf (stderr, "vireo-run: %s\n", error->message);
      return EXIT_SETUP_ERROR;
    }
  hv_vm_set_serial (vm, input_fd, output_fd);

  if (!hv_vm_start (vm, &error))
    {
      restore_terminal (&runner);
      fprintf (stderr, "vireo-run: %s\n", error->message);
      return EXIT_SETUP_ERROR;
    }

  if (display)
    say ("display on spice+unix://%s", display + 6);
  g_unix_fd_add (hv_vm_get_exit_fd (vm), G_IO_IN, on_vm_exit, &runner);
  g_main_loop_run (loop);

  hv_vm_wait (vm, &info);
  restore_terminal (&runner);
  status = exit_status_for (info.reason);
  if (info.reason != HV_EXIT_POWER_OFF)
    fprintf (stderr, "vireo-run: %s\n", info.message ? info.message : hv_exit_reason_to_string (info.reason));
  hv_exit_info_clear (&info);
  return status;
}
