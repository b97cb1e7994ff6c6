/* vireo-display-input.c — VireoDisplay's input: keys as XT scancodes (vireo-keymap.c), the keyboard grab
 * (a capture controller on the toplevel, system shortcuts inhibited) and its left Ctrl+Alt release with
 * the hint that says so, typed text and Ctrl+Alt+Del paced for the guest's queue, and the absolute
 * pointer, buttons and wheel mapped through the letterbox. */
#include "vireo-display-private.h"
#include "vireo-keymap.h"

#include <glib/gi18n.h>
#include <math.h>

/* How long the release hint stays up after a grab. */
#define HINT_SECONDS 3
/* Typed text goes out in small batches: a guest's keyboard queue holds a few hundred events. */
#define TYPING_INTERVAL_MS 10
#define TYPING_BATCH       8
#define XT_CODES           VIREO_DISPLAY_XT_CODES
#define XT_LEFT_CTRL       0x1d
#define XT_LEFT_ALT        0x38
#define XT_LEFT_SHIFT      0x2a
#define XT_DELETE          0x153

/* --- keys --- */

static gboolean
is_pressed (VireoDisplay *self, guint xt)
{
  return xt < XT_CODES && (self->pressed[xt / 32] & (1u << (xt % 32))) != 0;
}

/* Whether a key other than @a and @b is down. */
static gboolean
other_keys_pressed (VireoDisplay *self, guint a, guint b)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->pressed); i++)
    {
      guint32 word = self->pressed[i];
      if (a / 32 == i)
        word &= ~(1u << (a % 32));
      if (b / 32 == i)
        word &= ~(1u << (b % 32));
      if (word != 0)
        return TRUE;
    }
  return FALSE;
}

static void
send_key (VireoDisplay *self, guint xt, gboolean pressed)
{
  if (!self->inputs_ready || xt == 0)
    return;
  if (xt == VIREO_XT_PAUSE)
    {
      /* The whole make-and-break sequence on the press, as the key itself sends it. */
      if (pressed)
        {
          spice_inputs_channel_key_press (self->inputs, VIREO_XT_PAUSE);
          spice_inputs_channel_key_press (self->inputs, 0x45);
          spice_inputs_channel_key_release (self->inputs, VIREO_XT_PAUSE);
          spice_inputs_channel_key_release (self->inputs, 0x45);
        }
      return;
    }
  if (xt >= XT_CODES)
    return;
  if (pressed)
    {
      spice_inputs_channel_key_press (self->inputs, xt);
      self->pressed[xt / 32] |= 1u << (xt % 32);
    }
  else
    {
      spice_inputs_channel_key_release (self->inputs, xt);
      self->pressed[xt / 32] &= ~(1u << (xt % 32));
    }
}

/* Lets go of every key the guest believes is down, so none is left stuck (and autorepeating). */
static void
release_all_keys (VireoDisplay *self)
{
  for (guint xt = 0; xt < XT_CODES; xt++)
    if (is_pressed (self, xt))
      send_key (self, xt, FALSE);
  memset (self->pressed, 0, sizeof self->pressed);
  self->release_armed = FALSE;
}

static void
hide_hint (VireoDisplay *self)
{
  g_clear_handle_id (&self->hint_source, g_source_remove);
  gtk_revealer_set_reveal_child (GTK_REVEALER (self->hint), FALSE);
}

static gboolean
hint_timeout (gpointer data)
{
  VireoDisplay *self = data;
  self->hint_source = 0;
  hide_hint (self);
  return G_SOURCE_REMOVE;
}

static void
show_hint (VireoDisplay *self)
{
  g_clear_handle_id (&self->hint_source, g_source_remove);
  gtk_revealer_set_reveal_child (GTK_REVEALER (self->hint), TRUE);
  self->hint_source = g_timeout_add_seconds (HINT_SECONDS, hint_timeout, self);
}

static gboolean
on_grab_key_pressed (GtkEventControllerKey *controller, guint keyval, guint keycode, GdkModifierType state,
                     VireoDisplay *self)
{
  return vireo_display_handle_key (self, keycode, TRUE);
}

