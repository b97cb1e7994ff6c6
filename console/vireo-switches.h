/* vireo-switches.h — a service's virtual switches as the app sees them: the org.vireo.Vireo1.Switch objects
 * its object manager lists, their facts in words, and the Linux bridges an external switch may use. */
#pragma once

#include <gio/gio.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_SWITCH_INTERFACE "org.vireo.Vireo1.Switch"
/* The switch every machine's adapter is on unless it names another (the service's built-in NAT switch). */
#define VIREO_DEFAULT_SWITCH "Default Switch"

/* The switches of @host, as GDBusProxy, the built-in one first and the rest by name; empty while the service
 * is not running. */
GPtrArray *vireo_switches_list (VireoHost *host);
/* The switch of @host called @name, or NULL. */
GDBusProxy *vireo_switches_find (VireoHost *host, const char *name);
/* A switch's properties, "" (FALSE) when the service did not give them. */
const char *vireo_switch_get_name (GDBusProxy *proxy);
const char *vireo_switch_get_kind (GDBusProxy *proxy);
const char *vireo_switch_get_bridge (GDBusProxy *proxy);
gboolean vireo_switch_is_builtin (GDBusProxy *proxy);
/* "NAT", "External", "Private" for a Kind; unknown kinds come back as they are. */
const char *vireo_switch_kind_label (const char *kind);
/* What a machine on a switch of @kind (on @bridge) reaches, as a sentence. */
char *vireo_switch_describe (const char *kind, const char *bridge);
/* The Linux bridges of this computer (/sys/class/net/<name>/bridge), sorted. */
GStrv vireo_switches_host_bridges (void);

/* Calls @callback whenever a switch of @host comes or goes (and when the service comes back); the
 * connection lives as long as @owner.  Returns nothing to undo: the handlers are tied to @owner. */
void vireo_switches_watch (VireoHost *host, GObject *owner, GCallback callback);

G_END_DECLS
