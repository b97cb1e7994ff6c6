/* hv.h — public API of libvireo-hv, the Vireo VMM core.
 *
 * The shape follows libkrun: describe a VM (memory, vCPUs, kernel, serial), start it, wait for it to end.
 * Every call that can fail takes a GError; the library never exits the process.  One HvVm is one guest;
 * all of its threads belong to the library.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "hv-limits.h"
#include "spec.h"

G_BEGIN_DECLS

/* Why a VM stopped running. */
typedef enum
{
  HV_EXIT_NONE = 0,          /* still running, or never started */
  HV_EXIT_POWER_OFF,         /* the guest powered off (ACPI S5) */
  HV_EXIT_RESET,             /* the guest asked for a reset (i8042 0xFE, ACPI reset register) */
  HV_EXIT_TRIPLE_FAULT,      /* KVM_EXIT_SHUTDOWN: the CPU shut down, usually a triple fault */
  HV_EXIT_EMULATION_FAILURE, /* KVM could not emulate an instruction the guest ran */
  HV_EXIT_INTERNAL_ERROR,    /* KVM_RUN failed or KVM reported an internal error or unhandled exit */
  HV_EXIT_STOPPED,           /* the host stopped the VM (hv_vm_stop), the guest did not choose to */
} HvExitReason;

const char *hv_exit_reason_to_string (HvExitReason reason);

/* What a thread of the core does, so that a host process can confine each kind to what it needs. */
typedef enum
{
  HV_THREAD_VCPU,    /* a vCPU: KVM_RUN and the exits it dispatches */
  HV_THREAD_IO,      /* an I/O thread: device back ends (serial input, timers, disk I/O) */
  HV_THREAD_DISPLAY, /* the SPICE server's thread and the threads it starts */
  HV_THREAD_NET,     /* a network back end's I/O thread (user-mode NAT): it makes network sockets */
} HvThreadRole;

typedef void (*HvThreadStartHook) (HvThreadRole role);

/* @hook runs first thing on every thread the core starts, on that thread, before it does any work; NULL
 * removes it.  Set it before starting a VM.  The hook must not fail: a thread it cannot confine is the
 * host's to end. */
void hv_set_thread_start_hook (HvThreadStartHook hook);
/* Called by the core's threads (and the display module's) as they start. */
void hv_thread_started (HvThreadRole role);
const char *hv_thread_role_to_string (HvThreadRole role);
/* Loads the display module now, while its file can still be opened: a sandboxed host (vireo-worker)
 * calls this before its mount namespace hides the file system.  Without it the module is loaded by the
 * first VM with a display. */
gboolean hv_display_preload (GError **error);
/* Keeps the display module's folder open, so a VM given a display later still finds the module when the
 * sandbox hides the folder's path (the module itself is loaded only then).  Cheaper than preloading for
 * a host that does not know yet whether a display will be asked for. */
gboolean hv_display_hold_module_dir (GError **error);

typedef struct
{
  HvExitReason reason;
  /* A sentence for a person; for failures it names the vCPU, the exit and the guest RIP. */
  char *message;
} HvExitInfo;

void hv_exit_info_clear (HvExitInfo *info);

typedef struct _HvVm HvVm;

/* Opens /dev/kvm (or @kvm_path when not NULL, for tests) and checks the capabilities the core needs. */
HvVm *hv_vm_new (const char *kvm_path, GError **error);
/* The same with an already open /dev/kvm (the VM takes ownership of @kvm_fd, also on failure); for
 * processes that may not open the device themselves. */
HvVm *hv_vm_new_for_fd (int kvm_fd, GError **error);
void hv_vm_free (HvVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvVm, hv_vm_free)

gboolean hv_vm_set_memory (HvVm *vm, uint64_t bytes, GError **error);
gboolean hv_vm_set_vcpus (HvVm *vm, unsigned count, GError **error);
/* A comma-separated list of "-feature" items (Linux /proc/cpuinfo names), e.g. "-cx16,-avx512f". */
gboolean hv_vm_set_cpuid_mask (HvVm *vm, const char *mask, GError **error);
/* The kernel is a PVH ELF (XEN_ELFNOTE_PHYS32_ENTRY) or a bzImage with a 64-bit entry point. */
gboolean hv_vm_set_kernel (HvVm *vm, const char *kernel_path, const char *initrd_path, const char *cmdline,
                           GError **error);
/* The same with open files (not taken: the VM maps them now). */
gboolean hv_vm_set_kernel_fds (HvVm *vm, int kernel_fd, int initrd_fd, const char *cmdline, GError **error);
/* Boots firmware (a BIOS such as SeaBIOS's bios-256k.bin) instead of a kernel (or, with
 * hv_vm_set_restore called after, keeps it in the restored machine): the image is read now
 * (@fd is not kept) and mapped read-only below 4 GiB, its last 128 KiB also at 0xE0000, and the
 * processors start at the reset vector.  The machine then has a fw_cfg device ("fwcfg0") telling the
 * firmware its memory map, processors and ACPI tables.  The image must be a non-empty multiple of
 * 64 KiB, at most 16 MiB (HV_ERROR_BAD_IMAGE otherwise).  The later of this and a kernel wins. */
