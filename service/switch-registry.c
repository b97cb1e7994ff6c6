/* switch-registry.c — the table of virtual switches (see switch-registry.h). */
#include "switch-registry.h"
#include "machine-config.h"

#include <string.h>

typedef struct
{
  char *kind;
  char *bridge;
} SwitchEntry;

static GMutex lock;
static GHashTable *switches; /* name → SwitchEntry; under lock */

static void
switch_entry_free (gpointer data)
{
  SwitchEntry *entry = data;

  g_free (entry->kind);
  g_free (entry->bridge);
  g_free (entry);
}

/* With the lock held. */
static GHashTable *
table (void)
{
  if (switches == NULL)
    switches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, switch_entry_free);
  return switches;
}

gboolean
vireo_switch_registry_lookup (const char *name, char **kind, char **bridge)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&lock);
  SwitchEntry *entry;

  if (name == NULL)
    return FALSE;
  if (strcmp (name, VIREO_DEFAULT_SWITCH) == 0)
    {
      if (kind != NULL)
        *kind = g_strdup ("nat");
      if (bridge != NULL)
        *bridge = g_strdup ("");
      return TRUE;
    }
  entry = g_hash_table_lookup (table (), name);
  if (entry == NULL)
    return FALSE;
  if (kind != NULL)
    *kind = g_strdup (entry->kind);
  if (bridge != NULL)
    *bridge = g_strdup (entry->bridge);
  return TRUE;
}

char *
vireo_switch_registry_find_bridge (const char *bridge)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&lock);
  GHashTableIter iter;
  gpointer key, value;

  if (bridge == NULL || *bridge == '\0')
    return NULL;
  g_hash_table_iter_init (&iter, table ());
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (strcmp (((SwitchEntry *) value)->bridge, bridge) == 0)
      return g_strdup (key);
  return NULL;
}

void
vireo_switch_registry_add (const char *name, const char *kind, const char *bridge)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&lock);
  SwitchEntry *entry = g_new0 (SwitchEntry, 1);

  entry->kind = g_strdup (kind);
  entry->bridge = g_strdup (bridge != NULL ? bridge : "");
  g_hash_table_replace (table (), g_strdup (name), entry);
}

void
vireo_switch_registry_remove (const char *name)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&lock);

  g_hash_table_remove (table (), name);
}
