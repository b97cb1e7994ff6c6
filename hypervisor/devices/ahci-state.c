/* ahci-state.c — an AHCI port's saved state (and the HBA's, with the first port): its registers, the
 * CD-ROM's tray and sense, checked on load against the drive the machine has now. */
#include "ahci-private.h"
#include "state.h"

/* ---- Saved state ---- */

GVariant *
hv_ahci_save_port (HvAhci *ahci, unsigned index, gboolean with_hba)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  Port *port = &ahci->ports[index];

  g_mutex_lock (&ahci->lock);
  if (with_hba)
    g_variant_dict_insert (&dict, "ghc", "u", ahci->ghc);
  g_variant_dict_insert (&dict, "port", "u", index);
  g_variant_dict_insert (&dict, "clb", "t", port->clb);
  g_variant_dict_insert (&dict, "fb", "t", port->fb);
  g_variant_dict_insert (&dict, "is", "u", port->is);
  g_variant_dict_insert (&dict, "ie", "u", port->ie);
  g_variant_dict_insert (&dict, "cmd", "u", port->cmd);
  g_variant_dict_insert (&dict, "tfd", "u", port->tfd);
  g_variant_dict_insert (&dict, "sctl", "u", port->sctl);
  g_variant_dict_insert (&dict, "serr", "u", port->serr);
  g_variant_dict_insert (&dict, "sact", "u", port->sact);
  g_variant_dict_insert (&dict, "ci", "u", port->ci);
  g_variant_dict_insert (&dict, "error-stop", "b", port->error_stop);
  g_variant_dict_insert (&dict, "capacity", "t", port->block ? hv_block_get_size (port->block) : 0);
  if (port->type == DRIVE_CDROM)
    {
      g_variant_dict_insert (&dict, "tray-open", "b", port->tray_open);
      g_variant_dict_insert (&dict, "locked", "b", port->locked);
      g_variant_dict_insert (&dict, "unit-attention", "b", port->unit_attention);
      g_variant_dict_insert (&dict, "media-event", "y", port->media_event);
      g_variant_dict_insert (&dict, "sense", "u",
                             (uint32_t) port->sense_key << 16 | (uint32_t) port->asc << 8 | port->ascq);
    }
  g_mutex_unlock (&ahci->lock);
  return g_variant_dict_end (&dict);
}

gboolean
hv_ahci_load_port (HvAhci *ahci, unsigned index, GVariant *state, GError **error)
{
  Port *port = &ahci->ports[index];
  const char *what = port->name;
  uint32_t ghc = ahci->ghc, saved_index, is, ie, cmd, tfd, sctl, serr, sact, ci, sense = 0;
  uint64_t clb, fb, capacity;
  gboolean error_stop, tray_open = port->tray_open, locked = FALSE, ua = FALSE;
  uint8_t media_event = 0;
  g_autoptr (GVariant) saved_ghc = g_variant_lookup_value (state, "ghc", NULL);
  gboolean with_hba = saved_ghc != NULL;

  if ((with_hba && !hv_state_get (state, what, "ghc", "u", &ghc, error))
      || !hv_state_get (state, what, "port", "u", &saved_index, error)
      || !hv_state_get (state, what, "clb", "t", &clb, error)
      || !hv_state_get (state, what, "fb", "t", &fb, error)
      || !hv_state_get (state, what, "is", "u", &is, error)
      || !hv_state_get (state, what, "ie", "u", &ie, error)
      || !hv_state_get (state, what, "cmd", "u", &cmd, error)
      || !hv_state_get (state, what, "tfd", "u", &tfd, error)
      || !hv_state_get (state, what, "sctl", "u", &sctl, error)
      || !hv_state_get (state, what, "serr", "u", &serr, error)
      || !hv_state_get (state, what, "sact", "u", &sact, error)
      || !hv_state_get (state, what, "ci", "u", &ci, error)
      || !hv_state_get (state, what, "error-stop", "b", &error_stop, error)
      || !hv_state_get (state, what, "capacity", "t", &capacity, error))
    return FALSE;
  if (port->type == DRIVE_CDROM
      && (!hv_state_get (state, what, "tray-open", "b", &tray_open, error)
          || !hv_state_get (state, what, "locked", "b", &locked, error)
          || !hv_state_get (state, what, "unit-attention", "b", &ua, error)
          || !hv_state_get_max (state, what, "media-event", "y", MEDIA_EVENT_REMOVAL, &media_event, error)
          || !hv_state_get_max (state, what, "sense", "u", 0xffffff, &sense, error)))
    return FALSE;
  if (saved_index != index)
    {
      hv_state_set_bad (error, what, "the drive was on port %u", saved_index);
      return FALSE;
    }
  if (port->type == DRIVE_DISK && capacity != hv_block_get_size (port->block))
    {
      hv_state_set_bad (error, what,
                        "the disk had %" G_GUINT64_FORMAT " bytes when saved and has %" G_GUINT64_FORMAT
                        " now: is it the same image?",
                        capacity, hv_block_get_size (port->block));
      return FALSE;
    }

  g_mutex_lock (&ahci->lock);
  if (with_hba)
    ahci->ghc = GHC_AE | (ghc & GHC_IE);
  port->clb = clb & ~0x3ffull;
  port->fb = fb & ~0xffull;
  port->is = is & IS_VALID;
  port->ie = ie & IS_VALID;
  port->cmd = cmd;
  port->tfd = tfd & 0xffff;
  port->sctl = sctl & 0xfff;
  port->serr = serr;
  port->busy = 0;
  port->queued_busy = FALSE;
  port->generation++;
  /* Commands were all finished at quiesce; those issued and not yet taken run again. */
  port->sact = sact;
  port->ci = ci;
  port->error_stop = error_stop;
  if (port->type == DRIVE_CDROM)
    {
      port->tray_open = tray_open;
      port->locked = locked;
      port->unit_attention = ua;
      port->media_event = media_event;
      port->sense_key = (uint8_t) (sense >> 16);
      port->asc = (uint8_t) (sense >> 8);
      port->ascq = (uint8_t) sense;
      /* A disc other than the one saved (or none) is a media change the guest should see. */
      if (port->block && capacity != hv_block_get_size (port->block))
        {
          port->unit_attention = TRUE;
          port->media_event = MEDIA_EVENT_NEW;
        }
    }
  ahci_update_irq_locked (ahci);
  g_mutex_unlock (&ahci->lock);
  ahci_kick (ahci);
  return TRUE;
}
