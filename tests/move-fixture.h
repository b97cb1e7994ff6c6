/* move-fixture.h — what the tests of moving a machine between hosts share: a source vireod on a private bus
 * (the service fixture's), a destination vireod on a second bus reached only through the test sshd, and an
 * off machine on the source whose disks hold known content, with the checks that tell a faithful copy.
 *
 * Both vireods run in session mode as root.  The destination's bus is given to ssh's remote commands as
 * their session bus and as their system bus, so ssh://127.0.0.1:PORT and ssh://127.0.0.1:PORT/session both
 * reach it; move_fixture_dest_uri() says /session, which is what it is. */
#pragma once

#include "service-fixture.h"
#include "ssh-fixture.h"
#include "vireo-host.h"

#include <gio/gio.h>

/* The second vireod's log, in the test's base folder beside the source's LOG_FILE (shown when a test fails). */
#define DEST_LOG_FILE "dest-vireod.log"

typedef struct
{
  char *dir;       /* <base>/move: the destination's folders, the ssh fixture's and the test's own files */
  Fixture service; /* the SOURCE vireod on a private bus (session mode), as test-remote-service uses it */
  /* the DESTINATION: a second dbus-daemon and a second vireod with its own --storage and XDG_RUNTIME_DIR,
   * reachable ONLY through the test sshd */
  GSubprocess *dest_bus_daemon;
  char *dest_bus_address;
  GSubprocess *dest_vireod;
  char *dest_storage;
  char *dest_runtime_dir;
  /* Remote commands see the destination bus as DBUS_SESSION_BUS_ADDRESS and DBUS_SYSTEM_BUS_ADDRESS, its
   * XDG_RUNTIME_DIR, and a PATH with the build's vireo-tunnel. */
  VireoSshFixture ssh;
  GDBusConnection *dest_connection; /* the test's own direct view of the destination bus, for asserts */
  VireoDBusManager *dest_manager;
} MoveFixture;

/* Starts both services and sshd; @base is the test's folder (the service fixture's base).  Asserts on
 * failure. */
void move_fixture_setup (MoveFixture *f, const char *base);
/* Ends every process it started (the destination's workers too) and frees @f; leaves @base. */
void move_fixture_teardown (MoveFixture *f);
/* Why the fixture cannot run here (not root, no sshd, no qemu-img or qemu-io, no dbus-daemon), or NULL. */
const char *move_fixture_unavailable (void);
/* ssh://127.0.0.1:PORT/session: the destination vireod as the app reaches it. */
char *move_fixture_dest_uri (MoveFixture *f);

/* A Vireo host as the app reaches it at @uri (move_fixture_dest_uri()'s, or another address of the test
 * sshd), once it is available: connected, its machines listed.  Asserts, with sshd's log, if it never is. */
VireoHost *move_fixture_connect_host (MoveFixture *f, const char *uri);

/* What move_fixture_make_machine writes into a disk: @length bytes of @byte at @offset; the rest reads as
 * zeros.  The tables end with a zero length. */
typedef struct
{
  guint8 byte;
  guint64 offset;
  guint64 length;
} MoveFixturePattern;

#define MOVE_FIXTURE_VDA_SIZE (G_GUINT64_CONSTANT (64) << 20) /* qcow2 */
#define MOVE_FIXTURE_VDB_SIZE (G_GUINT64_CONSTANT (32) << 20) /* raw, sparse */
extern const MoveFixturePattern move_fixture_vda_patterns[];
extern const MoveFixturePattern move_fixture_vdb_patterns[];

/* A machine on the SOURCE, off: kernel boot of the echo guest with two disks in its own folder made by the
 * service (CreateDisk: "vda" qcow2 64 MiB, "vdb" raw 32 MiB), then filled, while off, with the patterns
 * above (qemu-io on vda, pwrite on vdb, leaving holes), one empty CD-ROM drive ("sda") and one NIC on NAT.
 * Returns its object path. */
char *move_fixture_make_machine (MoveFixture *f, const char *name);
/* SHA-256 (lowercase hex) of a file, and its length in @size when not NULL. */
char *move_fixture_sha256 (const char *path, guint64 *size);
/* The destination machine's disk images: the non-empty paths of its "disks" setting, in order, read over the
 * test's direct connection to the destination bus (an empty CD-ROM drive has none). */
GStrv move_fixture_dest_disk_paths (MoveFixture *f, const char *object_path);
/* The non-empty paths of the "disks" setting of the source machine at @object_path. */
GStrv move_fixture_source_disk_paths (MoveFixture *f, const char *object_path);
/* Whether @image (of @format, "qcow2" or "raw") holds @patterns and zeros everywhere else up to its virtual
 * size (qemu-io read -P, opened read-only and without locking), and for qcow2 whether `qemu-img check` finds
 * it clean.  Says what differs. */
gboolean move_fixture_disk_holds (const char *image, const char *format, const MoveFixturePattern *patterns);

/* ---- running each test in a child, as the service tests do ---- */

typedef struct
{
  const char *path;
  void (*func) (MoveFixture *f);
  gboolean needs_kvm;             /* the test starts machines */
  unsigned child_timeout_seconds; /* 0: CHILD_TIMEOUT_SECONDS */
} MoveTest;

/* The GTestDataFunc of a MoveTest: skips with move_fixture_unavailable()'s reason; otherwise runs the test in
 * a child between move_fixture_setup() and move_fixture_teardown() (run_test_in_child). */
void run_move_test (gconstpointer data);
