/* vireo-display.c — VireoDisplay, the widget: its properties, its size (fitted or 1:1 × zoom), and drawing
 * the guest's screen from vireo-frame.c's tiles over black with the keyboard hint on top.  The SPICE
 * session is vireo-display-session.c's, input vireo-display-input.c's. */
#include "vireo-display.h"
#include "vireo-display-private.h"

#include <glib/gi18n.h>
#include <math.h>

#define ZOOM_MIN 0.1
#define ZOOM_MAX 8.0

G_DEFINE_ENUM_TYPE (VireoDisplayState, vireo_display_state,
                    G_DEFINE_ENUM_VALUE (VIREO_DISPLAY_DISCONNECTED, "disconnected"),
                    G_DEFINE_ENUM_VALUE (VIREO_DISPLAY_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (VIREO_DISPLAY_CONNECTED, "connected"))

enum
{
  PROP_0,
  PROP_STATE,
  PROP_ERROR,
  PROP_GUEST_WIDTH,
  PROP_GUEST_HEIGHT,
  PROP_SCALE_TO_FIT,
  PROP_ZOOM,
  PROP_INTERACTIVE,
  PROP_KEYBOARD_GRABBED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (VireoDisplay, vireo_display, GTK_TYPE_WIDGET)

/* --- state --- */

void
vireo_display_update_state (VireoDisplay *self, VireoDisplayState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

void
vireo_display_update_error (VireoDisplay *self, const char *error)
{
  if (g_strcmp0 (self->error, error) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

void
vireo_display_update_guest_size (VireoDisplay *self, int width, int height)
{
  if (self->guest_width == width && self->guest_height == height)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  if (self->guest_width != width)
    {
      self->guest_width = width;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GUEST_WIDTH]);
    }
  if (self->guest_height != height)
    {
      self->guest_height = height;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GUEST_HEIGHT]);
    }
  g_object_thaw_notify (G_OBJECT (self));
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

void
vireo_display_get_layout (VireoDisplay *self, VireoFrameLayout *layout)
{
  GtkWidget *widget = GTK_WIDGET (self);

  vireo_frame_layout_init (layout, vireo_frame_get_width (self->frame), vireo_frame_get_height (self->frame),
                           gtk_widget_get_width (widget), gtk_widget_get_height (widget), self->scale_to_fit,
                           self->zoom);
}

/* --- accessors --- */

VireoDisplayState
vireo_display_get_state (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), VIREO_DISPLAY_DISCONNECTED);
  return self->state;
}

const char *
vireo_display_get_error (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), NULL);
  return self->error;
}

void
vireo_display_get_guest_size (VireoDisplay *self, int *width, int *height)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));
  if (width)
    *width = self->guest_width;
  if (height)
    *height = self->guest_height;
}

void
vireo_display_set_scale_to_fit (VireoDisplay *self, gboolean fit)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));
  fit = !!fit;
  if (self->scale_to_fit == fit)
    return;
  self->scale_to_fit = fit;
  self->have_pointer = FALSE;
  gtk_widget_queue_resize (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCALE_TO_FIT]);
}

gboolean
vireo_display_get_scale_to_fit (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), TRUE);
  return self->scale_to_fit;
}

void
vireo_display_set_zoom (VireoDisplay *self, double zoom)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));
  if (!isfinite (zoom))
    return;
  zoom = CLAMP (zoom, ZOOM_MIN, ZOOM_MAX);
  if (self->zoom == zoom)
    return;
  self->zoom = zoom;
  self->have_pointer = FALSE;
  gtk_widget_queue_resize (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
}

double
vireo_display_get_zoom (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), 1.0);
  return self->zoom;
}

void
vireo_display_set_interactive (VireoDisplay *self, gboolean interactive)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));
  interactive = !!interactive;
  if (self->interactive == interactive)
    return;
  if (!interactive)
    {
      vireo_display_release_keyboard (self);
      vireo_display_stop_typing (self);
    }
  self->interactive = interactive;
  gtk_widget_set_focusable (GTK_WIDGET (self), interactive);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_INTERACTIVE]);
}

GdkTexture *
vireo_display_get_screenshot (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), NULL);
  vireo_display_update_frame (self);
  return vireo_frame_to_texture (self->frame);
}

/* --- GtkWidget --- */

static void
vireo_display_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                       int *natural, int *minimum_baseline, int *natural_baseline)
{
  VireoDisplay *self = VIREO_DISPLAY (widget);
  int guest = orientation == GTK_ORIENTATION_HORIZONTAL ? self->guest_width : self->guest_height;

  if (self->scale_to_fit)
    {
      /* Any size will do; the guest's own is the one it looks best at. */
      *minimum = 0;
      *natural = guest;
    }
  else
    {
      /* 1:1 × zoom: all of it, so that a scrolled window around it can scroll. */
      *minimum = *natural = (int) MIN (round (guest * self->zoom), (double) G_MAXINT / 4);
    }
}

static void
vireo_display_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  VireoDisplay *self = VIREO_DISPLAY (widget);
  int min_width, nat_width, child_height, child_width;

  gtk_widget_measure (self->hint, GTK_ORIENTATION_HORIZONTAL, -1, &min_width, &nat_width, NULL, NULL);
  child_width = MAX (min_width, MIN (nat_width, width));
  gtk_widget_measure (self->hint, GTK_ORIENTATION_VERTICAL, child_width, &child_height, NULL, NULL, NULL);
  gtk_widget_size_allocate (self->hint,
                            &(GtkAllocation){ (width - child_width) / 2, 0, child_width, child_height }, -1);
  self->have_pointer = FALSE;
}

