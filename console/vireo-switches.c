/* vireo-switches.c — a service's virtual switches as the app sees them: read from the object manager's
 * org.vireo.Vireo1.Switch objects through plain proxies (their properties are all the app needs), worded for
 * people, and the host's Linux bridges for an external switch. */
#include "vireo-switches.h"

#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>

static int
compare_switches (gconstpointer a, gconstpointer b)
{
  GDBusProxy *left = *(GDBusProxy **) a;
  GDBusProxy *right = *(GDBusProxy **) b;

  /* The Default Switch first: it is what new adapters use. */
  if (vireo_switch_is_builtin (left) != vireo_switch_is_builtin (right))
    return vireo_switch_is_builtin (left) ? -1 : 1;
  return g_utf8_collate (vireo_switch_get_name (left), vireo_switch_get_name (right));
}

GPtrArray *
vireo_switches_list (VireoHost *host)
{
  GPtrArray *switches = g_ptr_array_new_with_free_func (g_object_unref);
  GDBusObjectManager *objects = host ? vireo_host_get_objects (host) : NULL;
  GList *list;

  if (objects == NULL)
    return switches;
  list = g_dbus_object_manager_get_objects (objects);
  for (GList *l = list; l != NULL; l = l->next)
    {
      GDBusInterface *iface = g_dbus_object_get_interface (l->data, VIREO_SWITCH_INTERFACE);

      if (iface != NULL && G_IS_DBUS_PROXY (iface))
        g_ptr_array_add (switches, iface);
      else
        g_clear_object (&iface);
    }
  g_list_free_full (list, g_object_unref);
  g_ptr_array_sort (switches, compare_switches);
  return switches;
}

GDBusProxy *
vireo_switches_find (VireoHost *host, const char *name)
{
  g_autoptr (GPtrArray) switches = vireo_switches_list (host);

  for (guint i = 0; i < switches->len; i++)
    if (g_str_equal (vireo_switch_get_name (g_ptr_array_index (switches, i)), name))
      return g_object_ref (g_ptr_array_index (switches, i));
  return NULL;
}

/* The cached string property @name; the proxy holds the value, so the string lives as long as it does. */
static const char *
string_property (GDBusProxy *proxy, const char *name)
{
  g_autoptr (GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);

  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return "";
  /* Interned: the proxy may replace its cached value while the caller still holds the string. */
  return g_intern_string (g_variant_get_string (value, NULL));
}

const char *
vireo_switch_get_name (GDBusProxy *proxy)
{
  return string_property (proxy, "Name");
}

const char *
vireo_switch_get_kind (GDBusProxy *proxy)
{
  return string_property (proxy, "Kind");
}

const char *
vireo_switch_get_bridge (GDBusProxy *proxy)
{
  return string_property (proxy, "Bridge");
}

gboolean
vireo_switch_is_builtin (GDBusProxy *proxy)
{
  g_autoptr (GVariant) value = g_dbus_proxy_get_cached_property (proxy, "Builtin");

  return value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN)
         && g_variant_get_boolean (value);
}

const char *
vireo_switch_kind_label (const char *kind)
{
  if (g_strcmp0 (kind, "nat") == 0)
    /* Translators: a virtual switch that shares the computer's connection through address translation. */
    return _ ("NAT");
  if (g_strcmp0 (kind, "external") == 0)
    /* Translators: a virtual switch on an existing Linux bridge, with the computer's network. */
    return _ ("External");
  if (g_strcmp0 (kind, "private") == 0)
    /* Translators: a virtual switch that connects machines only with each other. */
    return _ ("Private");
  return kind ? kind : "";
}

char *
vireo_switch_describe (const char *kind, const char *bridge)
{
  if (g_strcmp0 (kind, "nat") == 0)
    return g_strdup (_ ("Shares this computer’s connection; other computers do not see the machine"));
  if (g_strcmp0 (kind, "external") == 0)
    /* Translators: %s is the name of a Linux bridge, e.g. "br0". */
    return g_strdup_printf (_ ("On the network of the bridge %s, as a computer of its own"), bridge);
  if (g_strcmp0 (kind, "private") == 0)
    return g_strdup (_ ("Only machines on this switch see each other"));
  return g_strdup ("");
}

