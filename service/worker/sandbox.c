/* sandbox.c — what confines vireo-worker: a mount namespace with an empty read-only root, no capabilities,
 * and seccomp allow-lists (libseccomp), one for the whole process and a narrower one per thread role.
 *
 * Order (worker-main.c): everything that needs a path is opened first (the display module, the listening
 * socket, the folder of the exit record), then the namespace, then the capabilities go, then seccomp, and
 * only then does the worker make threads.  Every file and socket a machine uses afterwards arrives as an
 * fd from vireod.
 *
 * seccomp: the process-wide filter (installed on the main thread while it is the only thread, so every
 * thread inherits it) allows the union of what the roles need.  Each thread of the core then adds its
 * role's filter on itself as it starts (hv_set_thread_start_hook, no TSYNC): filters stack, the strictest
 * answer wins, and a thread's filter also binds the threads it makes (spice-server's own threads inherit
 * the display filter).  The role programs are compiled to BPF on the main thread in advance, so a
 * starting thread only makes one seccomp() call.  A forbidden call kills the whole process
 * (SCMP_ACT_KILL_PROCESS), not the thread: a machine that lost a vCPU or its I/O thread would hang
 * silently, while a dead worker is reported by vireod as killed by SIGSYS and can be started again. */
#include "sandbox.h"
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <malloc.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#ifndef CLONE_THREAD
#define CLONE_THREAD 0x00010000
#endif

/* Sanitizer builds (CI's -Db_sanitize=address,undefined): the runtime reports through /proc, and
 * LeakSanitizer stops the process with a ptrace()ing helper at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#else
#define SANITIZER_BUILD 0
#endif

static gboolean
set_errno_error (GError **error, const char *what)
{
  int saved = errno;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", what, g_strerror (saved));
  return FALSE;
}

/* --- the mount namespace --- */

static gboolean
write_file (const char *path, const char *contents, GError **error)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  size_t length = strlen (contents);
  ssize_t written;

  if (fd < 0)
    return set_errno_error (error, path);
  written = write (fd, contents, length);
  if (written != (ssize_t) length)
    {
      if (written >= 0)
        errno = EIO;
      set_errno_error (error, path);
      close (fd);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

static gboolean
mount_or_fail (const char *source, const char *target, const char *type, unsigned long flags,
               const char *data, GError **error)
{
  if (mount (source, target, type, flags, data) < 0)
    {
      g_autofree char *what = g_strdup_printf ("mount %s on %s", source ? source : "(none)", target);
      return set_errno_error (error, what);
    }
  return TRUE;
}

/* The flags a read-only bind remount must keep: a user namespace may not clear the ones the mount had. */
static unsigned long
locked_flags (const char *path)
{
  struct statvfs st;
  unsigned long flags = 0;

  if (statvfs (path, &st) < 0)
    return 0;
  if (st.f_flag & ST_NOSUID)
    flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV)
    flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC)
    flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME)
    flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME)
    flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME)
    flags |= MS_RELATIME;
  return flags;
}

static gboolean
bind_read_only (const char *source, const char *target, GError **error)
{
  return mount_or_fail (source, target, NULL, MS_BIND | MS_REC, NULL, error)
         && mount_or_fail (NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags (source), NULL,
                           error);
}

/* /lib, /lib64, /bin and /sbin: links into /usr on a merged-/usr system (Debian 12), else bound. */
static gboolean
add_top_level (const char *name, GError **error)
{
  g_autofree char *host = g_strconcat ("/", name, NULL);
  g_autofree char *target = NULL;
  struct stat st;

  if (lstat (host, &st) < 0)
    return TRUE;
  if (S_ISLNK (st.st_mode))
    {
      g_autofree char *link = g_file_read_link (host, NULL);
      if (link == NULL || symlink (link, name) < 0)
        return set_errno_error (error, host);
      return TRUE;
    }
  if (!S_ISDIR (st.st_mode))
    return TRUE;
  if (mkdir (name, 0755) < 0)
    return set_errno_error (error, name);
  target = g_strconcat ("./", name, NULL);
  return bind_read_only (host, target, error);
}

