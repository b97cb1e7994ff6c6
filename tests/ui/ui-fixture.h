/* ui-fixture.h — what the ui suite's programs share: a private session bus with the real vireod --session on
 * it, the Vireo app running in the test process against it, and helpers to wait, render and create machines. */
#pragma once

#include <adwaita.h>

#include "test-util.h"
#include "vireo-application.h"
#include "vireo-window.h"

typedef struct
{
  char *base;        /* the program's temporary folder */
  char *storage;     /* vireod --storage */
  char *runtime_dir; /* XDG_RUNTIME_DIR of vireod and its workers */
  GTestDBus *bus;
  GDBusConnection *connection; /* the test's own connection, for checking what the service says */
  GSubprocess *vireod;
  VireoApplication *app;
  VireoHost *host;     /* the app's session host */
  VireoWindow *window; /* the app's manager window */
} VireoUiFixture;

/* Parses the test options, brings up the bus and vireod, starts the app and shows its window.  Returns FALSE
 * when there is no display or no /dev/kvm, having printed a TAP plan that skips the program and says why. */
gboolean vireo_ui_init (VireoUiFixture *f, int *argc, char ***argv);
/* Ends the app, the machines, vireod and the bus, and removes the temporary folder. */
void vireo_ui_cleanup (VireoUiFixture *f);

void vireo_ui_start_vireod (VireoUiFixture *f);
/* SIGTERM, as systemd stops it; the machines' workers keep running. */
void vireo_ui_stop_vireod (VireoUiFixture *f);

/* Runs the main loop until @condition holds, at most @seconds; returns the condition. */
gboolean vireo_ui_wait (VireoTestCondition condition, gpointer data, unsigned seconds);
/* Runs the main loop for @ms milliseconds (for UI work that follows a change). */
void vireo_ui_spin (unsigned ms);

/* Defines a machine through the service (not the app) from a test guest, e.g. "demo"; returns its path. */
char *vireo_ui_create_machine (VireoUiFixture *f, const char *name, const char *guest, gboolean display);
/* The machine's state as the service reports it now. */
char *vireo_ui_machine_state (VireoUiFixture *f, const char *object_path);
/* The machine's Settings as the service reports them now, asked on the test's own connection (not the app's
 * proxy, which could show what the app expects). */
GVariant *vireo_ui_machine_settings (VireoUiFixture *f, const char *object_path);
/* Waits for the app's host to list the machine at @object_path. */
gboolean vireo_ui_wait_for_listed (VireoUiFixture *f, const char *object_path, unsigned seconds);
/* Calls a Machine method without arguments (e.g. "Start", "TurnOff"); asserts it succeeded. */
void vireo_ui_machine_call (VireoUiFixture *f, const char *object_path, const char *method);
/* Waits for the machine to report @state. */
gboolean vireo_ui_wait_for_state (VireoUiFixture *f, const char *object_path, const char *state,
                                  unsigned seconds);
/* Everything the machine wrote to its serial port so far (through Machine.OpenSerial). */
char *vireo_ui_serial_output (VireoUiFixture *f, const char *object_path);

/* Renders @widget as it is on screen now; saved to $VIREO_UI_SCREENSHOTS/<name>.png (meson test: <builddir>/tests/ui/screenshots) when
 * @name is not NULL. */
GdkTexture *vireo_ui_render (GtkWidget *widget, const char *name);
/* The pixel (x, y) of @texture as 0xRRGGBB. */
guint32 vireo_ui_pixel (GdkTexture *texture, int x, int y);

/* The first mapped GtkLabel under @root whose text contains @text, or NULL: what a user can read there. */
GtkWidget *vireo_ui_find_label (GtkWidget *root, const char *text);
/* Waits until vireo_ui_find_label() finds @text under @root. */
gboolean vireo_ui_wait_for_label (GtkWidget *root, const char *text, unsigned seconds);
/* @root or the first widget under it named @name (gtk_widget_set_name), or NULL. */
GtkWidget *vireo_ui_find_named (GtkWidget *root, const char *name);
/* @root or the first mapped widget under it of type @type (a display, a page), or NULL. */
GtkWidget *vireo_ui_find_mapped_type (GtkWidget *root, GType type);
/* The shown toplevel named @name (a dialog the app opened), or NULL. */
GtkWindow *vireo_ui_find_window (const char *name);