static void
on_grab_key_released (GtkEventControllerKey *controller, guint keyval, guint keycode, GdkModifierType state,
                      VireoDisplay *self)
{
  vireo_display_handle_key (self, keycode, FALSE);
}

void
vireo_display_grab_keyboard (VireoDisplay *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkNative *native;
  GdkSurface *surface;

  g_return_if_fail (VIREO_IS_DISPLAY (self));

  if (self->keyboard_grabbed || !self->interactive || self->state != VIREO_DISPLAY_CONNECTED
      || self->root == NULL)
    return;

  /* Keys go to the guest before the window sees them: a capture controller added to the toplevel runs
   * ahead of the ones already there (application accelerators, mnemonics, focus keys). */
  self->grab_keys = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (self->grab_keys, GTK_PHASE_CAPTURE);
  gtk_event_controller_set_static_name (self->grab_keys, "vireo-display-grab");
  g_signal_connect (self->grab_keys, "key-pressed", G_CALLBACK (on_grab_key_pressed), self);
  g_signal_connect (self->grab_keys, "key-released", G_CALLBACK (on_grab_key_released), self);
  self->grab_root = self->root;
  gtk_widget_add_controller (self->grab_root, self->grab_keys);

  /* And before the desktop's shortcuts (Super, Alt+Tab), where the desktop lets us. */
  native = gtk_widget_get_native (widget);
  surface = native ? gtk_native_get_surface (native) : NULL;
  if (surface && GDK_IS_TOPLEVEL (surface))
    {
      self->inhibited = g_object_ref (GDK_TOPLEVEL (surface));
      gdk_toplevel_inhibit_system_shortcuts (self->inhibited, NULL);
    }

  /* Caps, Num and Scroll Lock as the host has them, so that typing gives what the keys say. */
  if (self->inputs_ready)
    {
      GdkSeat *seat = gdk_display_get_default_seat (gtk_widget_get_display (widget));
      GdkDevice *keyboard = seat ? gdk_seat_get_keyboard (seat) : NULL;

      if (keyboard)
        spice_inputs_channel_set_key_locks (
            self->inputs, (gdk_device_get_caps_lock_state (keyboard) ? SPICE_INPUTS_CAPS_LOCK : 0)
                              | (gdk_device_get_num_lock_state (keyboard) ? SPICE_INPUTS_NUM_LOCK : 0)
                              | (gdk_device_get_scroll_lock_state (keyboard) ? SPICE_INPUTS_SCROLL_LOCK : 0));
    }

  self->keyboard_grabbed = TRUE;
  self->release_armed = FALSE;
  show_hint (self);
  g_object_notify (G_OBJECT (self), "keyboard-grabbed");
}

void
vireo_display_release_keyboard (VireoDisplay *self)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));

  if (!self->keyboard_grabbed)
    return;
  release_all_keys (self);
  gtk_widget_remove_controller (self->grab_root, self->grab_keys);
  self->grab_keys = NULL;
  self->grab_root = NULL;
  if (self->inhibited)
    {
      gdk_toplevel_restore_system_shortcuts (self->inhibited);
      g_clear_object (&self->inhibited);
    }
  self->keyboard_grabbed = FALSE;
  hide_hint (self);
  g_object_notify (G_OBJECT (self), "keyboard-grabbed");
}

gboolean
vireo_display_get_keyboard_grabbed (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), FALSE);
  return self->keyboard_grabbed;
}

