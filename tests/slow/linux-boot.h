/* linux-boot.h — what the slow suite's Linux boot test shares between its runner (test-linux-boot.c) and the
 * lines the kernel must print (linux-boot-steps.c). */
#pragma once

#include "test-util.h"

#include <gio/gio.h>
#include "layout.h"

#define MEMORY_SIZE (512ull << 20)
#define MEMORY_ARG  "512M"
#define N_CPUS      2
#define MARKER      "vireo.slow_marker=7f3a"
/* noxsave: this host's emulator hangs on xrstor in ring 0 (ARCHITECTURE.md).  earlyprintk shows the lines
 * before the console driver starts, so an early death is visible.  nokaslr keeps the bzImage's load
 * address, and so each run, the same.  lapic=notscdeadline: with the TSC-deadline timer (and ARAT) the
 * kernel never starts the PIT, and nothing before the int3 self-test takes an interrupt; without it the
 * kernel runs the PIT through the MADT's IRQ 0 override and IOAPIC pin 2 and checks that its interrupts
 * arrive (check_timer), then calibrates the local APIC timer against it. */
#define CMDLINE "console=ttyS0 earlyprintk=serial noxsave nokaslr lapic=notscdeadline " MARKER
/* The menu entry of make-grub-images.sh, and what GRUB puts before the command line it passes. */
#define GRUB_ENTRY     "Vireo slow-suite kernel"
#define GRUB_BOOT_ARGS "BOOT_IMAGE=/boot/bzImage "

/* Where ring 0 is emulated, early boot takes about two minutes, and a bzImage first spends about two more
 * unpacking itself (measured: PVH 130 s, bzImage 230 s); real VT takes seconds.  Meson's timeout for these
 * tests is longer, so that this one, which shows the output, fires first. */
#define HARD_TIMEOUT_S (15 * 60)
/* Once the last line before the int3 self-test is out, this much silence means the kernel is stuck there;
 * the longest quiet stretch of an emulated boot before that point is about half a minute. */
#define SILENCE_S  60
#define TAIL_LINES 40

typedef enum
{
  TEST_ERROR_FAILED,
  TEST_ERROR_TIMED_OUT,
} TestError;

#define TEST_ERROR (test_error_quark ())
GQuark test_error_quark (void);

typedef enum
{
  STEP_NO_MATCH,
  STEP_MATCH,
  STEP_FAIL,
} StepResult;

typedef struct Boot Boot;
typedef StepResult (*StepMatch) (Boot *boot, const char *line, GError **error);

typedef struct
{
  const char *phase; /* what the matched line proves, for the timing report */
  StepMatch match;
} Step;

typedef struct
{
  uint64_t start;
  uint64_t end;     /* exclusive */
  const char *type; /* as Linux prints it: "usable", "reserved" */
} E820Range;

typedef struct
{
  int fd;
  gboolean is_stderr;
  GAsyncQueue *queue;
} Reader;

/* One line of output, or the end of a stream (text == NULL). */
typedef struct
{
  char *text;
  gint64 time; /* monotonic µs when its first byte arrived */
  gboolean is_stderr;
} OutputLine;

struct Boot
{
  gboolean pvh;
  const char *kernel;
  const char *initrd;
  /* Booted by the firmware from this raw disk image, or this CD image (make-grub-images.sh), instead of
   * directly. */
  const char *disk;
  const char *cdrom;
  char *cmdline; /* what the kernel must report receiving */

  GPid pid;
  int stdin_fd; /* held open so vireo-run's serial input never sees end-of-file */
  GAsyncQueue *queue;
  GThread *threads[2];
  Reader readers[2];
  unsigned open_streams;
  gboolean exited;
  int wait_status;
  gboolean stopped; /* we ended it, so its exit status says nothing */

  gint64 start;
  gint64 last_output;
  gint64 last_step_time;
  GPtrArray *serial; /* every serial line, for the tail shown on failure */
  GString *errors;   /* vireo-run's stderr */

  const Step *steps;
  unsigned n_steps;
  unsigned n_early; /* steps[0..n_early) are early boot */
  unsigned step;    /* next step to match */
  gboolean in_e820;
  GArray *e820; /* E820Range as printed */
  unsigned tables_seen;
};

gboolean boot_by_firmware (const Boot *boot);
/* One line of the kernel's "BIOS-e820:" map into @boot->e820; FALSE with @error when it is malformed. */
gboolean parse_e820_line (Boot *boot, const char *line, GError **error);
/* The e820 map the kernel printed is the one the machine has. */
gboolean check_e820 (Boot *boot, GError **error);
unsigned count_early_steps (const Step *list, unsigned n_list);

/* A direct boot's steps, a firmware boot's first steps (then the direct ones), and lines that fail the test. */
extern const Step boot_steps[];
extern const unsigned boot_steps_count;
extern const Step firmware_boot_steps[];
extern const unsigned firmware_boot_steps_count;
extern const char *const forbidden_lines[];
extern const unsigned forbidden_lines_count;
