/* vireo-new-machine-checks.c — the New Machine wizard's verdict on each page as the user types: the reason
 * under the row at fault, Next and Create blocked while a page is wrong, and on the summary page why Create
 * is blocked or what the service answered.  The checks themselves are vireo-checks.c. */
#include "vireo-new-machine-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vireo-checks.h"
#include "vireo-format.h"
#include "vireo-remote-files.h"

/* ---- validation ---- */

/* A page's verdict: NULL when it may be left with Next, else why not.  A hint (nothing typed yet) is shown
 * quietly; an error in the error colour. */
typedef struct
{
  char *reason;
  gboolean is_error;
} Verdict;

static void
verdict_clear (Verdict *verdict)
{
  g_clear_pointer (&verdict->reason, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Verdict, verdict_clear)

static void
show_message (GtkLabel *label, const Verdict *verdict)
{
  gtk_label_set_text (label, verdict->reason ? verdict->reason : "");
  gtk_widget_set_visible (GTK_WIDGET (label), verdict->reason != NULL);
  if (verdict->is_error)
    {
      gtk_widget_add_css_class (GTK_WIDGET (label), "error");
      gtk_widget_remove_css_class (GTK_WIDGET (label), "dim-label");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (label), "error");
      gtk_widget_add_css_class (GTK_WIDGET (label), "dim-label");
    }
}

static void
mark_row (AdwEntryRow *row, gboolean bad)
{
  if (bad)
    gtk_widget_add_css_class (GTK_WIDGET (row), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (row), "error");
}

static void
check_name_page (VireoNewMachine *self, Verdict *verdict)
{
  g_autofree char *name = trimmed_text (self->name_row);

  if (*name == '\0')
    {
      /* Nothing typed yet is not a mistake. */
      verdict->reason = g_strdup (_ ("Give the machine a name to continue."));
      verdict->is_error = FALSE;
    }
  else if ((verdict->reason = vireo_check_machine_name (self->host, name, NULL)) != NULL)
    verdict->is_error = TRUE;
  else if (!vireo_host_get_available (self->host))
    {
      const char *status = vireo_host_get_status (self->host);
      verdict->reason = g_strdup (*status ? status : _ ("The Vireo service is not running."));
      verdict->is_error = TRUE;
    }
  mark_row (self->name_row, verdict->is_error && *name != '\0');
  show_message (self->name_message, verdict);
}

static void
check_kernel (VireoNewMachine *self, Verdict *verdict)
{
  g_autofree char *kernel = trimmed_text (self->kernel_row);
  g_autofree char *initrd = trimmed_text (self->initrd_row);
  const char *cmdline = gtk_editable_get_text (GTK_EDITABLE (self->cmdline_row));
  gboolean bad_kernel = FALSE, bad_initrd = FALSE, bad_cmdline = FALSE;

  if (*kernel == '\0')
    verdict->reason = g_strdup (_ ("Choose the kernel to boot."));
  else if ((verdict->reason = vireo_check_host_file (self->host, kernel, FALSE)) != NULL)
    bad_kernel = TRUE;
  else if (*initrd != '\0' && (verdict->reason = vireo_check_host_file (self->host, initrd, FALSE)) != NULL)
    bad_initrd = TRUE;
  else if ((verdict->reason = vireo_check_cmdline (cmdline)) != NULL)
    bad_cmdline = TRUE;
  verdict->is_error = bad_kernel || bad_initrd || bad_cmdline;
  mark_row (self->kernel_row, bad_kernel);
  mark_row (self->initrd_row, bad_initrd);
  mark_row (self->cmdline_row, bad_cmdline);
}

static void
check_image (VireoNewMachine *self, Verdict *verdict)
{
  g_autofree char *image = trimmed_text (self->image_row);
  const char *format = NULL;

  if (*image == '\0')
    verdict->reason = g_strdup (_ ("Choose the disk image to start from."));
  else if ((verdict->reason = vireo_check_host_file (
                self->host, image, !gtk_switch_get_active (self->readonly_switch) && !imports_image (self)))
               == NULL
           && !vireo_host_files_are_remote (self->host))
    {
      format = vireo_detect_image_format (image);
      if (format == NULL)
        {
          g_autofree char *display = g_filename_display_name (image);
          verdict->reason = g_strdup_printf (_ ("“%s” cannot be read."), display);
        }
    }
  verdict->is_error = verdict->reason != NULL && *image != '\0';
  mark_row (self->image_row, verdict->is_error);
  gtk_label_set_text (self->image_format_label, format == NULL                  ? "—"
                                                : g_str_equal (format, "qcow2") ? _ ("qcow2 (detected)")
                                                                                : _ ("Raw (detected)"));
}

