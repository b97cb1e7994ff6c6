/* vireo-serial-console.h — a machine's serial console (COM1) in a terminal, over its host's serial stream. */
#pragma once

#include <adwaita.h>
#include <vte/vte.h>

#include "vireo-dbus-generated.h"
#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SERIAL_CONSOLE (vireo_serial_console_get_type ())
G_DECLARE_FINAL_TYPE (VireoSerialConsole, vireo_serial_console, VIREO, SERIAL_CONSOLE, AdwBin)

/* The machine whose console this shows, and the host it is on (which opens its streams); both or neither.
 * Changing it closes the console. */
void vireo_serial_console_set_machine (VireoSerialConsole *self, VireoHost *host, VireoDBusMachine *machine);
/* Opens the console if the machine runs and it is not open (or opening) already; retried while it runs. */
void vireo_serial_console_open (VireoSerialConsole *self);
/* Closes the console; what the terminal shows stays. */
void vireo_serial_console_close (VireoSerialConsole *self);
/* Whether the console is connected: what is sent now reaches the guest. */
gboolean vireo_serial_console_is_open (VireoSerialConsole *self);
/* Writes @length bytes of @text to the guest, after what is queued already; dropped while closed. */
void vireo_serial_console_send (VireoSerialConsole *self, const char *text, gsize length);

G_END_DECLS
