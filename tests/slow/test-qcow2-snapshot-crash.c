/* test-qcow2-snapshot-crash.c — crash safety of qcow2 internal snapshots: 50 trials, each a child process
 * creating, applying and deleting snapshots of a fresh image (hv_block_snapshot_file, as for a stopped
 * machine) in a loop, killed with SIGKILL at a random moment.  Afterwards qemu-img check finds no
 * corruption (leaked clusters are allowed, and QCOW_OFLAG_COPIED out of step with a refcount in the
 * active tables, which qemu-img check counts as an error but -r all rewrites: QEMU's own order has the
 * same window, see qcow2-snapshot.c), every snapshot still listed holds the data it was made with,
 * and the active state is what it was before or after the operation in progress.
 *
 * The operations come from the trial's seed, so the parent replays them to know what each snapshot holds;
 * the child reports each operation done on a pipe.  --seed reproduces the trials. */
#include "test-util.h"

#include "block/block.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRIALS    50
#define MAX_STEPS 100000
#define REGION    "256k"
#define MAX_LIVE  5

typedef struct
{
  HvBlockSnapshotOp op;
  char name[16];
  int pattern_after; /* the active state's pattern after the step */
} Step;

/* The steps of a trial and, per snapshot name, the pattern it holds. */
typedef struct
{
  GArray *steps;
  GHashTable *patterns; /* name → pattern (GINT_TO_POINTER) */
} Plan;

static void
plan_make (Plan *plan, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr (GPtrArray) live = g_ptr_array_new_with_free_func (g_free);
  int active = 0xa2;
  unsigned next = 0;

  plan->steps = g_array_new (FALSE, TRUE, sizeof (Step));
  plan->patterns = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_insert (plan->patterns, g_strdup ("base"), GINT_TO_POINTER (0xa0));
  g_hash_table_insert (plan->patterns, g_strdup ("one"), GINT_TO_POINTER (0xa1));
  g_ptr_array_add (live, g_strdup ("base"));
  g_ptr_array_add (live, g_strdup ("one"));
  for (unsigned i = 0; i < MAX_STEPS; i++)
    {
      Step step = { 0 };
      unsigned r = g_rand_int_range (rand, 0, 3);

      if (live->len < 2)
        r = 0;
      else if (live->len >= MAX_LIVE && r == 0)
        r = 2;
      if (r == 0)
        {
          step.op = HV_BLOCK_SNAPSHOT_CREATE;
          g_snprintf (step.name, sizeof step.name, "c%u", next++);
          g_hash_table_insert (plan->patterns, g_strdup (step.name), GINT_TO_POINTER (active));
          g_ptr_array_add (live, g_strdup (step.name));
        }
      else
        {
          guint pick = g_rand_int_range (rand, 0, live->len);

          g_strlcpy (step.name, g_ptr_array_index (live, pick), sizeof step.name);
          if (r == 1)
            {
              step.op = HV_BLOCK_SNAPSHOT_APPLY;
              active = GPOINTER_TO_INT (g_hash_table_lookup (plan->patterns, step.name));
            }
          else
            {
              step.op = HV_BLOCK_SNAPSHOT_DELETE;
              g_ptr_array_remove_index (live, pick);
            }
        }
      step.pattern_after = active;
      g_array_append_val (plan->steps, step);
    }
}

static void
plan_clear (Plan *plan)
{
  g_array_unref (plan->steps);
  g_hash_table_unref (plan->patterns);
}

static int judge (const char *dir, char **out, const char *format, ...) G_GNUC_PRINTF (3, 4);

static int
judge (const char *dir, char **out, const char *format, ...)
{
  g_autofree char *line = NULL;
  g_autofree char *cmd = NULL;
  g_auto (GStrv) argv = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  cmd = g_strdup_printf ("cd '%s' && %s", dir, line);
  argv = g_new0 (char *, 4);
  argv[0] = g_strdup ("sh");
  argv[1] = g_strdup ("-c");
  argv[2] = g_strdup (cmd);
  return vireo_test_run_judge ((const char *const *) argv, out);
}

