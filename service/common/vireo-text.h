/* vireo-text.h — text rules shared by the service and the app, so that both judge a name the same way. */
#pragma once

#include <glib.h>

/* @text without leading and trailing white space, Unicode spaces included (g_strstrip only knows ASCII). */
char *vireo_utf8_strip (const char *text);