static void
check_iso (VireoNewMachine *self, Verdict *verdict)
{
  g_autofree char *iso = trimmed_text (self->iso_row);

  if (*iso == '\0')
    verdict->reason = g_strdup (_ ("Choose the ISO file to install from."));
  else if ((verdict->reason = vireo_check_host_file (self->host, iso, FALSE)) != NULL)
    verdict->is_error = TRUE;
  else if (self->media_error != NULL)
    {
      verdict->reason = g_strdup (self->media_error);
      verdict->is_error = TRUE;
    }
  else if (vireo_host_files_are_remote (self->host))
    /* The ISO is on the remote host: libosinfo cannot read it from here. */
    ;
  else if (self->identifying || self->media == NULL)
    /* Not a mistake: Next waits for the few milliseconds libosinfo takes. */
    verdict->reason = g_strdup (_ ("Reading the ISO file…"));
  mark_row (self->iso_row, verdict->is_error);
}

static void
check_boot_page (VireoNewMachine *self, Verdict *verdict)
{
  g_auto (Verdict) iso = { NULL, FALSE };
  g_auto (Verdict) kernel = { NULL, FALSE };
  g_auto (Verdict) image = { NULL, FALSE };

  /* Every half is checked so that each group's message is current when the user switches. */
  check_iso (self, &iso);
  check_kernel (self, &kernel);
  check_image (self, &image);
  show_message (self->iso_message, &iso);
  show_message (self->kernel_message, &kernel);
  show_message (self->image_message, &image);
  gtk_widget_set_visible (self->iso_group, installs_from_iso (self));
  gtk_widget_set_visible (self->kernel_group, boots_kernel (self));
  gtk_widget_set_visible (self->disk_group, !boots_kernel (self) && !installs_from_iso (self));
  gtk_widget_set_visible (self->storage_group, installs_from_iso (self));
  /* A copy is the machine's own: read-only would make no sense of it. */
  gtk_widget_set_sensitive (self->readonly_row, !gtk_switch_get_active (self->import_switch));
  if (installs_from_iso (self))
    *verdict = (Verdict){ g_steal_pointer (&iso.reason), iso.is_error };
  else if (boots_kernel (self))
    *verdict = (Verdict){ g_steal_pointer (&kernel.reason), kernel.is_error };
  else
    *verdict = (Verdict){ g_steal_pointer (&image.reason), image.is_error };
}

static void
check_resources_page (VireoNewMachine *self, Verdict *verdict)
{
  guint64 host_mib = host_memory_mib (self);
  guint64 mib = memory_mib (self);
  g_autofree char *amount = vireo_format_memory (mib);

  adw_action_row_set_subtitle (self->memory_row, amount);
  verdict->reason = vireo_check_memory (mib, host_mib);
  verdict->is_error = verdict->reason != NULL;
  if (verdict->is_error)
    gtk_widget_add_css_class (GTK_WIDGET (self->memory_spin), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->memory_spin), "error");
  gtk_widget_set_visible (GTK_WIDGET (self->memory_warning), vireo_memory_is_large (mib, host_mib));
  show_message (self->resources_message, verdict);
}

static void
check_devices_page (VireoNewMachine *self)
{
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->network_row),
                               g_str_equal (network (self), "nat")
                                   ? _ ("A network card on the Default Switch: the machine reaches the "
                                        "network through this computer’s connection")
                                   : _ ("The machine has no network card"));
}

static void
check_page (VireoNewMachine *self, guint page, Verdict *verdict)
{
  switch (page)
    {
    case PAGE_NAME:
      check_name_page (self, verdict);
      break;
    case PAGE_BOOT:
      check_boot_page (self, verdict);
      break;
    case PAGE_RESOURCES:
      check_resources_page (self, verdict);
      break;
    case PAGE_DEVICES:
      check_devices_page (self);
      break;
    default:
      break;
    }
}

void
vireo_new_machine_update_buttons (VireoNewMachine *self)
{
  g_autofree char *first_reason = NULL;
  gboolean current_ok = TRUE;
  gboolean all_ok = TRUE;

  if (self->host == NULL)
    return;
  for (guint page = 0; page < N_PAGES; page++)
    {
      g_auto (Verdict) verdict = { NULL, FALSE };

      check_page (self, page, &verdict);
      if (verdict.reason == NULL)
        continue;
      all_ok = FALSE;
      if (page == self->page)
        current_ok = FALSE;
      if (first_reason == NULL)
        first_reason = g_steal_pointer (&verdict.reason);
    }

  gtk_widget_set_sensitive (self->next_button, current_ok && !self->creating);
  gtk_widget_set_sensitive (self->create_button, all_ok && !self->creating);
  gtk_widget_set_sensitive (self->back_button, !self->creating);
  gtk_widget_set_sensitive (self->cancel_button, !self->creating);

  /* The summary page says why Create is blocked (something changed behind the user's back, such as another
   * machine taking the name) or what the service answered. */
  if (self->service_error != NULL || (!all_ok && self->page == PAGE_SUMMARY))
    {
      g_autofree char *blocked = NULL;

      if (self->service_error == NULL)
        /* Translators: %s says what is wrong, e.g. that the name is taken. */
        blocked = g_strdup_printf (_ ("%s Go back to change it."), first_reason);
      gtk_label_set_text (self->error_label, self->service_error ? self->service_error : blocked);
      gtk_widget_set_visible (self->error_group, TRUE);
    }
  else
    gtk_widget_set_visible (self->error_group, FALSE);
}
