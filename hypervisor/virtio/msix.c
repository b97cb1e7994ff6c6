/* msix.c — MSI-X for a PCI function: the vector table and PBA, masks, and interrupts sent through irqfds
 * bound to MSI routes (one GSI per vector, made when the vector first fires and updated when the guest
 * reprograms its message). */
#include "bytes.h"
#include "msix.h"
#include "state.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define ENTRY_ADDRESS 0
#define ENTRY_DATA    8
#define ENTRY_CONTROL 12
#define ENTRY_MASKED  0x1

typedef struct
{
  uint8_t entry[HV_MSIX_ENTRY_SIZE]; /* address (8), data (4), vector control (4), as the guest wrote them */
  gboolean pending;                  /* the PBA bit */
  int gsi;                           /* the MSI route, -1 until the vector first fires */
  gboolean route_stale;              /* address or data changed since the route was set */
  gboolean irqfd_assigned;
  int irqfd;
} Vector;

struct _HvMsix
{
  const HvPlatform *platform;
  const char *owner;
  unsigned n_vectors;
  Vector *vectors;
  gboolean enabled;
  gboolean masked; /* Function Mask */
  gboolean warned; /* a host-side failure was logged once */
};

static gboolean
vector_masked (const Vector *vector)
{
  return (hv_get_le32 (vector->entry + ENTRY_CONTROL) & ENTRY_MASKED) != 0;
}

HvMsix *
hv_msix_new (const HvPlatform *platform, const char *owner, unsigned n_vectors, GError **error)
{
  HvMsix *msix;

  g_return_val_if_fail (n_vectors > 0 && n_vectors <= HV_MSIX_MAX_VECTORS, NULL);

  msix = g_new0 (HvMsix, 1);
  msix->platform = platform;
  msix->owner = owner;
  msix->n_vectors = n_vectors;
  msix->vectors = g_new0 (Vector, n_vectors);
  for (unsigned i = 0; i < n_vectors; i++)
    {
      msix->vectors[i].gsi = -1;
      msix->vectors[i].irqfd = -1;
      hv_put_le32 (msix->vectors[i].entry + ENTRY_CONTROL, ENTRY_MASKED);
    }
  for (unsigned i = 0; i < n_vectors; i++)
    {
      msix->vectors[i].irqfd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (msix->vectors[i].irqfd < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "%s: cannot create an eventfd: %s", owner,
                       g_strerror (saved));
          hv_msix_free (msix);
          return NULL;
        }
    }
  return msix;
}

void
hv_msix_free (HvMsix *msix)
{
  const HvPlatform *platform;

  if (msix == NULL)
    return;
  platform = msix->platform;
  for (unsigned i = 0; i < msix->n_vectors; i++)
    {
      Vector *vector = &msix->vectors[i];
      if (vector->irqfd_assigned)
        platform->set_irqfd (platform->opaque, (unsigned) vector->gsi, vector->irqfd, FALSE, NULL);
      if (vector->irqfd >= 0)
        close (vector->irqfd);
    }
  g_free (msix->vectors);
  g_free (msix);
}

static void
warn_once (HvMsix *msix, const char *what, const GError *error)
{
  if (msix->warned)
    return;
  msix->warned = TRUE;
  g_warning ("%s: %s: %s", msix->owner, what, error ? error->message : "the platform has no MSI routes");
}

static void
fire (HvMsix *msix, Vector *vector)
{
  const HvPlatform *platform = msix->platform;
  g_autoptr (GError) error = NULL;
  uint64_t address = hv_get_le32 (vector->entry + ENTRY_ADDRESS)
                     | (uint64_t) hv_get_le32 (vector->entry + ENTRY_ADDRESS + 4) << 32;
  uint32_t data = hv_get_le32 (vector->entry + ENTRY_DATA);

  if (platform->add_msi_route == NULL || platform->update_msi_route == NULL || platform->set_irqfd == NULL)
    {
      warn_once (msix, "cannot send MSI-X interrupts", NULL);
      return;
    }
  if (vector->gsi < 0)
    {
      int gsi = platform->add_msi_route (platform->opaque, address, data, &error);
      if (gsi < 0)
        goto fail;
      vector->gsi = gsi;
      vector->route_stale = FALSE;
    }
  else if (vector->route_stale)
    {
      if (!platform->update_msi_route (platform->opaque, (unsigned) vector->gsi, address, data, &error))
        goto fail;
      vector->route_stale = FALSE;
    }
  if (!vector->irqfd_assigned)
    {
      if (!platform->set_irqfd (platform->opaque, (unsigned) vector->gsi, vector->irqfd, TRUE, &error))
        goto fail;
      vector->irqfd_assigned = TRUE;
    }
  if (eventfd_write (vector->irqfd, 1) < 0)
    {
      int saved = errno;
      g_set_error (&error, HV_ERROR, HV_ERROR_FAILED, "cannot signal an irqfd: %s", g_strerror (saved));
      goto fail;
    }
  return;

fail:
  warn_once (msix, "an MSI-X interrupt was lost", error);
}

