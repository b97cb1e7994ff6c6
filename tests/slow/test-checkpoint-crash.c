/* test-checkpoint-crash.c — crash safety of checkpoints through the real vireod (suite slow): 50 trials,
 * each one operation (create, apply, delete of one checkpoint or of a subtree) sent to vireod and a
 * SIGKILL to vireod, or to the machine's worker, a random moment after.  Then vireod is started again
 * and the machine is judged:
 *   - the tree is consistent: parents and CurrentCheckpoint name listed checkpoints (or "/"); every
 *     listed checkpoint has its snapshot vireo-<id> on each writable disk and its state files when it has
 *     state; no other vireo-* snapshot or folder is left, except what tree.ini's journal still dooms
 *     (vireod removes that before its next operation: a last operation and restart must leave nothing);
 *   - qemu-img check finds no corruption on any image (leaked clusters are allowed and counted;
 *     OFLAG_COPIED errors, refcounts above what the tables reference, are counted, repaired for the next
 *     trial with qemu-img check -r all, and fail the run at its end, naming the trials);
 *   - no data is lost: each checkpoint's snapshots hold what the disks held when it was taken (each state
 *     of the disks is told apart by a qemu-io pattern), and Now holds its own pattern, or, when an apply
 *     was under way, the applied checkpoint's together with CurrentCheckpoint naming it.
 * The first half of the trials run with the machine off (vireod runs qemu-img itself), the second with it
 * running (the worker takes and applies the snapshots; vireod or the worker is killed; the machine is
 * turned off and vireod restarted once more to be judged, as qemu-img cannot judge an image a worker has
 * open).  Each judgement first waits for vireod to finish what the kill interrupted (tree.ini's journal
 * keys cleared, untracked snapshots removed).  When a running
 * machine's checkpoint is refused, the second half runs off too, and says so.
 *
 * The trials come from one seed, printed at the start; VIREO_CHECKPOINT_CRASH_SEED=N replays them. */
#include "service-fixture.h"
#include "test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRIALS          50
#define DISKS           2
#define MAX_CHECKPOINTS 6
/* What vireod's recovery after a restart may take: a few qemu-img runs. */
#define RECOVERY_SECONDS 15

typedef enum
{
  OP_CREATE,
  OP_APPLY,
  OP_DELETE,
  OP_DELETE_SUBTREE,
} Op;

static const char *const op_names[] = { "create", "apply", "delete", "delete subtree" };

typedef struct
{
  Fixture *f;
  GRand *rand;
  VireoDBusMachine *machine;
  char *machine_at;
  char *images[DISKS];
  GHashTable *patterns; /* checkpoint path → the pattern its snapshots hold (GUINT_TO_POINTER) */
  guint now_pattern;    /* what Now holds */
  guint next_pattern;
  gint64 op_time[4];      /* how long each operation took when not interrupted, µs */
  guint leaks;            /* trials after which qemu-img check counted leaked clusters */
  guint interrupted;      /* trials whose call failed because of the kill */
  GString *copied_errors; /* the trials after which qemu-img check found OFLAG_COPIED errors */
  guint pending_cleanups; /* snapshots of doomed checkpoints found still there after a restart */
} Crash;

/* ---- vireod and its objects ---- */

static void
vireod_kill (Fixture *f)
{
  g_clear_object (&f->manager);
  g_clear_object (&f->objects);
  g_subprocess_force_exit (f->vireod);
  VIREO_TEST_WAIT_FOR (f->vireod_exited, "vireod to end after SIGKILL", WAIT_SECONDS);
  g_clear_object (&f->vireod);
}

static void
crash_reconnect (Crash *c)
{
  g_clear_object (&c->machine);
  if (c->f->vireod == NULL)
    vireod_start (c->f);
  else
    vireod_restart (c->f);
  c->machine = machine_proxy (c->f, c->machine_at);
}

static char *
current_checkpoint (Crash *c)
{
  return current_checkpoint_of (c->f, c->machine_at);
}

/* The checkpoints vireod lists for the machine, path → properties. */
static GHashTable *
checkpoints (Crash *c)
{
  return managed_objects (c->f, CHECKPOINT_IFACE);
}

/* ---- disks ---- */

static gboolean
holds_pattern (Crash *c, const char *image, const char *snapshot, guint byte)
{
  return disk_holds_pattern (c->f->base, image, snapshot, byte);
}

