/* service-fixture.h — what the service-level tests share (test-service*.c, test-checkpoint-service.c,
 * slow/test-checkpoint-crash.c): the real vireod on a private bus, calls to it, machines made of the test
 * guests and their serial consoles.
 *
 * Each test runs in a child process (g_test_trap_subprocess, through run_service_test) with its own bus,
 * storage folder and XDG_RUNTIME_DIR under one temporary folder.  Workers outlive vireod by design, so
 * whatever way the child ends, the parent then ends every process whose command line names that folder: a
 * failed test never leaves a guest spinning.  The names carry no prefix: they are the service tests' own. */
#pragma once

#include "vireo-dbus-generated.h"

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <sys/types.h>

#define BUS_NAME      "org.vireo.Vireo1"
#define ROOT_PATH     "/org/vireo/Vireo1"
#define MANAGER_IFACE "org.vireo.Vireo1.Manager"
#define MACHINE_IFACE "org.vireo.Vireo1.Machine"
#define ERROR_NAME(n) "org.vireo.Vireo1.Error." n
/* Deadlines, not expectations: guest ring-0 code may be emulated and CI machines are loaded.  No test
 * asserts how long anything took. */
#define WAIT_SECONDS          60
#define CALL_TIMEOUT_MS       (180 * 1000)
#define CHILD_TIMEOUT_SECONDS 300
/* How long a paused guest is given to (wrongly) echo: it echoes in microseconds when it runs. */
#define PAUSED_QUIET_MS 1000
/* In the test's folder: what vireod and its workers logged. */
#define LOG_FILE "vireod.log"
/* The environment variable through which the parent tells the child its folder. */
#define TEST_DIR_VARIABLE "VIREO_SERVICE_TEST_DIR"

typedef struct
{
  char *base;        /* the test's temporary folder */
  char *storage;     /* <base>/storage: vireod --storage */
  char *runtime_dir; /* <base>/run: XDG_RUNTIME_DIR, workers' sockets under vireo/workers */
  GTestDBus *bus;
  GDBusConnection *connection;
  GSubprocess *vireod;
  gboolean vireod_exited;
  gboolean name_owned;
  GDBusObjectManager *objects;
  VireoDBusManager *manager;
  gboolean system_mode;         /* vireod --system on the private bus */
  const char *worker_test_hook; /* VIREO_WORKER_TEST_FORBIDDEN_SYSCALL for the workers, or NULL */
} Fixture;

/* ---- the service under test ---- */

void vireod_start (Fixture *f);
/* SIGTERM, as systemd stops it: vireod must exit cleanly and give up its name. */
void vireod_stop (Fixture *f);
void vireod_restart (Fixture *f);
void fixture_setup (Fixture *f, const char *base, gboolean system_mode, const char *worker_test_hook);
void fixture_teardown (Fixture *f);

/* ---- D-Bus calls ---- */

/* Calls @method on @proxy, iterating the main context meanwhile so property changes arrive in the order
 * the service sent them, before the reply. */
GVariant *call_full (gpointer proxy, const char *method, GVariant *parameters, GUnixFDList **out_fds,
                     GError **error);
void call_ok (gpointer proxy, const char *method, GVariant *parameters);
/* Asserts that @error is the D-Bus error @name and that its message mentions @culprit. */
void assert_dbus_error (GError *error, const char *name, const char *culprit);
void call_expect_error (gpointer proxy, const char *method, GVariant *parameters, const char *name,
                        const char *culprit);
/* A call on the bus itself (not through a proxy), answered by vireod or the bus. */
GVariant *bus_call (Fixture *f, const char *path, const char *interface, const char *method,
                    GVariant *parameters, GError **error);
/* vireod answers a call that is not served from a cache. */
void assert_vireod_answers (Fixture *f);
/* Every object vireod lists (GetManagedObjects) with interface @iface, as path → its @iface properties. */
GHashTable *managed_objects (Fixture *f, const char *iface);
/* Every machine object vireod lists, as path → its Machine properties. */
GHashTable *managed_machines (Fixture *f);

/* ---- machines ---- */

typedef struct
{
  Fixture *f;
  const char *path;
} ObjectQuery;

gboolean machine_exported (gpointer data); /* on an ObjectQuery */
gboolean machine_gone (gpointer data);     /* on an ObjectQuery */
/* The proxy of the machine at @path, once the object manager client has it. */
VireoDBusMachine *machine_proxy (Fixture *f, const char *path);
/* The object path a Manager method (CreateMachine, CreateSwitch) returns, or NULL with @error. */
char *call_for_path (Fixture *f, const char *method, GVariant *parameters, GError **error);
/* CreateMachine(@settings); returns the new object path, or NULL with @error. */
char *try_create (Fixture *f, GVariant *settings, GError **error);
VireoDBusMachine *create (Fixture *f, GVariant *settings);
/* {name, kernel: <guest>.elf, memory-mib 64}: the smallest machine that runs a test guest. */
GVariant *guest_settings (const char *name, const char *guest);
VireoDBusMachine *create_guest (Fixture *f, const char *name, const char *guest);
const char *machine_path (VireoDBusMachine *machine);
void wait_for_state (VireoDBusMachine *machine, const char *state);
gboolean uptime_positive (gpointer data); /* on a VireoDBusMachine */
/* A notify::state handler that appends each new state to the GPtrArray @data. */
void on_state_changed (GObject *object, GParamSpec *pspec, gpointer data);
gboolean strv_has (GPtrArray *strings, const char *wanted);
char *machine_folder (Fixture *f, VireoDBusMachine *machine);
char *read_definition (Fixture *f, VireoDBusMachine *machine);
/* The running worker process of @machine (there must be exactly one). */
pid_t worker_pid (VireoDBusMachine *machine);