gboolean
vireo_display_handle_key (VireoDisplay *self, guint keycode, gboolean pressed)
{
  guint evdev, xt;

  g_return_val_if_fail (VIREO_IS_DISPLAY (self), FALSE);

  if (!self->keyboard_grabbed)
    return FALSE;
  /* Hardware keycodes on X11 and Wayland are evdev codes + 8. */
  evdev = keycode >= 8 ? keycode - 8 : 0;
  xt = vireo_keymap_evdev_to_xt (evdev);

  /* Left Ctrl+Alt pressed on their own and let go releases the keyboard; with another key in between
   * (Ctrl+Alt+Del, Ctrl+Alt+F2) they are the guest's. */
  if (!pressed && self->release_armed && (xt == XT_LEFT_CTRL || xt == XT_LEFT_ALT))
    {
      send_key (self, xt, FALSE);
      vireo_display_release_keyboard (self);
      return TRUE;
    }
  send_key (self, xt, pressed);
  if (pressed)
    self->release_armed = is_pressed (self, XT_LEFT_CTRL) && is_pressed (self, XT_LEFT_ALT)
                          && !other_keys_pressed (self, XT_LEFT_CTRL, XT_LEFT_ALT);
  return TRUE;
}

/* --- typed keys --- */

static gboolean
typing_tick (gpointer data)
{
  VireoDisplay *self = data;

  for (int i = 0; i < TYPING_BATCH && !g_queue_is_empty (&self->typing); i++)
    {
      guint event = GPOINTER_TO_UINT (g_queue_pop_head (&self->typing));
      send_key (self, event >> 1, event & 1);
    }
  if (!g_queue_is_empty (&self->typing))
    return G_SOURCE_CONTINUE;
  self->typing_source = 0;
  return G_SOURCE_REMOVE;
}

static void
queue_key (VireoDisplay *self, guint xt, gboolean pressed)
{
  g_queue_push_tail (&self->typing, GUINT_TO_POINTER (xt << 1 | (pressed ? 1 : 0)));
  if (self->typing_source == 0)
    self->typing_source = g_timeout_add (TYPING_INTERVAL_MS, typing_tick, self);
}

void
vireo_display_stop_typing (VireoDisplay *self)
{
  g_queue_clear (&self->typing);
  g_clear_handle_id (&self->typing_source, g_source_remove);
}

guint
vireo_display_type_text (VireoDisplay *self, const char *text)
{
  guint skipped = 0;
  gboolean send;

  g_return_val_if_fail (VIREO_IS_DISPLAY (self), 0);
  g_return_val_if_fail (text != NULL, 0);

  send = self->interactive && self->inputs_ready;
  for (const char *p = text; *p;)
    {
      gunichar c = g_utf8_get_char_validated (p, -1);
      guint evdev;
      gboolean shift;

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          /* Not UTF-8: one byte is one character the guest does not get. */
          skipped++;
          p++;
          continue;
        }
      p = g_utf8_next_char (p);
      if (c == '\r' && *p == '\n')
        continue; /* CR LF is one Enter */
      if (!vireo_keymap_char_to_evdev (c, &evdev, &shift))
        {
          skipped++;
          continue;
        }
      if (!send)
        continue;
      if (shift)
        queue_key (self, XT_LEFT_SHIFT, TRUE);
      queue_key (self, vireo_keymap_evdev_to_xt (evdev), TRUE);
      queue_key (self, vireo_keymap_evdev_to_xt (evdev), FALSE);
      if (shift)
        queue_key (self, XT_LEFT_SHIFT, FALSE);
    }
  return skipped;
}

void
vireo_display_send_ctrl_alt_del (VireoDisplay *self)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));

  if (!self->interactive || !self->inputs_ready)
    return;
  queue_key (self, XT_LEFT_CTRL, TRUE);
  queue_key (self, XT_LEFT_ALT, TRUE);
  queue_key (self, XT_DELETE, TRUE);
  queue_key (self, XT_DELETE, FALSE);
  queue_key (self, XT_LEFT_ALT, FALSE);
  queue_key (self, XT_LEFT_CTRL, FALSE);
}

/* --- pointer --- */

