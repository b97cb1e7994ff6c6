/* vireo-text.h — text rules shared by the service and the app, so that both judge a name the same way. */
#pragma once

#include <glib.h>

/* @text without leading and trailing white space, Unicode spaces included (g_strstrip only knows ASCII). */
char *vireo_utf8_strip (const char *text);

/* @text as it may appear inside a message: at most @max_chars characters (then "…"), control characters
 * and invalid UTF-8 shown as "\xNN", so that a caller's huge or hostile string is never echoed whole. */
char *vireo_text_for_message (const char *text, gsize max_chars);