/* ---- serial console ---- */

int open_serial (VireoDBusMachine *machine);
/* Reads from @fd into @seen for as long as @text does not appear after offset @from, up to @seconds or
 * the end of the stream.  Returns whether it appeared. */
gboolean serial_wait_for (int fd, GString *seen, gsize from, const char *text, unsigned seconds);
/* Collects what @fd delivers during @ms milliseconds. */
void serial_collect (int fd, GString *seen, unsigned ms);
void serial_type (int fd, const char *text);
/* Starts @machine, opens its serial console and waits for the line @banner, up to its end (the guests
 * write whole lines, which may arrive in pieces). */
int start_and_wait_for (VireoDBusMachine *machine, const char *banner, GString *seen);

/* Runs a judge (qemu-img, qemu-io) that must succeed; says what it printed when it does not. */
void run_ok (const char *const *argv);
/* qemu-img's idea of an image's virtual size (its format probed; the image may be in use). */
guint64 disk_virtual_size (const char *image);

/* ---- checkpoints ---- */

#define CHECKPOINT_IFACE "org.vireo.Vireo1.Checkpoint"
/* What the checkpoint tests write into a disk with qemu-io to tell its states apart. */
#define PATTERN_LENGTH "64k"
#define PATTERN_BYTES  (64 * 1024)

/* What a test saw, in the test log and on stderr: the parent keeps a passing child's stdout to itself,
 * while stderr is inherited. */
#define test_say(...)                                                                                        \
  G_STMT_START                                                                                               \
  {                                                                                                          \
    g_autofree char *said_ = g_strdup_printf (__VA_ARGS__);                                                  \
    g_test_message ("%s", said_);                                                                            \
    g_printerr ("# %s\n", said_);                                                                            \
  }                                                                                                          \
  G_STMT_END

/* The checkpoint's id: the last element of its path, 16 lowercase hex digits (asserted). */
const char *checkpoint_id (const char *path);
/* The CurrentCheckpoint of the machine at @machine_path, asked of vireod (not a proxy's cache). */
char *current_checkpoint_of (Fixture *f, const char *machine_path);
/* Writes @byte over the first PATTERN_LENGTH of @image (no one else may have it open). */
void disk_write_pattern (const char *image, guint byte);
/* Whether the first PATTERN_LENGTH of @image, or of its internal snapshot @snapshot (not NULL), hold
 * @byte; read through `qemu-img convert [-l snapshot.name=...]` into a file in @scratch_dir.  Says where
 * they differ. */
gboolean disk_holds_pattern (const char *scratch_dir, const char *image, const char *snapshot, guint byte);
/* The internal snapshots of @image whose names start with "vireo-", sorted. */
GPtrArray *disk_checkpoint_snapshots (const char *image);

/* A call under way: its result once store_pending_call() got it. */
typedef struct
{
  GAsyncResult *result;
} PendingCall;

/* A GAsyncReadyCallback for a PendingCall. */
void store_pending_call (GObject *source, GAsyncResult *result, gpointer data);

/* ---- helpers several service test programs use ---- */

void create_expect_error (Fixture *f, GVariant *settings, const char *name, const char *culprit);

/* Deletes @machine and checks that its object and folder went away. */
void delete_machine (Fixture *f, VireoDBusMachine *machine, gboolean delete_disks);

/* Calls @method, expects a reply of one string (a disk's target) and returns it. */
char *call_for_target (gpointer proxy, const char *method, GVariant *parameters);

char *write_pattern_image (const char *dir, const char *name, gsize size);

/* The files of @folder that are not the definition, sorted, as one string. */
char *folder_listing (const char *folder);

/* ---- running each test in a child ---- */

typedef struct
{
  const char *path;
  void (*func) (Fixture *f);
  gboolean needs_kvm;
  gboolean system_mode;           /* vireod --system: needs root */
  const char *worker_test_hook;   /* VIREO_WORKER_TEST_FORBIDDEN_SYSCALL */
  unsigned child_timeout_seconds; /* 0: CHILD_TIMEOUT_SECONDS */
} ServiceTest;

/* The GTestDataFunc of a ServiceTest: in the parent, makes the test's folder and runs the child; in the
 * child, sets the fixture up, runs the test and tears it down. */
void run_service_test (gconstpointer data);
/* The parent's half of run_service_test (and of the move tests' run_move_test): makes the test's folder,
 * runs the current test again in a child that finds the folder in TEST_DIR_VARIABLE, then ends every
 * process naming the folder, shows a failed child's logs (every *.log in the folder) and removes the folder.
 * @child_timeout_seconds 0 is CHILD_TIMEOUT_SECONDS. */
void run_test_in_child (unsigned child_timeout_seconds, gboolean system_mode);
/* Called by the parent after a system-mode child, with its folder, when set (test-service-network.c removes
 * the bridges a failed test left). */
extern void (*service_test_system_cleanup) (const char *base);
