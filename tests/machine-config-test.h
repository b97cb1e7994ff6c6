/* machine-config-test.h — what the machine configuration tests share (test-machine-config.c, -xml.c, -nics.c):
 * a folder of files settings can name, settings built in a line, and libvirt XML parsed or validated. */
#pragma once

#include "test-util.h"
#include "machine-config.h"
#include "switch-registry.h"
#include "vireo-error.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QCOW2_MAGIC "QFI\xfb"

typedef struct
{
  char *dir;
  char *kernel;
  char *initrd;
  char *raw;   /* a raw image */
  char *qcow2; /* starts with the qcow2 magic */
} Files;

char *write_file (const char *dir, const char *name, const char *contents, gsize length);

void files_setup (Files *files, gconstpointer data);

void remove_tree (const char *path);

void files_teardown (Files *files, gconstpointer data);

/* One setting as a{sv}. */
GVariant *one (const char *key, GVariant *value);

GVariant *disk_entry (const char *path, const char *format, gboolean readonly);

GVariant *disks_of (GVariant *first, ...);

/* A complete, valid direct-kernel machine. */
VireoMachineConfig *kernel_machine (Files *files);

/* A disk machine with a display, NAT and a read-only second disk. */
VireoMachineConfig *disk_machine (Files *files);

void assert_same_config (const VireoMachineConfig *a, const VireoMachineConfig *b);

/* Applies @settings, expects @code with @needle in the message, and that @config did not change. */
void assert_refused (VireoMachineConfig *config, GVariant *settings, gboolean creating, int code,
                     const char *needle);

VireoMachineConfig *parse_ok (const char *xml);

void assert_contains (const char *haystack, const char *needle);

void run_validator (const char *xml, const char *dir);

/* Domains as virt-manager (direct kernel boot) and GNOME Boxes (a disk) define them (test-machine-config-xml.c). */
extern const char virt_manager_kernel_xml[];
extern const char boxes_disk_xml[];

/* The libvirt XML tests (test-machine-config-xml.c) and the NIC tests (test-machine-config-nics.c). */
void machine_config_add_xml_tests (void);
void machine_config_add_nic_tests (void);
