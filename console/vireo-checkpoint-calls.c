/* vireo-checkpoint-calls.c — the checkpoint actions both windows offer, each a dialog (where Hyper-V asks
 * first) and a call through the generated proxies with interactive authorization allowed; failures are worded
 * like the machine calls' ("Could not …: <the service's reason>").  While a call runs its machine is listed in
 * a model of jobs, which the details pane shows as progress. */
#include "vireo-checkpoint-calls.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vireo-checks.h"
#include "vireo-format.h"

#define INTERACTIVE G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION
/* Checkpoints of big machines write memory and copy disks: no timeout cuts that short. */
#define NO_TIMEOUT G_MAXINT

/* ---- the checkpoints a host lists ---- */

static GDBusObjectManager *
host_objects (VireoHost *host)
{
  return host ? vireo_host_get_objects (host) : NULL;
}

VireoDBusCheckpoint *
vireo_checkpoints_find (VireoHost *host, const char *object_path)
{
  GDBusObjectManager *objects = host_objects (host);
  g_autoptr (GDBusInterface) iface = NULL;

  if (objects == NULL || object_path == NULL || g_str_equal (object_path, "/"))
    return NULL;
  iface = g_dbus_object_manager_get_interface (objects, object_path, VIREO_CHECKPOINT_INTERFACE);
  if (iface == NULL || !VIREO_DBUS_IS_CHECKPOINT (iface))
    return NULL;
  /* The object manager keeps it for as long as the checkpoint is listed. */
  return VIREO_DBUS_CHECKPOINT (iface);
}

static int
compare_created (gconstpointer a, gconstpointer b)
{
  guint64 left = vireo_dbus_checkpoint_get_created (*(VireoDBusCheckpoint **) a);
  guint64 right = vireo_dbus_checkpoint_get_created (*(VireoDBusCheckpoint **) b);

  return left < right ? -1 : left > right;
}

/* Appends the children of @parent_path among @all to @ordered, each followed by its own subtree. */
static void
append_subtree (GPtrArray *all, const char *parent_path, GPtrArray *ordered, guint depth)
{
  /* A tree the service got wrong (a cycle) must not hang the app. */
  if (depth > all->len)
    return;
  for (guint i = 0; i < all->len; i++)
    {
      VireoDBusCheckpoint *checkpoint = g_ptr_array_index (all, i);

      if (g_strcmp0 (vireo_dbus_checkpoint_get_parent (checkpoint), parent_path) != 0)
        continue;
      g_ptr_array_add (ordered, g_object_ref (checkpoint));
      append_subtree (all, g_dbus_proxy_get_object_path (G_DBUS_PROXY (checkpoint)), ordered, depth + 1);
    }
}

GPtrArray *
vireo_checkpoints_list (VireoHost *host, VireoDBusMachine *machine)
{
  GPtrArray *ordered = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func (g_object_unref);
  GDBusObjectManager *objects = host_objects (host);
  const char *machine_path;
  GList *list;

  if (objects == NULL || machine == NULL)
    return ordered;
  machine_path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine));
  list = g_dbus_object_manager_get_objects (objects);
  for (GList *l = list; l != NULL; l = l->next)
    {
      GDBusInterface *iface = g_dbus_object_get_interface (l->data, VIREO_CHECKPOINT_INTERFACE);

      if (iface != NULL && VIREO_DBUS_IS_CHECKPOINT (iface)
          && g_strcmp0 (vireo_dbus_checkpoint_get_machine (VIREO_DBUS_CHECKPOINT (iface)), machine_path) == 0)
        g_ptr_array_add (all, iface);
      else
        g_clear_object (&iface);
    }
  g_list_free_full (list, g_object_unref);
  g_ptr_array_sort (all, compare_created);
  append_subtree (all, "/", ordered, 0);
  /* Checkpoints whose parent is not listed (it is being deleted) still show, as roots. */
  for (guint i = 0; i < all->len; i++)
    if (!g_ptr_array_find (ordered, g_ptr_array_index (all, i), NULL))
      {
        VireoDBusCheckpoint *orphan = g_ptr_array_index (all, i);
        const char *parent = vireo_dbus_checkpoint_get_parent (orphan);
        gboolean parent_listed = FALSE;

        for (guint j = 0; j < all->len; j++)
          if (g_strcmp0 (g_dbus_proxy_get_object_path (g_ptr_array_index (all, j)), parent) == 0)
            parent_listed = TRUE;
        if (!parent_listed)
          {
            g_ptr_array_add (ordered, g_object_ref (orphan));
            append_subtree (all, g_dbus_proxy_get_object_path (G_DBUS_PROXY (orphan)), ordered, 0);
          }
      }
  return ordered;
}

