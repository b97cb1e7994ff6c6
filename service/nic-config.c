/* nic-config.c — a machine's network adapters: the "nics" setting's entries, their checks, their
 * generated MACs, and what the machine spec gets from them. */
#include "machine-config-private.h"
#include "switch-registry.h"
#include "net-options.h"
#include "vireo-error.h"
#include "vireo-text.h"

#include <arpa/inet.h>
#include <string.h>

/* How much of a caller's text an error message repeats. */
#define SHOWN_MAX 64

VireoForwardConfig *
vireo_forward_config_new (const char *protocol, const char *host_address, guint16 host_port,
                          guint16 guest_port)
{
  VireoForwardConfig *forward = g_new0 (VireoForwardConfig, 1);

  forward->protocol = g_strdup (protocol);
  forward->host_address = g_strdup (host_address != NULL ? host_address : "");
  forward->host_port = host_port;
  forward->guest_port = guest_port;
  return forward;
}

void
vireo_forward_config_free (VireoForwardConfig *forward)
{
  if (forward == NULL)
    return;
  g_free (forward->protocol);
  g_free (forward->host_address);
  g_free (forward);
}

static void
forward_config_free (gpointer data)
{
  vireo_forward_config_free (data);
}

VireoNicConfig *
vireo_nic_config_new (const char *mac, const char *switch_name)
{
  VireoNicConfig *nic = g_new0 (VireoNicConfig, 1);

  nic->mac = g_strdup (mac);
  nic->switch_name = g_strdup (switch_name != NULL ? switch_name : VIREO_DEFAULT_SWITCH);
  nic->connected = TRUE;
  nic->forwards = g_ptr_array_new_with_free_func (forward_config_free);
  return nic;
}

VireoNicConfig *
vireo_nic_config_copy (const VireoNicConfig *nic)
{
  VireoNicConfig *copy = vireo_nic_config_new (nic->mac, nic->switch_name);

  copy->connected = nic->connected;
  copy->queues = nic->queues;
  for (guint i = 0; i < nic->forwards->len; i++)
    {
      const VireoForwardConfig *forward = g_ptr_array_index (nic->forwards, i);
      g_ptr_array_add (copy->forwards, vireo_forward_config_new (forward->protocol, forward->host_address,
                                                                 forward->host_port, forward->guest_port));
    }
  return copy;
}

void
vireo_nic_config_free (VireoNicConfig *nic)
{
  if (nic == NULL)
    return;
  g_free (nic->mac);
  g_free (nic->switch_name);
  g_clear_pointer (&nic->forwards, g_ptr_array_unref);
  g_free (nic);
}

/* ---- checks ---- */

/* @mac in the form the definition keeps: lower case.  NULL with the error when it is no unicast MAC. */
static char *
checked_mac (const char *mac, guint index, GError **error)
{
  g_autoptr (GError) local = NULL;

  /* hv_net_parse_mac quotes what it was given: never more than a MAC's length of a caller's text. */
  if (strlen (mac) != 17 || !g_utf8_validate (mac, -1, NULL))
    {
      g_autofree char *shown = vireo_text_for_message (mac, 20);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “nics”: “mac” of NIC %u, “%s”, is not a MAC address like 52:54:00:12:34:56.",
                   index + 1, shown);
      return NULL;
    }
  if (!hv_net_parse_mac (mac, NULL, &local))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "Setting “nics”: “mac” of NIC %u: %s.",
                   index + 1, local->message);
      return NULL;
    }
  return g_ascii_strdown (mac, -1);
}