gboolean hv_vm_set_firmware_fd (HvVm *vm, int fd, GError **error);
/* Configures the VM from @spec (checked first with hv_machine_spec_check): memory, vCPUs, CPUID
 * mask, the kernel or the firmware, and the devices in its list, added (or, for one every VM has such
 * as "serial0", configured) with their options.  The VM keeps duplicates of the fds it uses; @spec
 * stays the caller's. */
gboolean hv_vm_apply_spec (HvVm *vm, const HvMachineSpec *spec, GError **error);
/* What the VM is configured with, as a spec without fds (fd options and boot files left out): for
 * checking that a spec arrived whole. */
HvMachineSpec *hv_vm_get_spec (HvVm *vm);

/* Serial (COM1, device "serial0") wiring.  @output_fd receives what the guest transmits; @input_fd (or
 * -1) is read and fed to the guest's receiver.  The VM does not take ownership of the fds. */
void hv_vm_set_serial (HvVm *vm, int input_fd, int output_fd);

/* Devices.  Every VM has "pci0" (kind "pci-host"), "serial0" ("serial", COM1), "kbc0" ("i8042"),
 * "rtc0" ("rtc") and "pm0" ("acpi-pm"); hv_vm_set_display() adds "display0" ("bochs-display"),
 * "keyboard0" ("virtio-keyboard") and "tablet0" ("virtio-tablet").  hv_vm_add_device() asks for
 * one more instance of @kind: "serial" (a second port, COM2), "virtio-keyboard", "virtio-tablet".
 * @id names it (NULL: the kind's prefix and the next free number, "serial1"); a saved state keys the
 * device's section on it, so a restore needs the same devices with the same ids. */
gboolean hv_vm_add_device (HvVm *vm, const char *kind, const char *id, GError **error);
/* A serial port's host side, as hv_vm_set_serial() for "serial0". */
gboolean hv_vm_set_device_io (HvVm *vm, const char *id, int input_fd, int output_fd, GError **error);
/* Starts from the state saved in the folder @dir_fd (see hv_vm_save) instead of booting a kernel: call
 * instead of hv_vm_set_kernel (the later of the two wins), before hv_vm_start.  The files are opened and
 * checked now; @dir_fd is not kept.  The memory size and vCPU count configured must be the saved ones
 * (HV_ERROR_INVALID_ARGUMENT says what differs); a missing file is HV_ERROR_NOT_FOUND, a damaged or
 * foreign one HV_ERROR_BAD_IMAGE.  The vCPUs continue where they were when hv_vm_start runs them. */
gboolean hv_vm_set_restore (HvVm *vm, int dir_fd, GError **error);

/* Gives the machine a display: a PCI linear framebuffer (Bochs DISPI, 800x600 to 2560x1600, 32 bpp) and
 * virtio-input keyboard and tablet.  Off by default. */
gboolean hv_vm_set_display (HvVm *vm, gboolean enabled, GError **error);
/* Serves the display over SPICE on a unix socket at @path (mode 0600), for stock clients
 * (remote-viewer spice+unix://PATH).  Needs hv_vm_set_display(). */
gboolean hv_vm_set_spice_socket (HvVm *vm, const char *path, GError **error);

/* Builds the machine (memory, irqchip, devices, boot data) and starts the vCPU threads. */
gboolean hv_vm_start (HvVm *vm, GError **error);

/* Presses the ACPI power button: a guest that handles it shuts down and powers off. */
gboolean hv_vm_request_shutdown (HvVm *vm, GError **error);
/* Puts the disc image in @fd (not taken: the VM keeps its own duplicate) into the CD-ROM drive @id (a
 * "cdrom" device), or opens its tray and takes the disc out (@fd -1), while the machine runs or is
 * paused; from any thread but the VM's own.  The guest sees the tray close with a new disc (a media
 * event, then UNIT ATTENTION) or open (NOT READY, MEDIUM NOT PRESENT).  A tray the guest locked (PREVENT
 * MEDIUM REMOVAL) keeps its disc: taking it out fails with HV_ERROR_INVALID_STATE unless @force, and the
 * guest is told someone pressed the eject button.  An image that cannot be read fails with the block
 * layer's error (HV_ERROR_BAD_IMAGE, HV_ERROR_PERMISSION...) and the drive keeps its disc.  A machine
 * built again from its spec (a reset) gets the spec's disc: the caller updates its spec. */
gboolean hv_vm_change_medium (HvVm *vm, const char *id, int fd, gboolean force, GError **error);
/* Plugs the network cable of NIC @id (a "virtio-net" device) in or pulls it out while the machine runs
 * or is paused; any thread but the VM's own.  The guest sees its link go up or down (LINK_UP and a
 * configuration interrupt); while it is down nothing is sent or received.  As for media, a machine built
 * again from its spec gets the spec's "link": the caller updates its spec. */
