/* test-libvirt-host.c — VireoLibvirtHost against a libvirtd of the test's own (libvirtd-fixture.c): the
 * host's title, status and ssh address, its domain list following libvirt's events, and each action taking a QEMU
 * domain to the state libvirt (asked through virsh) then reports. */
#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "libvirtd-fixture.h"
#include "test-util.h"
#include "vireo-libvirt-host.h"

#define WAIT_SECONDS 60

static VireoLibvirtDomain *
find_named (VireoLibvirtHost *host, const char *name)
{
  GListModel *domains = vireo_libvirt_host_get_domains (host);

  for (guint i = 0; i < g_list_model_get_n_items (domains); i++)
    {
      g_autoptr (VireoLibvirtDomain) domain = g_list_model_get_item (domains, i);
      if (g_str_equal (vireo_libvirt_domain_get_name (domain), name))
        return domain; /* the list keeps it */
    }
  return NULL;
}

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
} ActionResult;

static void
on_action (GObject *source, GAsyncResult *result, gpointer data)
{
  ActionResult *action = data;

  action->ok = vireo_libvirt_domain_run_finish (VIREO_LIBVIRT_DOMAIN (source), result, &action->error);
  action->done = TRUE;
}

/* Runs @action and waits for libvirt's answer; the error, if any, in @error. */
static gboolean
run_action (VireoLibvirtDomain *domain, VireoLibvirtAction action, GError **error)
{
  ActionResult result = { 0 };

  vireo_libvirt_domain_run_async (domain, action, NULL, on_action, &result);
  VIREO_TEST_WAIT_FOR (result.done, "libvirt to answer an action", WAIT_SECONDS);
  if (result.error)
    g_propagate_error (error, result.error);
  return result.ok;
}

static void
wait_for_state (VireoLibvirtDomain *domain, VireoLibvirtDomainState state)
{
  g_autofree char *what = g_strdup_printf ("%s to be %u", vireo_libvirt_domain_get_name (domain), state);
  VIREO_TEST_WAIT_FOR (vireo_libvirt_domain_get_state (domain) == state, what, WAIT_SECONDS);
}

static void
test_title_and_bad_uri (void)
{
  /* Sockets that do not exist: no daemon of this computer is asked, or started for us. */
  g_autoptr (VireoLibvirtHost) system = vireo_libvirt_host_new ("qemu+unix:///system?socket=/nonexistent/s");
  g_autoptr (VireoLibvirtHost) session = vireo_libvirt_host_new ("qemu:///session?socket=/nonexistent/s");
  g_autoptr (VireoLibvirtHost) missing = vireo_libvirt_host_new (
      "qemu+unix:///session?socket=/nonexistent/sock");
  g_autoptr (VireoLibvirtHost) other = vireo_libvirt_host_new ("https://example.org/");

  g_assert_cmpstr (vireo_libvirt_host_get_title (system), ==, "QEMU/KVM");
  g_assert_true (vireo_libvirt_host_get_local (system));
  g_assert_cmpstr (vireo_libvirt_host_get_title (session), ==, "QEMU/KVM (session)");

  /* The sentence a user reads names the address and libvirt's reason. */
  VIREO_TEST_WAIT_FOR (vireo_libvirt_host_get_status (missing)
                           && g_str_has_prefix (vireo_libvirt_host_get_status (missing), "Could not connect"),
                       "the connection to fail", WAIT_SECONDS);
  g_assert_false (vireo_libvirt_host_get_available (missing));
  g_assert_nonnull (strstr (vireo_libvirt_host_get_status (missing), "/nonexistent/sock"));
  g_assert_nonnull (strstr (vireo_libvirt_host_get_status (missing), "No such file"));
  g_assert_cmpuint (g_list_model_get_n_items (vireo_libvirt_host_get_domains (missing)), ==, 0);

  g_assert_false (vireo_libvirt_host_get_available (other));
  g_assert_nonnull (
      strstr (vireo_libvirt_host_get_status (other), "is not the address of a QEMU libvirt host"));
}