static gboolean
check_forward (const VireoForwardConfig *forward, guint index, GError **error)
{
  struct in_addr addr;

  if (g_strcmp0 (forward->protocol, "tcp") != 0 && g_strcmp0 (forward->protocol, "udp") != 0)
    {
      g_autofree char *shown = vireo_text_for_message (forward->protocol, SHOWN_MAX);
      g_set_error (
          error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
          "Setting “nics”: a port forward of NIC %u has the protocol “%s”; it must be “tcp” or “udp”.",
          index + 1, shown);
      return FALSE;
    }
  if (*forward->host_address != '\0' && inet_pton (AF_INET, forward->host_address, &addr) != 1)
    {
      g_autofree char *shown = vireo_text_for_message (forward->host_address, SHOWN_MAX);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “nics”: the host address “%s” of a port forward of NIC %u is not an IPv4 address "
                   "like 127.0.0.1 (or \"\" for 127.0.0.1).",
                   shown, index + 1);
      return FALSE;
    }
  if (forward->host_port == 0 || forward->guest_port == 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “nics”: a port forward of NIC %u has port 0; ports are 1 to 65535.", index + 1);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_nic (const VireoNicConfig *nic, guint index, GError **error)
{
  g_autofree char *mac = NULL;

  if (nic->mac == NULL || (mac = checked_mac (nic->mac, index, error)) == NULL)
    {
      if (nic->mac == NULL)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "Setting “nics”: NIC %u has no MAC.",
                     index + 1);
      return FALSE;
    }
  if (nic->switch_name == NULL || *nic->switch_name == '\0' || !g_utf8_validate (nic->switch_name, -1, NULL)
      || g_utf8_strlen (nic->switch_name, -1) > NAME_MAX_CHARS)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “nics”: the “switch” of NIC %u must be the name of a virtual switch (1 to %d "
                   "characters).",
                   index + 1, NAME_MAX_CHARS);
      return FALSE;
    }
  if (nic->forwards->len > HV_NET_HOSTFWD_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “nics”: NIC %u has %u port forwards; the limit is %d.", index + 1,
                   nic->forwards->len, HV_NET_HOSTFWD_MAX);
      return FALSE;
    }
  for (guint i = 0; i < nic->forwards->len; i++)
    if (!check_forward (g_ptr_array_index (nic->forwards, i), index, error))
      return FALSE;
  return TRUE;
}

static const char *
forward_host_address (const VireoForwardConfig *forward)
{
  return *forward->host_address != '\0' ? forward->host_address : "127.0.0.1";
}

gboolean
vireo_machine_config_check_nics (const VireoMachineConfig *config, GError **error)
{
  g_autoptr (GHashTable) macs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) ports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (config->nics == NULL || config->nics->len > VIREO_NICS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “nics”: a machine has at most %d NICs.", VIREO_NICS_MAX);
      return FALSE;
    }
  for (guint i = 0; i < config->nics->len; i++)
    {
      const VireoNicConfig *nic = g_ptr_array_index (config->nics, i);

      if (!check_nic (nic, i, error))
        return FALSE;
      if (!g_hash_table_add (macs, g_ascii_strdown (nic->mac, -1)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “nics”: NIC %u has the MAC %s of another NIC; each needs its own.", i + 1,
                       nic->mac);
          return FALSE;
        }
      /* Two forwards of one host port would make the machine fail to start (the second bind fails). */
      for (guint j = 0; j < nic->forwards->len; j++)
        {
          const VireoForwardConfig *forward = g_ptr_array_index (nic->forwards, j);
          char *key = g_strdup_printf ("%s:%s:%u", forward->protocol, forward_host_address (forward),
                                       forward->host_port);

          if (!g_hash_table_add (ports, key))
            {
              g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “nics”: %s port %u of %s is forwarded twice (NIC %u).", forward->protocol,
                           forward->host_port, forward_host_address (forward), i + 1);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* ---- the setting ---- */

static const VireoEntryKey nic_keys[] = {
  { "mac", "s" }, { "switch", "s" }, { "connected", "b" }, { "forwards", "a(ssqq)" }, { "queues", "u" },
};

VireoNicConfig *
vireo_nic_config_parse (GVariant *entry, guint index, GError **error)
{
  g_autoptr (VireoNicConfig) nic = vireo_nic_config_new (NULL, NULL);
  g_autofree char *kind = NULL;
  g_autoptr (GVariant) forwards = NULL;
  GVariantIter iter;
  const char *key;
  GVariant *value;
  const char *text;

  if (!vireo_machine_config_check_entry_keys (entry, nic_keys, G_N_ELEMENTS (nic_keys), "nics", "NIC", index,
                                              error))
    return NULL;
  g_variant_iter_init (&iter, entry);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;

      if (strcmp (key, "mac") == 0)
        {
          text = g_variant_get_string (value, NULL);
          /* "" is no MAC: the service generates one, as when the key is absent. */
          if (*text != '\0')
            {
              g_free (nic->mac);
              nic->mac = checked_mac (text, index, error);
              if (nic->mac == NULL)
                return NULL;
            }
        }
      else if (strcmp (key, "switch") == 0)
        {
          text = g_variant_get_string (value, NULL);
          g_free (nic->switch_name);
          nic->switch_name = g_strdup (text);
        }
      else if (strcmp (key, "connected") == 0)
        nic->connected = g_variant_get_boolean (value);
      else if (strcmp (key, "queues") == 0)
        {
          nic->queues = g_variant_get_uint32 (value);
          if (nic->queues > HV_NET_QUEUES_MAX)
            {
              g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “nics”: NIC %u asks for %u queue pairs; a NIC has 1 to %d (0: as many as "
                           "the machine has vCPUs, up to %d, on a bridge).",
                           index + 1, nic->queues, HV_NET_QUEUES_MAX, VIREO_NIC_AUTO_QUEUES_MAX);
              return NULL;
            }
        }
      else
        forwards = g_variant_ref (value);
    }

  if (!vireo_switch_registry_lookup (nic->switch_name, &kind, NULL))
    {
      g_autofree char *shown = vireo_text_for_message (nic->switch_name, SHOWN_MAX);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND,
                   "Setting “nics”: the “switch” of NIC %u, “%s”, does not exist.", index + 1, shown);
      return NULL;
    }
  if (forwards != NULL && g_variant_n_children (forwards) > 0)
    {
      const char *protocol, *address;
      guint16 host_port, guest_port;

      if (strcmp (kind, "nat") != 0)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “nics”: NIC %u has port forwards, but its switch “%s” is not a NAT switch "
                       "(forwards are for NAT only; on a bridge the guest is reached directly).",
                       index + 1, nic->switch_name);
          return NULL;
        }
      if (g_variant_n_children (forwards) > HV_NET_HOSTFWD_MAX)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “nics”: NIC %u has %zu port forwards; the limit is %d.", index + 1,
                       g_variant_n_children (forwards), HV_NET_HOSTFWD_MAX);
          return NULL;
        }
      g_variant_iter_init (&iter, forwards);
      while (g_variant_iter_next (&iter, "(&s&sqq)", &protocol, &address, &host_port, &guest_port))
        {
          VireoForwardConfig *forward = vireo_forward_config_new (protocol, address, host_port, guest_port);

          g_ptr_array_add (nic->forwards, forward);
          if (!check_forward (forward, index, error))
            return NULL;
        }
    }
  return g_steal_pointer (&nic);
}