/* Started as root to become @user (system mode): maps root and @user, each to itself.  Only a process
 * outside the new namespace with CAP_SETUID and CAP_SETGID there may write a map of more than its own
 * id, so a child of ours does it, as newuidmap would; root stays root inside, so vireod (root) is still
 * known for who it is on the worker's sockets until the worker becomes @user. */
static gboolean
unshare_mapping_root_and_user (uid_t user, GError **error)
{
  int ready[2], done[2];
  pid_t helper;
  int status = 0;
  char byte = 0;

  if (pipe2 (ready, O_CLOEXEC) < 0)
    return set_errno_error (error, "pipe");
  if (pipe2 (done, O_CLOEXEC) < 0)
    {
      close (ready[0]);
      close (ready[1]);
      return set_errno_error (error, "pipe");
    }
  helper = fork ();
  if (helper < 0)
    {
      set_errno_error (error, "fork");
      close (ready[0]);
      close (ready[1]);
      close (done[0]);
      close (done[1]);
      return FALSE;
    }
  if (helper == 0)
    {
      pid_t parent = getppid ();
      char path[64], map[128];
      int ok = 1;

      close (ready[1]);
      close (done[0]);
      /* The process has one thread here (vireo_sandbox_enter_namespace's contract), so libc is safe. */
      if (read (ready[0], &byte, 1) != 1)
        _exit (1);
      snprintf (map, sizeof map, "0 0 1\n%u %u 1\n", (unsigned) user, (unsigned) user);
      snprintf (path, sizeof path, "/proc/%d/uid_map", (int) parent);
      {
        int fd = open (path, O_WRONLY | O_CLOEXEC);
        ok = ok && fd >= 0 && write (fd, map, strlen (map)) == (ssize_t) strlen (map);
        if (fd >= 0)
          close (fd);
      }
      snprintf (path, sizeof path, "/proc/%d/gid_map", (int) parent);
      {
        int fd = open (path, O_WRONLY | O_CLOEXEC);
        ok = ok && fd >= 0 && write (fd, map, strlen (map)) == (ssize_t) strlen (map);
        if (fd >= 0)
          close (fd);
      }
      _exit (ok ? 0 : 1);
    }
  close (ready[0]);
  close (done[0]);
  close (done[1]);
  if (unshare (CLONE_NEWUSER | CLONE_NEWNS) < 0)
    {
      set_errno_error (error, "cannot make a user and mount namespace");
      close (ready[1]);
      waitpid (helper, &status, 0);
      return FALSE;
    }
  if (write (ready[1], &byte, 1) != 1)
    {
      set_errno_error (error, "cannot wake the helper mapping the ids");
      close (ready[1]);
      waitpid (helper, &status, 0);
      return FALSE;
    }
  close (ready[1]);
  if (waitpid (helper, &status, 0) < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot map the ids of the worker's user namespace");
      return FALSE;
    }
  return TRUE;
}

/* A user namespace of our own makes the mount namespace possible without privilege; it maps only our own
 * ids, so nothing inside is more than the worker was outside. */
static gboolean
unshare_mapping_self (GError **error)
{
  g_autofree char *map = NULL;
  uid_t uid = geteuid ();
  gid_t gid = getegid ();

  if (unshare (CLONE_NEWUSER | CLONE_NEWNS) < 0)
    return set_errno_error (error, "cannot make a user and mount namespace");
  map = g_strdup_printf ("%u %u 1\n", (unsigned) uid, (unsigned) uid);
  if (!write_file ("/proc/self/setgroups", "deny", error) || !write_file ("/proc/self/uid_map", map, error))
    return FALSE;
  g_free (map);
  map = g_strdup_printf ("%u %u 1\n", (unsigned) gid, (unsigned) gid);
  return write_file ("/proc/self/gid_map", map, error);
}