/* ---- the judgement ---- */

static gboolean
machine_running (Crash *c)
{
  const char *state = vireo_dbus_machine_get_state (c->machine);
  return g_str_equal (state, "running") || g_str_equal (state, "paused");
}

/* Whether every error qemu-img check named in @out is an OFLAG_COPIED one. */
static gboolean
only_copied_flag_errors (const char *out)
{
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  guint errors = 0;

  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], "ERROR"))
      {
        if (!g_str_has_prefix (lines[i], "ERROR OFLAG_COPIED"))
          return FALSE;
        errors++;
      }
  return errors > 0;
}

/* The journal keys of the machine's tree.ini: "applying" (an id or "") and "doomed" ("id;id;..." or ""). */
static void
read_journal (Crash *c, char **applying, char **doomed)
{
  g_autofree char *folder = machine_folder (c->f, c->machine);
  g_autofree char *path = g_build_filename (folder, "checkpoints", "tree.ini", NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();

  *applying = NULL;
  *doomed = NULL;
  if (g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL))
    {
      *applying = g_key_file_get_string (file, "tree", "applying", NULL);
      *doomed = g_key_file_get_string (file, "tree", "doomed", NULL);
    }
  if (*applying == NULL)
    *applying = g_strdup ("");
  if (*doomed == NULL)
    *doomed = g_strdup ("");
}

/* Whether a disk holds a vireo-* snapshot no listed checkpoint names: vireod removes those at load,
 * without a journal entry, so the judgement waits for that too. */
static gboolean
untracked_snapshots (Crash *c)
{
  g_autoptr (GHashTable) listed = checkpoints (c);

  for (guint d = 0; d < DISKS; d++)
    {
      g_autoptr (GPtrArray) snapshots = disk_checkpoint_snapshots (c->images[d]);
      for (guint i = 0; i < snapshots->len; i++)
        {
          g_autofree char *path = g_strconcat (c->machine_at, "/checkpoints/",
                                               (char *) snapshots->pdata[i] + strlen ("vireo-"), NULL);
          if (!g_hash_table_contains (listed, path))
            return TRUE;
        }
    }
  return FALSE;
}

/* vireod finishes an interrupted operation after it starts (the machine off or saved); a judgement waits
 * for it.  Returns the applying key left (the machine running: finished at its next operation or start). */
static char *
wait_for_recovery (Crash *c, guint trial, char **doomed_out)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) RECOVERY_SECONDS * G_USEC_PER_SEC;
  char *applying = NULL;
  g_autofree char *doomed = NULL;

  while (TRUE)
    {
      g_clear_pointer (&applying, g_free);
      g_clear_pointer (&doomed, g_free);
      read_journal (c, &applying, &doomed);
      if (machine_running (c) || (*applying == '\0' && *doomed == '\0' && !untracked_snapshots (c)))
        break;
      if (g_get_monotonic_time () > deadline)
        {
          test_say (
              "trial %u: after %d s the journal still holds applying=%s doomed=%s (or a disk an untracked "
              "snapshot)",
              trial, RECOVERY_SECONDS, applying, doomed);
          break;
        }
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10000);
    }
  if (*applying || *doomed)
    test_say ("trial %u: journal applying=%s doomed=%s", trial, applying, doomed);
  *doomed_out = g_steal_pointer (&doomed);
  return applying;
}

/* Whether the journal's doomed list @doomed ("id;id;") names the checkpoint of @name ("<id>",
 * "<id>.tmp" or "vireo-<id>"). */
static gboolean
journal_dooms (const char *doomed, const char *name)
{
  g_auto (GStrv) ids = g_strsplit (doomed, ";", -1);

  if (g_str_has_prefix (name, "vireo-"))
    name += strlen ("vireo-");
  for (guint i = 0; ids[i]; i++)
    if (*ids[i] && g_str_has_prefix (name, ids[i])
        && (name[strlen (ids[i])] == '\0' || g_str_equal (name + strlen (ids[i]), ".tmp")))
      return TRUE;
  return FALSE;
}

