/* machine-config.h — one machine's definition: validated settings, the a{sv} form the D-Bus API uses,
 * and libvirt domain XML (through libvirt-gconfig) as the stored and exported form. */
#pragma once

#include "spec.h"

#include <gio/gio.h>
#include <stdint.h>

G_BEGIN_DECLS

/* How long a machine with "boot-menu" offers the firmware's menu. */
#define VIREO_BOOT_MENU_MS 3000

typedef struct
{
  char *path;   /* "" only for a CD-ROM drive without a medium */
  char *format; /* "raw" or "qcow2" */
  gboolean readonly;
  char *device;        /* "disk" or "cdrom" (always read-only, on "sata") */
  char *bus;           /* "virtio" or "sata" */
  char *target;        /* libvirt's target dev ("vda", "sdb"): unique, also the spec's device id */
  unsigned boot_order; /* 1 boots first; 0: not a boot device */
  char *cache;         /* "default", "none" or "writeback" */
} VireoDiskConfig;

/* One port forward of a NIC on a NAT switch: host address:port → the guest's port. */
typedef struct
{
  char *protocol;     /* "tcp" or "udp" */
  char *host_address; /* a dotted IPv4 address; "" for 127.0.0.1 */
  guint16 host_port;
  guint16 guest_port;
} VireoForwardConfig;

/* One network adapter (virtio-net); NIC i is "net<i>" in the machine spec. */
typedef struct
{
  char *mac;         /* "52:54:00:xx:xx:xx", lower case; generated once and then kept */
  char *switch_name; /* a virtual switch (switch-registry.h) */
  gboolean connected;
  GPtrArray *forwards; /* VireoForwardConfig; only on a NAT switch */
  /* Queue pairs (libvirt's <driver queues='N'/>), 1 to HV_NET_QUEUES_MAX; 0: vireod chooses — on a
   * bridge min(vCPUs, VIREO_NIC_AUTO_QUEUES_MAX), so each vCPU can have its own.  NAT has one. */
  guint queues;
} VireoNicConfig;

/* The switch every NIC is on unless it says otherwise: user-mode NAT, on every service. */
#define VIREO_DEFAULT_SWITCH "Default Switch"
#define VIREO_NICS_MAX       8
/* The most queue pairs vireod gives a bridged NIC of its own accord: past four the TAP's queues cost
 * more host memory and threads in the guest than they save. */
#define VIREO_NIC_AUTO_QUEUES_MAX 4

typedef struct
{
  char *uuid; /* lower-case canonical form */
  char *name;
  uint64_t memory_mib;
  unsigned vcpus;
  char *boot;   /* "kernel" or "disk" */
  char *kernel; /* "" when unset */
  char *initrd;
  char *cmdline;
  GPtrArray *disks; /* VireoDiskConfig */
  GPtrArray *nics;  /* VireoNicConfig */
  char *network;    /* "none" or "nat": whether there is any NIC, kept in step with nics */
  gboolean display;
  gboolean boot_menu; /* the firmware offers its boot menu (Esc) for a few seconds */
  char *cpuid_mask;
  char *notes;
  char *auto_start;               /* "none", "always", "if-running" */
  char *auto_stop;                /* "save", "shutdown", "turn-off" */
  char *checkpoint_kind;          /* the default kind of a checkpoint: "standard" or "production" */
  gboolean automatic_checkpoints; /* a production checkpoint at each start from off */
  gboolean guest_agent;           /* a virtio-serial channel "org.qemu.guest_agent.0" */
  /* The user whose rights open the machine's files (kernel, initrd, disks): the last caller who named
   * any of them; VIREO_OWN_UID for vireod's own (open-as.h). */
  gint64 files_uid;
} VireoMachineConfig;

/* The machine as the core describes it (spec.h), without its files: vireod adds the kernel and initrd
 * as fds when it starts the machine. */
HvMachineSpec *vireo_machine_config_to_spec (const VireoMachineConfig *config);

/* The disk whose target is @target, or NULL. */
VireoDiskConfig *vireo_machine_config_find_disk (const VireoMachineConfig *config, const char *target);

/* Gives every disk without a target the first free one of its bus ("vda", "vdb", ... or "sda", ...). */
void vireo_machine_config_assign_targets (VireoMachineConfig *config);

/* Parses one disk entry of the "disks" setting (see data/org.vireo.Vireo1.xml) for machine @config,
 * opening its file to check it (and that it can be written unless read-only): as
 * vireo_machine_config_open_image() does when @config already names it, else with files_uid's rights
 * wherever it lies.  The error names disk @index + 1.  The target is left unset when the entry has none. */
VireoDiskConfig *vireo_disk_config_parse (const VireoMachineConfig *config, GVariant *entry, guint index,
                                          GError **error);
/* A virtio disk ("disk", cache "default", no target or boot order yet). */
VireoDiskConfig *vireo_disk_config_new (const char *path, const char *format, gboolean readonly);
VireoDiskConfig *vireo_disk_config_copy (const VireoDiskConfig *disk);
void vireo_disk_config_free (VireoDiskConfig *disk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoDiskConfig, vireo_disk_config_free)

/* A NIC on @switch_name with @mac (NULL: none yet, see vireo_machine_config_assign_macs), connected,
 * without forwards. */
