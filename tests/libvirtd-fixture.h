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
 * when the test does not run as root, or libvirtd (libvirt-daemon-driver-qemu), virsh or QEMU is missing. */
gboolean vireo_test_libvirtd_start (VireoTestLibvirtd *d);
/* Ends the daemon if it runs and starts it again on the same folder (the domains stay defined). */
void vireo_test_libvirtd_restart (VireoTestLibvirtd *d);
/* Ends the domains' QEMUs and the daemon and removes the folder. */
void vireo_test_libvirtd_stop (VireoTestLibvirtd *d);

/* Runs `virsh -c URI ARGS…` (the test's own view of the host, not the app's); its stdout, stripped, or
 * NULL when it failed. */
char *vireo_test_virsh (VireoTestLibvirtd *d, ...) G_GNUC_NULL_TERMINATED;
/* Defines domain @name (through virsh) booting tests/guests/@guest.elf under QEMU (TCG: the daemon's user
 * cannot open /dev/kvm) with a Bochs display, a USB tablet and, when @spice, SPICE graphics; returns its
 * UUID. */
char *vireo_test_libvirtd_define (VireoTestLibvirtd *d, const char *name, const char *guest, gboolean spice);
/* What domain @name wrote to its serial port so far (since it was defined: the file is appended to). */
char *vireo_test_libvirtd_serial (VireoTestLibvirtd *d, const char *name);
gboolean vireo_test_libvirtd_serial_has (VireoTestLibvirtd *d, const char *name, const char *needle);