/* A qemu+ssh host's display goes through ssh with libvirt's own login; other transports have no ssh. */
static void
test_ssh_address (void)
{
  /* Names that cannot resolve (.invalid) or ports where nothing listens: the connections fail at once. */
  const struct
  {
    const char *uri;
    const char *ssh_uri;
  } cases[] = {
    { "qemu+ssh://admin@vireo-test.invalid:2222/system?keyfile=/k&no_tty=1",
      "ssh://admin@vireo-test.invalid:2222" },
    { "qemu+ssh://vireo-test.invalid/session", "ssh://vireo-test.invalid" },
    { "qemu+ssh://root@[::1]:1/system", "ssh://root@[::1]:1" },
    { "qemu+tcp://vireo-test.invalid/system", NULL },
    { "qemu+tls://vireo-test.invalid/system", NULL },
    { "qemu+unix:///session?socket=/nonexistent/s", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (VireoLibvirtHost) host = vireo_libvirt_host_new (cases[i].uri);

      g_test_message ("%s", cases[i].uri);
      g_assert_cmpstr (vireo_libvirt_host_get_ssh_uri (host), ==, cases[i].ssh_uri);
    }
}

static void
test_domains_follow_events (void)
{
  VireoTestLibvirtd d;
  g_autoptr (VireoLibvirtHost) host = NULL;
  g_autofree char *uuid = NULL;
  g_autofree char *second = NULL;
  g_autofree char *undefined = NULL;
  VireoLibvirtDomain *domain;

  if (!vireo_test_libvirtd_start (&d))
    return;
  uuid = vireo_test_libvirtd_define (&d, "tiny", "display", VIREO_TEST_SPICE);
  g_assert_nonnull (uuid);

  host = vireo_libvirt_host_new (d.uri);
  g_assert_cmpstr (vireo_libvirt_host_get_title (host), ==, "QEMU/KVM (session)");
  VIREO_TEST_WAIT_FOR (vireo_libvirt_host_get_available (host), "the host to be listed", WAIT_SECONDS);
  g_assert_null (vireo_libvirt_host_get_status (host));
  domain = vireo_libvirt_host_find_domain (host, uuid);
  g_assert_nonnull (domain);
  g_assert_cmpstr (vireo_libvirt_domain_get_name (domain), ==, "tiny");
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_OFF);
  g_assert_cmpstr (vireo_libvirt_domain_get_state_label (domain), ==, "Off");

  /* Defined and undefined by someone else: the list follows libvirt's events. */
  second = vireo_test_libvirtd_define (&d, "another", "hello", VIREO_TEST_NO_GRAPHICS);
  VIREO_TEST_WAIT_FOR (find_named (host, "another") != NULL, "a domain defined elsewhere to appear",
                       WAIT_SECONDS);
  g_assert_cmpuint (g_list_model_get_n_items (vireo_libvirt_host_get_domains (host)), ==, 2);
  undefined = vireo_test_virsh (&d, "undefine", "another", NULL);
  g_assert_nonnull (undefined);
  VIREO_TEST_WAIT_FOR (find_named (host, "another") == NULL, "an undefined domain to go", WAIT_SECONDS);
  g_assert_cmpuint (g_list_model_get_n_items (vireo_libvirt_host_get_domains (host)), ==, 1);

  /* The daemon going away is a lost connection, not an empty host. */
  g_subprocess_send_signal (d.libvirtd, SIGTERM);
  VIREO_TEST_WAIT_FOR (!vireo_libvirt_host_get_available (host), "the connection to be lost", WAIT_SECONDS);
  g_assert_nonnull (strstr (vireo_libvirt_host_get_status (host), "was lost"));
  g_assert_nonnull (strstr (vireo_libvirt_host_get_status (host), d.uri));
  g_assert_cmpuint (g_list_model_get_n_items (vireo_libvirt_host_get_domains (host)), ==, 0);

  /* Reconnect (the page's button) once the daemon is back. */
  vireo_test_libvirtd_restart (&d);
  vireo_libvirt_host_reconnect (host);
  VIREO_TEST_WAIT_FOR (vireo_libvirt_host_get_available (host), "the host to be listed again", WAIT_SECONDS);
  g_assert_nonnull (vireo_libvirt_host_find_domain (host, uuid));

  g_clear_object (&host);
  vireo_test_libvirtd_stop (&d);
}

static void
assert_virsh_state (VireoTestLibvirtd *d, const char *expected)
{
  g_autofree char *state = vireo_test_virsh (d, "domstate", "tiny", NULL);
  g_assert_cmpstr (state, ==, expected);
}

static void
test_actions (void)
{
  VireoTestLibvirtd d;
  g_autoptr (VireoLibvirtHost) host = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *uuid = NULL;
  VireoLibvirtDomain *domain;

  if (!vireo_test_libvirtd_start (&d))
    return;
  uuid = vireo_test_libvirtd_define (&d, "tiny", "display", VIREO_TEST_SPICE);
  host = vireo_libvirt_host_new (d.uri);
  VIREO_TEST_WAIT_FOR (vireo_libvirt_host_get_available (host), "the host to be listed", WAIT_SECONDS);
  domain = vireo_libvirt_host_find_domain (host, uuid);
  g_assert_nonnull (domain);
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_OFF);
  g_assert_true (vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_START));
  g_assert_false (vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_SHUT_DOWN));
  g_assert_false (vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_PAUSE));

  g_assert_true (run_action (domain, VIREO_LIBVIRT_START, &error));
  g_assert_no_error (error);
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_RUNNING);
  assert_virsh_state (&d, "running");
  g_assert_false (vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_START));
  g_assert_true (vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_PAUSE));

  /* A refusal reaches the caller naming the domain. */
  g_assert_false (run_action (domain, VIREO_LIBVIRT_START, &error));
  g_assert_nonnull (error);
  g_assert_true (g_str_has_prefix (error->message, "Could not start “tiny”: "));
  g_clear_error (&error);

  g_assert_true (run_action (domain, VIREO_LIBVIRT_PAUSE, &error));
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_PAUSED);
  assert_virsh_state (&d, "paused");
  g_assert_true (vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_RESUME));
  g_assert_false (vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_SHUT_DOWN));

  g_assert_true (run_action (domain, VIREO_LIBVIRT_RESUME, &error));
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_RUNNING);
  assert_virsh_state (&d, "running");

  /* The display guest powers off on the ACPI power button, once it watches for it. */
  VIREO_TEST_WAIT_FOR (vireo_test_libvirtd_serial_has (&d, "tiny", "display: input ready"),
                       "the guest to be ready", WAIT_SECONDS);
  g_assert_true (run_action (domain, VIREO_LIBVIRT_SHUT_DOWN, &error));
  g_assert_no_error (error);
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_OFF);
  assert_virsh_state (&d, "shut off");

  g_assert_true (run_action (domain, VIREO_LIBVIRT_START, &error));
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_RUNNING);
  g_assert_true (run_action (domain, VIREO_LIBVIRT_FORCE_OFF, &error));
  g_assert_no_error (error);
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_OFF);
  assert_virsh_state (&d, "shut off");

  g_clear_object (&host);
  vireo_test_libvirtd_stop (&d);
}

