/* vireo-spinner.c — a busy indicator that turns only when the main loop has nothing else to do.
 *
 * GtkSpinner is a CSS animation: it asks the frame clock for every frame, and the frame clock paints at
 * GDK_PRIORITY_REDRAW.  Where a frame takes longer to render than a frame lasts (GTK's GL renderer on a
 * software rasterizer, a busy machine), the next paint is always due and sources of a lower priority never
 * run — among them every idle callback spice-client-glib uses to connect its channels and to deliver their
 * signals, so a window showing a spinner while it connects would never connect.  This one advances from a
 * timer below idle priority: it turns while the main loop is free and stands still while it is not. */
#include "vireo-spinner.h"

#include <math.h>

#define STEP_MS   50   /* 20 steps a second: smooth enough for a busy indicator, cheap to draw */
#define TURN_MS   1000 /* one full turn a second, as GtkSpinner */
#define ICON_NAME "process-working-symbolic"

struct _VireoSpinner
{
  GtkWidget parent_instance;

  guint step_source;
  double angle; /* degrees */
  gboolean spinning;
};

enum
{
  PROP_0,
  PROP_SPINNING,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (VireoSpinner, vireo_spinner, GTK_TYPE_WIDGET)

static gboolean
step (gpointer data)
{
  VireoSpinner *self = data;

  self->angle = fmod (self->angle + 360.0 * STEP_MS / TURN_MS, 360.0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return G_SOURCE_CONTINUE;
}

static void
update_stepping (VireoSpinner *self)
{
  gboolean want = vireo_spinner_get_spinning (self) && gtk_widget_get_mapped (GTK_WIDGET (self));

  if (want && self->step_source == 0)
    self->step_source = g_timeout_add_full (G_PRIORITY_LOW, STEP_MS, step, self, NULL);
  else if (!want)
    g_clear_handle_id (&self->step_source, g_source_remove);
}

gboolean
vireo_spinner_get_spinning (VireoSpinner *self)
{
  g_return_val_if_fail (VIREO_IS_SPINNER (self), FALSE);
  return self->spinning;
}

void
vireo_spinner_set_spinning (VireoSpinner *self, gboolean spinning)
{
  g_return_if_fail (VIREO_IS_SPINNER (self));
  if (!!spinning == self->spinning)
    return;
  self->spinning = !!spinning;
  update_stepping (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SPINNING]);
}

static void
vireo_spinner_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  VireoSpinner *self = VIREO_SPINNER (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  int size = MIN (width, height);
  g_autoptr (GtkIconPaintable) icon = NULL;
  GdkRGBA color;

  if (size <= 0 || !vireo_spinner_get_spinning (self))
    return;
  icon = gtk_icon_theme_lookup_icon (gtk_icon_theme_get_for_display (gtk_widget_get_display (widget)),
                                     ICON_NAME, NULL, size, gtk_widget_get_scale_factor (widget),
                                     gtk_widget_get_direction (widget), 0);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &color);
  G_GNUC_END_IGNORE_DEPRECATIONS

  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (width / 2.0f, height / 2.0f));
  gtk_snapshot_rotate (snapshot, (float) self->angle);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (-size / 2.0f, -size / 2.0f));
  gtk_symbolic_paintable_snapshot_symbolic (GTK_SYMBOLIC_PAINTABLE (icon), snapshot, size, size, &color, 1);
  gtk_snapshot_restore (snapshot);
}

static void
vireo_spinner_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                       int *natural, int *minimum_baseline, int *natural_baseline)
{
  *minimum = *natural = 16;
}

static void
vireo_spinner_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (vireo_spinner_parent_class)->map (widget);
  update_stepping (VIREO_SPINNER (widget));
}

static void
vireo_spinner_unmap (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (vireo_spinner_parent_class)->unmap (widget);
  update_stepping (VIREO_SPINNER (widget));
}

static void
vireo_spinner_dispose (GObject *object)
{
  g_clear_handle_id (&VIREO_SPINNER (object)->step_source, g_source_remove);
  G_OBJECT_CLASS (vireo_spinner_parent_class)->dispose (object);
}

static void
vireo_spinner_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_SPINNING:
      g_value_set_boolean (value, vireo_spinner_get_spinning (VIREO_SPINNER (object)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_spinner_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_SPINNING:
      vireo_spinner_set_spinning (VIREO_SPINNER (object), g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_spinner_class_init (VireoSpinnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = vireo_spinner_dispose;
  object_class->get_property = vireo_spinner_get_property;
  object_class->set_property = vireo_spinner_set_property;
  widget_class->snapshot = vireo_spinner_snapshot;
  widget_class->measure = vireo_spinner_measure;
  widget_class->map = vireo_spinner_map;
  widget_class->unmap = vireo_spinner_unmap;

  properties[PROP_SPINNING] = g_param_spec_boolean (
      "spinning", NULL, NULL, FALSE, G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Not "spinner": themes animate a checked spinner by CSS, which is what this widget must not do. */
  gtk_widget_class_set_css_name (widget_class, "vireo-spinner");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_PROGRESS_BAR);
}

static void
vireo_spinner_init (VireoSpinner *self)
{
}

GtkWidget *
vireo_spinner_new (void)
{
  return g_object_new (VIREO_TYPE_SPINNER, NULL);
}
