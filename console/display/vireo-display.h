/* vireo-display.h — VireoDisplay, our GTK 4 widget showing a machine's SPICE display (spice-client-glib only):
 * the guest's primary surface as tiled textures, scaled to fit (letterboxed) or 1:1, keyboard forwarded as
 * XT scancodes, absolute pointer (client mouse mode), system shortcuts inhibited while it has the keyboard. */
#pragma once

#include <gtk/gtk.h>

#include "vireo-dbus-generated.h"
#include "vireo-stream.h"

G_BEGIN_DECLS

#define VIREO_TYPE_DISPLAY (vireo_display_get_type ())
G_DECLARE_FINAL_TYPE (VireoDisplay, vireo_display, VIREO, DISPLAY, GtkWidget)

typedef enum
{
  VIREO_DISPLAY_DISCONNECTED,
  VIREO_DISPLAY_CONNECTING,
  VIREO_DISPLAY_CONNECTED, /* the guest's surface is being shown */
} VireoDisplayState;

#define VIREO_TYPE_DISPLAY_STATE (vireo_display_state_get_type ())
GType vireo_display_state_get_type (void);

GtkWidget *vireo_display_new (void);

/* Connects to @machine's display, one stream per SPICE channel, each from @streams (the machine's host: on
 * this computer, Machine.OpenDisplay; elsewhere, through ssh), or when NULL from Machine.OpenDisplay on the
 * machine's own bus.  While the machine stays running or paused, a lost connection (a guest reboot starts a
 * new display server) is re-opened by itself. */
void vireo_display_open_machine (VireoDisplay *self, VireoDBusMachine *machine, VireoStreamSource *streams);
/* Connects to a SPICE unix socket, e.g. vireo-run --display spice:PATH. */
void vireo_display_open_path (VireoDisplay *self, const char *socket_path);
/* Connects through @open, called for every connection the SPICE session needs (one per channel): it
 * starts a GTask on @callback whose result (g_task_propagate_int) is a connected socket's fd, which the
 * display then owns, or an error the display shows — e.g. a libvirt domain's virDomainOpenGraphicsFD.
 * @destroy frees @data when the display closes. */
typedef void (*VireoDisplayOpenFunc) (gpointer data, GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
void vireo_display_open_with (VireoDisplay *self, VireoDisplayOpenFunc open, gpointer data,
                              GDestroyNotify destroy);
void vireo_display_close (VireoDisplay *self);

/* "state" property; "error" says why the last connection failed or ended, or NULL. */
VireoDisplayState vireo_display_get_state (VireoDisplay *self);
const char *vireo_display_get_error (VireoDisplay *self);
/* The guest's screen size, 0×0 before the first surface ("guest-width", "guest-height" properties). */
void vireo_display_get_guest_size (VireoDisplay *self, int *width, int *height);

/* "scale-to-fit" (default TRUE: letterboxed to the widget) or 1:1 × "zoom" (default 1.0) */
void vireo_display_set_scale_to_fit (VireoDisplay *self, gboolean fit);
gboolean vireo_display_get_scale_to_fit (VireoDisplay *self);
void vireo_display_set_zoom (VireoDisplay *self, double zoom);
double vireo_display_get_zoom (VireoDisplay *self);

/* "interactive" (default TRUE): FALSE makes a read-only view, e.g. a thumbnail, that sends no input. */
void vireo_display_set_interactive (VireoDisplay *self, gboolean interactive);

/* "keyboard-grabbed": TRUE while keys go to the guest; Ctrl+Alt (left) releases it.  The window shows a
 * hint with the release combination while grabbed. */
gboolean vireo_display_get_keyboard_grabbed (VireoDisplay *self);
void vireo_display_release_keyboard (VireoDisplay *self);

/* Presses then releases Ctrl+Alt+Del in the guest. */
void vireo_display_send_ctrl_alt_del (VireoDisplay *self);
/* Types @text into the guest as key presses (US layout; characters it has no key for are skipped and
 * counted in the return value). */
guint vireo_display_type_text (VireoDisplay *self, const char *text);
/* The guest's screen as it is now, at its own size; NULL before the first surface. */
GdkTexture *vireo_display_get_screenshot (VireoDisplay *self);

G_END_DECLS