guint
vireo_checkpoints_count_below (GPtrArray *list, VireoDBusCheckpoint *checkpoint)
{
  guint count = 0;
  gboolean changed = TRUE;
  g_autoptr (GPtrArray) below = g_ptr_array_new ();

  g_ptr_array_add (below, (gpointer) g_dbus_proxy_get_object_path (G_DBUS_PROXY (checkpoint)));
  /* Grows the set of paths until no checkpoint of the list has a parent in it that is not counted. */
  while (changed)
    {
      changed = FALSE;
      for (guint i = 0; i < list->len; i++)
        {
          VireoDBusCheckpoint *other = g_ptr_array_index (list, i);
          const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (other));

          if (g_ptr_array_find_with_equal_func (below, path, g_str_equal, NULL))
            continue;
          if (g_ptr_array_find_with_equal_func (below, vireo_dbus_checkpoint_get_parent (other), g_str_equal,
                                                NULL))
            {
              g_ptr_array_add (below, (gpointer) path);
              count++;
              changed = TRUE;
            }
        }
    }
  return count;
}

/* ---- jobs: the machines whose checkpoints the app is changing now ---- */

static GListStore *
jobs (void)
{
  static GListStore *store;

  if (store == NULL)
    store = g_list_store_new (VIREO_DBUS_TYPE_MACHINE);
  return store;
}

#define JOB_KEY "vireo-checkpoint-job"

static void
job_begin (VireoDBusMachine *machine, const char *text)
{
  guint position;

  g_object_set_data_full (G_OBJECT (machine), JOB_KEY, g_strdup (text), g_free);
  if (g_list_store_find (jobs (), machine, &position))
    g_list_model_items_changed (G_LIST_MODEL (jobs ()), position, 1, 1);
  else
    g_list_store_append (jobs (), machine);
}

static void
job_end (VireoDBusMachine *machine)
{
  guint position;

  g_object_set_data (G_OBJECT (machine), JOB_KEY, NULL);
  if (g_list_store_find (jobs (), machine, &position))
    g_list_store_remove (jobs (), position);
}

const char *
vireo_checkpoint_job (VireoDBusMachine *machine)
{
  return machine ? g_object_get_data (G_OBJECT (machine), JOB_KEY) : NULL;
}

void
vireo_checkpoint_jobs_watch (GObject *owner, GCallback callback)
{
  g_signal_connect_object (jobs (), "items-changed", callback, owner, G_CONNECT_SWAPPED);
}

void
vireo_checkpoint_jobs_unwatch (GObject *owner)
{
  g_signal_handlers_disconnect_by_data (jobs (), owner);
}

/* ---- one call and its failure ---- */

typedef struct
{
  GtkWidget *owner;
  VireoMachineCallFailed failed;
  VireoDBusMachine *machine;
  VireoDBusCheckpoint *checkpoint;
  char *what; /* "Could not apply “Before update”" */
  gboolean convert_raw;
} Call;

static Call *
call_new (GtkWidget *owner, VireoMachineCallFailed failed, VireoDBusMachine *machine,
          VireoDBusCheckpoint *checkpoint)
{
  Call *call = g_new0 (Call, 1);

  call->owner = g_object_ref (owner);
  call->failed = failed;
  call->machine = machine ? g_object_ref (machine) : NULL;
  call->checkpoint = checkpoint ? g_object_ref (checkpoint) : NULL;
  return call;
}