/* qsort's order of a strv: it hands over pointers to the strings. */
static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

GStrv
vireo_switches_host_bridges (void)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr (GDir) dir = g_dir_open ("/sys/class/net", 0, NULL);
  const char *name;
  GStrv bridges;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *bridge = g_build_filename ("/sys/class/net", name, "bridge", NULL);

      if (g_file_test (bridge, G_FILE_TEST_IS_DIR))
        g_strv_builder_add (builder, name);
    }
  bridges = g_strv_builder_end (builder);
  qsort (bridges, g_strv_length (bridges), sizeof (char *), compare_names);
  return bridges;
}

typedef struct
{
  GObject *owner; /* the watch is its data: it lives as long as the owner */
  GCallback callback;
  GWeakRef host;
  gulong manager_handler;
  GDBusObjectManager *objects; /* the one the handlers are on */
} Watch;

static void
watch_fire (Watch *watch)
{
  ((void (*) (GObject *)) watch->callback) (watch->owner);
}

static void
on_objects_changed (GDBusObjectManager *objects, GDBusObject *object, Watch *watch)
{
  g_autoptr (GDBusInterface) iface = g_dbus_object_get_interface (object, VIREO_SWITCH_INTERFACE);

  if (iface != NULL)
    watch_fire (watch);
}

static void
on_interface_added (GDBusObjectManager *objects, GDBusObject *object, GDBusInterface *iface, Watch *watch)
{
  on_objects_changed (objects, object, watch);
}

static void
on_switch_properties (GDBusObjectManagerClient *objects, GDBusObjectProxy *object, GDBusProxy *proxy,
                      GVariant *changed, GStrv invalidated, Watch *watch)
{
  if (g_str_equal (g_dbus_proxy_get_interface_name (proxy), VIREO_SWITCH_INTERFACE))
    watch_fire (watch);
}

static void
forget_objects (Watch *watch)
{
  if (watch->objects != NULL)
    g_signal_handlers_disconnect_by_data (watch->objects, watch);
  g_clear_object (&watch->objects);
}

/* The service came or went: its switches are on a new object manager, or gone. */
static void
on_manager_changed (VireoHost *host, GParamSpec *pspec, Watch *watch)
{
  GDBusObjectManager *objects = vireo_host_get_objects (host);

  forget_objects (watch);
  if (objects != NULL)
    {
      watch->objects = g_object_ref (objects);
      g_signal_connect (objects, "object-added", G_CALLBACK (on_objects_changed), watch);
      g_signal_connect (objects, "object-removed", G_CALLBACK (on_objects_changed), watch);
      g_signal_connect (objects, "interface-added", G_CALLBACK (on_interface_added), watch);
      if (G_IS_DBUS_OBJECT_MANAGER_CLIENT (objects))
        g_signal_connect (objects, "interface-proxy-properties-changed", G_CALLBACK (on_switch_properties),
                          watch);
    }
  watch_fire (watch);
}

static void
watch_free (gpointer data)
{
  Watch *watch = data;
  g_autoptr (VireoHost) host = g_weak_ref_get (&watch->host);

  if (host != NULL)
    g_signal_handler_disconnect (host, watch->manager_handler);
  forget_objects (watch);
  g_weak_ref_clear (&watch->host);
  g_free (watch);
}

void
vireo_switches_watch (VireoHost *host, GObject *owner, GCallback callback)
{
  Watch *watch = g_new0 (Watch, 1);

  watch->owner = owner;
  watch->callback = callback;
  g_weak_ref_init (&watch->host, host);
  watch->manager_handler = g_signal_connect (host, "notify::manager", G_CALLBACK (on_manager_changed), watch);
  /* One watch per owner: a second replaces the first. */
  g_object_set_data_full (owner, "vireo-switches-watch", watch, watch_free);
  on_manager_changed (host, NULL, watch);
}
