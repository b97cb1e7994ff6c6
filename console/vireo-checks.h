/* vireo-checks.h — what a machine's settings may be, checked as the user types: one set of checks for the New
 * Machine wizard and the settings window, so that both say the same thing about the same input. */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"

G_BEGIN_DECLS

/* The service's limits (data/org.vireo.Vireo1.xml) that the app also uses for its defaults. */
#define VIREO_MEMORY_MIB_MIN     32
#define VIREO_DEFAULT_MEMORY_MIB 1024
/* The longest name the service takes, in characters. */
#define VIREO_MACHINE_NAME_MAX_CHARS 64

/* Why the file at @path cannot serve a machine as a kernel, an initial ramdisk or (with @writable, a
 * disk the guest may write) a disk image, as a sentence for the user; NULL when it can. */
char *vireo_check_machine_file (const char *path, gboolean writable);
/* "qcow2" when the file starts with the qcow2 magic "QFI\xfb", "raw" otherwise; NULL when it cannot be
 * read. */
const char *vireo_detect_image_format (const char *path);
/* Why @name cannot name a new machine (or, with @except set, rename that machine) on @host, or NULL.
 * @name is taken as it will be stored: without surrounding white space. */
char *vireo_check_machine_name (VireoHost *host, const char *name, VireoDBusMachine *except);
/* Why @cmdline cannot be a kernel command line, or NULL. */
char *vireo_check_cmdline (const char *cmdline);
/* Why a machine cannot have @mib MiB on a host of @host_mib MiB (0: not known), or NULL. */
char *vireo_check_memory (guint64 mib, guint64 host_mib);
/* Whether @mib MiB is more than half of (but not more than) the host's @host_mib MiB: worth a warning. */
gboolean vireo_memory_is_large (guint64 mib, guint64 host_mib);
/* Why @text cannot be a CPUID mask ("-flag,-flag"), or NULL; empty text is no mask. */
char *vireo_check_cpuid_mask (const char *text);
/* Why @text cannot be a network adapter's MAC address ("52:54:00:12:34:56": six pairs of hexadecimal
 * digits, one a guest can own: not multicast, not all zeros), or NULL. */
char *vireo_check_mac (const char *text);
/* A new random MAC address in QEMU's/KVM's block 52:54:00, as the service generates them. */
char *vireo_generate_mac (void);
/* Why @text cannot be the host address a port forward listens on (an IPv4 address; "" is 127.0.0.1), or
 * NULL. */
char *vireo_check_forward_address (const char *text);
/* The text of @row as the service will store it: without surrounding white space, Unicode spaces too. */
char *vireo_entry_row_get_stripped_text (AdwEntryRow *row);
/* "This computer has 8 processors and 16 GiB of memory.", or NULL while the host is not known. */
char *vireo_describe_host (VireoDBusManager *manager);
/* The ranges of the memory (MiB) and processor spin buttons on @manager's host (NULL: not known).  Typing
 * more memory than the host has is allowed, and then said to be wrong, rather than silently clamped. */
void vireo_set_resource_ranges (VireoDBusManager *manager, GtkAdjustment *memory, GtkAdjustment *vcpus);

G_END_DECLS
