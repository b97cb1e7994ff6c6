/* test-util.h — helpers shared by the test programs: KVM availability, test guest paths, a recording
 * HvPlatform for device unit tests. */
#pragma once

#include "platform.h"

/* TRUE when /dev/kvm can be opened read-write.  Otherwise marks the running test skipped with the reason
 * (g_test_skip) and returns FALSE: call it first and return when it fails. */
gboolean vireo_test_require_kvm (void);

/* Full path of a built test guest ("hello" → $VIREO_GUESTS_DIR/hello.elf). */
char *vireo_test_guest_path (const char *name);

/* Path of the vireo-run binary under test. */
const char *vireo_test_vireo_run (void);

/* A VM for a test guest with its serial output collected in a memfd and its input fed from a pipe. */
typedef struct
{
  HvVm *vm;
  int output_fd;     /* memfd: everything the guest wrote to COM1 */
  int input_pipe[2]; /* write to [1] to type into the guest */
} VireoTestGuest;

/* Creates the VM (not started) with @memory bytes and @cpus vCPUs; asserts on failure, so call
 * vireo_test_require_kvm() first. */
void vireo_test_guest_init (VireoTestGuest *guest, uint64_t memory, unsigned cpus);
void vireo_test_guest_clear (VireoTestGuest *guest);
/* Everything the guest wrote so far, NUL-terminated. */
char *vireo_test_guest_output (VireoTestGuest *guest);
/* Waits up to @seconds for @needle in the output; FALSE if it did not come or the VM ended first. */
gboolean vireo_test_guest_wait_for_output (VireoTestGuest *guest, const char *needle, unsigned seconds);
/* Whether every program of @programs (NULL-terminated) is in PATH; otherwise the test is skipped naming the
 * first one missing. */
gboolean vireo_test_require_programs (const char *const *programs);

/* What a vireo-run run left: its exit status (it must have exited), stdout and stderr. */
typedef struct
{
  int status;
  char *out;
  char *err;
} VireoTestRun;

/* Runs vireo-run with @args (NULL-terminated) and VIREO_AIO=@aio (NULL: unset) to its end. */
VireoTestRun vireo_test_run_vireo_run (const char *aio, const char *const *args);
void vireo_test_run_clear (VireoTestRun *run);
/* @run said one line on stderr, naming @path and containing @needle. */
void vireo_test_assert_one_line_error (const VireoTestRun *run, const char *path, const char *needle);

/* Builds a machine of 128 MiB from @spec, restores the echo guest saved in @dir_fd into it and ends it with
 * "q": it must go on where it was ("after echo done") and power off.  For the devices' save/restore tests. */
void vireo_test_restore_echo_guest (const HvMachineSpec *spec, int dir_fd);

/* One access through a device's I/O handler, as a guest's in/out of @len bytes (1, 2 or 4) would make it;
 * reads start from all ones like an idle bus. */
uint32_t vireo_test_io_read (HvIoHandler handler, void *opaque, uint64_t offset, unsigned len);
void vireo_test_io_write (HvIoHandler handler, void *opaque, uint64_t offset, unsigned len, uint32_t value);

/* Device save/load tests: @state (consumed) passed through its serialized bytes, as it goes through a
 * state file; and @good with @key replaced by the GVariant text @value. */
GVariant *vireo_test_state_through_bytes (GVariant *state);
GVariant *vireo_test_state_spoiled (GVariant *good, const char *key, const char *value);

/* An HvPlatform that records what devices ask for. */
typedef struct
{
  HvPlatform platform;
  GMutex lock;
  gboolean irq_level[32];
  unsigned irq_raises[32];  /* 0 → 1 transitions per line */
  HvExitReason exit_reason; /* first request_exit, HV_EXIT_NONE if none */
  char *exit_message;
  unsigned exit_requests;
} VireoTestPlatform;

void vireo_test_platform_init (VireoTestPlatform *tp);
void vireo_test_platform_clear (VireoTestPlatform *tp);

/* ---- main loop and processes ---- */

typedef gboolean (*VireoTestCondition) (gpointer data);

/* Runs the default main context until @condition holds or @seconds pass; returns the condition. */
gboolean vireo_test_wait_until (VireoTestCondition condition, gpointer data, unsigned seconds);

/* Processes whose program's base name is @program (NULL: any) and one of whose arguments (argv[0] too: sshd
 * retitles itself) contains @needle. */
typedef struct
{
  const char *program;
  const char *needle;
} VireoTestProcessQuery;

GArray *vireo_test_find_processes (const char *program, const char *needle);
/* A VireoTestCondition on a VireoTestProcessQuery: no such process is left. */
gboolean vireo_test_processes_gone (gpointer data);
/* Sends @signal_number to every matching process; TRUE when none is left within @seconds. */
gboolean vireo_test_signal_processes (const char *program, const char *needle, int signal_number,
                                      unsigned seconds);
/* Deletes a folder and everything in it. */
void vireo_test_remove_tree (const char *path);
/* Runs @argv (a judge such as qemu-img or qemu-io, found in PATH), its stdout in *@out when @out is not
 * NULL; the exit status, or -1 when it could not run or was killed. */
int vireo_test_run_judge (const char *const *argv, char **out);
/* Makes an ISO 9660 image at @path with volume name @volume holding one small file, with xorriso (the
 * caller checks it is installed); the file's folder goes in @dir.  TRUE when xorriso succeeded. */
gboolean vireo_test_make_iso (const char *dir, const char *path, const char *volume);

/* For tests that run a program as another user (root only): TRUE when @uid/@gid (no supplementary
 * groups) can execute each of the NULL-terminated paths; otherwise the test is marked skipped, naming the
 * path that user cannot reach (a build tree under a mode-700 home, say). */
gboolean vireo_test_user_can_run (uid_t uid, gid_t gid, const char *path, ...) G_GNUC_NULL_TERMINATED;

/* Runs the default main context until @condition (an expression) holds; after @seconds the test fails
 * naming @what.  For conditions no event announces, it also polls every 2 ms when the loop is idle. */
#define VIREO_TEST_WAIT_FOR(condition, what, seconds)                                                        \
  G_STMT_START                                                                                               \
  {                                                                                                          \
    gint64 deadline_ = g_get_monotonic_time () + (gint64) (seconds) *G_USEC_PER_SEC;                         \
    while (!(condition))                                                                                     \
      {                                                                                                      \
        if (g_get_monotonic_time () > deadline_)                                                             \
          g_error ("gave up after %d s waiting for %s", (int) (seconds), what);                              \
        if (!g_main_context_iteration (NULL, FALSE))                                                         \
          g_usleep (2000);                                                                                   \
      }                                                                                                      \
  }                                                                                                          \
  G_STMT_END