/* A MAC for NIC @index of machine @uuid, the same every time: QEMU's and libvirt's locally
 * administered prefix 52:54:00 and three bytes of SHA-256 (@salt is bumped on a clash). */
static char *
generated_mac (const char *uuid, guint index, guint salt)
{
  g_autofree char *seed = g_strdup_printf ("%s/%u/%u", uuid, index, salt);
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof digest;

  g_checksum_update (checksum, (const guchar *) seed, -1);
  g_checksum_get_digest (checksum, digest, &len);
  return g_strdup_printf ("52:54:00:%02x:%02x:%02x", digest[0], digest[1], digest[2]);
}

static gboolean
mac_taken (const VireoMachineConfig *config, const char *mac)
{
  for (guint i = 0; i < config->nics->len; i++)
    {
      const VireoNicConfig *nic = g_ptr_array_index (config->nics, i);
      if (nic->mac != NULL && g_ascii_strcasecmp (nic->mac, mac) == 0)
        return TRUE;
    }
  return FALSE;
}

void
vireo_machine_config_assign_macs (VireoMachineConfig *config)
{
  for (guint i = 0; i < config->nics->len; i++)
    {
      VireoNicConfig *nic = g_ptr_array_index (config->nics, i);
      char *mac;

      if (nic->mac != NULL)
        continue;
      for (guint salt = 0;; salt++)
        {
          mac = generated_mac (config->uuid, i, salt);
          if (!mac_taken (config, mac))
            break;
          g_free (mac);
        }
      nic->mac = mac;
    }
}