/* @target and, for a subtree, every checkpoint below it in @listed (path → properties). */
static GHashTable *
doomed_by (GHashTable *listed, Op op, const char *target)
{
  GHashTable *doomed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gboolean grew = TRUE;

  if (op != OP_DELETE && op != OP_DELETE_SUBTREE)
    return doomed;
  g_hash_table_add (doomed, g_strdup (target));
  while (op == OP_DELETE_SUBTREE && grew)
    {
      GHashTableIter iter;
      gpointer key, value;

      grew = FALSE;
      g_hash_table_iter_init (&iter, listed);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          const char *parent = NULL;
          if (g_variant_lookup (value, "Parent", "&o", &parent) && g_hash_table_contains (doomed, parent)
              && !g_hash_table_contains (doomed, key))
            grew = g_hash_table_add (doomed, g_strdup (key));
        }
    }
  return doomed;
}

/* Judges the machine after a trial in which @op on @target (NULL for a create) was interrupted; @doomed
 * are the checkpoints it may have removed, @pattern_at_op what Now held when it was sent.  Updates what
 * the checkpoints and Now hold. */
static void
judge (Crash *c, guint trial, Op op, const char *target, GHashTable *doomed, guint pattern_at_op,
       gboolean strict)
{
  gboolean running = machine_running (c);
  g_autofree char *journal_doomed = NULL;
  g_autofree char *applying = wait_for_recovery (c, trial, &journal_doomed);
  gboolean leaked = FALSE;
  g_autoptr (GHashTable) listed = checkpoints (c);
  g_autofree char *current = current_checkpoint (c);
  g_autofree char *folder = machine_folder (c->f, c->machine);
  GHashTableIter iter;
  gpointer key, value;

  test_say ("trial %u: %u checkpoints listed, current %s, machine %s", trial, g_hash_table_size (listed),
            current, vireo_dbus_machine_get_state (c->machine));
  g_assert_true (g_str_equal (current, "/") || g_hash_table_contains (listed, current));

  /* Checkpoints our records do not know: one create that went through before the kill. */
  g_hash_table_iter_init (&iter, listed);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *parent = NULL;
      const char *owner = NULL;
      gboolean has_state = FALSE;

      g_assert_true (g_variant_lookup (value, "Machine", "&o", &owner));
      g_assert_cmpstr (owner, ==, c->machine_at);
      g_assert_true (g_variant_lookup (value, "Parent", "&o", &parent));
      g_assert_true (g_str_equal (parent, "/") || g_hash_table_contains (listed, parent));
      g_assert_true (g_variant_lookup (value, "HasState", "b", &has_state));
      if (has_state)
        for (guint i = 0; i < 2; i++)
          {
            g_autofree char *file = g_build_filename (folder, "checkpoints", checkpoint_id (key),
                                                      i ? "memory" : "state", NULL);
            if (!g_file_test (file, G_FILE_TEST_IS_REGULAR))
              g_error ("trial %u: checkpoint %s has state but no %s", trial, (char *) key, file);
          }
      if (!g_hash_table_contains (c->patterns, key))
        {
          if (op != OP_CREATE)
            g_error ("trial %u: checkpoint %s appeared during a %s", trial, (char *) key, op_names[op]);
          test_say ("trial %u: the interrupted create made %s", trial, (char *) key);
          g_hash_table_insert (c->patterns, g_strdup (key), GUINT_TO_POINTER (pattern_at_op));
        }
    }
  /* Checkpoints that went away: only those an interrupted delete was removing. */
  g_hash_table_iter_init (&iter, c->patterns);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (listed, key))
      {
        if (doomed == NULL || !g_hash_table_contains (doomed, key))
          g_error ("trial %u: checkpoint %s was lost during a %s%s%s", trial, (char *) key, op_names[op],
                   target ? " of " : "", target ? target : "");
        g_hash_table_iter_remove (&iter);
      }

  for (guint d = 0; d < DISKS; d++)
    {
      g_autoptr (GPtrArray) snapshots = disk_checkpoint_snapshots (c->images[d]);
      const char *check[] = { "qemu-img", "check", "-U", c->images[d], NULL };
      g_autofree char *out = NULL;
      g_autofree char *errors = NULL;
      g_autoptr (GError) spawn_error = NULL;
      int status = -1;

      /* Its stderr names each error found. */
      g_spawn_sync (NULL, (char **) check, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errors, &status,
                    &spawn_error);
      g_assert_no_error (spawn_error);
      status = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
      if (status != 0)
        {
          char *both = g_strconcat (errors, out, NULL);
          g_free (out);
          out = both;
        }

      /* 0: clean; 3: only leaked clusters, which waste space and lose nothing.  2 with nothing but
       * OFLAG_COPIED errors: refcounts above what the tables reference (a snapshot half made when
       * qemu-img was killed), which `qemu-img check -r all` repairs; counted, reported at the end, and
       * repaired here when no worker holds the image, so that each trial is judged on its own. */
      if (status == 2 && only_copied_flag_errors (out))
        {
          test_say ("trial %u: %s: qemu-img check finds OFLAG_COPIED errors:\n%s", trial, c->images[d], out);
          g_string_append_printf (c->copied_errors, " %u", trial);
          if (!running)
            {
              const char *repair[] = { "qemu-img", "check", "-q", "-r", "all", c->images[d], NULL };
              g_assert_cmpint (vireo_test_run_judge (repair, NULL), ==, 0);
            }
        }
      else if (status != 0 && status != 3)
        g_error ("trial %u: qemu-img check %s: exit %d: %s", trial, c->images[d], status, out);
      if (status == 3)
        {
          const char *summary = strstr (out, "leaked clusters were found");
          const char *line = summary;
          while (line && line > out && line[-1] != '\n')
            line--;
          test_say ("trial %u: %s: %.*s", trial, c->images[d], summary ? (int) (summary - line) + 26 : 0,
                    line);
          leaked = TRUE;
        }

      g_hash_table_iter_init (&iter, listed);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          g_autofree char *name = g_strconcat ("vireo-", checkpoint_id (key), NULL);
          if (!g_ptr_array_find_with_equal_func (snapshots, name, g_str_equal, NULL))
            g_error ("trial %u: checkpoint %s has no snapshot %s on %s", trial, (char *) key, name,
                     c->images[d]);
          if (!holds_pattern (c, c->images[d], name,
                              GPOINTER_TO_UINT (g_hash_table_lookup (c->patterns, key))))
            g_error ("trial %u: the snapshot of checkpoint %s on %s lost its data", trial, (char *) key,
                     c->images[d]);
        }
      /* Leftovers are removed when no worker holds the disks. */
      if (!running)
        for (guint i = 0; i < snapshots->len; i++)
          {
            g_autofree char *path = g_strconcat (c->machine_at, "/checkpoints/",
                                                 (char *) snapshots->pdata[i] + strlen ("vireo-"), NULL);
            if (g_hash_table_contains (listed, path))
              continue;
            /* Named in the journal: vireod removes it before the next operation. */
            if (!strict && journal_dooms (journal_doomed, snapshots->pdata[i]))
              {
                test_say ("trial %u: %s still holds the snapshot %s, which the journal dooms", trial,
                          c->images[d], (char *) snapshots->pdata[i]);
                c->pending_cleanups++;
                continue;
              }
            g_error ("trial %u: %s holds the snapshot %s of no checkpoint", trial, c->images[d],
                     (char *) snapshots->pdata[i]);
          }
    }

  c->leaks += leaked;

  /* Now: its own content, or after an apply, the applied checkpoint's with CurrentCheckpoint naming it. */
  if (op == OP_APPLY && (g_str_equal (current, target) || (*applying && g_str_has_suffix (target, applying)))
      && holds_pattern (c, c->images[0], NULL, GPOINTER_TO_UINT (g_hash_table_lookup (c->patterns, target))))
    c->now_pattern = GPOINTER_TO_UINT (g_hash_table_lookup (c->patterns, target));
  for (guint d = 0; d < DISKS; d++)
    if (!holds_pattern (c, c->images[d], NULL, c->now_pattern))
      g_error ("trial %u: Now lost its data on %s (current %s)", trial, c->images[d], current);

  /* The folder holds nothing but the tree and the listed checkpoints. */
  {
    g_autofree char *dir_path = g_build_filename (folder, "checkpoints", NULL);
    g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
    const char *entry;

    while (dir && (entry = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *path = g_strconcat (c->machine_at, "/checkpoints/", entry, NULL);
        if (g_str_equal (entry, "tree.ini") || g_hash_table_contains (listed, path))
          continue;
        if (!strict && journal_dooms (journal_doomed, entry))
          {
            test_say ("trial %u: %s/%s is still there, which the journal dooms", trial, dir_path, entry);
            continue;
          }
        g_error ("trial %u: %s/%s belongs to no checkpoint", trial, dir_path, entry);
      }
  }
}

