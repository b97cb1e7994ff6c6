/* vireo-libvirt-page.h — the manager window's content for a libvirt host: its domains with their state and
 * the actions that apply to it (start, pause, resume, shut down, force off, connect to the display), or
 * why the host cannot be reached. */
#pragma once

#include <adwaita.h>

#include "vireo-libvirt-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_LIBVIRT_PAGE (vireo_libvirt_page_get_type ())
G_DECLARE_FINAL_TYPE (VireoLibvirtPage, vireo_libvirt_page, VIREO, LIBVIRT_PAGE, AdwBin)

GtkWidget *vireo_libvirt_page_new (VireoLibvirtHost *host);
VireoLibvirtHost *vireo_libvirt_page_get_host (VireoLibvirtPage *self);
/* The display window the page opened for the domain ("libvirt.connect"), or NULL. */
GtkWindow *vireo_libvirt_page_get_display_window (VireoLibvirtPage *self, const char *uuid);

G_END_DECLS
