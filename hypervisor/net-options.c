/* net-options.c — parsing and checking a NIC's MAC address and port forwards (net-options.h). */
#include "net-options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

gboolean
hv_net_parse_mac (const char *text, uint8_t *mac, GError **error)
{
  uint8_t bytes[6];
  gboolean zero = TRUE;

  if (strlen (text) != 17)
    goto bad;
  for (unsigned i = 0; i < 6; i++)
    {
      const char *p = text + 3 * i;
      int high = g_ascii_xdigit_value (p[0]);
      int low = g_ascii_xdigit_value (p[1]);

      if (high < 0 || low < 0 || (i < 5 && p[2] != ':'))
        goto bad;
      bytes[i] = (uint8_t) (high << 4 | low);
      if (bytes[i])
        zero = FALSE;
    }
  if (bytes[0] & 1)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "“%s” is a multicast address; a NIC needs a unicast one (an even first byte)", text);
      return FALSE;
    }
  if (zero)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” is not a usable MAC address", text);
      return FALSE;
    }
  if (mac)
    memcpy (mac, bytes, sizeof bytes);
  return TRUE;

bad:
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” is not a MAC address like 52:54:00:12:34:56",
               text);
  return FALSE;
}

static gboolean
parse_port (const char *text, const char *forward, const char *what, uint16_t *port, GError **error)
{
  guint64 number;

  if (!g_ascii_string_to_unsigned (text, 10, 1, 65535, &number, NULL))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "“%s” in the forward “%s” is not a %s port (1-65535)", text, forward, what);
      return FALSE;
    }
  *port = (uint16_t) number;
  return TRUE;
}

static gboolean
parse_addr (const char *text, const char *forward, const char *what, struct in_addr *addr, GError **error)
{
  if (inet_pton (AF_INET, text, addr) != 1)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "“%s” in the forward “%s” is not a %s IPv4 address", text, forward, what);
      return FALSE;
    }
  return TRUE;
}

/* "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT". */
static gboolean
parse_one (const char *forward, HvNetHostForward *out, GError **error)
{
  g_auto (GStrv) sides = NULL;
  g_auto (GStrv) host = NULL;
  g_auto (GStrv) guest = NULL;

  memset (out, 0, sizeof *out);
  if (g_str_has_prefix (forward, "tcp:"))
    out->udp = FALSE;
  else if (g_str_has_prefix (forward, "udp:"))
    out->udp = TRUE;
  else
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the forward “%s” does not start with tcp: or udp:", forward);
      return FALSE;
    }
  sides = g_strsplit (forward + 4, "-", -1);
  if (g_strv_length (sides) != 2)
    goto syntax;
  host = g_strsplit (sides[0], ":", -1);
  guest = g_strsplit (sides[1], ":", -1);
  if (g_strv_length (host) != 2 || g_strv_length (guest) != 2)
    goto syntax;
  if (!parse_addr (host[0][0] ? host[0] : "127.0.0.1", forward, "host", &out->host_addr, error)
      || !parse_port (host[1], forward, "host", &out->host_port, error)
      || (guest[0][0] && !parse_addr (guest[0], forward, "guest", &out->guest_addr, error))
      || !parse_port (guest[1], forward, "guest", &out->guest_port, error))
    return FALSE;
  return TRUE;

syntax:
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
               "the forward “%s” is not tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", forward);
  return FALSE;
}

gboolean
hv_net_parse_hostfwd (const char *text, GArray *forwards, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ";", -1);
  g_autoptr (GArray) local = forwards ? NULL : g_array_new (FALSE, FALSE, sizeof (HvNetHostForward));
  GArray *list = forwards ? forwards : local;
  guint n = g_strv_length (parts);

  if (n > HV_NET_HOSTFWD_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%u port forwards; a NIC has at most %d", n,
                   HV_NET_HOSTFWD_MAX);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      HvNetHostForward forward;

      if (!parse_one (parts[i], &forward, error))
        return FALSE;
      for (guint j = 0; j < list->len; j++)
        {
          const HvNetHostForward *other = &g_array_index (list, HvNetHostForward, j);
          if (other->udp == forward.udp && other->host_port == forward.host_port
              && other->host_addr.s_addr == forward.host_addr.s_addr)
            {
              g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                           "the forward “%s” takes a host port already forwarded", parts[i]);
              return FALSE;
            }
        }
      g_array_append_val (list, forward);
    }
  return TRUE;
}

#define ETH_HEADER_LEN    14
#define ETH_TYPE_IPV4     0x0800
#define IP_PROTO_UDP      17
#define UDP_HEADER_LEN    8
#define PORT_BOOTP_SERVER 67
#define PORT_BOOTP_CLIENT 68
/* BOOTP (RFC 951) and DHCP (RFC 2131): the fixed part, then the magic cookie and the options. */
#define BOOTP_OP      0
#define BOOTP_HTYPE   1
#define BOOTP_HLEN    2
#define BOOTP_YIADDR  16
#define BOOTP_CHADDR  28
#define BOOTP_COOKIE  236
#define BOOTP_OPTIONS 240
#define BOOTP_REPLY   2
#define DHCP_OPT_PAD  0
#define DHCP_OPT_TYPE 53
#define DHCP_OPT_END  255
#define DHCP_ACK      5

static uint16_t
get_be16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

