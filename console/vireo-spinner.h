/* vireo-spinner.h — a busy indicator that turns only when the main loop has nothing else to do. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define VIREO_TYPE_SPINNER (vireo_spinner_get_type ())
G_DECLARE_FINAL_TYPE (VireoSpinner, vireo_spinner, VIREO, SPINNER, GtkWidget)

GtkWidget *vireo_spinner_new (void);
void vireo_spinner_set_spinning (VireoSpinner *self, gboolean spinning);
gboolean vireo_spinner_get_spinning (VireoSpinner *self);

G_END_DECLS