gboolean
vireo_sandbox_enter_namespace (uid_t user, GError **error)
{
  static const char *const devices[] = { "null", "zero", "random", "urandom" };
  static const char *const top_level[] = { "lib", "lib64", "lib32", "libx32", "bin", "sbin" };

  if (user != (uid_t) -1 && geteuid () == 0 && user != 0)
    {
      if (!unshare_mapping_root_and_user (user, error))
        return FALSE;
    }
  else if (!unshare_mapping_self (error))
    return FALSE;

  /* Nothing we mount leaks out, nothing mounted outside later comes in. */
  if (!mount_or_fail (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, error))
    return FALSE;
  /* The new root is built on a tmpfs over /tmp, which every system has (ours alone, in this namespace). */
  if (!mount_or_fail ("vireo-worker", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k", error))
    return FALSE;
  if (chdir ("/tmp") < 0)
    return set_errno_error (error, "chdir /tmp");
  if (mkdir ("usr", 0755) < 0 || mkdir ("proc", 0555) < 0 || mkdir ("dev", 0755) < 0
      || mkdir (".old", 0700) < 0)
    return set_errno_error (error, "cannot lay out the worker's root");
  /* /usr read-only: libraries loaded late (libgcc_s for thread cancellation, gconv modules, spice-server's
   * plugins) must still load; it holds nothing private. */
  if (!bind_read_only ("/usr", "./usr", error))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (top_level); i++)
    if (!add_top_level (top_level[i], error))
      return FALSE;
  /* /proc: glibc and GLib read /proc/self (thread names, the sanitizers' maps). */
  if (!mount_or_fail ("/proc", "./proc", NULL, MS_BIND | MS_REC, NULL, error))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (devices); i++)
    {
      g_autofree char *host = g_strconcat ("/dev/", devices[i], NULL);
      g_autofree char *target = g_strconcat ("./dev/", devices[i], NULL);
      int fd = open (target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

      if (fd < 0)
        return set_errno_error (error, target);
      close (fd);
      if (!mount_or_fail (host, target, NULL, MS_BIND, NULL, error))
        return FALSE;
    }

  /* The host's resolver settings, read-only, for the NAT's DNS forwarding (libslirp reads them when the
   * guest first asks); without them the guest's DNS gets no answers, and nothing else changes. */
  if (g_file_test ("/etc/resolv.conf", G_FILE_TEST_EXISTS))
    {
      g_autoptr (GError) local = NULL;
      int fd = -1;

      if (mkdir ("etc", 0755) < 0
          || (fd = open ("etc/resolv.conf", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0
          || !bind_read_only ("/etc/resolv.conf", "./etc/resolv.conf", &local))
        g_message ("the machine's DNS forwarding will not work: cannot show it /etc/resolv.conf: %s",
                   local ? local->message : g_strerror (errno));
      if (fd >= 0)
        close (fd);
    }

  if (syscall (SYS_pivot_root, ".", ".old") < 0)
    return set_errno_error (error, "pivot_root");
  if (umount2 ("/.old", MNT_DETACH) < 0)
    return set_errno_error (error, "cannot let go of the host's file system");
  if (rmdir ("/.old") < 0 || chdir ("/") < 0)
    return set_errno_error (error, "cannot tidy the worker's root");
  return mount_or_fail (NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL,
                        error);
}

/* --- the machine's user --- */

gboolean
vireo_sandbox_become_user (uid_t user, GError **error)
{
  /* The gid is the same number (vireod's choice, machine-worker.c). */
  if (setgroups (0, NULL) < 0 || setresgid ((gid_t) user, (gid_t) user, (gid_t) user) < 0
      || setresuid (user, user, user) < 0)
    return set_errno_error (error, "cannot become the machine's user");
  if (getuid () != user || geteuid () != user)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "still not the machine's user");
      return FALSE;
    }
  /* The change of user made the process undumpable; an ordinary process of that user (whose /proc
   * files the user owns and which it may debug) is what it should look like — as after an exec. */
  prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
  return TRUE;
}

/* --- capabilities --- */

gboolean
vireo_sandbox_drop_capabilities (gboolean keep_effective, GError **error)
{
  struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
  int last = CAP_LAST_CAP;
  FILE *file = fopen ("/proc/sys/kernel/cap_last_cap", "re");

  /* A newer kernel may know more capabilities than our headers. */
  if (file)
    {
      if (fscanf (file, "%d", &last) != 1)
        last = CAP_LAST_CAP;
      fclose (file);
    }
  /* The bounding set needs CAP_SETPCAP to shrink: we have it as root or inside our user namespace;
   * without it (a worker already unprivileged and outside a namespace) the permitted set is empty and
   * no-new-privs keeps it so, which is what counts. */
  for (int cap = 0; cap <= last; cap++)
    if (prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
      return set_errno_error (error, "cannot shrink the capability bounding set");
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return set_errno_error (error, "cannot clear the ambient capabilities");
  if (keep_effective)
    return TRUE;
  if (syscall (SYS_capset, &header, data) < 0)
    return set_errno_error (error, "cannot drop the capabilities");
  return TRUE;
}

/* --- seccomp --- */

/* Every thread: memory, synchronisation, time, signals, its own end, and reading, writing and waiting on
 * the fds it already has. */
static const char *const base_calls[] = {
  "brk",
  "mmap",
  "munmap",
  "mremap",
  "mprotect",
  "madvise",
  "mlock",
  "munlock",
  "mincore",
  "membarrier",
  "futex",
  "set_robust_list",
  "get_robust_list",
  "rseq",
  "set_tid_address",
  "sched_yield",
  "sched_getaffinity",
  "sched_getattr",
  "sched_setattr",
  "getpid",
  "gettid",
  "getppid",
  "tgkill",
  "tkill",
  "getuid",
  "geteuid",
  "getgid",
  "getegid",
  "getresuid",
  "getresgid",
  "uname",
  "getrlimit",
  "prlimit64",
  "getrandom",
  "rt_sigaction",
  "rt_sigprocmask",
  "rt_sigreturn",
  "rt_sigtimedwait",
  "sigaltstack",
  "restart_syscall",
  "exit",
  "exit_group",
  "clock_gettime",
  "clock_getres",
  "clock_nanosleep",
  "nanosleep",
  "gettimeofday",
  "time",
  "read",
  "write",
  "readv",
  "writev",
  "pread64",
  "pwrite64",
  "close",
  "fstat",
  "newfstatat",
  "statx",
  "lseek",
  "fcntl",
  "dup",
  "dup3",
  "poll",
  "ppoll",
  "select",
  "pselect6",
  "epoll_wait",
  "epoll_pwait",
  "epoll_ctl",
  "eventfd2",
  /* Only ever narrows: a thread may add filters of its own (libseccomp, the role filters). */
  "seccomp",
};

/* The main thread (and so the process as a whole): D-Bus with vireod, the serial consoles, building and
 * saving the VM through the fds vireod passed, guest RAM as a memfd. */
static const char *const main_calls[] = {
  "openat",
  "unlinkat",
  "renameat",
  "renameat2",
  "mkdirat",
  "getdents64",
  "readlink",
  "readlinkat",
  "faccessat",
  "faccessat2",
  "access",
  "fchmod",
  "umask",
  "getcwd",
  "statfs",
  "fstatfs",
  "sysinfo",
  "fsync",
  "fdatasync",
  "ftruncate",
  "fallocate",
  "memfd_create",
  "pipe2",
  "epoll_create1",
  "timerfd_create",
  "timerfd_settime",
  "timerfd_gettime",
  "signalfd4",
  "ioctl",
  "socketpair",
  "accept",
  "accept4",
  "connect",
  "sendmsg",
  "recvmsg",
  "sendto",
  "recvfrom",
  "getsockopt",
  "setsockopt",
  "getsockname",
  "getpeername",
  "shutdown",
  "preadv",
  "pwritev",
  "preadv2",
  "pwritev2",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "getpriority",
  "setpriority",
  "sched_getparam",
  "sched_getscheduler",
  "sched_setaffinity",
};

/* A vCPU: KVM_RUN and the exits it dispatches (device registers, serial output, the exit eventfd). */
static const char *const vcpu_calls[] = {
  "ioctl",
};

/* An I/O thread: its main context, serial input, timers, disk requests on fds it has. */
static const char *const io_calls[] = {
  "preadv",
  "pwritev",
  "preadv2",
  "pwritev2",
  "fsync",
  "fdatasync",
  "fallocate",
  "io_uring_enter",
  "io_uring_register",
  "ioctl",
  /* virtio-serial writes to its ports' sockets with send(MSG_NOSIGNAL): a guest agent that hung up
   * must not raise SIGPIPE. */
  "sendto",
};

/* A network back end (libslirp's NAT): its own main context, and the host sockets it opens for the
 * guest's connections, DNS and port forwards.  The socket family is checked below: IPv4, IPv6 and local
 * only (no netlink, no raw packets: socket types are limited to stream and datagram).  A TAP back end
 * (net/tap.c) needs nothing here beyond the base list: its thread only reads and writes (writev from
 * guest memory) the TAP fd vireod passed; TUNSETVNETHDRSZ is set on the main thread when the device is
 * made, TUNSETOFFLOAD on the vCPU thread whose register write acked the features, and TUNSETQUEUE
 * (a multiqueue TAP's queues attached or detached) here for the driver's control commands and on the
 * vCPU thread of a reset. */
static const char *const net_calls[] = {
  "ioctl",      "connect",    "bind",        "listen",      "accept",   "accept4",
  "sendmsg",    "recvmsg",    "sendto",      "recvfrom",    "sendmmsg", "recvmmsg",
  "getsockopt", "setsockopt", "getsockname", "getpeername", "shutdown", "openat",
};

/* The SPICE server: its clients' sockets (handed over as fds, one more per channel), its main context,
 * and at start the SASL plugins spice-server loads from /usr (openat, getdents64: strace of a worker). */
static const char *const display_calls[] = {
  "ioctl",           "accept",
  "accept4",         "sendmsg",
  "recvmsg",         "sendto",
  "recvfrom",        "getsockopt",
  "setsockopt",      "getsockname",
  "getpeername",     "shutdown",
  "socketpair",      "pipe2",
  "epoll_create1",   "timerfd_create",
  "timerfd_settime", "timerfd_gettime",
  "memfd_create",    "ftruncate",
  "openat",          "getdents64",
  "fstatfs",         "readlink",
  "sched_getparam",  "sched_getscheduler",
  "getpriority",     "setpriority",
};

#if SANITIZER_BUILD
static const char *const sanitizer_calls[] = {
  "ptrace",     "wait4", "waitid", "process_vm_readv",  "openat",    "getdents64", "readlink",
  "readlinkat", "kill",  "pipe2",  "sched_getaffinity", "setrlimit", "statfs",     "fstatfs",
  "getcwd",     "ioctl",
};
#endif

typedef enum
{
  ROLE_MAIN,
  ROLE_VCPU,
  ROLE_IO,
  ROLE_DISPLAY,
  ROLE_NET,
  N_ROLES,
} Role;

static const char *const role_names[N_ROLES] = { "main", "vcpu", "io", "display", "net" };

/* The role programs, compiled by vireo_sandbox_apply_seccomp(); read-only afterwards. */
static struct sock_fprog role_programs[N_ROLES];
static int test_role = -1;
static guint test_delay_ms;
static gint test_done;

static gboolean
allow_list (scmp_filter_ctx ctx, const char *const *names, gsize n, GError **error)
{
  for (gsize i = 0; i < n; i++)
    {
      int number = seccomp_syscall_resolve_name (names[i]);
      int ret;

      if (number == __NR_SCMP_ERROR)
        continue; /* not a call on this architecture */
      ret = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, number, 0);
      if (ret < 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot allow %s: %s", names[i],
                       g_strerror (-ret));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_rule (int ret, const char *what, GError **error)
{
  if (ret < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot add the seccomp rule for %s: %s", what,
                   g_strerror (-ret));
      return FALSE;
    }
  return TRUE;
}

static scmp_filter_ctx
build_filter (Role role, GError **error)
{
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_KILL_PROCESS);
  gboolean ok;

  if (ctx == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot make a seccomp filter");
      return NULL;
    }
  /* No-new-privs is set first thing in main(); libseccomp must not try prctl() itself under a filter. */
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0);

  ok = allow_list (ctx, base_calls, G_N_ELEMENTS (base_calls), error);
  switch (role)
    {
    case ROLE_MAIN:
      /* The process-wide list is the union: the role lists only narrow it. */
      ok = ok && allow_list (ctx, main_calls, G_N_ELEMENTS (main_calls), error)
           && allow_list (ctx, display_calls, G_N_ELEMENTS (display_calls), error)
           && allow_list (ctx, io_calls, G_N_ELEMENTS (io_calls), error)
           && allow_list (ctx, vcpu_calls, G_N_ELEMENTS (vcpu_calls), error)
           && allow_list (ctx, net_calls, G_N_ELEMENTS (net_calls), error);
      break;
    case ROLE_NET:
      ok = ok && allow_list (ctx, net_calls, G_N_ELEMENTS (net_calls), error);
      break;
    case ROLE_VCPU:
      ok = ok && allow_list (ctx, vcpu_calls, G_N_ELEMENTS (vcpu_calls), error);
      break;
    case ROLE_IO:
      ok = ok && allow_list (ctx, io_calls, G_N_ELEMENTS (io_calls), error);
      break;
    case ROLE_DISPLAY:
      ok = ok && allow_list (ctx, display_calls, G_N_ELEMENTS (display_calls), error);
      break;
    case N_ROLES:
      g_assert_not_reached ();
    }
#if SANITIZER_BUILD
  ok = ok && allow_list (ctx, sanitizer_calls, G_N_ELEMENTS (sanitizer_calls), error);
  /* The sanitizer runtime's own prctl() and clone() calls (LeakSanitizer's helper is no thread). */
  ok = ok && check_rule (seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (prctl), 0), "prctl", error)
       && check_rule (seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (clone), 0), "clone", error);