static void
call_free (Call *call)
{
  g_object_unref (call->owner);
  g_clear_object (&call->machine);
  g_clear_object (&call->checkpoint);
  g_free (call->what);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static void
call_report (Call *call, GError *error)
{
  g_autofree char *message = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_dbus_error_strip_remote_error (error);
  message = g_strdup_printf ("%s: %s", call->what, error->message);
  call->failed (call->owner, message);
}

static gboolean
is_service_error (const GError *error, const char *name)
{
  g_autofree char *remote = g_dbus_error_is_remote_error (error) ? g_dbus_error_get_remote_error (error)
                                                                 : NULL;
  g_autofree char *full = g_strconcat ("org.vireo.Vireo1.Error.", name, NULL);

  return g_strcmp0 (remote, full) == 0;
}

/* ---- dialogs ---- */

static AdwMessageDialog *open_dialog;

static void
forget_dialog (gpointer data, GObject *where_it_was)
{
  if (open_dialog == (AdwMessageDialog *) where_it_was)
    open_dialog = NULL;
}

/* A message dialog over @owner's window with @responses (id, label pairs, NULL-ended), the first closing it. */
static AdwMessageDialog *
dialog_new (GtkWidget *owner, const char *heading, const char *body, const char *first_id, ...)
{
  GtkRoot *root = gtk_widget_get_root (owner);
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (
      adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, heading, body));
  va_list args;

  va_start (args, first_id);
  for (const char *id = first_id; id != NULL; id = va_arg (args, const char *))
    adw_message_dialog_add_response (dialog, id, va_arg (args, const char *));
  va_end (args);
  adw_message_dialog_set_close_response (dialog, first_id);
  open_dialog = dialog;
  g_object_weak_ref (G_OBJECT (dialog), forget_dialog, NULL);
  return dialog;
}

AdwMessageDialog *
vireo_checkpoint_get_dialog (void)
{
  return open_dialog;
}

/* ---- Checkpoint ---- */

static void start_create (Call *call);

static void
on_convert_response (AdwMessageDialog *dialog, const char *response, Call *call)
{
  if (g_str_equal (response, "convert"))
    {
      /* The call leaves the dialog, which goes away, for the service. */
      Call *retry = g_object_steal_data (G_OBJECT (dialog), "vireo-call");

      retry->convert_raw = TRUE;
      start_create (retry);
    }
}

/* The service refused a raw disk: with the machine off, its disks can be converted to qcow2 copies (the raw
 * files stay); otherwise the user learns what to do. */
static void
offer_conversion (Call *call, GError *error)
{
  const char *state = vireo_dbus_machine_get_state (call->machine);
  AdwMessageDialog *dialog;
  g_autofree char *reason = NULL;
  g_autofree char *body = NULL;

  g_dbus_error_strip_remote_error (error);
  reason = g_strdup (error->message);
  /* The service's first sentence names the disk; the rest tells a D-Bus caller the option, which this
   * dialog offers in words. */
  if (strstr (reason, ". ") != NULL)
    strstr (reason, ". ")[1] = '\0';
  if (g_strcmp0 (state, "off") != 0)
    {
      body = g_strdup_printf (_ ("%s\n\nTurn the machine off (not saved) to convert its raw disks to qcow2, "
                                 "then take the checkpoint again."),
                              reason);
      dialog = dialog_new (call->owner, _ ("Checkpoints Need qcow2 Disks"), body, "close", _ ("_Close"),
                           NULL);
      gtk_window_present (GTK_WINDOW (dialog));
      call_free (call);
      return;
    }
  body = g_strdup_printf (_ ("%s\n\nVireo can copy each writable raw disk to a qcow2 image in the machine’s "
                             "folder and use the copy from now on. The raw files are kept. Converting takes "
                             "as long as copying the disks."),
                          reason);
  dialog = dialog_new (call->owner, _ ("Convert the Disks to qcow2?"), body, "cancel", _ ("_Cancel"),
                       "convert", _ ("C_onvert and Take Checkpoint"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "convert", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "convert");
  /* The dialog owns the call until it is answered. */
  g_object_set_data_full (G_OBJECT (dialog), "vireo-call", call, (GDestroyNotify) call_free);
  g_signal_connect (dialog, "response", G_CALLBACK (on_convert_response), call);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_created (GObject *source, GAsyncResult *result, gpointer data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  job_end (call->machine);
  if (vireo_dbus_machine_call_create_checkpoint_finish (VIREO_DBUS_MACHINE (source), &path, result, &error))
    {
      call_free (call);
      return;
    }
  if (!call->convert_raw && is_service_error (error, "NotSupported")
      && strstr (error->message, "convert-raw"))
    {
      offer_conversion (call, error);
      return;
    }
  call_report (call, error);
  call_free (call);
}

static void
start_create (Call *call)
{
  g_auto (GVariantDict) options = G_VARIANT_DICT_INIT (NULL);

  if (call->convert_raw)
    g_variant_dict_insert (&options, "convert-raw", "b", TRUE);
  job_begin (call->machine, call->convert_raw ? _ ("Converting the disks and taking a checkpoint…")
                                              : _ ("Taking a checkpoint…"));
  vireo_dbus_machine_call_create_checkpoint (call->machine, "", g_variant_dict_end (&options), INTERACTIVE,
                                             NO_TIMEOUT, NULL, on_created, call);
}

void
vireo_checkpoint_create (GtkWidget *owner, VireoDBusMachine *machine, VireoMachineCallFailed failed)
{
  Call *call;

  g_return_if_fail (GTK_IS_WIDGET (owner));
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));

  call = call_new (owner, failed, machine, NULL);
  call->what = g_strdup_printf (_ ("Could not take a checkpoint of “%s”"),
                                vireo_dbus_machine_get_name (machine));
  start_create (call);
}