GVariant *
vireo_machine_config_nics_to_variant (const VireoMachineConfig *config)
{
  GVariantBuilder nics;

  g_variant_builder_init (&nics, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < config->nics->len; i++)
    {
      const VireoNicConfig *nic = g_ptr_array_index (config->nics, i);
      GVariantBuilder forwards;

      g_variant_builder_init (&forwards, G_VARIANT_TYPE ("a(ssqq)"));
      for (guint j = 0; j < nic->forwards->len; j++)
        {
          const VireoForwardConfig *forward = g_ptr_array_index (nic->forwards, j);
          g_variant_builder_add (&forwards, "(ssqq)", forward->protocol, forward->host_address,
                                 forward->host_port, forward->guest_port);
        }
      g_variant_builder_open (&nics, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&nics, "{sv}", "mac", g_variant_new_string (nic->mac != NULL ? nic->mac : ""));
      g_variant_builder_add (&nics, "{sv}", "switch", g_variant_new_string (nic->switch_name));
      g_variant_builder_add (&nics, "{sv}", "connected", g_variant_new_boolean (nic->connected));
      g_variant_builder_add (&nics, "{sv}", "forwards", g_variant_builder_end (&forwards));
      g_variant_builder_add (&nics, "{sv}", "queues", g_variant_new_uint32 (nic->queues));
      g_variant_builder_close (&nics);
    }
  return g_variant_builder_end (&nics);
}

gboolean
vireo_machine_config_nics_differ_only_in_link (const VireoMachineConfig *a, const VireoMachineConfig *b)
{
  if (a->nics->len != b->nics->len)
    return FALSE;
  for (guint i = 0; i < a->nics->len; i++)
    {
      const VireoNicConfig *x = g_ptr_array_index (a->nics, i);
      const VireoNicConfig *y = g_ptr_array_index (b->nics, i);
      g_autofree char *forwards_x = vireo_nic_config_hostfwd (x);
      g_autofree char *forwards_y = vireo_nic_config_hostfwd (y);

      if (g_strcmp0 (x->mac, y->mac) != 0 || g_strcmp0 (x->switch_name, y->switch_name) != 0
          || strcmp (forwards_x, forwards_y) != 0 || x->queues != y->queues)
        return FALSE;
    }
  return TRUE;
}

char *
vireo_nic_config_hostfwd (const VireoNicConfig *nic)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < nic->forwards->len; i++)
    {
      const VireoForwardConfig *forward = g_ptr_array_index (nic->forwards, i);
      g_string_append_printf (text, "%s%s:%s:%u-:%u", i == 0 ? "" : ";", forward->protocol,
                              forward_host_address (forward), forward->host_port, forward->guest_port);
    }
  return g_string_free (text, FALSE);
}

void
vireo_machine_config_add_nics_to_spec (const VireoMachineConfig *config, HvMachineSpec *spec)
{
  for (guint i = 0; config->nics != NULL && i < config->nics->len; i++)
    {
      const VireoNicConfig *nic = g_ptr_array_index (config->nics, i);
      g_autofree char *id = g_strdup_printf ("net%u", i);
      g_autofree char *kind = NULL;
      g_autofree char *hostfwd = vireo_nic_config_hostfwd (nic);
      GVariantDict options;

      g_variant_dict_init (&options, NULL);
      /* NAT: libslirp in the worker, on a thread of its own.  A bridge: a TAP vireod makes and adds as
       * the "tap" fds (a queue per pair) when the machine starts.  A switch that is gone is NAT here;
       * Start refuses it. */
      vireo_switch_registry_lookup (nic->switch_name, &kind, NULL);
      if (kind == NULL || strcmp (kind, "nat") == 0)
        {
          g_variant_dict_insert (&options, "backend", "s", "user");
          if (*hostfwd != '\0')
            g_variant_dict_insert (&options, "hostfwd", "s", hostfwd);
        }
      else
        {
          /* One queue pair per vCPU (up to a few) unless the definition says: the guest's CPUs each
           * send and receive on their own, and vireod makes the TAP with as many queues. */
          guint queues = nic->queues != 0 ? nic->queues : CLAMP (config->vcpus, 1, VIREO_NIC_AUTO_QUEUES_MAX);

          g_variant_dict_insert (&options, "backend", "s", "tap");
          if (queues > 1)
            g_variant_dict_insert (&options, "queues", "u", (guint32) MIN (queues, HV_NET_QUEUES_MAX));
        }
      if (nic->mac != NULL)
        g_variant_dict_insert (&options, "mac", "s", nic->mac);
      /* Connected is the core's default: the option is written only when it says otherwise. */
      if (!nic->connected)
        g_variant_dict_insert (&options, "link", "b", FALSE);
      hv_machine_spec_add_device (spec, "virtio-net", id, g_variant_dict_end (&options));
    }
}

void
vireo_machine_config_sync_network (VireoMachineConfig *config)
{
  g_free (config->network);
  config->network = g_strdup (config->nics->len > 0 ? "nat" : "none");
}