#else
  /* Threads only: no new processes, which could also carry namespace flags. */
  ok = ok
       && check_rule (seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (clone), 1,
                                        SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
                      "clone", error);
  /* Naming threads (GLib, pthread_setname_np) and asking for no-new-privs again. */
  ok = ok
       && check_rule (
           seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (prctl), 1, SCMP_A0 (SCMP_CMP_EQ, PR_SET_NAME)),
           "prctl", error)
       && check_rule (
           seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (prctl), 1, SCMP_A0 (SCMP_CMP_EQ, PR_GET_NAME)),
           "prctl", error)
       && check_rule (seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (prctl), 1,
                                        SCMP_A0 (SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)),
                      "prctl", error);
#endif
  /* clone3's flags sit in memory a filter cannot read: glibc falls back to clone() on ENOSYS. */
  ok = ok
       && check_rule (seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0), "clone3", error);
  /* Sockets: only local ones (GLib's logging probes the journal's; nothing reaches a network). */
  if (role == ROLE_MAIN || role == ROLE_DISPLAY || role == ROLE_NET)
    ok = ok
         && check_rule (
             seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 1, SCMP_A0 (SCMP_CMP_EQ, AF_UNIX)),
             "socket", error);
  /* The network back end's: IPv4 and IPv6, streams and datagrams (slirp's ICMP echo uses unprivileged
   * datagram ICMP sockets); the process-wide filter must let them through for the role's to matter. */
  if (role == ROLE_MAIN || role == ROLE_NET)
    for (int family = 0; family < 2; family++)
      for (int type = 0; type < 2; type++)
        ok = ok
             && check_rule (
                 seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 2,
                                   SCMP_A0 (SCMP_CMP_EQ, family ? AF_INET6 : AF_INET),
                                   SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xf, type ? SOCK_DGRAM : SOCK_STREAM)),
                 "socket", error);
  if (!ok)
    {
      seccomp_release (ctx);
      return NULL;
    }
  return ctx;
}

