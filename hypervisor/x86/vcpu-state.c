/* vcpu-state.c — the KVM state of an x86 vCPU, saved to and restored from a GVariant dictionary in
 * Firecracker's ioctl order.
 *
 * Fixed-size KVM structures (regs, sregs, fpu or xsave, debugregs, lapic, vcpu events) are stored
 * as byte arrays in the layout of the kernel's x86-64 ABI, which KVM keeps stable; lists (CPUID,
 * XCRs, MSRs) are stored entry by entry.  A saved state comes from a file, so before anything
 * reaches KVM the sizes must be exact and every field KVM would take on trust, or refuse with a
 * bare EINVAL, is range-checked here with a message that names it. */
#include "vcpu-state.h"
#include "state.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#define MAX_CPUID_ENTRIES 256 /* KVM_MAX_CPUID_ENTRIES */
#define MAX_MSRS          4096
#define MSR_BATCH         255 /* KVM refuses 256 or more MSRs in one call */
#define XSAVE_MIN_SIZE    sizeof (struct kvm_xsave)
#define XSAVE_MAX_SIZE    (64 * 1024) /* AMX tiles take about 11 KiB */
#define XSAVE_MXCSR       24          /* offset of MXCSR in the legacy (FXSAVE) region */
#define MXCSR_RESERVED    0xffff0000u
#define TSC_KHZ_MAX       100000000u /* 100 GHz */
#define TSC_KHZ_TOLERANCE 250        /* ppm, the drift NTP absorbs (Firecracker uses the same) */

#define MSR_IA32_TSC          0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

#define CPUID_FLAGS                                                                                          \
  (KVM_CPUID_FLAG_SIGNIFCANT_INDEX | KVM_CPUID_FLAG_STATEFUL_FUNC | KVM_CPUID_FLAG_STATE_READ_NEXT)
/* The event fields KVM reports without opt-in capabilities (Vireo enables neither exception
 * payloads nor triple-fault events). */
#define EVENT_FLAGS                                                                                          \
  (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW            \
   | KVM_VCPUEVENT_VALID_SMM)
#define SHADOW_FLAGS (KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI)

/* One vCPU's state, parsed and checked. */
typedef struct
{
  struct kvm_cpuid2 *cpuid;
  uint32_t mp_state;
  struct kvm_regs regs;
  struct kvm_sregs sregs;
  uint8_t *xsave; /* NULL when the state has "fpu" instead */
  gsize xsave_len;
  struct kvm_fpu fpu;
  struct kvm_xcrs xcrs;
  struct kvm_debugregs debugregs;
  struct kvm_lapic_state lapic;
  struct kvm_msr_entry *msrs;
  gsize n_msrs;
  uint32_t tsc_khz;
  struct kvm_vcpu_events events;
} VcpuState;

static void
vcpu_state_clear (VcpuState *s)
{
  g_free (s->cpuid);
  g_free (s->xsave);
  g_free (s->msrs);
  memset (s, 0, sizeof *s);
}

