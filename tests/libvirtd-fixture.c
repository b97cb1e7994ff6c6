/* libvirtd-fixture.c — the libvirt-host tests' own libvirtd: as nobody (libvirtd run as root is always the
 * privileged system daemon), in session mode on a private folder, and the domains the tests define. */
#include "libvirtd-fixture.h"

#include <glib/gstdio.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"

#define LIBVIRTD_START_SECONDS 60

static gboolean
socket_exists (gpointer data)
{
  VireoTestLibvirtd *d = data;
  g_autofree char *path = g_build_filename (d->dir, "run", "libvirt", "libvirt-sock", NULL);
  g_autofree char *version = NULL;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return FALSE;
  version = vireo_test_virsh (d, "version", NULL);
  return version != NULL;
}

static void
make_owned_dir (const char *path, uid_t uid, gid_t gid)
{
  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  g_assert_cmpint (chown (path, uid, gid), ==, 0);
}

/* libvirtd as nobody in session mode on the folder, waited for until it answers. */
void
vireo_test_libvirtd_restart (VireoTestLibvirtd *d)
{
  struct passwd *nobody = getpwnam ("nobody");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *log = NULL;
  g_autofree char *uid = NULL;
  g_autofree char *gid = NULL;
  g_autofree char *pid_file = NULL;

  if (d->libvirtd)
    {
      g_subprocess_send_signal (d->libvirtd, SIGTERM);
      g_subprocess_wait (d->libvirtd, NULL, NULL);
      g_clear_object (&d->libvirtd);
    }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_environ (launcher, NULL);
  g_subprocess_launcher_setenv (launcher, "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", TRUE);
  {
    g_autofree char *home = g_build_filename (d->dir, "home", NULL);
    g_autofree char *run = g_build_filename (d->dir, "run", NULL);
    g_autofree char *config = g_build_filename (d->dir, "config", NULL);
    g_autofree char *cache = g_build_filename (d->dir, "cache", NULL);
    g_subprocess_launcher_setenv (launcher, "HOME", home, TRUE);
    g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", run, TRUE);
    g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config, TRUE);
    g_subprocess_launcher_setenv (launcher, "XDG_CACHE_HOME", cache, TRUE);
  }
  log = g_build_filename (d->dir, "libvirtd.log", NULL);
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  g_subprocess_launcher_set_flags (launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
  uid = g_strdup_printf ("--reuid=%u", (unsigned) nobody->pw_uid);
  gid = g_strdup_printf ("--regid=%u", (unsigned) nobody->pw_gid);
  /* The folder in its command line too: a test runner that ends what mentions it ends the daemon. */
  pid_file = g_build_filename (d->dir, "libvirtd.pid", NULL);
  d->libvirtd = g_subprocess_launcher_spawn (launcher, &error, "setpriv", uid, gid, "--clear-groups", "--",
                                             "/usr/sbin/libvirtd", "--pid-file", pid_file, NULL);
  g_assert_no_error (error);
  if (!vireo_test_wait_until (socket_exists, d, LIBVIRTD_START_SECONDS))
    {
      g_autofree char *said = NULL;
      g_file_get_contents (log, &said, NULL, NULL);
      g_printerr ("libvirtd said:\n%s\n", said ? said : "");
      g_error ("libvirtd did not answer at %s within %d s", d->uri, LIBVIRTD_START_SECONDS);
    }
}

/* Lets the daemon's user pass through @dir and the folders above it that it could not pass (the temporary
 * folders of a test, made for root alone). */
static void
open_for_passing (const char *dir)
{
  g_autofree char *path = g_strdup (dir);

  while (g_str_has_prefix (path, "/tmp/") && strlen (path) > strlen ("/tmp/"))
    {
      struct stat st;
      char *parent;

      if (stat (path, &st) == 0 && (st.st_mode & S_IXOTH) == 0)
        g_assert_no_errno (chmod (path, (st.st_mode & 07777) | S_IXOTH));
      parent = g_path_get_dirname (path);
      g_free (path);
      path = parent;
    }
}

gboolean
vireo_test_libvirtd_start (VireoTestLibvirtd *d)
{
  return vireo_test_libvirtd_start_in (d, NULL);
}