/* ---- operations ---- */

/* Sends @op (an apply with "start" when @start); returns without waiting for the reply. */
static void
send_op (Crash *c, Op op, const char *target, gboolean start, PendingCall *pending)
{
  if (op == OP_CREATE)
    g_dbus_connection_call (c->f->connection, BUS_NAME, c->machine_at, MACHINE_IFACE, "CreateCheckpoint",
                            g_variant_new_parsed ("('', @a{sv} {})"), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                            CALL_TIMEOUT_MS, NULL, store_pending_call, pending);
  else
    g_dbus_connection_call (
        c->f->connection, BUS_NAME, target, CHECKPOINT_IFACE, op == OP_APPLY ? "Apply" : "Delete",
        op == OP_APPLY ? g_variant_new_parsed ("({'start': <%b>},)", start)
                       : g_variant_new ("(b)", op == OP_DELETE_SUBTREE),
        NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, store_pending_call, pending);
}

static GVariant *
finish_op (Crash *c, PendingCall *pending, GError **error)
{
  while (pending->result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_dbus_connection_call_finish (c->f->connection, g_steal_pointer (&pending->result), error);
}

/* @op done to its end, timed; records what it changed. */
static void
run_op (Crash *c, Op op, const char *target)
{
  PendingCall pending = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GHashTable) listed = checkpoints (c);
  g_autoptr (GHashTable) doomed = doomed_by (listed, op, target);
  gint64 start = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key;

  send_op (c, op, target, FALSE, &pending);
  reply = finish_op (c, &pending, &error);
  if (error)
    g_error ("%s of %s failed: %s", op_names[op], target ? target : "a new checkpoint", error->message);
  c->op_time[op] = MAX (c->op_time[op], g_get_monotonic_time () - start);
  if (op == OP_CREATE)
    {
      const char *path;
      g_variant_get (reply, "(&o)", &path);
      g_hash_table_insert (c->patterns, g_strdup (path), GUINT_TO_POINTER (c->now_pattern));
    }
  else if (op == OP_APPLY)
    c->now_pattern = GPOINTER_TO_UINT (g_hash_table_lookup (c->patterns, target));
  g_hash_table_iter_init (&iter, doomed);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_hash_table_remove (c->patterns, key);
}

