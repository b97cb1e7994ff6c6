/* vireo-libvirt-display.h — the window showing a libvirt domain's SPICE display in the app's own display
 * widget (VireoDisplay), or saying why it cannot: no SPICE graphics, not running, unreachable. */
#pragma once

#include <adwaita.h>

#include "vireo-display.h"
#include "vireo-libvirt-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_LIBVIRT_DISPLAY (vireo_libvirt_display_get_type ())
G_DECLARE_FINAL_TYPE (VireoLibvirtDisplay, vireo_libvirt_display, VIREO, LIBVIRT_DISPLAY, AdwWindow)

/* Reads the domain's graphics (asynchronously) and connects while the domain runs. */
GtkWindow *vireo_libvirt_display_new (VireoLibvirtDomain *domain);

VireoLibvirtDomain *vireo_libvirt_display_get_domain (VireoLibvirtDisplay *self);
VireoDisplay *vireo_libvirt_display_get_display (VireoLibvirtDisplay *self);
/* What the window says instead of the display, or NULL while it shows the display. */
const char *vireo_libvirt_display_get_message (VireoLibvirtDisplay *self);

/* Where the SPICE server of @graphics_xml (<graphics type='spice' …>) listens as its host sees it: the
 * listen address (attribute or <listen address=…/>), or 127.0.0.1 for none or a wildcard (0.0.0.0, ::).
 * Exposed for the tests. */
char *vireo_libvirt_display_listen_address (const char *graphics_xml);

G_END_DECLS