/* Compiles @ctx to a BPF program in memory, for a thread to load with one seccomp() call. */
static gboolean
compile_filter (scmp_filter_ctx ctx, struct sock_fprog *program, GError **error)
{
  int fd = memfd_create ("vireo-seccomp", MFD_CLOEXEC);
  struct stat st;
  void *code;
  int ret;

  if (fd < 0)
    return set_errno_error (error, "memfd_create");
  ret = seccomp_export_bpf (ctx, fd);
  if (ret < 0 || fstat (fd, &st) < 0 || st.st_size == 0 || st.st_size % sizeof (struct sock_filter) != 0)
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot compile a seccomp filter");
      return FALSE;
    }
  code = g_malloc (st.st_size);
  if (pread (fd, code, st.st_size, 0) != st.st_size)
    {
      close (fd);
      g_free (code);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read a compiled seccomp filter");
      return FALSE;
    }
  close (fd);
  program->len = (unsigned short) (st.st_size / sizeof (struct sock_filter));
  program->filter = code;
  return TRUE;
}

/* The test hook (sandbox.h): a call none of the filters allows. */
static void
maybe_make_forbidden_call (Role role)
{
  if ((int) role != test_role || !g_atomic_int_compare_and_exchange (&test_done, 0, 1))
    return;
  if (test_delay_ms > 0)
    g_usleep ((gulong) test_delay_ms * 1000);
  fprintf (stderr, "vireo-worker: test: a %s thread calls socket(AF_PACKET), which its filter forbids\n",
           role_names[role]);
  syscall (SYS_socket, AF_PACKET, SOCK_RAW, 0);
}