/* A random listed checkpoint. */
static char *
random_checkpoint (Crash *c)
{
  g_autoptr (GHashTable) listed = checkpoints (c);
  g_autoptr (GList) keys = g_hash_table_get_keys (listed);

  g_assert_nonnull (keys);
  return g_strdup (g_list_nth_data (keys, g_rand_int_range (c->rand, 0, (gint32) g_list_length (keys))));
}

/* Gives Now a pattern of its own (the machine must be off). */
static void
new_now (Crash *c)
{
  c->now_pattern = c->next_pattern++;
  if (c->next_pattern > 0xf0)
    c->next_pattern = 0x10;
  for (guint d = 0; d < DISKS; d++)
    disk_write_pattern (c->images[d], c->now_pattern);
}

static void
ensure_running (Crash *c)
{
  const char *state = vireo_dbus_machine_get_state (c->machine);

  if (g_str_equal (state, "running"))
    return;
  if (g_str_equal (state, "paused"))
    call_ok (c->machine, "Resume", NULL);
  else
    call_ok (c->machine, "Start", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (c->machine), ==, "running");
}

/* Whether @pid is a live worker of the machine @uuid. */
static gboolean
process_listed (const char *uuid, pid_t pid)
{
  g_autoptr (GArray) pids = vireo_test_find_processes ("vireo-worker", uuid);

  for (guint i = 0; i < pids->len; i++)
    if (g_array_index (pids, pid_t, i) == pid)
      return TRUE;
  return FALSE;
}

/* One trial: @op on a random checkpoint (or a create), the victim killed after a random delay up to a
 * little more than the operation takes. */