/* ---- Apply and Revert ---- */

static void
on_applied (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Call) call = data;
  g_autoptr (GError) error = NULL;

  job_end (call->machine);
  if (!vireo_dbus_checkpoint_call_apply_finish (VIREO_DBUS_CHECKPOINT (source), result, &error))
    call_report (call, error);
}

static void
on_apply_response (AdwMessageDialog *dialog, const char *response, Call *call)
{
  g_auto (GVariantDict) options = G_VARIANT_DICT_INIT (NULL);
  gboolean take_first = g_str_equal (response, "checkpoint-apply");
  Call *apply;

  if (!take_first && !g_str_equal (response, "apply"))
    return;
  g_variant_dict_insert (&options, "checkpoint-current", "b", take_first);
  /* A running machine goes on running, now from the checkpoint: that is what going back means to someone
   * at its screen.  Off, saved or paused, it stays as the checkpoint leaves it. */
  if (g_strcmp0 (vireo_dbus_machine_get_state (call->machine), "running") == 0)
    g_variant_dict_insert (&options, "start", "b", TRUE);
  apply = call_new (call->owner, call->failed, call->machine, call->checkpoint);
  apply->what = g_strdup_printf (_ ("Could not apply the checkpoint “%s”"),
                                 vireo_dbus_checkpoint_get_name (call->checkpoint));
  job_begin (call->machine,
             take_first ? _ ("Taking a checkpoint, then applying…") : _ ("Applying the checkpoint…"));
  vireo_dbus_checkpoint_call_apply (call->checkpoint, g_variant_dict_end (&options), INTERACTIVE, NO_TIMEOUT,
                                    NULL, on_applied, apply);
}

