/* host-net.c — Linux bridges and TAP devices for bridged NICs (host-net.h). */
#include "host-net.h"
#include "net-options.h"
#include "vireo-error.h"
#include "vireo-text.h"

#include <errno.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

gboolean
vireo_host_net_check_name (const char *name, GError **error)
{
  size_t len = strlen (name);
  gboolean ok = len > 0 && len < IFNAMSIZ && strcmp (name, ".") != 0 && strcmp (name, "..") != 0;

  for (const char *p = name; ok && *p != '\0'; p++)
    ok = g_ascii_isalnum (*p) || *p == '-' || *p == '_' || *p == '.';
  if (!ok)
    {
      g_autofree char *shown = vireo_text_for_message (name, 32);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a network interface name (1 to %d letters, digits, “-”, “_” or “.”).", shown,
                   IFNAMSIZ - 1);
    }
  return ok;
}

gboolean
vireo_host_net_exists (const char *name)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", name, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

gboolean
vireo_host_net_is_bridge (const char *name)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", name, "bridge", NULL);
  return g_file_test (path, G_FILE_TEST_IS_DIR);
}

static int
control_socket (GError **error)
{
  int fd = socket (AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "cannot open a socket to configure the network: %s", g_strerror (saved));
    }
  return fd;
}

static VireoError
error_code_for (int errsv)
{
  return errsv == EPERM || errsv == EACCES   ? VIREO_ERROR_PERMISSION_DENIED
         : errsv == ENODEV || errsv == ENXIO ? VIREO_ERROR_NOT_FOUND
                                             : VIREO_ERROR_FAILED;
}

/* Sets IFF_UP on @name (or clears it). */
static gboolean
set_up (int sock, const char *name, gboolean up, GError **error)
{
  struct ifreq request = { 0 };

  g_strlcpy (request.ifr_name, name, IFNAMSIZ);
  if (ioctl (sock, SIOCGIFFLAGS, &request) < 0)
    goto fail;
  if (up)
    request.ifr_flags |= IFF_UP;
  else
    request.ifr_flags &= ~IFF_UP;
  if (ioctl (sock, SIOCSIFFLAGS, &request) < 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved = errno;
    g_set_error (error, VIREO_ERROR, error_code_for (saved), "cannot set %s %s: %s", name, up ? "up" : "down",
                 g_strerror (saved));
    return FALSE;
  }
}

gboolean
vireo_host_net_add_bridge (const char *name, GError **error)
{
  g_autofree char *ipv6 = g_strdup_printf ("/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
  g_autoptr (GError) local = NULL;
  int sock;
  gboolean ok;

  if (!vireo_host_net_check_name (name, error))
    return FALSE;
  sock = control_socket (error);
  if (sock < 0)
    return FALSE;
  if (ioctl (sock, SIOCBRADDBR, name) < 0 && errno != EEXIST)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, error_code_for (saved), "cannot make the bridge %s: %s", name,
                   g_strerror (saved));
      close (sock);
      return FALSE;
    }
  /* No host address: the host is not on a private switch.  IPv4 has none unless given one; IPv6 would
   * give itself a link-local one as the bridge comes up.  Where /proc/sys is read-only (systemd's
   * ProtectKernelTunables) the bridge keeps that link-local address, which routes nowhere. */
  if (!g_file_set_contents (ipv6, "1", 1, &local))
    g_debug ("cannot turn IPv6 off on %s: %s", name, local->message);
  ok = set_up (sock, name, TRUE, error);
  close (sock);
  return ok;
}

gboolean
vireo_host_net_remove_bridge (const char *name, GError **error)
{
  int sock;

  if (!vireo_host_net_exists (name))
    return TRUE;
  sock = control_socket (error);
  if (sock < 0)
    return FALSE;
  /* The kernel refuses to delete a bridge that is up. */
  set_up (sock, name, FALSE, NULL);
  if (ioctl (sock, SIOCBRDELBR, name) < 0 && errno != ENXIO && errno != ENODEV)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, error_code_for (saved), "cannot remove the bridge %s: %s", name,
                   g_strerror (saved));
      close (sock);
      return FALSE;
    }
  close (sock);
  return TRUE;
}

gboolean
vireo_host_net_open_taps (const char *bridge, unsigned n_queues, int *fds, char **name, GError **error)
{
  g_autoptr (GError) local = NULL;

  /* The core's TAP maker, which vireo-run uses too; its errors become the service's. */
  if (!vireo_host_net_is_bridge (bridge))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "the bridge %s does not exist", bridge);
      return FALSE;
    }
  if (!hv_net_open_bridge_taps (bridge, n_queues, fds, name, &local))
    {
      g_propagate_error (error, vireo_error_from_hv (local));
      return FALSE;
    }
  return TRUE;
}

int
vireo_host_net_open_tap (const char *bridge, char **name, GError **error)
{
  int fd;

  return vireo_host_net_open_taps (bridge, 1, &fd, name, error) ? fd : -1;
}