static void
trial (Crash *c, guint number, gboolean running_phase)
{
  Op op;
  g_autofree char *target = NULL;
  g_autoptr (GHashTable) listed = checkpoints (c);
  guint count = g_hash_table_size (listed);
  gint32 roll;
  gboolean kill_worker;
  gboolean start;
  gint64 delay;
  pid_t worker = 0;
  PendingCall pending = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GHashTable) doomed = NULL;
  guint pattern_at_op;

  /* Mostly creates while the tree is small, so that applies and deletes find a tree of some depth. */
  roll = g_rand_int_range (c->rand, 0, 100);
  if (count == 0 || (count < 3 && roll < 60))
    op = OP_CREATE;
  else if (count >= MAX_CHECKPOINTS)
    op = roll < 60 ? OP_DELETE : OP_DELETE_SUBTREE;
  else
    op = roll < 35 ? OP_CREATE : roll < 60 ? OP_APPLY : roll < 85 ? OP_DELETE : OP_DELETE_SUBTREE;
  if (op != OP_CREATE)
    target = random_checkpoint (c);
  doomed = doomed_by (listed, op, target);
  if (running_phase)
    ensure_running (c);
  else if (g_rand_boolean (c->rand))
    new_now (c);
  pattern_at_op = c->now_pattern;
  kill_worker = running_phase && g_rand_boolean (c->rand);
  if (kill_worker)
    worker = worker_pid (c->machine);
  delay = g_rand_int_range (c->rand, 0, (gint32) MIN (c->op_time[op] * 3 / 2 + 2000, G_MAXINT32));

  /* A running machine's apply with "start" is the worker's, in place, when the checkpoint has state. */
  start = running_phase && op == OP_APPLY && g_rand_boolean (c->rand);
  test_say ("trial %u: %s%s%s%s, machine %s, SIGKILL to %s after %" G_GINT64_FORMAT
            " µs (it takes about %" G_GINT64_FORMAT " µs)",
            number, op_names[op], start ? " with start" : "", target ? " of " : "", target ? target : "",
            vireo_dbus_machine_get_state (c->machine), kill_worker ? "the worker" : "vireod", delay,
            c->op_time[op]);
  send_op (c, op, target, start, &pending);
  /* The call leaves at once; the kill a while later. */
  g_dbus_connection_flush_sync (c->f->connection, NULL, NULL);
  g_usleep ((gulong) delay);
  if (kill_worker)
    {
      /* An apply may have turned the worker off already. */
      if (kill (worker, SIGKILL) < 0)
        g_assert_cmpint (errno, ==, ESRCH);
    }
  else
    vireod_kill (c->f);
  reply = finish_op (c, &pending, &error);
  test_say ("trial %u: the call %s", number, error ? error->message : "was done before the kill");
  if (error)
    c->interrupted++;
  else if (op == OP_CREATE)
    {
      const char *path;
      g_variant_get (reply, "(&o)", &path);
      g_hash_table_insert (c->patterns, g_strdup (path), GUINT_TO_POINTER (pattern_at_op));
    }
  if (kill_worker)
    {
      /* Until it is gone (an apply with start that it interrupted may have started a new one). */
      VIREO_TEST_WAIT_FOR (!process_listed (vireo_dbus_machine_get_uuid (c->machine), worker),
                           "the killed worker to be gone", WAIT_SECONDS);
    }
  crash_reconnect (c);
  /* Judged at rest: qemu-img cannot judge an image a worker has open (its caches are the worker's). */
  if (machine_running (c))
    {
      /* vireod cleans up what the worker's disks hold when it loads a machine that is off. */
      call_ok (c->machine, "TurnOff", NULL);
      crash_reconnect (c);
      test_say ("trial %u: turned off and vireod restarted, to be judged", number);
    }
  judge (c, number, op, target, doomed, pattern_at_op, FALSE);
}

