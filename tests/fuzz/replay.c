/* replay.c — runs a fuzz target's LLVMFuzzerTestOneInput over files, without libFuzzer: each
 * argument is a file or a folder of files (the committed corpus and the inputs of crashes found
 * before).  Built with every fuzz target in the normal build, so the unit suite (and CI's sanitizer
 * build) replays them all. Prints one TAP line per file. */
#include "fuzz-input.h"

#include <stdio.h>

static unsigned n_run;

static void
replay_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length;

  if (!g_file_get_contents (path, &contents, &length, &error))
    {
      printf ("not ok %u %s: %s\n", ++n_run, path, error->message);
      return;
    }
  /* An allocation of exactly the file's size, as libFuzzer gives, so reads past the end are caught.
   */
  {
    g_autofree uint8_t *input = g_memdup2 (contents, length);
    LLVMFuzzerTestOneInput (input, length);
  }
  printf ("ok %u %s\n", ++n_run, path);
  fflush (stdout);
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);

  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GDir) dir = g_dir_open (argv[i], 0, NULL);
      const char *name;

      if (dir == NULL)
        {
          g_ptr_array_add (files, g_strdup (argv[i]));
          continue;
        }
      while ((name = g_dir_read_name (dir)) != NULL)
        if (name[0] != '.' && !g_str_has_suffix (name, ".md"))
          g_ptr_array_add (files, g_build_filename (argv[i], name, NULL));
    }
  g_ptr_array_sort (files, compare_paths);
  if (files->len == 0)
    {
      printf ("1..0 # SKIP no inputs\n");
      return 0;
    }
  printf ("1..%u\n", files->len);
  for (guint i = 0; i < files->len; i++)
    replay_file (g_ptr_array_index (files, i));
  return 0;
}
