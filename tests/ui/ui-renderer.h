/* ui-renderer.h — the ui tests render with the renderer run-ui-test.sh chose (VIREO_UI_RENDERER): GTK
 * falling back to another one silently would test what users do not get. */
#pragma once

#include <gtk/gtk.h>

static inline GskRenderer *
vireo_ui_renderer (GtkWidget *widget)
{
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  const char *expected = g_getenv ("VIREO_UI_RENDERER");

  g_assert_nonnull (renderer);
  if (expected)
    g_assert_cmpstr (G_OBJECT_TYPE_NAME (renderer), ==, expected);
  return renderer;
}
