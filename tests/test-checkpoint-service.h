/* test-checkpoint-service.h — what the files of the checkpoint service test share (test-checkpoint-service.c:
 * checkpoints through D-Bus, disks judged by qemu-img, recovery, and the list of tests;
 * test-checkpoint-service-tree.c: an off machine's tree and the errors; test-checkpoint-service-guests.c:
 * checkpoints of saved and running guests): the helpers, and the tests the list names. */
#pragma once

#include "service-fixture.h"

char *create_checkpoint (VireoDBusMachine *machine, const char *name, GVariant *options);
/* A method of the checkpoint at @path; NULL with @error when it fails. */
GVariant *checkpoint_call (Fixture *f, const char *path, const char *method, GVariant *parameters,
                           GError **error);
void checkpoint_call_ok (Fixture *f, const char *path, const char *method, GVariant *parameters);
void checkpoint_call_expect_error (Fixture *f, const char *path, const char *method, GVariant *parameters,
                                   const char *name, const char *culprit);
void apply (Fixture *f, const char *path, gboolean start);
void delete_checkpoint (Fixture *f, const char *path, gboolean subtree);
/* The checkpoints vireod lists for @machine, as path → their properties. */
GHashTable *checkpoints_of (Fixture *f, VireoDBusMachine *machine);
/* One property of the checkpoint at @path as listed now; the checkpoint must be listed. */
GVariant *checkpoint_property (Fixture *f, const char *path, const char *property);
char *checkpoint_string (Fixture *f, const char *path, const char *property);
gboolean checkpoint_boolean (Fixture *f, const char *path, const char *property);
void assert_current (Fixture *f, VireoDBusMachine *machine, const char *expected);
void assert_parent (Fixture *f, const char *path, const char *expected);
gboolean require_qemu_img (void);
/* The checkpoints vireod lists for @machine are exactly the snapshots on @image (and every other writable
 * disk in the NULL-terminated rest), and exactly the folders under <machine folder>/checkpoints, each with
 * the definition it was taken with; the image is clean. */
void assert_tree_on_disk (Fixture *f, VireoDBusMachine *machine, const char *image, ...);
/* The first PATTERN_LENGTH of @image now hold @byte. */
void assert_now_pattern (Fixture *f, const char *image, guint byte);
/* The first PATTERN_LENGTH of the snapshot of checkpoint @path on @image hold @byte (read through
 * `qemu-img convert -l snapshot.name=vireo-<id>`, as Export copies it). */
void assert_snapshot_pattern (Fixture *f, const char *image, const char *path, guint byte);
/* A machine of @guest with one new disk (CreateDisk) of 1 MiB in @format; *@image: its path. */
VireoDBusMachine *create_machine_with_format (Fixture *f, const char *name, const char *guest,
                                              const char *format, char **image);
VireoDBusMachine *create_machine_with_disk (Fixture *f, const char *name, const char *guest, char **image);

/* test-checkpoint-service-tree.c */
void test_tree (Fixture *f);
void test_default_name_and_export (Fixture *f);
void test_errors (Fixture *f);

/* test-checkpoint-service-guests.c */
void test_saved (Fixture *f);
void test_running (Fixture *f);
void test_boot_counter (Fixture *f);
void test_mem_counter (Fixture *f);
void test_settings (Fixture *f);
void test_production_agent (Fixture *f);