/* The daemon's storage driver, as moving a machine to a libvirt host uses it: a dir pool, a qcow2 volume
 * made in it and an image uploaded into that volume byte for byte. */
static void
test_storage_pool (void)
{
  VireoTestLibvirtd d;
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *pools = NULL, *created = NULL, *path = NULL, *uploaded = NULL;
  g_autofree char *image = NULL, *sent = NULL, *received = NULL, *filled = NULL, *expected_path = NULL;
  gsize sent_length, received_length;
  g_auto (GStrv) fields = NULL;

  if (qemu_img == NULL)
    {
      g_test_skip ("needs qemu-img and qemu-io (Debian: qemu-utils)");
      return;
    }
  if (!vireo_test_libvirtd_start (&d))
    return;
  vireo_test_libvirtd_add_pool (&d, "default");

  /* " default   active   no": its name, state and autostart. */
  pools = vireo_test_virsh (&d, "pool-list", NULL);
  g_assert_nonnull (pools);
  fields = g_strsplit_set (pools, " \t", -1);
  {
    g_autoptr (GPtrArray) words = g_ptr_array_new ();
    for (guint i = 0; fields[i]; i++)
      if (*fields[i])
        g_ptr_array_add (words, fields[i]);
    g_assert_cmpuint (words->len, >=, 2);
    g_assert_cmpstr (g_ptr_array_index (words, 0), ==, "default");
    g_assert_cmpstr (g_ptr_array_index (words, 1), ==, "active");
  }

  created = vireo_test_virsh (&d, "vol-create-as", "default", "disk.qcow2", "16M", "--format", "qcow2", NULL);
  g_assert_nonnull (created);
  path = vireo_test_virsh (&d, "vol-path", "--pool", "default", "disk.qcow2", NULL);
  expected_path = g_build_filename (d.dir, "pools", "default", "disk.qcow2", NULL);
  g_assert_cmpstr (path, ==, expected_path);

  /* A qcow2 image with data, bigger than the new volume's file, sent into it. */
  image = g_build_filename (d.dir, "upload.qcow2", NULL);
  {
    const char *make[] = { "qemu-img", "create", "-q", "-f", "qcow2", image, "16M", NULL };
    const char *fill[] = { "qemu-io", "-f", "qcow2", "-c", "write -P 0x6b 1M 2M", image, NULL };
    g_assert_cmpint (vireo_test_run_judge (make, NULL), ==, 0);
    g_assert_cmpint (vireo_test_run_judge (fill, &filled), ==, 0);
    g_assert_cmpint (chmod (image, 0644), ==, 0);
  }
  uploaded = vireo_test_virsh (&d, "vol-upload", "--pool", "default", "disk.qcow2", image, NULL);
  g_assert_nonnull (uploaded);
  g_assert_true (g_file_get_contents (image, &sent, &sent_length, NULL));
  g_assert_true (g_file_get_contents (path, &received, &received_length, NULL));
  g_assert_cmpuint (received_length, ==, sent_length);
  g_assert_true (memcmp (sent, received, sent_length) == 0);
  {
    const char *check[] = { "qemu-img", "check", "-q", "-f", "qcow2", path, NULL };
    const char *verify[] = { "qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0x6b 1M 2M", path, NULL };
    g_autofree char *out = NULL;
    g_assert_cmpint (vireo_test_run_judge (check, NULL), ==, 0);
    g_assert_cmpint (vireo_test_run_judge (verify, &out), ==, 0);
    g_assert_null (strstr (out, "failed"));
  }

  vireo_test_libvirtd_stop (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/libvirt-host/title-and-bad-uri", test_title_and_bad_uri);
  g_test_add_func ("/libvirt-host/ssh-address", test_ssh_address);
  g_test_add_func ("/libvirt-host/domains-follow-events", test_domains_follow_events);
  g_test_add_func ("/libvirt-host/actions", test_actions);
  g_test_add_func ("/libvirt-host/storage-pool", test_storage_pool);
  return g_test_run ();
}