gboolean hv_vm_set_link (HvVm *vm, const char *id, gboolean up, GError **error);
/* NIC device id → the IPv4 address (dotted) the guest took, as a{ss}: learnt from the last DHCP ACK for
 * the NIC's MAC that went to the guest (from slirp's server or one on a bridge); NICs with no lease yet
 * are absent.  Any thread, while the VM exists; a floating reference. */
GVariant *hv_vm_get_guest_addresses (HvVm *vm);
/* Presses Ctrl+Alt+Del on the PS/2 keyboard. */
gboolean hv_vm_send_ctrl_alt_del (HvVm *vm, GError **error);
/* Stops every vCPU between instructions and keeps them stopped until hv_vm_resume(). */
gboolean hv_vm_pause (HvVm *vm, GError **error);
gboolean hv_vm_resume (HvVm *vm, GError **error);
/* Writes the VM's whole state into the folder @dir_fd (opened O_RDONLY | O_DIRECTORY): "state" (versioned,
 * checksummed) and "memory" (guest RAM, sparse), replacing a previous save there atomically.  The VM must
 * be paused (HV_ERROR_INVALID_STATE otherwise); it stays paused.  The files hold guest memory and are
 * created readable by the owner only. */
gboolean hv_vm_save (HvVm *vm, int dir_fd, GError **error);
/* Returns a paused VM in place to the state saved in the folder @dir_fd (as hv_vm_save writes it, for
 * the same configuration): memory (mapped lazily, see hv_vm_set_restore), vCPUs, irqchip, PIT and
 * clock, and every device's state; the VM stays paused (hv_vm_resume runs it).  Nothing of the present
 * survives in guest-visible state (device.h says what each device's load guarantees).  Disks are not
 * touched: apply their snapshot first (hv_vm_snapshot_disks), the state's disk sizes must match.  It
 * takes a fraction of a millisecond plus the page faults of the memory the guest then touches.
 * Errors found before anything changed (HV_ERROR_INVALID_STATE: not paused; HV_ERROR_NOT_FOUND,
 * HV_ERROR_BAD_IMAGE, HV_ERROR_INVALID_ARGUMENT as for hv_vm_set_restore) leave the VM as it was; a
 * failure after that (a device refusing its section) ends the VM (HV_EXIT_INTERNAL_ERROR), since it
 * is then neither the old state nor the new one. */
gboolean hv_vm_revert (HvVm *vm, int dir_fd, GError **error);
/* What hv_vm_revert (and hv_vm_set_restore) check before changing anything, alone: the files in @dir_fd
 * are a saved VM of this configuration (the devices' sections are only checked as they load).  For a
 * caller that must know before it changes something else, such as the disks.  Any state of the VM. */
gboolean hv_vm_check_saved (HvVm *vm, int dir_fd, GError **error);
/* The disk side of a checkpoint: @op ("create", "apply" or "delete") on the internal snapshot @name of
 * every writable disk (virtio-blk and SATA), which must all be qcow2 (a writable raw disk is refused,
 * naming it, before any is touched).  The VM must be paused (its disks are quiesced); read-only disks
 * are left alone.  All or nothing where the format allows: a create that fails on a later disk is
 * deleted again from the earlier ones; apply and delete first check that every disk has the snapshot.
 * "discard" deletes it from the disks that have it (none having it is no error: for cleaning up).
 * A writable disk that is not qcow2 fails with HV_ERROR_NOT_SUPPORTED.
 * After "apply" the disks may have another size; the VM's state must be restored with them. */
gboolean hv_vm_snapshot_disks (HvVm *vm, const char *op, const char *name, GError **error);
/* Ends the VM now, without asking the guest: the exit reason becomes HV_EXIT_STOPPED. */
void hv_vm_stop (HvVm *vm);

/* A connected socket speaking SPICE to this VM's display (for Machine.OpenDisplay); -1 and @error when the
 * VM has no display or is not running.  The caller owns the fd. */
int hv_vm_open_display (HvVm *vm, GError **error);

/* Input, as a display client delivers it.  Keys are PC XT set-1 scancode fragments (0xe0 prefixes as
 * separate bytes, releases with bit 7 set); they go to the virtio keyboard once its guest driver is ready,
 * to the PS/2 keyboard otherwise.  The tablet takes absolute coordinates in 0..32767 on both axes and a
 * button mask (bit 0 left, 1 middle, 2 right); wheel steps are positive away from the user (scrolling
 * up), as Linux's REL_WHEEL counts them. */
void hv_vm_input_key (HvVm *vm, uint8_t scancode_fragment);
void hv_vm_input_tablet (HvVm *vm, uint32_t x, uint32_t y, uint32_t buttons);
void hv_vm_input_wheel (HvVm *vm, int32_t steps, uint32_t buttons);

/* An fd that becomes readable once the VM has ended (for GLib main loops); owned by the VM. */
int hv_vm_get_exit_fd (HvVm *vm);
gboolean hv_vm_has_exited (HvVm *vm);
/* Blocks until the VM has ended and every vCPU thread has been joined. */
void hv_vm_wait (HvVm *vm, HvExitInfo *info);

G_END_DECLS