gboolean
vireo_test_libvirtd_start_in (VireoTestLibvirtd *d, const char *parent)
{
  static const char *const programs[] = { "setpriv", "virsh", "qemu-system-x86_64", "socat", NULL };
  const char *libvirtd = g_file_test ("/usr/sbin/libvirtd", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/sbin/libvirtd"
                                                                                       : NULL;
  struct passwd *nobody = getpwnam ("nobody");
  g_autoptr (GError) error = NULL;
  static const char *const subdirs[] = { "run", "config", "cache", "home" };

  memset (d, 0, sizeof *d);
  if (geteuid () != 0)
    {
      g_test_skip ("needs root, to run libvirtd as another user (nobody)");
      return FALSE;
    }
  if (libvirtd == NULL)
    {
      g_test_skip ("no /usr/sbin/libvirtd: install libvirt-daemon and libvirt-daemon-driver-qemu");
      return FALSE;
    }
  if (nobody == NULL)
    {
      g_test_skip ("no user nobody to run libvirtd as");
      return FALSE;
    }
  if (!vireo_test_require_programs (programs))
    return FALSE;

  /* The daemon's user must reach its folder: a temporary folder of the test's own that only root may
   * enter (run-ui-test.sh makes one, and ends whatever has it in its command line) is opened to be passed
   * through; another one is left alone for /tmp. */
  {
    struct stat st;
    const char *tmp = g_get_tmp_dir ();
    g_autofree char *template = NULL;

    if (parent != NULL)
      {
        open_for_passing (parent);
        tmp = parent;
      }
    else if (stat (tmp, &st) == 0 && (st.st_mode & S_IXOTH) == 0 && g_str_has_prefix (tmp, "/tmp/vu-"))
      chmod (tmp, (st.st_mode & 07777) | S_IXOTH);
    else if (stat (tmp, &st) != 0 || (st.st_mode & S_IXOTH) == 0)
      tmp = "/tmp";
    template = g_build_filename (tmp, "vl-XXXXXX", NULL);
    d->dir = g_mkdtemp (g_steal_pointer (&template));
    g_assert_nonnull (d->dir);
  }
  g_assert_cmpint (chmod (d->dir, 0755), ==, 0);
  make_owned_dir (d->dir, nobody->pw_uid, nobody->pw_gid);
  for (gsize i = 0; i < G_N_ELEMENTS (subdirs); i++)
    {
      g_autofree char *path = g_build_filename (d->dir, subdirs[i], NULL);
      make_owned_dir (path, nobody->pw_uid, nobody->pw_gid);
    }
  /* QEMU's output straight to its log file: no virtlogd, which would outlive the test by minutes. */
  {
    g_autofree char *libvirt_config = g_build_filename (d->dir, "config", "libvirt", NULL);
    g_autofree char *qemu_conf = g_build_filename (libvirt_config, "qemu.conf", NULL);
    make_owned_dir (libvirt_config, nobody->pw_uid, nobody->pw_gid);
    g_assert_true (g_file_set_contents (qemu_conf, "stdio_handler = \"file\"\n", -1, NULL));
    g_assert_cmpint (chmod (qemu_conf, 0644), ==, 0);
  }
  d->uri = g_strdup_printf ("qemu+unix:///session?socket=%s/run/libvirt/libvirt-sock", d->dir);

  vireo_test_libvirtd_restart (d);
  return TRUE;
}

void
vireo_test_libvirtd_stop (VireoTestLibvirtd *d)
{
  if (d->dir == NULL)
    return;
  /* QEMU outlives libvirtd by design; the folder is in each one's command line. */
  vireo_test_signal_processes (NULL, d->dir, SIGKILL, 10);
  if (d->libvirtd)
    {
      g_subprocess_send_signal (d->libvirtd, SIGTERM);
      g_subprocess_wait (d->libvirtd, NULL, NULL);
      g_clear_object (&d->libvirtd);
    }
  vireo_test_remove_tree (d->dir);
  g_clear_pointer (&d->dir, g_free);
  g_clear_pointer (&d->uri, g_free);
}

char *
vireo_test_virsh (VireoTestLibvirtd *d, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *out = NULL;
  va_list args;

  g_ptr_array_add (argv, (char *) "virsh");
  g_ptr_array_add (argv, (char *) "-q");
  g_ptr_array_add (argv, (char *) "-c");
  g_ptr_array_add (argv, d->uri);
  va_start (args, d);
  for (const char *arg = va_arg (args, const char *); arg; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  if (vireo_test_run_judge ((const char *const *) argv->pdata, &out) != 0)
    return NULL;
  return g_strdup (g_strstrip (out));
}

void
vireo_test_libvirtd_add_pool (VireoTestLibvirtd *d, const char *name)
{
  struct passwd *nobody = getpwnam ("nobody");
  g_autofree char *pools = g_build_filename (d->dir, "pools", NULL);
  g_autofree char *target = g_build_filename (pools, name, NULL);
  g_autofree char *defined = NULL, *built = NULL, *started = NULL;

  g_assert_nonnull (nobody);
  make_owned_dir (pools, nobody->pw_uid, nobody->pw_gid);
  make_owned_dir (target, nobody->pw_uid, nobody->pw_gid);
  defined = vireo_test_virsh (d, "pool-define-as", name, "dir", "--target", target, NULL);
  g_assert_nonnull (defined);
  built = vireo_test_virsh (d, "pool-build", name, NULL);
  g_assert_nonnull (built);
  started = vireo_test_virsh (d, "pool-start", name, NULL);
  g_assert_nonnull (started);
}

char *
vireo_test_libvirtd_define (VireoTestLibvirtd *d, const char *name, const char *guest,
                            VireoTestGraphics graphics)
{
  static const char *const graphics_xml[] = {
    [VIREO_TEST_NO_GRAPHICS] = "",
    [VIREO_TEST_SPICE] = "    <graphics type='spice'><listen type='none'/></graphics>\n",
    [VIREO_TEST_SPICE_TCP]
    = "    <graphics type='spice' autoport='yes'><listen type='address' address='127.0.0.1'/>"
      "</graphics>\n",
  };
  g_autofree char *guest_path = vireo_test_guest_path (guest);
  g_autofree char *kernel = g_strdup_printf ("%s/%s.elf", d->dir, guest);
  g_autofree char *xml_path = g_strdup_printf ("%s/%s.xml", d->dir, name);
  g_autofree char *contents = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *defined = NULL;
  gsize length;

  /* The daemon's user may not reach the build tree: the guest goes in the daemon's folder. */
  g_assert_true (g_file_get_contents (guest_path, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (kernel, contents, (gssize) length, NULL));
  g_assert_cmpint (chmod (kernel, 0644), ==, 0);
  xml = g_strdup_printf ("<domain type='qemu'>\n"
                         "  <name>%s</name>\n"
                         "  <memory unit='MiB'>32</memory>\n"
                         "  <vcpu>1</vcpu>\n"
                         "  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>%s</kernel></os>\n"
                         "  <features><acpi/></features>\n"
                         "  <on_poweroff>destroy</on_poweroff>\n"
                         "  <devices>\n"
                         "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                         "    <serial type='file'><source path='%s/%s.serial'/></serial>\n"
                         "%s"
                         "    <video><model type='bochs'/></video>\n"
                         "    <input type='tablet' bus='usb'/>\n"
                         "    <memballoon model='none'/>\n"
                         "  </devices>\n"
                         "</domain>\n",
                         name, kernel, d->dir, name, graphics_xml[graphics]);
  g_assert_true (g_file_set_contents (xml_path, xml, -1, NULL));
  defined = vireo_test_virsh (d, "define", xml_path, NULL);
  g_assert_nonnull (defined);
  return vireo_test_virsh (d, "domuuid", name, NULL);
}

char *
vireo_test_libvirtd_serial (VireoTestLibvirtd *d, const char *name)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.serial", d->dir, name);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return g_strdup ("");
  return contents;
}

gboolean
vireo_test_libvirtd_serial_has (VireoTestLibvirtd *d, const char *name, const char *needle)
{
  g_autofree char *output = vireo_test_libvirtd_serial (d, name);
  return strstr (output, needle) != NULL;
}

char *
vireo_test_libvirtd_remote_uri (VireoTestLibvirtd *d)
{
  g_autofree char *tunnel = g_build_filename (d->dir, "tunnel", NULL);
  g_autofree char *script = g_strdup_printf (
      "#!/bin/sh\nexec socat - UNIX-CONNECT:%s/run/libvirt/libvirt-sock\n", d->dir);

  g_assert_true (g_file_set_contents (tunnel, script, -1, NULL));
  g_assert_cmpint (chmod (tunnel, 0755), ==, 0);
  return g_strdup_printf ("qemu+ext://127.0.0.1/session?command=%s", tunnel);
}