/* Sends the interrupts held back by masks that are now clear. */
static void
deliver_pending (HvMsix *msix)
{
  if (!msix->enabled || msix->masked)
    return;
  for (unsigned i = 0; i < msix->n_vectors; i++)
    {
      Vector *vector = &msix->vectors[i];
      if (vector->pending && !vector_masked (vector))
        {
          vector->pending = FALSE;
          fire (msix, vector);
        }
    }
}

void
hv_msix_set_control (HvMsix *msix, gboolean enabled, gboolean masked)
{
  msix->enabled = enabled;
  msix->masked = masked;
  deliver_pending (msix);
}

gboolean
hv_msix_is_enabled (const HvMsix *msix)
{
  return msix->enabled;
}

void
hv_msix_signal (HvMsix *msix, unsigned index)
{
  Vector *vector;

  if (index >= msix->n_vectors)
    return;
  vector = &msix->vectors[index];
  if (msix->masked || vector_masked (vector))
    vector->pending = TRUE;
  else
    fire (msix, vector);
}

void
hv_msix_clear_pending (HvMsix *msix)
{
  for (unsigned i = 0; i < msix->n_vectors; i++)
    msix->vectors[i].pending = FALSE;
}

void
hv_msix_bar_io (HvMsix *msix, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  uint64_t table_end = (uint64_t) msix->n_vectors * HV_MSIX_ENTRY_SIZE;
  uint64_t pba_end = HV_MSIX_PBA_OFFSET + (msix->n_vectors + 7) / 8;
  gboolean written = FALSE;

  for (unsigned i = 0; i < len; i++)
    {
      uint64_t byte = offset + i;

      if (byte < table_end)
        {
          Vector *vector = &msix->vectors[byte / HV_MSIX_ENTRY_SIZE];
          unsigned field = (unsigned) (byte % HV_MSIX_ENTRY_SIZE);

          if (!is_write)
            data[i] = vector->entry[field];
          else if (field < ENTRY_CONTROL)
            {
              if (vector->entry[field] != data[i])
                vector->route_stale = TRUE;
              vector->entry[field] = data[i];
              written = TRUE;
            }
          else if (field == ENTRY_CONTROL)
            {
              /* Of the vector control only the mask bit exists. */
              vector->entry[field] = data[i] & ENTRY_MASKED;
              written = TRUE;
            }
        }
      else if (byte >= HV_MSIX_PBA_OFFSET && byte < pba_end)
        {
          if (!is_write)
            {
              unsigned first = (unsigned) (byte - HV_MSIX_PBA_OFFSET) * 8;
              data[i] = 0;
              for (unsigned bit = 0; bit < 8 && first + bit < msix->n_vectors; bit++)
                if (msix->vectors[first + bit].pending)
                  data[i] |= (uint8_t) (1u << bit);
            }
        }
      else if (!is_write)
        data[i] = 0;
    }
  /* Unmasking a vector with its pending bit set sends the interrupt now. */
  if (written)
    deliver_pending (msix);
}

void
hv_msix_save_state (HvMsix *msix, GVariantDict *dict)
{
  g_autofree uint8_t *table = g_malloc (msix->n_vectors * HV_MSIX_ENTRY_SIZE);
  g_autofree uint8_t *pending = g_malloc (msix->n_vectors);

  for (unsigned i = 0; i < msix->n_vectors; i++)
    {
      memcpy (table + i * HV_MSIX_ENTRY_SIZE, msix->vectors[i].entry, HV_MSIX_ENTRY_SIZE);
      pending[i] = msix->vectors[i].pending;
    }
  g_variant_dict_insert_value (dict, "msix-table",
                               hv_state_new_bytes (table, msix->n_vectors * HV_MSIX_ENTRY_SIZE));
  g_variant_dict_insert_value (dict, "msix-pending", hv_state_new_bytes (pending, msix->n_vectors));
}

gboolean
hv_msix_load_state (HvMsix *msix, GVariant *state, const char *what, GError **error)
{
  gsize table_len = msix->n_vectors * HV_MSIX_ENTRY_SIZE;
  g_autofree uint8_t *table = g_malloc (table_len);
  g_autofree uint8_t *pending = g_malloc (msix->n_vectors);

  if (!hv_state_get_bytes (state, what, "msix-table", table, table_len, table_len, NULL, error)
      || !hv_state_get_bytes (state, what, "msix-pending", pending, msix->n_vectors, msix->n_vectors, NULL,
                              error))
    return FALSE;
  for (unsigned i = 0; i < msix->n_vectors; i++)
    if (pending[i] > 1)
      {
        hv_state_set_bad (error, what, "MSI-X pending bit %u is %u", i, pending[i]);
        return FALSE;
      }

  for (unsigned i = 0; i < msix->n_vectors; i++)
    {
      Vector *vector = &msix->vectors[i];
      memcpy (vector->entry, table + i * HV_MSIX_ENTRY_SIZE, HV_MSIX_ENTRY_SIZE);
      hv_put_le32 (vector->entry + ENTRY_CONTROL, hv_get_le32 (vector->entry + ENTRY_CONTROL) & ENTRY_MASKED);
      vector->pending = pending[i];
      vector->route_stale = TRUE;
    }
  return TRUE;
}
