/* snapshot-fixture.h — what the save/restore tests share (test-snapshot.c, test-snapshot-files.c): test guests
 * on the core, saved to a temporary folder and restored into a new VM. */
#pragma once

#include "state.h"
#include "test-util.h"
#include "vm-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef VireoTestGuest Guest;

/* A temporary folder for a saved VM, removed with everything in it. */
typedef struct
{
  char *path;
  int fd;
} SaveDir;

/* A VM with @memory and @cpus, serial output to a memfd and input from a pipe; not started. */
void guest_new (Guest *guest, uint64_t memory, unsigned cpus);

/* Boots test guest @name. */
void guest_boot (Guest *guest, const char *name, const char *cmdline, uint64_t memory, unsigned cpus);

void guest_send (Guest *guest, const char *text);

HvExitReason guest_wait_exit (Guest *guest);

void save_dir_init (SaveDir *dir);

void save_dir_clear (SaveDir *dir);

char *save_dir_file (SaveDir *dir, const char *name);

/* Pauses, saves and measures; the VM stays paused.  The memory file must hold at most @touched bytes
 * of data more than a quarter of the guest's memory: saves are sparse. */
void save_guest_touched (Guest *guest, SaveDir *dir, const char *label, gint64 touched);

void save_guest (Guest *guest, SaveDir *dir, const char *label);

/* Restores @dir into a new VM with @memory and @cpus and starts it. */
void restore_guest (Guest *guest, SaveDir *dir, uint64_t memory, unsigned cpus, const char *label);

/* Restores into a new VM of the saved shape, expecting @code with @words in the message, either
 * from hv_vm_set_restore or (for problems only the machine can see) from hv_vm_start. */
void expect_restore_error (SaveDir *dir, uint64_t memory, unsigned cpus, HvError code, const char *words);

/* The body of a saved "state" file, its header checked away. */
GVariant *read_state_body (SaveDir *dir);

/* The tests of test-snapshot-files.c. */
void snapshot_add_file_tests (void);