static void
vireo_display_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  VireoDisplay *self = VIREO_DISPLAY (widget);
  VireoFrameLayout layout;
  static const GdkRGBA black = { 0, 0, 0, 1 };

  /* Opaque black first: the letterbox, and what the tiles' pixels are drawn over. */
  gtk_snapshot_append_color (
      snapshot, &black,
      &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget), gtk_widget_get_height (widget)));
  vireo_display_update_frame (self);
  vireo_display_get_layout (self, &layout);
  vireo_frame_snapshot (self->frame, snapshot, &layout);
  gtk_widget_snapshot_child (widget, self->hint, snapshot);
}

static void
vireo_display_root (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (vireo_display_parent_class)->root (widget);
  vireo_display_input_root (VIREO_DISPLAY (widget));
}

static void
vireo_display_unroot (GtkWidget *widget)
{
  vireo_display_input_unroot (VIREO_DISPLAY (widget));
  GTK_WIDGET_CLASS (vireo_display_parent_class)->unroot (widget);
}

static void
vireo_display_dispose (GObject *object)
{
  VireoDisplay *self = VIREO_DISPLAY (object);

  vireo_display_close (self);
  g_clear_handle_id (&self->hint_source, g_source_remove);
  g_clear_pointer (&self->hint, gtk_widget_unparent);
  G_OBJECT_CLASS (vireo_display_parent_class)->dispose (object);
}

static void
vireo_display_finalize (GObject *object)
{
  VireoDisplay *self = VIREO_DISPLAY (object);

  g_clear_pointer (&self->frame, vireo_frame_free);
  g_clear_pointer (&self->channels, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  g_free (self->error);
  G_OBJECT_CLASS (vireo_display_parent_class)->finalize (object);
}

static void
vireo_display_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VireoDisplay *self = VIREO_DISPLAY (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    case PROP_GUEST_WIDTH:
      g_value_set_int (value, self->guest_width);
      break;
    case PROP_GUEST_HEIGHT:
      g_value_set_int (value, self->guest_height);
      break;
    case PROP_SCALE_TO_FIT:
      g_value_set_boolean (value, self->scale_to_fit);
      break;
    case PROP_ZOOM:
      g_value_set_double (value, self->zoom);
      break;
    case PROP_INTERACTIVE:
      g_value_set_boolean (value, self->interactive);
      break;
    case PROP_KEYBOARD_GRABBED:
      g_value_set_boolean (value, self->keyboard_grabbed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_display_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VireoDisplay *self = VIREO_DISPLAY (object);

  switch (prop_id)
    {
    case PROP_SCALE_TO_FIT:
      vireo_display_set_scale_to_fit (self, g_value_get_boolean (value));
      break;
    case PROP_ZOOM:
      vireo_display_set_zoom (self, g_value_get_double (value));
      break;
    case PROP_INTERACTIVE:
      vireo_display_set_interactive (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_display_class_init (VireoDisplayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = vireo_display_dispose;
  object_class->finalize = vireo_display_finalize;
  object_class->get_property = vireo_display_get_property;
  object_class->set_property = vireo_display_set_property;
  widget_class->measure = vireo_display_measure;
  widget_class->size_allocate = vireo_display_size_allocate;
  widget_class->snapshot = vireo_display_snapshot;
  widget_class->root = vireo_display_root;
  widget_class->unroot = vireo_display_unroot;

  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, VIREO_TYPE_DISPLAY_STATE,
                                              VIREO_DISPLAY_DISCONNECTED, ro);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, ro);
  properties[PROP_GUEST_WIDTH] = g_param_spec_int ("guest-width", NULL, NULL, 0, G_MAXINT, 0, ro);
  properties[PROP_GUEST_HEIGHT] = g_param_spec_int ("guest-height", NULL, NULL, 0, G_MAXINT, 0, ro);
  properties[PROP_SCALE_TO_FIT] = g_param_spec_boolean ("scale-to-fit", NULL, NULL, TRUE, rw);
  properties[PROP_ZOOM] = g_param_spec_double ("zoom", NULL, NULL, ZOOM_MIN, ZOOM_MAX, 1.0, rw);
  properties[PROP_INTERACTIVE] = g_param_spec_boolean ("interactive", NULL, NULL, TRUE, rw);
  properties[PROP_KEYBOARD_GRABBED] = g_param_spec_boolean ("keyboard-grabbed", NULL, NULL, FALSE, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "vireo-display");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
vireo_display_init (VireoDisplay *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  self->channels = g_ptr_array_new_with_free_func (g_object_unref);
  self->cancellable = g_cancellable_new ();
  self->frame = vireo_frame_new ();
  self->scale_to_fit = TRUE;
  self->zoom = 1.0;
  self->interactive = TRUE;
  self->retry_delay_ms = VIREO_DISPLAY_RETRY_FIRST_MS;
  g_queue_init (&self->typing);

  gtk_widget_set_focusable (widget, TRUE);
  gtk_widget_set_overflow (widget, GTK_OVERFLOW_HIDDEN);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, _ ("Machine display"),
                                  -1);

  vireo_display_input_init (self);
}

GtkWidget *
vireo_display_new (void)
{
  return g_object_new (VIREO_TYPE_DISPLAY, NULL);
}
