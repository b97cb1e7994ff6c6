/* switch-registry.h — the virtual switches a NIC may name: a table of name → kind and bridge that vireod
 * fills (switches.c) and that the settings and the libvirt XML parser read, also from threads (an import
 * parses in one).  The Default Switch (kind "nat") is always there. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Whether switch @name exists; then its kind ("nat", "external", "private") and bridge ("" for nat),
 * newly allocated, in @kind and @bridge when they are not NULL. */
gboolean vireo_switch_registry_lookup (const char *name, char **kind, char **bridge);
/* The name of the switch on Linux bridge @bridge, or NULL. */
char *vireo_switch_registry_find_bridge (const char *bridge);
/* Adds or replaces switch @name. */
void vireo_switch_registry_add (const char *name, const char *kind, const char *bridge);
void vireo_switch_registry_remove (const char *name);

G_END_DECLS