void
vireo_display_handle_motion (VireoDisplay *self, double x, double y)
{
  VireoFrameLayout layout;
  int gx, gy;

  g_return_if_fail (VIREO_IS_DISPLAY (self));

  if (!self->interactive || !self->inputs_ready || !self->have_surface)
    return;
  vireo_display_get_layout (self, &layout);
  /* Outside the picture the pointer stays at its edge, so the guest's pointer can reach it. */
  vireo_frame_layout_to_guest (&layout, x, y, &gx, &gy);
  if (layout.width <= 0 || layout.height <= 0)
    return;
  if (self->have_pointer && gx == self->pointer_x && gy == self->pointer_y)
    return;

  if (self->mouse_mode == SPICE_MOUSE_MODE_CLIENT)
    spice_inputs_channel_position (self->inputs, gx, gy, 0, (int) self->buttons);
  else if (self->have_pointer)
    spice_inputs_channel_motion (self->inputs, gx - self->pointer_x, gy - self->pointer_y,
                                 (int) self->buttons);
  self->have_pointer = TRUE;
  self->pointer_x = gx;
  self->pointer_y = gy;
}

static void
button_to_spice (guint button, int *spice_button, guint *mask)
{
  switch (button)
    {
    case GDK_BUTTON_PRIMARY:
      *spice_button = SPICE_MOUSE_BUTTON_LEFT;
      *mask = SPICE_MOUSE_BUTTON_MASK_LEFT;
      break;
    case GDK_BUTTON_MIDDLE:
      *spice_button = SPICE_MOUSE_BUTTON_MIDDLE;
      *mask = SPICE_MOUSE_BUTTON_MASK_MIDDLE;
      break;
    case GDK_BUTTON_SECONDARY:
      *spice_button = SPICE_MOUSE_BUTTON_RIGHT;
      *mask = SPICE_MOUSE_BUTTON_MASK_RIGHT;
      break;
    case 8:
      *spice_button = SPICE_MOUSE_BUTTON_SIDE;
      *mask = SPICE_MOUSE_BUTTON_MASK_SIDE;
      break;
    case 9:
      *spice_button = SPICE_MOUSE_BUTTON_EXTRA;
      *mask = SPICE_MOUSE_BUTTON_MASK_EXTRA;
      break;
    default:
      *spice_button = 0;
      *mask = 0;
      break;
    }
}

void
vireo_display_handle_button (VireoDisplay *self, guint button, gboolean pressed)
{
  int spice_button;
  guint mask;

  g_return_if_fail (VIREO_IS_DISPLAY (self));

  if (!self->interactive)
    return;
  if (pressed)
    {
      gtk_widget_grab_focus (GTK_WIDGET (self));
      vireo_display_grab_keyboard (self);
    }
  button_to_spice (button, &spice_button, &mask);
  if (!self->inputs_ready || spice_button == 0)
    return;
  /* SPICE wants the buttons held before the event. */
  if (pressed)
    {
      spice_inputs_channel_button_press (self->inputs, spice_button, (int) self->buttons);
      self->buttons |= mask;
    }
  else if (self->buttons & mask)
    {
      spice_inputs_channel_button_release (self->inputs, spice_button, (int) self->buttons);
      self->buttons &= ~mask;
    }
}

void
vireo_display_handle_scroll (VireoDisplay *self, double dy)
{
  int button = dy < 0 ? SPICE_MOUSE_BUTTON_UP : SPICE_MOUSE_BUTTON_DOWN;
  double notches = fabs (dy);

  g_return_if_fail (VIREO_IS_DISPLAY (self));

  if (!self->interactive || !self->inputs_ready || !isfinite (notches))
    return;
  /* A notch is a press and release of the wheel's button; a fast spin is a few of them. */
  for (int i = 0; i < (int) MIN (round (notches), 10); i++)
    {
      spice_inputs_channel_button_press (self->inputs, button, (int) self->buttons);
      spice_inputs_channel_button_release (self->inputs, button, (int) self->buttons);
    }
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, VireoDisplay *self)
{
  vireo_display_handle_motion (self, x, y);
}

