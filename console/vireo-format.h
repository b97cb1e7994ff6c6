/* vireo-format.h — how the app words machine facts for people: memory sizes, uptimes, states, CPU use. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "512 MiB", "2 GiB", "1.5 GiB" */
char *vireo_format_memory (guint64 mib);
/* "42 seconds", "3 minutes", "1:02:03" ... "—" for 0 */
char *vireo_format_uptime (guint64 seconds);
/* "Running", "Off", "Saved" ... for a Machine.State value; unknown values come back as they are. */
const char *vireo_format_state (const char *state);
/* The symbolic icon for a state. */
const char *vireo_format_state_icon (const char *state);
/* "12 %" of the machine's processors, or "—" when the machine is not running. */
char *vireo_format_cpu_usage (double percent, guint vcpus, const char *state);

/* What a state allows: the app's actions follow these. */
gboolean vireo_state_is_active (const char *state); /* running or paused: it has a process */
gboolean vireo_state_can_start (const char *state); /* off, saved or crashed */

G_END_DECLS