VireoNicConfig *vireo_nic_config_new (const char *mac, const char *switch_name);
VireoNicConfig *vireo_nic_config_copy (const VireoNicConfig *nic);
void vireo_nic_config_free (VireoNicConfig *nic);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoNicConfig, vireo_nic_config_free)
VireoForwardConfig *vireo_forward_config_new (const char *protocol, const char *host_address,
                                              guint16 host_port, guint16 guest_port);
void vireo_forward_config_free (VireoForwardConfig *forward);

/* Parses one entry of the "nics" setting (see data/org.vireo.Vireo1.xml); the switch must exist
 * (switch-registry.h).  The error names NIC @index + 1 and the field.  The MAC is left unset when the
 * entry has none. */
VireoNicConfig *vireo_nic_config_parse (GVariant *entry, guint index, GError **error);
/* Gives every NIC without a MAC a stable one: 52:54:00 and three bytes from a hash of the machine's
 * UUID and the NIC's position, unlike every other MAC of the machine. */
void vireo_machine_config_assign_macs (VireoMachineConfig *config);
/* The "nics" setting's value (aa{sv}, floating). */
GVariant *vireo_machine_config_nics_to_variant (const VireoMachineConfig *config);
/* Whether @a and @b differ at most in their NICs' "connected". */
gboolean vireo_machine_config_nics_differ_only_in_link (const VireoMachineConfig *a,
                                                        const VireoMachineConfig *b);
/* The hostfwd text form of the core (hypervisor/net-options.h) for @nic's forwards; "" for none. */
char *vireo_nic_config_hostfwd (const VireoNicConfig *nic);

/* Where machines' folders are (vireod's storage location).  An image directly in the machine's own
 * folder (<root>/<uuid>/, which only vireod may enter) was made there by vireod for that machine
 * (CreateDisk, ImportDisk) and is opened with vireod's own rights, never through a symlink; every
 * other file with the rights of files_uid. */
void vireo_machine_config_set_storage_root (const char *root);
/* Whether @path names a file directly in the folder of machine @config. */
gboolean vireo_machine_config_in_own_folder (const VireoMachineConfig *config, const char *path);
/* Opens a disk image of @config as described above (flags as for vireo_open_as).  -1 with errno. */
int vireo_machine_config_open_image (const VireoMachineConfig *config, const char *path, int flags);

/* Opens each file the configuration names as its files_uid would, as Create and Update check them
 * (images in the machine's own folder, which the definition names, with vireod's own rights). */
gboolean vireo_machine_config_check_files (const VireoMachineConfig *config, GError **error);
/* The same for a definition a caller brought (ImportLibvirtXml): every file, those in the machine's
 * folder included, with the rights of files_uid. */
gboolean vireo_machine_config_check_imported_files (const VireoMachineConfig *config, GError **error);

/* The spec id and port name of the guest agent's channel ("guest-agent"). */
#define VIREO_GUEST_AGENT_DEVICE "vserial0"
#define VIREO_GUEST_AGENT_PORT   "org.qemu.guest_agent.0"

/* A configuration with the documented defaults and a fresh random UUID (name unset). */
VireoMachineConfig *vireo_machine_config_new (void);
VireoMachineConfig *vireo_machine_config_copy (const VireoMachineConfig *config);
void vireo_machine_config_free (VireoMachineConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoMachineConfig, vireo_machine_config_free)

/* Applies the keys of @settings (a{sv}, see data/org.vireo.Vireo1.xml) to @config.  Each key is checked
 * for its type and range; an unknown key, a wrong type or a bad value fails with
 * VIREO_ERROR_INVALID_ARGUMENT naming the key, and leaves @config untouched.  @creating requires "name"
 * and, for boot "kernel", "kernel".  Files named by the settings must exist (VIREO_ERROR_NOT_FOUND). */
gboolean vireo_machine_config_apply_settings (VireoMachineConfig *config, GVariant *settings,
                                              gboolean creating, GError **error);

/* The keys of @settings that may not change while the machine runs, as a comma-separated list for an
 * error message, or NULL when all of them may. */
char *vireo_machine_config_keys_needing_off (GVariant *settings);

/* All settings as a{sv} (floating reference). */
GVariant *vireo_machine_config_to_settings (const VireoMachineConfig *config);

/* libvirt domain XML: type "kvm", name, uuid, memory, vcpus, os (hvm, kernel/initrd/cmdline or boot from
 * disk), devices (disks, interfaces, serial console, graphics when "display"), and a <metadata> element
 * in the namespace "https://vireo.org/xmlns/vireo/1" for what libvirt has no element for (notes are the
 * domain <description>; cpuid-mask, auto-start, auto-stop, network kind).  What we export validates with
 * virt-xml-validate. */
char *vireo_machine_config_to_xml (const VireoMachineConfig *config);

/* Parses libvirt domain XML (ours, or from virsh/virt-manager/GNOME Boxes).  A domain Vireo cannot run
 * (no kernel and no disk, an architecture other than x86_64, ...) fails with
 * VIREO_ERROR_NOT_SUPPORTED saying why; malformed XML with VIREO_ERROR_INVALID_ARGUMENT. */
VireoMachineConfig *vireo_machine_config_new_from_xml (const char *xml, GError **error);

/* Whether @text is a UUID in the canonical form we store (36 characters, lower case). */
gboolean vireo_machine_config_is_canonical_uuid (const char *text);

/* Checks the whole configuration (after apply_settings or parsing): ranges, boot source present,
 * paths absolute.  The limits of the host are checked by the caller at start. */
gboolean vireo_machine_config_validate (const VireoMachineConfig *config, GError **error);

G_END_DECLS
