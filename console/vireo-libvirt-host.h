/* vireo-libvirt-host.h — a libvirt host (qemu:///system, qemu:///session, qemu+ssh://…) seen through
 * libvirt-gobject: its connection, opened asynchronously, and its domains as a list model that follows
 * libvirt's domain events, with the actions the app offers on them (start, shut down, force off, pause,
 * resume), none of which blocks the main loop. */
#pragma once

#include <gio/gio.h>
#include <libvirt-gobject/libvirt-gobject.h>

G_BEGIN_DECLS

#define VIREO_TYPE_LIBVIRT_DOMAIN (vireo_libvirt_domain_get_type ())
G_DECLARE_FINAL_TYPE (VireoLibvirtDomain, vireo_libvirt_domain, VIREO, LIBVIRT_DOMAIN, GObject)

#define VIREO_TYPE_LIBVIRT_HOST (vireo_libvirt_host_get_type ())
G_DECLARE_FINAL_TYPE (VireoLibvirtHost, vireo_libvirt_host, VIREO, LIBVIRT_HOST, GObject)

/* A domain's state in the words the app uses ("state" property, a guint). */
typedef enum
{
  VIREO_LIBVIRT_DOMAIN_UNKNOWN, /* not asked yet */
  VIREO_LIBVIRT_DOMAIN_OFF,
  VIREO_LIBVIRT_DOMAIN_RUNNING,
  VIREO_LIBVIRT_DOMAIN_PAUSED,
  VIREO_LIBVIRT_DOMAIN_SHUTTING_DOWN,
  VIREO_LIBVIRT_DOMAIN_CRASHED,
  VIREO_LIBVIRT_DOMAIN_SUSPENDED, /* by the guest's power management */
} VireoLibvirtDomainState;

typedef enum
{
  VIREO_LIBVIRT_START,
  VIREO_LIBVIRT_SHUT_DOWN, /* ACPI power button */
  VIREO_LIBVIRT_FORCE_OFF,
  VIREO_LIBVIRT_PAUSE,
  VIREO_LIBVIRT_RESUME,
} VireoLibvirtAction;

/* Opens the connection at once (asynchronously); "available" turns TRUE when the domains are listed. */
VireoLibvirtHost *vireo_libvirt_host_new (const char *uri);
/* Whether @uri names a QEMU libvirt daemon the app can list (qemu:///system, qemu:///session,
 * qemu+TRANSPORT://[user@]host/system|session); when not, says why in @error. */
gboolean vireo_libvirt_host_check_uri (const char *uri, GError **error);

const char *vireo_libvirt_host_get_uri (VireoLibvirtHost *self);
/* "QEMU/KVM", "QEMU/KVM (session)", "QEMU/KVM on HOST", … */
const char *vireo_libvirt_host_get_title (VireoLibvirtHost *self);
gboolean vireo_libvirt_host_get_available (VireoLibvirtHost *self);
/* Why the host is not available ("Connecting to …", "Could not connect to URI: libvirt's message"), or
 * NULL while it is. */
const char *vireo_libvirt_host_get_status (VireoLibvirtHost *self);
/* Whether the libvirt daemon runs on this computer, so that file descriptors can pass (the display). */
gboolean vireo_libvirt_host_get_local (VireoLibvirtHost *self);
/* The host name of a remote URI, NULL for a local one. */
const char *vireo_libvirt_host_get_remote_name (VireoLibvirtHost *self);
/* For a qemu+ssh:// URI, the ssh:// address (vireo-ssh.h) of the same user, host and port, which reaches
 * what listens only on that host's loopback (the display); NULL for other transports. */
const char *vireo_libvirt_host_get_ssh_uri (VireoLibvirtHost *self);
/* The libvirt connection itself, for calls libvirt-gobject does not wrap (storage uploads): a new reference
 * (virConnectClose it), or NULL while not connected. */
virConnectPtr vireo_libvirt_host_get_handle (VireoLibvirtHost *self);
/* Closes the connection, if any, and opens it again. */
void vireo_libvirt_host_reconnect (VireoLibvirtHost *self);

/* VireoLibvirtDomain items, sorted by name. */
GListModel *vireo_libvirt_host_get_domains (VireoLibvirtHost *self);
VireoLibvirtDomain *vireo_libvirt_host_find_domain (VireoLibvirtHost *self, const char *uuid);

const char *vireo_libvirt_domain_get_name (VireoLibvirtDomain *self);
const char *vireo_libvirt_domain_get_uuid (VireoLibvirtDomain *self);
VireoLibvirtDomainState vireo_libvirt_domain_get_state (VireoLibvirtDomain *self);
/* "state-label": the state as a user reads it ("Running", "Off", …). */
const char *vireo_libvirt_domain_get_state_label (VireoLibvirtDomain *self);
/* "busy": an action of ours is under way. */
gboolean vireo_libvirt_domain_get_busy (VireoLibvirtDomain *self);
GVirDomain *vireo_libvirt_domain_get_gvir (VireoLibvirtDomain *self);
/* The host that lists the domain; NULL once that host is gone. */
VireoLibvirtHost *vireo_libvirt_domain_get_host (VireoLibvirtDomain *self);

/* Whether @action applies to the domain in its state now. */
gboolean vireo_libvirt_domain_can (VireoLibvirtDomain *self, VireoLibvirtAction action);
/* Runs @action; an error's message names the domain. */
void vireo_libvirt_domain_run_async (VireoLibvirtDomain *self, VireoLibvirtAction action,
                                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data);
gboolean vireo_libvirt_domain_run_finish (VireoLibvirtDomain *self, GAsyncResult *result, GError **error);

G_END_DECLS
