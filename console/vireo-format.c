/* vireo-format.c — how the app words machine facts for people. */
#include "vireo-format.h"

#include <glib/gi18n.h>

char *
vireo_format_memory (guint64 mib)
{
  if (mib < 1024)
    return g_strdup_printf (_ ("%u MiB"), (unsigned) mib);
  if (mib % 1024 == 0)
    return g_strdup_printf (_ ("%u GiB"), (unsigned) (mib / 1024));
  /* One decimal is enough to tell machines apart; "1.5 GiB" reads better than "1536 MiB". */
  return g_strdup_printf (_ ("%.1f GiB"), mib / 1024.0);
}

char *
vireo_format_uptime (guint64 seconds)
{
  if (seconds == 0)
    return g_strdup ("—");
  if (seconds < 60)
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u second", "%u seconds", (gulong) seconds),
                            (unsigned) seconds);
  if (seconds < 3600)
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u minute", "%u minutes", (gulong) (seconds / 60)),
                            (unsigned) (seconds / 60));
  if (seconds < 86400)
    return g_strdup_printf ("%u:%02u:%02u", (unsigned) (seconds / 3600), (unsigned) (seconds / 60 % 60),
                            (unsigned) (seconds % 60));
  return g_strdup_printf (
      g_dngettext (GETTEXT_PACKAGE, "%u day, %u:%02u", "%u days, %u:%02u", (gulong) (seconds / 86400)),
      (unsigned) (seconds / 86400), (unsigned) (seconds / 3600 % 24), (unsigned) (seconds / 60 % 60));
}

typedef struct
{
  const char *state;
  const char *label;
  const char *icon;
} StateInfo;

static const StateInfo states[] = {
  { "off", N_ ("Off"), "system-shutdown-symbolic" },
  { "starting", N_ ("Starting"), "content-loading-symbolic" },
  { "running", N_ ("Running"), "media-playback-start-symbolic" },
  { "paused", N_ ("Paused"), "media-playback-pause-symbolic" },
  { "saving", N_ ("Saving"), "document-save-symbolic" },
  { "saved", N_ ("Saved"), "document-save-symbolic" },
  { "stopping", N_ ("Shutting down"), "content-loading-symbolic" },
  { "crashed", N_ ("Crashed"), "dialog-error-symbolic" },
};

static const StateInfo *
state_info (const char *state)
{
  for (gsize i = 0; state && i < G_N_ELEMENTS (states); i++)
    if (g_str_equal (states[i].state, state))
      return &states[i];
  return NULL;
}

const char *
vireo_format_state (const char *state)
{
  const StateInfo *info = state_info (state);

  if (info)
    return _ (info->label);
  return state ? state : "";
}

const char *
vireo_format_state_icon (const char *state)
{
  const StateInfo *info = state_info (state);

  return info ? info->icon : "dialog-question-symbolic";
}

char *
vireo_format_cpu_usage (double percent, guint vcpus, const char *state)
{
  if (!vireo_state_is_active (state) || vcpus == 0)
    return g_strdup ("—");
  /* The service counts percent of one host CPU (up to 100 × vCPUs); people read it per machine. */
  return g_strdup_printf (_ ("%.0f%%"), CLAMP (percent / vcpus, 0.0, 100.0));
}

gboolean
vireo_state_is_active (const char *state)
{
  return g_strcmp0 (state, "running") == 0 || g_strcmp0 (state, "paused") == 0;
}

gboolean
vireo_state_can_start (const char *state)
{
  return g_strcmp0 (state, "off") == 0 || g_strcmp0 (state, "saved") == 0
         || g_strcmp0 (state, "crashed") == 0;
}

char *
vireo_format_guest_addresses (const char *const *addresses)
{
  if (addresses == NULL || addresses[0] == NULL)
    return NULL;
  return g_strjoinv (", ", (char **) addresses);
}

const char *
vireo_format_address_title (guint n_addresses)
{
  /* Translators: the title of the details pane's row with the guest's IPv4 address(es). */
  return g_dngettext (GETTEXT_PACKAGE, "IP address", "IP addresses", n_addresses);
}

char *
vireo_format_checkpoint_time (guint64 usec)
{
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  g_autoptr (GDateTime) local = utc ? g_date_time_to_local (utc) : NULL;

  if (local == NULL)
    return g_strdup ("—");
  /* Sortable and unambiguous in every language, as the service's default names are. */
  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

char *
vireo_format_checkpoint_kind (const char *kind, gboolean has_state, const char *consistency)
{
  gboolean production = g_strcmp0 (kind, "production") == 0;
  const char *what;

  if (!production)
    return g_strdup (has_state ? _ ("Standard, with memory") : _ ("Standard, disks only"));
  /* Production checkpoints say how far the disks can be trusted: Hyper-V's distinction. */
  if (g_strcmp0 (consistency, "application") == 0)
    what = _ ("Production, application-consistent");
  else
    what = _ ("Production, crash-consistent");
  return g_strdup (what);
}