void
vireo_checkpoint_confirm_apply (GtkWidget *owner, VireoDBusMachine *machine, VireoDBusCheckpoint *checkpoint,
                                gboolean revert, VireoMachineCallFailed failed)
{
  const char *name = vireo_dbus_checkpoint_get_name (checkpoint);
  g_autofree char *heading = NULL;
  g_autofree char *body = NULL;
  AdwMessageDialog *dialog;
  Call *call;

  g_return_if_fail (GTK_IS_WIDGET (owner));
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));
  g_return_if_fail (VIREO_DBUS_IS_CHECKPOINT (checkpoint));

  if (revert)
    {
      heading = g_strdup_printf (_ ("Revert “%s”?"), vireo_dbus_machine_get_name (machine));
      body = g_strdup_printf (
          _ ("The machine goes back to the checkpoint “%s”. Its current state will be lost, "
             "unless you take a checkpoint of it first."),
          name);
    }
  else
    {
      heading = g_strdup (_ ("Apply Checkpoint?"));
      body = g_strdup_printf (_ ("“%s” goes back to the checkpoint “%s”. Its current state will be lost, "
                                 "unless you take a checkpoint of it first."),
                              vireo_dbus_machine_get_name (machine), name);
    }
  /* What a running machine does afterwards (it is asked to run on, see on_apply_response()). */
  if (g_strcmp0 (vireo_dbus_machine_get_state (machine), "running") == 0)
    {
      const char *then = vireo_dbus_checkpoint_get_has_state (checkpoint)
                             ? _ ("It goes on running from the moment of the checkpoint.")
                             : _ ("It starts again from the checkpoint’s disks.");
      g_autofree char *longer = g_strconcat (body, " ", then, NULL);

      g_free (body);
      body = g_steal_pointer (&longer);
    }
  /* Hyper-V's three answers, in its order. */
  dialog = dialog_new (owner, heading, body, "cancel", _ ("_Cancel"), "apply", _ ("_Apply"),
                       "checkpoint-apply", _ ("_Take Checkpoint and Apply"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "apply", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (dialog, "checkpoint-apply", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "checkpoint-apply");
  call = call_new (owner, failed, machine, checkpoint);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-call", call, (GDestroyNotify) call_free);
  g_signal_connect (dialog, "response", G_CALLBACK (on_apply_response), call);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
vireo_checkpoint_revert (GtkWidget *owner, VireoHost *host, VireoDBusMachine *machine,
                         VireoMachineCallFailed failed)
{
  VireoDBusCheckpoint *current;

  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));

  current = vireo_checkpoints_find (host, vireo_dbus_machine_get_current_checkpoint (machine));
  if (current == NULL)
    {
      g_autofree char *message = g_strdup_printf (_ ("“%s” has no checkpoint to revert to"),
                                                  vireo_dbus_machine_get_name (machine));
      failed (owner, message);
      return;
    }
  vireo_checkpoint_confirm_apply (owner, machine, current, TRUE, failed);
}

/* ---- Rename ---- */

static void
on_renamed (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Call) call = data;
  g_autoptr (GError) error = NULL;

  if (!vireo_dbus_checkpoint_call_rename_finish (VIREO_DBUS_CHECKPOINT (source), result, &error))
    call_report (call, error);
}

static char *
entry_name (AdwMessageDialog *dialog)
{
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "vireo-entry");

  return g_strstrip (g_strdup (gtk_editable_get_text (entry)));
}

static void
on_rename_response (AdwMessageDialog *dialog, const char *response, Call *call)
{
  g_autofree char *name = entry_name (dialog);
  Call *rename;

  if (!g_str_equal (response, "rename"))
    return;
  rename = call_new (call->owner, call->failed, call->machine, call->checkpoint);
  rename->what = g_strdup_printf (_ ("Could not rename the checkpoint “%s”"),
                                  vireo_dbus_checkpoint_get_name (call->checkpoint));
  vireo_dbus_checkpoint_call_rename (call->checkpoint, name, INTERACTIVE, NO_TIMEOUT, NULL, on_renamed,
                                     rename);
}

static void
on_checkpoint_name_changed (GtkEditable *entry, AdwMessageDialog *dialog)
{
  g_autofree char *name = entry_name (dialog);
  gsize length = g_utf8_strlen (name, -1);

  adw_message_dialog_set_response_enabled (dialog, "rename",
                                           length >= 1 && length <= VIREO_CHECKPOINT_NAME_MAX_CHARS);
}

/* A dialog with an entry holding @text, its @confirm response suggested and the default. */
static AdwMessageDialog *
entry_dialog (GtkWidget *owner, const char *heading, const char *body, const char *text, int max_chars,
              const char *confirm, const char *confirm_label)
{
  AdwMessageDialog *dialog = dialog_new (owner, heading, body, "cancel", _ ("_Cancel"), confirm,
                                         confirm_label, NULL);
  GtkWidget *entry = gtk_entry_new ();

  gtk_editable_set_text (GTK_EDITABLE (entry), text);
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_entry_set_max_length (GTK_ENTRY (entry), max_chars);
  adw_message_dialog_set_extra_child (dialog, entry);
  g_object_set_data (G_OBJECT (dialog), "vireo-entry", entry);
  adw_message_dialog_set_response_appearance (dialog, confirm, ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, confirm);
  return dialog;
}