static gboolean
vcpu_get (int fd, unsigned long request, void *arg, unsigned index, const char *name, GError **error)
{
  if (ioctl (fd, request, arg) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: %s failed: %s", index, name,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* A refusal here means the state does not fit this host or KVM found it inconsistent: either way
 * the saved state cannot be used, which is what HV_ERROR_BAD_IMAGE says. */
static gboolean
vcpu_set (int fd, unsigned long request, const void *arg, unsigned index, const char *what, GError **error)
{
  if (ioctl (fd, request, arg) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "vCPU %u: KVM refused the saved %s: %s", index, what,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
has_cap (int fd, long cap)
{
  return ioctl (fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* The size of the XSAVE area KVM_GET_XSAVE2/KVM_SET_XSAVE use on this host (at least 4 KiB). */
static gsize
host_xsave_size (int vm_fd)
{
  int size = ioctl (vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
  return size > (int) XSAVE_MIN_SIZE ? (gsize) size : XSAVE_MIN_SIZE;
}

/* The MSRs KVM can save and restore on this host. */
static GArray *
msr_index_list (int kvm_fd, GError **error)
{
  struct kvm_msr_list probe = { .nmsrs = 0 };
  g_autofree struct kvm_msr_list *list = NULL;
  GArray *indices;

  /* Asking with room for none makes KVM say how many there are. */
  if (ioctl (kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
    goto fail;
  probe.nmsrs = MIN (probe.nmsrs, MAX_MSRS);
  list = g_malloc0 (sizeof *list + probe.nmsrs * sizeof list->indices[0]);
  list->nmsrs = probe.nmsrs;
  if (ioctl (kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
    goto fail;
  indices = g_array_sized_new (FALSE, FALSE, sizeof (uint32_t), list->nmsrs);
  g_array_append_vals (indices, list->indices, MIN (list->nmsrs, probe.nmsrs));
  return indices;

fail:
  {
    int saved = errno;
    g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "KVM_GET_MSR_INDEX_LIST failed: %s", g_strerror (saved));
  }
  return NULL;
}

static GVariant *
save_msrs (int kvm_fd, int vcpu_fd, unsigned index, GError **error)
{
  g_autoptr (GArray) indices = msr_index_list (kvm_fd, error);
  g_autofree struct kvm_msrs *batch = NULL;
  GVariantBuilder builder;
  guint next = 0;

  if (indices == NULL)
    return NULL;
  batch = g_malloc0 (sizeof *batch + MSR_BATCH * sizeof batch->entries[0]);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ut)"));
  while (next < indices->len)
    {
      guint count = MIN (indices->len - next, MSR_BATCH);
      int got;

      memset (batch, 0, sizeof *batch + count * sizeof batch->entries[0]);
      batch->nmsrs = count;
      for (guint i = 0; i < count; i++)
        batch->entries[i].index = g_array_index (indices, uint32_t, next + i);
      got = ioctl (vcpu_fd, KVM_GET_MSRS, batch);
      if (got < 0)
        {
          int saved = errno;
          g_variant_builder_clear (&builder);
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: KVM_GET_MSRS failed: %s", index,
                       g_strerror (saved));
          return NULL;
        }
      for (int i = 0; i < got; i++)
        g_variant_builder_add (&builder, "(ut)", batch->entries[i].index, (guint64) batch->entries[i].data);
      next += (guint) got;
      if ((guint) got < count)
        {
          /* KVM stops at the first MSR it cannot read.  It lists some it then refuses (this host's
           * PVM does), and what cannot be read need not be restored. */
          g_debug ("vCPU %u: KVM cannot read MSR 0x%x; it is not saved", index,
                   g_array_index (indices, uint32_t, next));
          next++;
        }
    }
  return g_variant_builder_end (&builder);
}

GVariant *
hv_vcpu_state_save (int kvm_fd, int vm_fd, int vcpu_fd, unsigned index, GError **error)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  g_autofree struct kvm_cpuid2 *cpuid = NULL;
  struct kvm_mp_state mp_state;
  struct kvm_regs regs;
  struct kvm_sregs sregs;
  struct kvm_debugregs debugregs;
  struct kvm_lapic_state lapic;
  struct kvm_vcpu_events events;
  GVariantBuilder list;
  GVariant *msrs;
  int tsc_khz;

  /* MP_STATE first: reading it makes KVM act on a pending INIT or SIPI, which changes the
   * registers. */
  if (!vcpu_get (vcpu_fd, KVM_GET_MP_STATE, &mp_state, index, "KVM_GET_MP_STATE", error))
    return NULL;
  g_variant_dict_insert (&dict, "mp-state", "u", mp_state.mp_state);

  if (!vcpu_get (vcpu_fd, KVM_GET_REGS, &regs, index, "KVM_GET_REGS", error)
      || !vcpu_get (vcpu_fd, KVM_GET_SREGS, &sregs, index, "KVM_GET_SREGS", error))
    return NULL;
  g_variant_dict_insert_value (&dict, "regs", hv_state_new_bytes (&regs, sizeof regs));
  g_variant_dict_insert_value (&dict, "sregs", hv_state_new_bytes (&sregs, sizeof sregs));

  if (has_cap (vm_fd, KVM_CAP_XSAVE))
    {
      gsize size = host_xsave_size (vm_fd);
      g_autofree uint8_t *xsave = g_malloc0 (size);
      if (!vcpu_get (vcpu_fd, size > XSAVE_MIN_SIZE ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xsave, index,
                     "KVM_GET_XSAVE", error))
        return NULL;
      g_variant_dict_insert_value (&dict, "xsave", hv_state_new_bytes (xsave, size));
    }
  else
    {
      struct kvm_fpu fpu;
      if (!vcpu_get (vcpu_fd, KVM_GET_FPU, &fpu, index, "KVM_GET_FPU", error))
        return NULL;
      g_variant_dict_insert_value (&dict, "fpu", hv_state_new_bytes (&fpu, sizeof fpu));
    }

  g_variant_builder_init (&list, G_VARIANT_TYPE ("a(ut)"));
  if (has_cap (vm_fd, KVM_CAP_XCRS))
    {
      struct kvm_xcrs xcrs;
      if (!vcpu_get (vcpu_fd, KVM_GET_XCRS, &xcrs, index, "KVM_GET_XCRS", error))
        {
          g_variant_builder_clear (&list);
          return NULL;
        }
      for (unsigned i = 0; i < MIN (xcrs.nr_xcrs, KVM_MAX_XCRS); i++)
        g_variant_builder_add (&list, "(ut)", xcrs.xcrs[i].xcr, (guint64) xcrs.xcrs[i].value);
    }
  g_variant_dict_insert_value (&dict, "xcrs", g_variant_builder_end (&list));

  if (!vcpu_get (vcpu_fd, KVM_GET_DEBUGREGS, &debugregs, index, "KVM_GET_DEBUGREGS", error)
      || !vcpu_get (vcpu_fd, KVM_GET_LAPIC, &lapic, index, "KVM_GET_LAPIC", error))
    return NULL;
  g_variant_dict_insert_value (&dict, "debugregs", hv_state_new_bytes (&debugregs, sizeof debugregs));
  g_variant_dict_insert_value (&dict, "lapic", hv_state_new_bytes (&lapic, sizeof lapic));

  /* The TSC is among the MSRs (MSR_IA32_TSC is on KVM's list). */
  msrs = save_msrs (kvm_fd, vcpu_fd, index, error);
  if (msrs == NULL)
    return NULL;
  g_variant_dict_insert_value (&dict, "msrs", msrs);

  cpuid = g_malloc0 (sizeof *cpuid + MAX_CPUID_ENTRIES * sizeof cpuid->entries[0]);
  cpuid->nent = MAX_CPUID_ENTRIES;
  if (!vcpu_get (vcpu_fd, KVM_GET_CPUID2, cpuid, index, "KVM_GET_CPUID2", error))
    return NULL;
  g_variant_builder_init (&list, G_VARIANT_TYPE ("a(uuuuuuu)"));
  for (unsigned i = 0; i < MIN (cpuid->nent, MAX_CPUID_ENTRIES); i++)
    {
      const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
      g_variant_builder_add (&list, "(uuuuuuu)", e->function, e->index, e->flags, e->eax, e->ebx, e->ecx,
                             e->edx);
    }
  g_variant_dict_insert_value (&dict, "cpuid", g_variant_builder_end (&list));

  tsc_khz = has_cap (vm_fd, KVM_CAP_GET_TSC_KHZ) ? ioctl (vcpu_fd, KVM_GET_TSC_KHZ, 0) : 0;
  g_variant_dict_insert (&dict, "tsc-khz", "u", (guint32) MAX (tsc_khz, 0));

  /* VCPU_EVENTS last: the reads above can turn pending work into events. */
  if (!vcpu_get (vcpu_fd, KVM_GET_VCPU_EVENTS, &events, index, "KVM_GET_VCPU_EVENTS", error))
    return NULL;
  g_variant_dict_insert_value (&dict, "vcpu-events", hv_state_new_bytes (&events, sizeof events));

  return g_variant_dict_end (&dict);
}

static gboolean
check_segment (const struct kvm_segment *seg, const char *what, const char *name, GError **error)
{
  if (seg->type > 15 || seg->present > 1 || seg->dpl > 3 || seg->db > 1 || seg->s > 1 || seg->l > 1
      || seg->g > 1 || seg->avl > 1 || seg->unusable > 1)
    {
      hv_state_set_bad (error, what, "segment register %s has attributes out of range", name);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_sregs (const struct kvm_sregs *sregs, const char *what, GError **error)
{
  const struct
  {
    const struct kvm_segment *seg;
    const char *name;
  } segments[] = {
    { &sregs->cs, "CS" }, { &sregs->ds, "DS" }, { &sregs->es, "ES" }, { &sregs->fs, "FS" },
    { &sregs->gs, "GS" }, { &sregs->ss, "SS" }, { &sregs->tr, "TR" }, { &sregs->ldt, "LDTR" },
  };
  unsigned pending = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (segments); i++)
    if (!check_segment (segments[i].seg, what, segments[i].name, error))
      return FALSE;
  /* The bitmap holds the one external interrupt being injected, if any. */
  for (gsize i = 0; i < G_N_ELEMENTS (sregs->interrupt_bitmap); i++)
    pending += (unsigned) __builtin_popcountll (sregs->interrupt_bitmap[i]);
  if (pending > 1)
    {
      hv_state_set_bad (error, what, "%u interrupts are being injected at once", pending);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_events (const struct kvm_vcpu_events *ev, const char *what, GError **error)
{
  static const uint8_t zero[sizeof ev->reserved] = { 0 };

  if (ev->flags & ~(uint32_t) EVENT_FLAGS)
    hv_state_set_bad (error, what, "vCPU event flags 0x%x name unknown fields", ev->flags);
  else if (ev->exception.injected > 1 || ev->exception.pending > 1 || ev->exception.has_error_code > 1
           || ev->exception.nr > 31)
    hv_state_set_bad (error, what, "the pending exception (vector %u) is out of range", ev->exception.nr);
  else if (ev->interrupt.injected > 1 || ev->interrupt.soft > 1 || (ev->interrupt.shadow & ~SHADOW_FLAGS))
    hv_state_set_bad (error, what, "the injected interrupt is out of range");
  else if (ev->nmi.injected > 1 || ev->nmi.pending > 2 || ev->nmi.masked > 1)
    hv_state_set_bad (error, what, "the NMI state is out of range");
  else if (ev->sipi_vector > 0xff)
    hv_state_set_bad (error, what, "SIPI vector %u is out of range", ev->sipi_vector);
  else if (ev->smi.smm > 1 || ev->smi.pending > 1 || ev->smi.smm_inside_nmi > 1 || ev->smi.latched_init > 1)
    hv_state_set_bad (error, what, "the SMI state is out of range");
  else if (ev->triple_fault.pending || ev->exception_has_payload || ev->exception_payload
           || memcmp (ev->reserved, zero, sizeof zero) != 0)
    hv_state_set_bad (error, what, "vCPU events use fields Vireo never saves");
  else
    return TRUE;
  return FALSE;
}

static gboolean
parse_cpuid (GVariant *state, const char *what, VcpuState *out, GError **error)
{
  g_autoptr (GVariant) list = hv_state_lookup (state, what, "cpuid", G_VARIANT_TYPE ("a(uuuuuuu)"), error);
  GVariantIter iter;
  gsize n;

  if (list == NULL)
    return FALSE;
  n = g_variant_n_children (list);
  if (n == 0 || n > MAX_CPUID_ENTRIES)
    {
      hv_state_set_bad (error, what, "it has %" G_GSIZE_FORMAT " CPUID entries; 1 to %d are possible", n,
                        MAX_CPUID_ENTRIES);
      return FALSE;
    }
  out->cpuid = g_malloc0 (sizeof *out->cpuid + n * sizeof out->cpuid->entries[0]);
  out->cpuid->nent = (uint32_t) n;
  g_variant_iter_init (&iter, list);
  for (gsize i = 0; i < n; i++)
    {
      struct kvm_cpuid_entry2 *e = &out->cpuid->entries[i];
      g_variant_iter_next (&iter, "(uuuuuuu)", &e->function, &e->index, &e->flags, &e->eax, &e->ebx, &e->ecx,
                           &e->edx);
      if (e->flags & ~(uint32_t) CPUID_FLAGS)
        {
          hv_state_set_bad (error, what, "CPUID leaf 0x%x has unknown flags 0x%x", e->function, e->flags);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
parse_fpu (GVariant *state, const char *what, VcpuState *out, GError **error)
{
  g_autoptr (GVariant) xsave = g_variant_lookup_value (state, "xsave", NULL);
  uint32_t mxcsr;

  if (xsave == NULL)
    {
      if (!hv_state_get_bytes (state, what, "fpu", &out->fpu, sizeof out->fpu, sizeof out->fpu, NULL, error))
        return FALSE;
      mxcsr = out->fpu.mxcsr;
    }
  else
    {
      g_autoptr (GVariant) bytes = hv_state_lookup (state, what, "xsave", G_VARIANT_TYPE_BYTESTRING, error);
      const uint8_t *data;
      gsize len;

      if (bytes == NULL)
        return FALSE;
      data = g_variant_get_fixed_array (bytes, &len, 1);
      if (len < XSAVE_MIN_SIZE || len > XSAVE_MAX_SIZE)
        {
          hv_state_set_bad (error, what, "its XSAVE area is %" G_GSIZE_FORMAT " bytes long", len);
          return FALSE;
        }
      out->xsave = g_memdup2 (data, len);
      out->xsave_len = len;
      memcpy (&mxcsr, out->xsave + XSAVE_MXCSR, sizeof mxcsr);
    }
  /* Reserved MXCSR bits make the host's FXRSTOR/XRSTOR fault when KVM loads the state. */
  if (mxcsr & MXCSR_RESERVED)
    {
      hv_state_set_bad (error, what, "MXCSR 0x%x sets reserved bits", mxcsr);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_xcrs (GVariant *state, const char *what, VcpuState *out, GError **error)
{
  g_autoptr (GVariant) list = hv_state_lookup (state, what, "xcrs", G_VARIANT_TYPE ("a(ut)"), error);
  GVariantIter iter;
  uint32_t xcr;
  guint64 value;

  if (list == NULL)
    return FALSE;
  if (g_variant_n_children (list) > KVM_MAX_XCRS)
    {
      hv_state_set_bad (error, what, "it has more than %d XCRs", KVM_MAX_XCRS);
      return FALSE;
    }
  memset (&out->xcrs, 0, sizeof out->xcrs);
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(ut)", &xcr, &value))
    {
      /* XCR0 is the only extended control register x86 has. */
      if (xcr != 0)
        {
          hv_state_set_bad (error, what, "XCR%u does not exist", xcr);
          return FALSE;
        }
      out->xcrs.xcrs[out->xcrs.nr_xcrs].xcr = xcr;
      out->xcrs.xcrs[out->xcrs.nr_xcrs].value = value;
      out->xcrs.nr_xcrs++;
    }
  return TRUE;
}

static gboolean
parse_msrs (GVariant *state, const char *what, VcpuState *out, GError **error)
{
  g_autoptr (GVariant) list = hv_state_lookup (state, what, "msrs", G_VARIANT_TYPE ("a(ut)"), error);
  GVariantIter iter;
  uint32_t msr;
  guint64 value;

  if (list == NULL)
    return FALSE;
  out->n_msrs = g_variant_n_children (list);
  if (out->n_msrs > MAX_MSRS)
    {
      hv_state_set_bad (error, what, "it has %" G_GSIZE_FORMAT " MSRs", out->n_msrs);
      return FALSE;
    }
  out->msrs = g_new0 (struct kvm_msr_entry, MAX (out->n_msrs, 1));
  g_variant_iter_init (&iter, list);
  for (gsize i = 0; g_variant_iter_next (&iter, "(ut)", &msr, &value); i++)
    {
      out->msrs[i].index = msr;
      out->msrs[i].data = value;
    }
  return TRUE;
}

static gboolean
parse_vcpu_state (GVariant *state, unsigned index, VcpuState *out, GError **error)
{
  g_autofree char *what = g_strdup_printf ("vCPU %u", index);

  memset (out, 0, sizeof *out);
  if (!g_variant_is_of_type (state, G_VARIANT_TYPE_VARDICT))
    {
      hv_state_set_bad (error, what, "it is not a dictionary");
      return FALSE;
    }
  if (!parse_cpuid (state, what, out, error)
      || !hv_state_get_max (state, what, "mp-state", "u", KVM_MP_STATE_SIPI_RECEIVED, &out->mp_state, error)
      || !hv_state_get_bytes (state, what, "regs", &out->regs, sizeof out->regs, sizeof out->regs, NULL,
                              error)
      || !hv_state_get_bytes (state, what, "sregs", &out->sregs, sizeof out->sregs, sizeof out->sregs, NULL,
                              error)
      || !check_sregs (&out->sregs, what, error) || !parse_fpu (state, what, out, error)
      || !parse_xcrs (state, what, out, error)
      || !hv_state_get_bytes (state, what, "debugregs", &out->debugregs, sizeof out->debugregs,
                              sizeof out->debugregs, NULL, error)
      || !hv_state_get_bytes (state, what, "lapic", &out->lapic, sizeof out->lapic, sizeof out->lapic, NULL,
                              error)
      || !parse_msrs (state, what, out, error)
      || !hv_state_get_max (state, what, "tsc-khz", "u", TSC_KHZ_MAX, &out->tsc_khz, error)
      || !hv_state_get_bytes (state, what, "vcpu-events", &out->events, sizeof out->events,
                              sizeof out->events, NULL, error)
      || !check_events (&out->events, what, error))
    {
      vcpu_state_clear (out);
      return FALSE;
    }
  /* DR6 and DR7 are 32-bit registers; KVM_SET_DEBUGREGS takes no flags. */
  if ((out->debugregs.dr6 >> 32) || (out->debugregs.dr7 >> 32) || out->debugregs.flags)
    {
      hv_state_set_bad (error, what, "the debug registers are out of range");
      vcpu_state_clear (out);
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_vcpu_state_check (GVariant *state, unsigned index, GError **error)
{
  VcpuState parsed;

  if (!parse_vcpu_state (state, index, &parsed, error))
    return FALSE;
  vcpu_state_clear (&parsed);
  return TRUE;
}

/* The saved TSC frequency is what the guest calibrated against.  Without TSC scaling a different
 * host frequency cannot be hidden; kvmclock guests do not mind, guests timing with the raw TSC
 * drift. */
static gboolean
restore_tsc_khz (int vm_fd, int vcpu_fd, unsigned index, uint32_t saved_khz, GError **error)
{
  int host_khz;
  uint64_t diff;

  if (saved_khz == 0 || !has_cap (vm_fd, KVM_CAP_GET_TSC_KHZ))
    return TRUE;
  host_khz = ioctl (vcpu_fd, KVM_GET_TSC_KHZ, 0);
  if (host_khz <= 0)
    return TRUE;
  diff = (uint64_t) ABS ((int64_t) host_khz - (int64_t) saved_khz);
  if (diff * 1000000 <= (uint64_t) saved_khz * TSC_KHZ_TOLERANCE)
    return TRUE;
  if (has_cap (vm_fd, KVM_CAP_TSC_CONTROL))
    {
      if (ioctl (vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long) saved_khz) < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                       "vCPU %u: the VM was saved with a %u kHz TSC and KVM cannot scale this host's "
                       "%d kHz to it: %s",
                       index, saved_khz, host_khz, g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  g_message ("vCPU %u: the VM was saved with a %u kHz TSC, this host's runs at %d kHz and KVM cannot "
             "scale it; the guest's TSC now runs at the host's rate",
             index, saved_khz, host_khz);
  return TRUE;
}

static gboolean
msr_is_listed (GArray *indices, uint32_t msr)
{
  for (guint i = 0; i < indices->len; i++)
    if (g_array_index (indices, uint32_t, i) == msr)
      return TRUE;
  return FALSE;
}

static gboolean
restore_msrs (int kvm_fd, int vcpu_fd, unsigned index, VcpuState *s, GError **error)
{
  g_autoptr (GArray) indices = msr_index_list (kvm_fd, error);
  g_autofree struct kvm_msrs *batch = NULL;
  uint64_t tsc = 0;
  gboolean have_tsc = FALSE;

  if (indices == NULL)
    return FALSE;
  for (gsize i = 0; i < s->n_msrs; i++)
    {
      if (!msr_is_listed (indices, s->msrs[i].index))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                       "vCPU %u: the saved state sets MSR 0x%x, which this host's KVM does not restore",
                       index, s->msrs[i].index);
          return FALSE;
        }
      if (s->msrs[i].index == MSR_IA32_TSC)
        {
          tsc = s->msrs[i].data;
          have_tsc = TRUE;
        }
    }
  /* A TSC deadline reads as 0 once it has fired, even when KVM had not delivered the timer
   * interrupt yet, and that interrupt is in no saved state.  A guest waiting for it would wait
   * forever; a deadline of "now" makes the timer fire at once (a guest that did not expect it finds
   * nothing to do). */
  for (gsize i = 0; i < s->n_msrs; i++)
    if (s->msrs[i].index == MSR_IA32_TSC_DEADLINE && s->msrs[i].data == 0 && have_tsc)
      s->msrs[i].data = tsc;

  batch = g_malloc0 (sizeof *batch + MSR_BATCH * sizeof batch->entries[0]);
  for (gsize next = 0; next < s->n_msrs;)
    {
      guint count = (guint) MIN (s->n_msrs - next, MSR_BATCH);
      int set;

      batch->nmsrs = count;
      memcpy (batch->entries, s->msrs + next, count * sizeof batch->entries[0]);
      set = ioctl (vcpu_fd, KVM_SET_MSRS, batch);
      if (set < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: KVM_SET_MSRS failed: %s", index,
                       g_strerror (saved));
          return FALSE;
        }
      if ((guint) set < count)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                       "vCPU %u: KVM refused the saved value 0x%" G_GINT64_MODIFIER "x of MSR 0x%x", index,
                       (uint64_t) batch->entries[set].data, batch->entries[set].index);
          return FALSE;
        }
      next += count;
    }
  return TRUE;
}

static gboolean
restore_xsave (int vm_fd, int vcpu_fd, unsigned index, const VcpuState *s, GError **error)
{
  gsize host_size = host_xsave_size (vm_fd);
  g_autofree uint8_t *buffer = NULL;

  if (!has_cap (vm_fd, KVM_CAP_XSAVE))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "vCPU %u: the VM was saved with XSAVE state, which this host's KVM lacks", index);
      return FALSE;
    }
  /* KVM reads exactly its own size.  Beyond it only zeros may be left behind. */
  for (gsize i = host_size; i < s->xsave_len; i++)
    if (s->xsave[i] != 0)
      {
        g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                     "vCPU %u: the saved XSAVE area (%" G_GSIZE_FORMAT " bytes) holds state this host "
                     "(%" G_GSIZE_FORMAT " bytes) cannot take",
                     index, s->xsave_len, host_size);
        return FALSE;
      }
  buffer = g_malloc0 (MAX (host_size, s->xsave_len));
  memcpy (buffer, s->xsave, s->xsave_len);
  return vcpu_set (vcpu_fd, KVM_SET_XSAVE, buffer, index, "XSAVE state", error);
}

gboolean
hv_vcpu_state_restore (int kvm_fd, int vm_fd, int vcpu_fd, unsigned index, GVariant *state, GError **error)
{
  VcpuState s;
  struct kvm_mp_state mp_state;
  struct kvm_vcpu_events events;
  gboolean ok;

  if (!parse_vcpu_state (state, index, &s, error))
    return FALSE;

  mp_state.mp_state = s.mp_state;
  events = s.events;
  /* The NMI and SIPI fields are only applied when flagged; KVM does not flag them when reporting.
   */
  events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;

  /* CPUID first (it decides which of the rest is valid), then MP_STATE, REGS (which clears pending
   * exceptions), SREGS (the APIC base), the FPU, XCRS and DEBUGREGS, LAPIC after SREGS and before
   * MSRS (or the TSC deadline is refused), and VCPU_EVENTS last, so nothing above clears them. */
  ok = vcpu_set (vcpu_fd, KVM_SET_CPUID2, s.cpuid, index, "CPUID", error)
       && restore_tsc_khz (vm_fd, vcpu_fd, index, s.tsc_khz, error)
       && vcpu_set (vcpu_fd, KVM_SET_MP_STATE, &mp_state, index, "multiprocessing state", error)
       && vcpu_set (vcpu_fd, KVM_SET_REGS, &s.regs, index, "registers", error)
       && vcpu_set (vcpu_fd, KVM_SET_SREGS, &s.sregs, index, "special registers", error)
       && (s.xsave ? restore_xsave (vm_fd, vcpu_fd, index, &s, error)
                   : vcpu_set (vcpu_fd, KVM_SET_FPU, &s.fpu, index, "FPU state", error))
       && (s.xcrs.nr_xcrs == 0 || vcpu_set (vcpu_fd, KVM_SET_XCRS, &s.xcrs, index, "XCRs", error))
       && vcpu_set (vcpu_fd, KVM_SET_DEBUGREGS, &s.debugregs, index, "debug registers", error)
       && vcpu_set (vcpu_fd, KVM_SET_LAPIC, &s.lapic, index, "local APIC", error)
       && restore_msrs (kvm_fd, vcpu_fd, index, &s, error)
       && vcpu_set (vcpu_fd, KVM_SET_VCPU_EVENTS, &events, index, "pending events", error);
  vcpu_state_clear (&s);
  return ok;
}

void
hv_vcpu_state_clock_paused (int vcpu_fd)
{
  /* EINVAL: the guest has not enabled kvmclock, so there is nobody to tell. */
  if (ioctl (vcpu_fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
    g_debug ("KVM_KVMCLOCK_CTRL failed: %s", g_strerror (errno));
}
