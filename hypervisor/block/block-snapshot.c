/* block-snapshot.c — internal snapshots through the block API: the checks every format shares, then the
 * driver's.  Apart from block.c so that tests driving a format without the block core (block-test-support.c)
 * can use them. */
#include "block-private.h"

#include <string.h>

/* ---- Internal snapshots ---- */

const char *
hv_block_snapshot_op_name (HvBlockSnapshotOp op)
{
  switch (op)
    {
    case HV_BLOCK_SNAPSHOT_CREATE:
      return "create";
    case HV_BLOCK_SNAPSHOT_APPLY:
      return "apply";
    case HV_BLOCK_SNAPSHOT_DELETE:
      return "delete";
    default:
      return "?";
    }
}

void
hv_block_snapshot_free (HvBlockSnapshot *snapshot)
{
  if (snapshot == NULL)
    return;
  g_free (snapshot->id);
  g_free (snapshot->name);
  g_free (snapshot);
}

static gboolean
snapshot_supported (HvBlock *block, GError **error)
{
  if (block->driver->snapshot == NULL)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                        "it is a %s image: checkpoints need qcow2", block->driver->name),
           FALSE;
  return TRUE;
}

GPtrArray *
hv_block_snapshot_list (HvBlock *block, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) hv_block_snapshot_free);

  if (!snapshot_supported (block, error) || !block->driver->snapshot_list (block, out, error))
    return NULL;
  return g_steal_pointer (&out);
}

gboolean
hv_block_snapshot (HvBlock *block, HvBlockSnapshotOp op, const char *name, GError **error)
{
  size_t len = name != NULL ? strlen (name) : 0;

  if (!snapshot_supported (block, error))
    return FALSE;
  if (len == 0 || len > HV_BLOCK_SNAPSHOT_NAME_MAX || !g_utf8_validate (name, -1, NULL))
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                        "a snapshot name is 1 to %u bytes of UTF-8", HV_BLOCK_SNAPSHOT_NAME_MAX),
           FALSE;
  if (block->options.read_only)
    return g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION, "it is open read-only"), FALSE;
  if (g_atomic_int_get (&block->in_flight) > 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "it has requests in flight"), FALSE;
  return block->driver->snapshot (block, op, name, error);
}