static gboolean
on_legacy_event (GtkEventControllerLegacy *controller, GdkEvent *event, VireoDisplay *self)
{
  GdkEventType type = gdk_event_get_event_type (event);
  GtkWidget *widget = GTK_WIDGET (self);
  GtkNative *native;
  double x, y, nx, ny, wx, wy;

  if ((type != GDK_BUTTON_PRESS && type != GDK_BUTTON_RELEASE) || !self->interactive)
    return FALSE;

  /* Buttons go as they are pressed and released, each on its own (a click gesture would fold them
   * into clicks and drop releases after a drag).  The pointer is put where the event says first. */
  native = gtk_widget_get_native (widget);
  if (native && gdk_event_get_position (event, &x, &y))
    {
      gtk_native_get_surface_transform (native, &nx, &ny);
      if (gtk_widget_translate_coordinates (GTK_WIDGET (native), widget, x - nx, y - ny, &wx, &wy))
        vireo_display_handle_motion (self, wx, wy);
    }
  vireo_display_handle_button (self, gdk_button_event_get_button (event), type == GDK_BUTTON_PRESS);
  return TRUE;
}

static gboolean
on_scroll (GtkEventControllerScroll *controller, double dx, double dy, VireoDisplay *self)
{
  if (!self->interactive)
    return FALSE;
  vireo_display_handle_scroll (self, dy);
  return TRUE;
}

static void
on_focus_enter (GtkEventControllerFocus *controller, VireoDisplay *self)
{
  vireo_display_grab_keyboard (self);
}

static void
on_focus_leave (GtkEventControllerFocus *controller, VireoDisplay *self)
{
  vireo_display_release_keyboard (self);
}

static void
on_root_active (GtkWindow *window, GParamSpec *pspec, VireoDisplay *self)
{
  if (!gtk_window_is_active (window))
    vireo_display_release_keyboard (self);
  else if (gtk_widget_has_focus (GTK_WIDGET (self)))
    vireo_display_grab_keyboard (self);
}

gboolean
vireo_display_get_hint_visible (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), FALSE);
  return gtk_revealer_get_reveal_child (GTK_REVEALER (self->hint));
}

/* --- setting up --- */

void
vireo_display_input_init (VireoDisplay *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkEventController *controller;
  GtkWidget *label;

  controller = gtk_event_controller_motion_new ();
  g_signal_connect (controller, "enter", G_CALLBACK (on_motion), self);
  g_signal_connect (controller, "motion", G_CALLBACK (on_motion), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_legacy_new ();
  g_signal_connect (controller, "event", G_CALLBACK (on_legacy_event), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL
                                                | GTK_EVENT_CONTROLLER_SCROLL_DISCRETE);
  g_signal_connect (controller, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_focus_new ();
  g_signal_connect (controller, "enter", G_CALLBACK (on_focus_enter), self);
  g_signal_connect (controller, "leave", G_CALLBACK (on_focus_leave), self);
  gtk_widget_add_controller (widget, controller);

  /* The release combination, up for a moment after each grab. */
  label = gtk_label_new (_ ("Press Ctrl+Alt to release the keyboard"));
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_justify (GTK_LABEL (label), GTK_JUSTIFY_CENTER);
  gtk_widget_add_css_class (label, "app-notification");
  self->hint = gtk_revealer_new ();
  gtk_revealer_set_transition_type (GTK_REVEALER (self->hint), GTK_REVEALER_TRANSITION_TYPE_SLIDE_DOWN);
  gtk_revealer_set_child (GTK_REVEALER (self->hint), label);
  gtk_widget_set_can_target (self->hint, FALSE);
  gtk_widget_set_parent (self->hint, widget);
}

void
vireo_display_input_root (VireoDisplay *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (GTK_IS_WINDOW (root))
    {
      self->root = GTK_WIDGET (root);
      g_signal_connect (root, "notify::is-active", G_CALLBACK (on_root_active), self);
    }
}

void
vireo_display_input_unroot (VireoDisplay *self)
{
  vireo_display_release_keyboard (self);
  if (self->root)
    {
      g_signal_handlers_disconnect_by_func (self->root, on_root_active, self);
      self->root = NULL;
    }
}
