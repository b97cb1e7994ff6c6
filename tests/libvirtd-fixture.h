/* libvirtd-fixture.h — a libvirtd of the test's own for the libvirt-host tests: run in session mode as an
 * unprivileged user (nobody) on a private folder (HOME, XDG_*), reached at qemu+unix:///session?socket=…,
 * with QEMU domains that boot the test guests and show them over SPICE. */
#pragma once

#include <glib.h>
#include <gio/gio.h>

typedef struct
{
  char *dir; /* the daemon's folder, owned by its user */
  char *uri; /* qemu+unix:///session?socket=DIR/run/libvirt/libvirt-sock */
  GSubprocess *libvirtd;
} VireoTestLibvirtd;

/* Starts the daemon and waits until it answers.  FALSE, with the test marked skipped and the reason said,
 * when the test does not run as root, or libvirtd (libvirt-daemon-driver-qemu), virsh, QEMU or socat is
 * missing. */
gboolean vireo_test_libvirtd_start (VireoTestLibvirtd *d);
/* The same with the daemon's folder under @parent (made passable for the daemon's user): a harness that
 * ends every process naming @parent when a test fails (tests/service-fixture.c) ends this daemon too. */
gboolean vireo_test_libvirtd_start_in (VireoTestLibvirtd *d, const char *parent);
/* Ends the daemon if it runs and starts it again on the same folder (the domains stay defined). */
void vireo_test_libvirtd_restart (VireoTestLibvirtd *d);
/* Ends the domains' QEMUs and the daemon and removes the folder. */
void vireo_test_libvirtd_stop (VireoTestLibvirtd *d);

/* Defines, builds and starts a dir storage pool @name at DIR/pools/@name (owned by the daemon's user). */
void vireo_test_libvirtd_add_pool (VireoTestLibvirtd *d, const char *name);

/* Runs `virsh -c URI ARGS…` (the test's own view of the host, not the app's); its stdout, stripped, or
 * NULL when it failed. */
char *vireo_test_virsh (VireoTestLibvirtd *d, ...) G_GNUC_NULL_TERMINATED;
typedef enum
{
  VIREO_TEST_NO_GRAPHICS,
  VIREO_TEST_SPICE,     /* <listen type='none'/>: reached only through virDomainOpenGraphicsFD */
  VIREO_TEST_SPICE_TCP, /* a TCP port on 127.0.0.1, as a remote host's display is reached */
} VireoTestGraphics;

/* Defines domain @name (through virsh) booting tests/guests/@guest.elf under QEMU (TCG: the daemon's user
 * cannot open /dev/kvm) with a Bochs display, a USB tablet, its serial port written to a file and
 * @graphics; returns its UUID. */
char *vireo_test_libvirtd_define (VireoTestLibvirtd *d, const char *name, const char *guest,
                                  VireoTestGraphics graphics);
/* A URI that reaches the daemon the way qemu+ssh:// does, as a remote host (127.0.0.1) through a command
 * joined to its socket (qemu+ext://127.0.0.1/session?command=…, socat): no fd passes. */
char *vireo_test_libvirtd_remote_uri (VireoTestLibvirtd *d);
/* What domain @name wrote to its serial port so far (since it was defined: the file is appended to). */
char *vireo_test_libvirtd_serial (VireoTestLibvirtd *d, const char *name);
gboolean vireo_test_libvirtd_serial_has (VireoTestLibvirtd *d, const char *name, const char *needle);
