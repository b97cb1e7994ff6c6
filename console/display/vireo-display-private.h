/* vireo-display-private.h — VireoDisplay's insides, shared by its three files (vireo-display.c: the widget
 * and its picture; vireo-display-session.c: the SPICE session and reconnection; vireo-display-input.c:
 * keyboard, pointer and typing), and its input paths as the tests drive them: the same functions a real
 * key or click goes through. */
#pragma once

#include <spice-client.h>

#include "vireo-display.h"
#include "vireo-frame.h"

G_BEGIN_DECLS

/* XT scancodes in SPICE's spelling go up to 0x1ff (0x100 | code); Pause is sent as its parts. */
#define VIREO_DISPLAY_XT_CODES 0x200
/* The first retry after a lost connection. */
#define VIREO_DISPLAY_RETRY_FIRST_MS 250

struct _VireoDisplay
{
  GtkWidget parent_instance;

  /* The connection. */
  SpiceSession *session;
  GPtrArray *channels; /* every channel of the session, with our handlers on it */
  SpiceMainChannel *main;
  SpiceDisplayChannel *display;
  SpiceInputsChannel *inputs;
  gboolean inputs_ready;
  gboolean asked_client_mouse;
  int mouse_mode;
  gboolean session_failed;    /* this session already said why it ended */
  VireoDBusMachine *machine;  /* open_machine()'s, or NULL */
  VireoStreamSource *streams; /* where the machine's connections come from, or NULL: its own bus */
  gboolean machine_was_up;
  char *socket_path;              /* open_path()'s, or NULL */
  VireoDisplayOpenFunc open_func; /* open_with()'s, or NULL */
  gpointer open_data;
  GDestroyNotify open_destroy;
  GCancellable *cancellable; /* D-Bus calls for the current session */
  guint retry_source;
  guint retry_delay_ms;
  VireoDisplayState state;
  char *error;

  /* The picture. */
  VireoFrame *frame;
  gboolean have_surface; /* the display channel has a primary surface to update the frame from */
  gboolean picture_seen; /* the server drew into that surface (display-invalidate or -mark) */
  guint settle_source;   /* re-reads a new surface until its first picture has come */
  guint settle_ticks;
  guint settle_reconnects; /* reconnections because a new surface stayed without a picture */
  int guest_width;
  int guest_height;
  gboolean scale_to_fit;
  double zoom;

  /* Input. */
  gboolean interactive;
  gboolean keyboard_grabbed;
  GtkEventController *grab_keys; /* on the toplevel while grabbed, ahead of the window's shortcuts */
  GtkWidget *grab_root;
  GdkToplevel *inhibited; /* whose system shortcuts we inhibit */
  GtkWidget *root;        /* the root we watch for activation */
  guint32 pressed[VIREO_DISPLAY_XT_CODES / 32];
  gboolean release_armed; /* left Ctrl and left Alt are down and nothing else was pressed */
  guint buttons;          /* SPICE_MOUSE_BUTTON_MASK_* held */
  gboolean have_pointer;
  int pointer_x;
  int pointer_y;
  GQueue typing; /* XT code << 1 | pressed, waiting to be sent */
  guint typing_source;

  GtkWidget *hint; /* a GtkRevealer over the top of the screen */
  guint hint_source;
};

/* vireo-display.c: the properties' setters, which notify. */
void vireo_display_update_state (VireoDisplay *self, VireoDisplayState state);
void vireo_display_update_error (VireoDisplay *self, const char *error);
void vireo_display_update_guest_size (VireoDisplay *self, int width, int height);

/* vireo-display-session.c: brings the frame up to date with the display channel's surface. */
void vireo_display_update_frame (VireoDisplay *self);

/* vireo-display-input.c: the event controllers and the hint (from init), the toplevel watched for
 * activation (from root/unroot), and typing stopped. */
void vireo_display_input_init (VireoDisplay *self);
void vireo_display_input_root (VireoDisplay *self);
void vireo_display_input_unroot (VireoDisplay *self);
void vireo_display_stop_typing (VireoDisplay *self);

/* A key event as GtkEventControllerKey reports it: @keycode is the hardware keycode (evdev + 8 on X11
 * and Wayland).  TRUE when the guest took it (the keyboard is grabbed). */
gboolean vireo_display_handle_key (VireoDisplay *self, guint keycode, gboolean pressed);
/* The pointer at widget point (@x, @y). */
void vireo_display_handle_motion (VireoDisplay *self, double x, double y);
/* GDK button @button (1 left, 2 middle, 3 right, 8 back, 9 forward) pressed or released where the pointer
 * last was; a press also grabs the keyboard. */
void vireo_display_handle_button (VireoDisplay *self, guint button, gboolean pressed);
/* Wheel notches: negative up, positive down. */
void vireo_display_handle_scroll (VireoDisplay *self, double dy);
/* Grabs the keyboard as a click or focus does (nothing while not connected or not interactive). */
void vireo_display_grab_keyboard (VireoDisplay *self);

/* Where the guest's screen is in the widget now. */
void vireo_display_get_layout (VireoDisplay *self, VireoFrameLayout *layout);
/* Whether the "Press Ctrl+Alt to release the keyboard" hint is up. */
gboolean vireo_display_get_hint_visible (VireoDisplay *self);
/* The SPICE mouse mode the server is in (SPICE_MOUSE_MODE_SERVER 1 or _CLIENT 2), 0 without one. */
int vireo_display_get_mouse_mode (VireoDisplay *self);
/* Whether the inputs channel is open, so that input reaches the guest. */
gboolean vireo_display_get_inputs_ready (VireoDisplay *self);

G_END_DECLS