static void
child_run (const char *image, const Plan *plan, int fd)
{
  for (guint i = 0; i < plan->steps->len; i++)
    {
      const Step *step = &g_array_index (plan->steps, Step, i);
      g_autoptr (GError) error = NULL;
      char line[32];
      int len;

      if (!hv_block_snapshot_file (image, step->op, step->name, &error))
        {
          len = g_snprintf (line, sizeof line, "fail %u\n", i);
          (void) !write (fd, line, len);
          g_printerr ("%s\n", error->message);
          _exit (1);
        }
      len = g_snprintf (line, sizeof line, "done %u\n", i);
      if (write (fd, line, len) != len)
        _exit (1);
    }
  _exit (0);
}

static void
test_crash (void)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  unsigned leaked_trials = 0, copied_trials = 0;

  if (qemu_img == NULL)
    {
      g_test_skip ("qemu-img and qemu-io are not installed (Debian: qemu-utils)");
      return;
    }
  dir = g_dir_make_tmp ("vireo-snap-crash-XXXXXX", &error);
  g_assert_no_error (error);
  for (unsigned t = 0; t < TRIALS; t++)
    {
      g_autofree char *image = g_build_filename (dir, "s.qcow2", NULL);
      g_autofree char *out = NULL;
      g_autofree char *text = NULL;
      g_auto (GStrv) lines = NULL;
      GString *got = g_string_new (NULL);
      guint32 seed = g_test_rand_int ();
      gint64 delay = g_test_rand_int_range (0, 400) * 1000;
      int done = -1, status, fds[2];
      Plan plan;
      pid_t pid;
      char buf[4096];
      ssize_t n;

      plan_make (&plan, seed);
      g_assert_cmpint (judge (dir, &out,
                              "rm -f s.qcow2 v.qcow2 && qemu-img create -q -f qcow2 -o "
                              "cluster_size=4096 s.qcow2 1M && qemu-io -c 'write -P 0xa0 0 %s' "
                              "s.qcow2 && qemu-img snapshot -c base s.qcow2 && qemu-io -c 'write "
                              "-P 0xa1 0 128k' s.qcow2 && qemu-img snapshot -c one s.qcow2 && "
                              "qemu-io -c 'write -P 0xa1 128k 128k' s.qcow2",
                              REGION),
                       ==, 0);
      /* "one" made again over a region all 0xa1 (it first shared half its clusters with "base"). */
      g_clear_pointer (&out, g_free);
      g_assert_cmpint (judge (dir, &out,
                              "qemu-img snapshot -d one s.qcow2 && qemu-img snapshot -c one s.qcow2 "
                              "&& qemu-io -c 'write -P 0xa2 0 %s' s.qcow2",
                              REGION),
                       ==, 0);
      g_clear_pointer (&out, g_free);

      g_assert_cmpint (pipe (fds), ==, 0);
      pid = fork ();
      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          close (fds[0]);
          child_run (image, &plan, fds[1]);
        }
      close (fds[1]);
      g_usleep (delay);
      kill (pid, SIGKILL);
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      while ((n = read (fds[0], buf, sizeof buf)) > 0)
        g_string_append_len (got, buf, n);
      close (fds[0]);
      text = g_string_free (got, FALSE);
      lines = g_strsplit (text, "\n", -1);
      for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++)
        {
          unsigned step;

          if (sscanf (lines[i], "done %u", &step) == 1)
            done = step;
          else if (g_str_has_prefix (lines[i], "fail"))
            g_error ("trial %u (seed %u): the child failed: %s", t, seed, text);
        }
      g_test_message ("trial %u: seed %u, killed after %" G_GINT64_FORMAT " ms, %d steps done", t, seed,
                      delay / 1000, done + 1);

      status = judge (dir, &out, "qemu-img check s.qcow2 2>&1");
      if (status == 2)
        {
          /* Only the window no order closes (see qcow2-snapshot.c): a refcount crossed 1 and
           * QCOW_OFLAG_COPIED in the active tables did not follow yet.  Anything else fails; the image
           * -r all repairs then checks clean. */
          g_auto (GStrv) rows = g_strsplit (out, "\n", -1);
          g_autofree char *repaired = NULL;

          for (guint i = 0; rows[i] != NULL; i++)
            if (g_str_has_prefix (rows[i], "ERROR") && strstr (rows[i], "OFLAG_COPIED") == NULL)
              g_error ("trial %u (seed %u, %d steps done): qemu-img check: %s", t, seed, done + 1, out);
          g_assert_cmpint (judge (dir, &repaired,
                                  "cp s.qcow2 r.qcow2 && qemu-img check -q -r all r.qcow2 >/dev/null 2>&1; "
                                  "qemu-img check r.qcow2"),
                           ==, 0);
          copied_trials++;
        }
      else if (status != 0 && status != 3)
        g_error ("trial %u (seed %u, %d steps done): qemu-img check: exit %d: %s", t, seed, done + 1, status,
                 out);
      leaked_trials += status == 3;
      g_clear_pointer (&out, g_free);

      /* The active state: before or after the step in progress. */
      {
        int before = done >= 0 ? g_array_index (plan.steps, Step, done).pattern_after : 0xa2;
        int after = g_array_index (plan.steps, Step, done + 1).pattern_after;

        status = judge (dir, &out, "qemu-io -r -c 'read -P 0x%02x 0 %s' s.qcow2", before, REGION);
        if (status != 0 || strstr (out, "verification failed") != NULL)
          {
            g_clear_pointer (&out, g_free);
            status = judge (dir, &out, "qemu-io -r -c 'read -P 0x%02x 0 %s' s.qcow2", after, REGION);
            if (status != 0 || strstr (out, "verification failed") != NULL)
              g_error ("trial %u (seed %u): the active state is neither 0x%02x nor 0x%02x: %s", t, seed,
                       before, after, out);
          }
        g_clear_pointer (&out, g_free);
      }

      /* Every snapshot listed holds its data. */
      g_assert_cmpint (judge (dir, &out, "qemu-img snapshot -l s.qcow2"), ==, 0);
      {
        g_auto (GStrv) rows = g_strsplit (out, "\n", -1);

        for (guint i = 0; rows[i] != NULL; i++)
          {
            g_auto (GStrv) cols = g_strsplit_set (g_strstrip (rows[i]), " \t", -1);
            g_autofree char *check = NULL;
            const char *name = NULL;
            gpointer pattern;

            for (guint c = 1; cols[0] != NULL && cols[c] != NULL && name == NULL; c++)
              if (*cols[c] != '\0')
                name = cols[c];
            if (name == NULL || !g_hash_table_lookup_extended (plan.patterns, name, NULL, &pattern))
              continue;
            status = judge (
                dir, &check,
                "cp s.qcow2 v.qcow2 && qemu-img snapshot -a '%s' v.qcow2 && qemu-img check v.qcow2 "
                ">/dev/null; [ $? -eq 0 -o $? -eq 3 ] && qemu-io -c 'read -P 0x%02x 0 %s' v.qcow2",
                name, GPOINTER_TO_INT (pattern), REGION);
            if (status != 0 || strstr (check, "verification failed") != NULL)
              g_error ("trial %u (seed %u): snapshot %s does not hold 0x%02x: %s", t, seed, name,
                       GPOINTER_TO_INT (pattern), check);
          }
      }
      g_clear_pointer (&out, g_free);
      plan_clear (&plan);
    }
  g_test_message ("%u of %u trials left leaked clusters, %u only QCOW_OFLAG_COPIED out of step",
                  leaked_trials, TRIALS, copied_trials);
  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);

    g_assert_cmpint (system (cmd), ==, 0);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/slow/qcow2-snapshot-crash", test_crash);
  return g_test_run ();
}
