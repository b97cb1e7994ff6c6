/* worker-config.h — the machine a worker hosts, as vireod describes it in Worker1.Start (a{sv} plus an
 * fd list), checked at the boundary and turned into a fresh HvVm for every boot. */
#pragma once

#include "hv.h"

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct
{
  HvMachineSpec *spec; /* the machine, with the worker's own fds (kernel, initrd), kept for reboots */
  /* The worker's own duplicates of the fds from the call, kept for reboots; -1 when not given. */
  int kvm_fd;
  int state_dir_fd;
  gboolean restore;
} VireoWorkerConfig;

/* Reads @config (see data/org.vireo.Worker1.xml): the worker's own keys and a machine spec
 * (hv_machine_spec_new_from_variant), checked as the core checks it, taking its own copies of the fds
 * it names from @fd_list.  A wrong, missing or unknown key fails with
 * VIREO_ERROR_INVALID_ARGUMENT naming the key. */
VireoWorkerConfig *vireo_worker_config_parse (GVariant *config, GUnixFDList *fd_list, GError **error);
void vireo_worker_config_free (VireoWorkerConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoWorkerConfig, vireo_worker_config_free)

/* A new VM described by @config, wired to the serial fds, not yet started.  @restore makes it resume from
 * the saved state in the state folder instead of booting the kernel.  Errors are HV_ERRORs. */
HvVm *vireo_worker_config_build_vm (const VireoWorkerConfig *config, gboolean restore, int serial_input_fd,
                                    int serial_output_fd, GError **error);

G_END_DECLS
