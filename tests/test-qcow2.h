/* test-qcow2.h — what the files of the qcow2 test share (test-qcow2.c: the fixture, reading and writing;
 * test-qcow2-hostile.c: images made by hand; test-qcow2-snapshot.c: internal snapshots): the fixture and
 * its helpers, and each file's tests. */
#pragma once

#include "block-test-support.h"

#define MiB (1024 * 1024)

typedef struct
{
  char *dir;
  GMainContext *context;
  HvAio *aio;
  unsigned opened; /* backing files opened */
} Fixture;

void fixture_setup (Fixture *f, gconstpointer data);
void fixture_teardown (Fixture *f, gconstpointer data);
/* TRUE when qemu-img and qemu-io are installed; otherwise the test is marked skipped. */
gboolean have_qemu_tools (void);
char *path_in (Fixture *f, const char *name);
/* Runs a command line in the fixture's folder; returns its exit status, its output in @output. */
int run (Fixture *f, char **output, const char *format, ...) G_GNUC_PRINTF (3, 4);
#define RUN_OK(f, ...) g_assert_cmpint (run (f, NULL, __VA_ARGS__), ==, 0)
/* The opener: names relative to the fixture's folder, as vireo-run resolves them. */
int open_backing_in_dir (void *opaque, unsigned depth, const char *name, HvBlockFormat format,
                         GError **error);
HvBlock *open_image (Fixture *f, const char *name, gboolean read_only, GError **error);
HvBlock *open_ok (Fixture *f, const char *name, gboolean read_only);
/* Opening @name fails with HV_ERROR_BAD_IMAGE and @message in the error. */
void assert_refused (Fixture *f, const char *name, gboolean read_only, const char *message);
/* The whole disk, read through the driver. */
uint8_t *read_all (HvBlock *block);
void assert_bytes (const uint8_t *buf, uint64_t offset, uint64_t len, uint8_t value);
void assert_check_clean (Fixture *f, const char *name);
char *file_checksum (Fixture *f, const char *name);

/* Adds a test of the fixture as /qcow2/@name. */
#define QCOW2_ADD(name, fn, data)                                                                            \
  g_test_add ("/qcow2/" name, Fixture, data, fixture_setup, fn, fixture_teardown)

/* test-qcow2-hostile.c (with backing/too-deep and backing/loop) and test-qcow2-snapshot.c. */
void qcow2_add_hostile_tests (void);
void qcow2_add_snapshot_tests (void);
