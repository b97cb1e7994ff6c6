/* worker-fixture.h — what the vireo-worker tests share (test-worker.c, test-worker-devices.c,
 * test-worker-checkpoints.c): a worker spawned as vireod spawns it, its state, the test guests' configurations
 * and serial console clients. */
#pragma once

#include "net-options.h"
#include "serial-mux.h"
#include "test-util.h"
#include "vireo-worker-generated.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_UUID    "2f6bb3a4-6a0c-4c0e-9c53-0d9b1f6f1a01"
#define WAIT_SECONDS 60

typedef struct
{
  GSubprocess *process;
  char *dir;
  char *socket_path;
  GDBusConnection *connection;
  VireoWorker1 *proxy;
  gboolean exited;
} Worker;

/* Runs the default main context for @ms milliseconds. */
void spin (unsigned ms);
void worker_attach_proxy (Worker *worker, GDBusConnection *connection);
/* Spawns vireo-worker as vireod does and connects over the socketpair; FALSE (test skipped) without KVM.
 */
gboolean worker_spawn (Worker *worker);
/* Waits for the process to end and returns its exit status (-1 when killed by a signal). */
int worker_wait_exit (Worker *worker, unsigned seconds);
/* Hangs up as vireod going away would. */
void worker_close_connection (Worker *worker);
void worker_clear (Worker *worker);
void assert_state_becomes (Worker *worker, const char *state);
/* The a{sv} and fd list for booting test guest @name. */
GVariant *guest_config (const char *name, GUnixFDList *fds, const char *state_dir, gboolean restore);
void worker_start (Worker *worker, const char *guest);
/* Asserts @error is the D-Bus error org.vireo.Vireo1.Error.@name. */
void assert_vireo_error (const GError *error, const char *name);
int worker_open_serial (Worker *worker);
/* Reads from @fd into @seen until it holds @needle @count times; FALSE after @seconds or at end of file.
 */
gboolean serial_wait_for_count (int fd, GString *seen, const char *needle, unsigned count, unsigned seconds);
gboolean serial_wait_for (int fd, GString *seen, const char *needle);
void serial_type (int fd, const char *text);
/* Everything that arrives on @fd within @ms milliseconds. */
char *serial_read_for (int fd, unsigned ms);

/* The groups of tests in the other files. */
void worker_add_device_tests (void);
void worker_add_checkpoint_tests (void);