static void
test_crash (Fixture *f)
{
  Crash c = { f };
  const char *seed_text = g_getenv ("VIREO_CHECKPOINT_CRASH_SEED");
  guint32 seed = seed_text ? (guint32) g_ascii_strtoull (seed_text, NULL, 10) : g_random_int ();
  g_autoptr (GError) error = NULL;
  g_autofree char *folder = NULL;
  gboolean running_supported = TRUE;

  if (!vireo_test_require_programs ((const char *const[]){ "qemu-img", "qemu-io", NULL }))
    return;
  g_test_message ("seed %u (VIREO_CHECKPOINT_CRASH_SEED=%u replays these trials)", seed, seed);
  g_printerr ("# seed %u (VIREO_CHECKPOINT_CRASH_SEED=%u replays these trials)\n", seed, seed);
  c.rand = g_rand_new_with_seed (seed);
  c.patterns = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  c.next_pattern = 0x10;
  c.copied_errors = g_string_new (NULL);

  c.machine = create_guest (f, "crash", "echo");
  c.machine_at = g_strdup (machine_path (c.machine));
  folder = machine_folder (f, c.machine);
  for (guint d = 0; d < DISKS; d++)
    {
      g_autoptr (GVariant) reply = call_full (
          c.machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"), NULL, &error);
      g_assert_no_error (error);
      c.images[d] = g_build_filename (folder, d == 0 ? "vda.qcow2" : "vdb.qcow2", NULL);
      g_assert_true (g_file_test (c.images[d], G_FILE_TEST_IS_REGULAR));
    }

  /* Each operation once to its end, off, to know how long it takes. */
  new_now (&c);
  run_op (&c, OP_CREATE, NULL);
  new_now (&c);
  run_op (&c, OP_CREATE, NULL);
  {
    g_autofree char *target = random_checkpoint (&c);
    run_op (&c, OP_APPLY, target);
  }
  new_now (&c);
  run_op (&c, OP_CREATE, NULL);
  {
    g_autofree char *target = random_checkpoint (&c);
    run_op (&c, OP_DELETE, target);
  }
  c.op_time[OP_DELETE_SUBTREE] = c.op_time[OP_DELETE];
  judge (&c, 0, OP_CREATE, NULL, NULL, c.now_pattern, TRUE);

  for (guint t = 1; t <= TRIALS; t++)
    {
      gboolean running_phase = t > TRIALS / 2 && running_supported;

      if (t == TRIALS / 2 + 1)
        {
          /* The running half: the same operations timed once more, now done by the worker. */
          g_autoptr (GError) create_error = NULL;
          g_autoptr (GVariant) reply = NULL;
          PendingCall pending = { 0 };

          ensure_running (&c);
          send_op (&c, OP_CREATE, NULL, FALSE, &pending);
          reply = finish_op (&c, &pending, &create_error);
          if (create_error)
            {
              g_test_message ("a running machine's checkpoint failed (%s): the rest of the trials run off",
                              create_error->message);
              g_printerr ("# a running machine's checkpoint failed: %s\n", create_error->message);
              running_supported = running_phase = FALSE;
              call_ok (c.machine, "TurnOff", NULL);
            }
          else
            {
              const char *path;
              g_variant_get (reply, "(&o)", &path);
              g_hash_table_insert (c.patterns, g_strdup (path), GUINT_TO_POINTER (c.now_pattern));
              memset (c.op_time, 0, sizeof c.op_time);
              run_op (&c, OP_CREATE, NULL);
              {
                g_autofree char *target = random_checkpoint (&c);
                run_op (&c, OP_DELETE, target);
              }
              c.op_time[OP_DELETE_SUBTREE] = c.op_time[OP_DELETE];
              /* Apply leaves it saved or off; it is timed as a trial goes. */
              c.op_time[OP_APPLY] = c.op_time[OP_CREATE];
              judge (&c, t, OP_CREATE, NULL, NULL, c.now_pattern, FALSE);
            }
        }
      trial (&c, t, running_phase);
    }
  g_test_message ("%u of %u calls were cut off by the kill; %u judgements found leaked clusters",
                  c.interrupted, TRIALS, c.leaks);
  g_printerr ("# %u of %u calls cut off by the kill; leaked clusters after %u trials\n", c.interrupted,
              TRIALS, c.leaks);
  if (machine_running (&c))
    call_ok (c.machine, "TurnOff", NULL);
  /* The journal's leftovers go before the next operation: one more, a restart, and nothing may be left. */
  run_op (&c, OP_CREATE, NULL);
  crash_reconnect (&c);
  judge (&c, TRIALS + 1, OP_CREATE, NULL, NULL, c.now_pattern, TRUE);
  test_say (
      "%u snapshots of doomed checkpoints were still there after a restart (removed at the next operation)",
      c.pending_cleanups);
  if (c.copied_errors->len > 0)
    g_error ("qemu-img check found OFLAG_COPIED errors (refcounts out of step with the tables) after the "
             "trials%s (each names above the operation the kill interrupted)",
             c.copied_errors->str);
  g_string_free (c.copied_errors, TRUE);

  g_clear_object (&c.machine);
  g_free (c.machine_at);
  for (guint d = 0; d < DISKS; d++)
    g_free (c.images[d]);
  g_hash_table_unref (c.patterns);
  g_rand_free (c.rand);
}

static const ServiceTest crash_test = { "/slow/checkpoint-crash", test_crash, TRUE, FALSE, NULL, 900 };

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func (crash_test.path, &crash_test, run_service_test);
  return g_test_run ();
}