static void
on_thread_started (HvThreadRole thread_role)
{
  Role role = thread_role == HV_THREAD_VCPU  ? ROLE_VCPU
              : thread_role == HV_THREAD_IO  ? ROLE_IO
              : thread_role == HV_THREAD_NET ? ROLE_NET
                                             : ROLE_DISPLAY;

  /* Cannot fail for want of memory or permission: the program is built and no-new-privs is set.  A
   * thread that still could not be confined must not run unconfined. */
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &role_programs[role]) < 0)
    {
      fprintf (stderr, "vireo-worker: cannot confine a %s thread: %s\n", role_names[role],
               g_strerror (errno));
      _exit (70);
    }
  maybe_make_forbidden_call (role);
}

gboolean
vireo_sandbox_apply_seccomp (GError **error)
{
  const char *test = g_getenv (VIREO_SANDBOX_TEST_VARIABLE);
  scmp_filter_ctx ctx;
  int ret;

  /* glibc's malloc counts the CPUs by opening /sys/devices/system/cpu/online the first time a thread
   * needs an arena of its own, unless the number of arenas is capped: capped here (at its own default,
   * eight per CPU), a vCPU thread freeing memory never opens a file behind the filter's back.  Another
   * allocator (a sanitizer's) refuses the call and has no such habit. */
  if (mallopt (M_ARENA_MAX, 8 * (int) g_get_num_processors ()) != 1)
    g_debug ("the allocator keeps its own arena limit (mallopt M_ARENA_MAX refused)");
  for (int role = ROLE_VCPU; role < N_ROLES; role++)
    {
      ctx = build_filter (role, error);
      if (ctx == NULL)
        return FALSE;
      if (!compile_filter (ctx, &role_programs[role], error))
        {
          seccomp_release (ctx);
          return FALSE;
        }
      seccomp_release (ctx);
    }
  for (int role = 0; test && role < N_ROLES; role++)
    if (g_str_has_prefix (test, role_names[role])
        && (test[strlen (role_names[role])] == '\0' || test[strlen (role_names[role])] == ':'))
      {
        const char *delay = test + strlen (role_names[role]);
        test_role = role;
        test_delay_ms = *delay == ':' ? (guint) MIN (g_ascii_strtoull (delay + 1, NULL, 10), 60000) : 0;
      }

  ctx = build_filter (ROLE_MAIN, error);
  if (ctx == NULL)
    return FALSE;
  ret = seccomp_load (ctx);
  seccomp_release (ctx);
  if (ret < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot install the seccomp filter: %s",
                   g_strerror (-ret));
      return FALSE;
    }
  hv_set_thread_start_hook (on_thread_started);
  maybe_make_forbidden_call (ROLE_MAIN);
  return TRUE;
}