gboolean
hv_net_parse_dhcp_ack (const uint8_t *frame, gsize len, const uint8_t *mac, uint32_t *address)
{
  static const uint8_t cookie[4] = { 99, 130, 83, 99 };
  const uint8_t *ip, *udp, *bootp;
  gsize ihl, ip_len, udp_len, at;

  if (len < ETH_HEADER_LEN + 20 || get_be16 (frame + 12) != ETH_TYPE_IPV4)
    return FALSE;
  ip = frame + ETH_HEADER_LEN;
  ihl = (gsize) (ip[0] & 0xf) * 4;
  ip_len = get_be16 (ip + 2);
  /* A whole, unfragmented UDP datagram inside the frame (which may be padded past it). */
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip_len < ihl + UDP_HEADER_LEN || ip_len > len - ETH_HEADER_LEN
      || ip[9] != IP_PROTO_UDP || (get_be16 (ip + 6) & 0x3fff) != 0)
    return FALSE;
  udp = ip + ihl;
  udp_len = get_be16 (udp + 4);
  if (get_be16 (udp) != PORT_BOOTP_SERVER || get_be16 (udp + 2) != PORT_BOOTP_CLIENT
      || udp_len < UDP_HEADER_LEN + BOOTP_OPTIONS || udp_len > ip_len - ihl)
    return FALSE;
  bootp = udp + UDP_HEADER_LEN;
  len = udp_len - UDP_HEADER_LEN;
  if (bootp[BOOTP_OP] != BOOTP_REPLY || bootp[BOOTP_HTYPE] != 1 || bootp[BOOTP_HLEN] != 6
      || memcmp (bootp + BOOTP_CHADDR, mac, 6) != 0 || memcmp (bootp + BOOTP_COOKIE, cookie, 4) != 0)
    return FALSE;
  for (at = BOOTP_OPTIONS; at < len && bootp[at] != DHCP_OPT_END;)
    {
      if (bootp[at] == DHCP_OPT_PAD)
        {
          at++;
          continue;
        }
      if (at + 2 > len || at + 2 + bootp[at + 1] > len)
        return FALSE;
      if (bootp[at] == DHCP_OPT_TYPE && bootp[at + 1] == 1)
        {
          if (bootp[at + 2] != DHCP_ACK)
            return FALSE;
          memcpy (address, bootp + BOOTP_YIADDR, 4);
          return *address != 0;
        }
      at += 2 + (gsize) bootp[at + 1];
    }
  return FALSE;
}

static int
tap_error (GError **error, int saved, const char *bridge, const char *what)
{
  g_set_error (error, HV_ERROR, saved == EPERM || saved == EACCES ? HV_ERROR_PERMISSION : HV_ERROR_FAILED,
               "cannot attach a TAP device to the bridge %s: %s: %s%s", bridge, what, g_strerror (saved),
               saved == EPERM || saved == EACCES ? " (bridged networking needs root or CAP_NET_ADMIN)" : "");
  return -1;
}

/* Makes queue @i of the TAP: the kernel names the first, the others are queues of that one. */
static int
open_tap_queue (struct ifreq *ifr, unsigned n_queues, unsigned i, const char *bridge, GError **error)
{
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);

  if (fd < 0)
    return tap_error (error, errno, bridge, "/dev/net/tun");
  /* One queue stays a plain TAP, as every TAP was before queue pairs. */
  ifr->ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (n_queues > 1 ? IFF_MULTI_QUEUE : 0);
  if (i == 0)
    g_strlcpy (ifr->ifr_name, "vireo-tap%d", IFNAMSIZ);
  if (ioctl (fd, TUNSETIFF, ifr) < 0)
    {
      int saved = errno;
      close (fd);
      return tap_error (error, saved, bridge, "making the TAP device");
    }
  return fd;
}

gboolean
hv_net_open_bridge_taps (const char *bridge, unsigned n_queues, int *fds, char **name, GError **error)
{
  struct ifreq ifr = { 0 };
  char tap_name[IFNAMSIZ];
  unsigned made = 0;
  int sock, index;

  g_return_val_if_fail (n_queues >= 1, FALSE);
  if (strlen (bridge) == 0 || strlen (bridge) >= IFNAMSIZ || strchr (bridge, '/') != NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” is not a network interface name",
                   bridge);
      return FALSE;
    }
  index = (int) if_nametoindex (bridge);
  if (index == 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "there is no bridge “%s”", bridge);
      return FALSE;
    }
  for (; made < n_queues; made++)
    if ((fds[made] = open_tap_queue (&ifr, n_queues, made, bridge, error)) < 0)
      goto fail;
  g_strlcpy (tap_name, ifr.ifr_name, sizeof tap_name);
  sock = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    {
      tap_error (error, errno, bridge, "socket");
      goto fail;
    }
  /* Up first, then a port: a bridge forwards to ports that are up. */
  if (ioctl (sock, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl (sock, SIOCSIFFLAGS, &ifr) < 0))
    {
      int saved = errno;
      close (sock);
      tap_error (error, saved, bridge, "bringing the TAP device up");
      goto fail;
    }
  ifr.ifr_ifindex = (int) if_nametoindex (tap_name);
  g_strlcpy (ifr.ifr_name, bridge, IFNAMSIZ);
  if (ioctl (sock, SIOCBRADDIF, &ifr) < 0)
    {
      int saved = errno;
      close (sock);
      if (saved == EOPNOTSUPP || saved == EINVAL)
        g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "“%s” is not a bridge", bridge);
      else
        tap_error (error, saved, bridge, "adding the port");
      goto fail;
    }
  close (sock);
  if (name)
    *name = g_strdup (tap_name);
  return TRUE;

fail:
  for (unsigned i = 0; i < made; i++)
    close (fds[i]);
  return FALSE;
}

int
hv_net_open_bridge_tap (const char *bridge, char **name, GError **error)
{
  int fd;

  return hv_net_open_bridge_taps (bridge, 1, &fd, name, error) ? fd : -1;
}
