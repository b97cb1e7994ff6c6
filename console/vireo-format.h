/* vireo-format.h — how the app words machine facts for people: memory sizes, uptimes, states, CPU use,
 * guest addresses. */
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
/* The guest's addresses as the details pane shows them ("10.0.2.15", "10.0.2.15, 192.168.1.20"); NULL when
 * there are none (the guest has no lease yet, or the machine is off). */
char *vireo_format_guest_addresses (const char *const *addresses);
/* "IP address" or "IP addresses": the title of the row that shows them. */
const char *vireo_format_address_title (guint n_addresses);

/* When a checkpoint was taken (@usec since the epoch), in local time: "2026-12-07 14:03:21". */
char *vireo_format_checkpoint_time (guint64 usec);
/* What a checkpoint holds, from its Kind, HasState and Consistency: "Standard, with memory",
 * "Production, application-consistent", "Production, crash-consistent". */
char *vireo_format_checkpoint_kind (const char *kind, gboolean has_state, const char *consistency);

/* What a state allows: the app's actions follow these. */
gboolean vireo_state_is_active (const char *state); /* running or paused: it has a process */
gboolean vireo_state_can_start (const char *state); /* off, saved or crashed */

G_END_DECLS