void
vireo_checkpoint_ask_rename (GtkWidget *owner, VireoDBusCheckpoint *checkpoint, VireoMachineCallFailed failed)
{
  AdwMessageDialog *dialog;
  g_autofree char *body = NULL;
  GtkWidget *entry;
  Call *call;

  g_return_if_fail (GTK_IS_WIDGET (owner));
  g_return_if_fail (VIREO_DBUS_IS_CHECKPOINT (checkpoint));

  body = g_strdup_printf (_ ("Choose a new name for the checkpoint “%s”."),
                          vireo_dbus_checkpoint_get_name (checkpoint));
  dialog = entry_dialog (owner, _ ("Rename Checkpoint"), body, vireo_dbus_checkpoint_get_name (checkpoint),
                         VIREO_CHECKPOINT_NAME_MAX_CHARS, "rename", _ ("_Rename"));
  entry = adw_message_dialog_get_extra_child (dialog);
  /* Rename needs no machine: it shows no progress. */
  call = call_new (owner, failed, NULL, checkpoint);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-call", call, (GDestroyNotify) call_free);
  g_signal_connect (entry, "changed", G_CALLBACK (on_checkpoint_name_changed), dialog);
  g_signal_connect (dialog, "response", G_CALLBACK (on_rename_response), call);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

/* ---- Export ---- */

static void
on_exported (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Call) call = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  job_end (call->machine);
  if (!vireo_dbus_checkpoint_call_export_finish (VIREO_DBUS_CHECKPOINT (source), &path, result, &error))
    call_report (call, error);
}

static void
on_export_response (AdwMessageDialog *dialog, const char *response, Call *call)
{
  g_autofree char *name = entry_name (dialog);
  Call *export;

  if (!g_str_equal (response, "export"))
    return;
  export = call_new (call->owner, call->failed, call->machine, call->checkpoint);
  export->what = g_strdup_printf (_ ("Could not export the checkpoint “%s”"),
                                  vireo_dbus_checkpoint_get_name (call->checkpoint));
  job_begin (call->machine, _ ("Exporting the checkpoint as a new machine…"));
  vireo_dbus_checkpoint_call_export (call->checkpoint, name, INTERACTIVE, NO_TIMEOUT, NULL, on_exported,
                                     export);
}

static void
on_export_name_changed (GtkEditable *entry, AdwMessageDialog *dialog)
{
  VireoHost *host = g_object_get_data (G_OBJECT (dialog), "vireo-host");
  GtkLabel *message = g_object_get_data (G_OBJECT (dialog), "vireo-message");
  g_autofree char *name = entry_name (dialog);
  g_autofree char *reason = vireo_check_machine_name (host, name, NULL);

  gtk_label_set_text (message, reason ? reason : "");
  gtk_widget_set_visible (GTK_WIDGET (message), reason != NULL);
  adw_message_dialog_set_response_enabled (dialog, "export", reason == NULL);
}

void
vireo_checkpoint_ask_export (GtkWidget *owner, VireoHost *host, VireoDBusMachine *machine,
                             VireoDBusCheckpoint *checkpoint, VireoMachineCallFailed failed)
{
  AdwMessageDialog *dialog;
  g_autofree char *body = NULL;
  g_autofree char *suggested = NULL;
  GtkWidget *entry, *box, *message;
  Call *call;

  g_return_if_fail (GTK_IS_WIDGET (owner));
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));
  g_return_if_fail (VIREO_DBUS_IS_CHECKPOINT (checkpoint));

  body = g_strdup_printf (
      _ ("A new machine is made from the checkpoint “%s”: its settings, and copies of its "
         "disks as they were then. Name the new machine."),
      vireo_dbus_checkpoint_get_name (checkpoint));
  /* Translators: the suggested name of a machine exported from a checkpoint; %s is the machine's name. */
  suggested = g_strdup_printf (_ ("%s (from checkpoint)"), vireo_dbus_machine_get_name (machine));
  if (g_utf8_strlen (suggested, -1) > VIREO_MACHINE_NAME_MAX_CHARS)
    {
      g_autofree char *cut = g_utf8_substring (suggested, 0, VIREO_MACHINE_NAME_MAX_CHARS);
      g_free (suggested);
      suggested = g_steal_pointer (&cut);
    }
  dialog = entry_dialog (owner, _ ("Export Checkpoint"), body, suggested, VIREO_MACHINE_NAME_MAX_CHARS,
                         "export", _ ("_Export"));
  /* The entry with a line under it that says why a name cannot be taken. */
  entry = g_object_ref (adw_message_dialog_get_extra_child (dialog));
  adw_message_dialog_set_extra_child (dialog, NULL);
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  message = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (message), TRUE);
  gtk_label_set_xalign (GTK_LABEL (message), 0);
  gtk_widget_add_css_class (message, "caption");
  gtk_widget_add_css_class (message, "error");
  gtk_widget_set_visible (message, FALSE);
  gtk_box_append (GTK_BOX (box), entry);
  gtk_box_append (GTK_BOX (box), message);
  g_object_unref (entry);
  adw_message_dialog_set_extra_child (dialog, box);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-host", g_object_ref (host), g_object_unref);
  g_object_set_data (G_OBJECT (dialog), "vireo-message", message);
  call = call_new (owner, failed, machine, checkpoint);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-call", call, (GDestroyNotify) call_free);
  g_signal_connect (entry, "changed", G_CALLBACK (on_export_name_changed), dialog);
  g_signal_connect (dialog, "response", G_CALLBACK (on_export_response), call);
  on_export_name_changed (GTK_EDITABLE (entry), dialog);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

