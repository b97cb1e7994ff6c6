/* net-options.c — parsing and checking a NIC's MAC address and port forwards (net-options.h). */
#include "net-options.h"

#include <arpa/inet.h>
#include <string.h>

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