/* ---- Delete and Delete Subtree ---- */

static void
on_deleted (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Call) call = data;
  g_autoptr (GError) error = NULL;

  job_end (call->machine);
  if (!vireo_dbus_checkpoint_call_delete_finish (VIREO_DBUS_CHECKPOINT (source), result, &error))
    call_report (call, error);
}

static void
on_delete_response (AdwMessageDialog *dialog, const char *response, Call *call)
{
  gboolean subtree = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "vireo-subtree"));
  Call *delete;

  if (!g_str_equal (response, "delete"))
    return;
  delete = call_new (call->owner, call->failed, call->machine, call->checkpoint);
  delete->what = g_strdup_printf (_ ("Could not delete the checkpoint “%s”"),
                                  vireo_dbus_checkpoint_get_name (call->checkpoint));
  job_begin (call->machine, subtree ? _ ("Deleting the checkpoints…") : _ ("Deleting the checkpoint…"));
  vireo_dbus_checkpoint_call_delete (call->checkpoint, subtree, INTERACTIVE, NO_TIMEOUT, NULL, on_deleted,
                                     delete);
}

void
vireo_checkpoint_confirm_delete (GtkWidget *owner, VireoDBusMachine *machine, VireoDBusCheckpoint *checkpoint,
                                 gboolean subtree, guint below, VireoMachineCallFailed failed)
{
  const char *name = vireo_dbus_checkpoint_get_name (checkpoint);
  g_autofree char *heading = NULL;
  g_autofree char *body = NULL;
  AdwMessageDialog *dialog;
  Call *call;

  g_return_if_fail (GTK_IS_WIDGET (owner));
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));
  g_return_if_fail (VIREO_DBUS_IS_CHECKPOINT (checkpoint));

  if (subtree && below > 0)
    {
      heading = g_strdup_printf (_ ("Delete “%s” and Its Subtree?"), name);
      body = g_strdup_printf (
          g_dngettext (GETTEXT_PACKAGE,
                       "The checkpoint and the %u checkpoint below it will be deleted. The "
                       "machine’s current state keeps all its data. This cannot be undone.",
                       "The checkpoint and the %u checkpoints below it will be deleted. The "
                       "machine’s current state keeps all its data. This cannot be undone.",
                       below),
          below);
    }
  else
    {
      heading = g_strdup_printf (_ ("Delete Checkpoint “%s”?"), name);
      body = g_strdup (_ ("You can no longer go back to it. The machine’s current state and its other "
                          "checkpoints keep all their data. This cannot be undone."));
    }
  dialog = dialog_new (owner, heading, body, "cancel", _ ("_Cancel"), "delete", _ ("_Delete"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "delete", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  g_object_set_data (G_OBJECT (dialog), "vireo-subtree", GINT_TO_POINTER (subtree));
  call = call_new (owner, failed, machine, checkpoint);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-call", call, (GDestroyNotify) call_free);
  g_signal_connect (dialog, "response", G_CALLBACK (on_delete_response), call);
  gtk_window_present (GTK_WINDOW (dialog));
}
