#!/usr/bin/env python3
# test-polkit.py — vireod's system-mode authorization, driven over a private system bus against a mocked
# polkitd (python-dbusmock), and checks of the service's data files (polkit policy and rules, bus policy,
# D-Bus activation files, systemd units).  Prints TAP: one "ok N - name" line per case.
#
# The private bus is not dbusmock's permissive one: it is configured like Debian's system bus (deny by
# default) and includes data/org.vireo.Vireo1.conf, so the bus policy we install is what lets vireod own
# its name and lets other users call it.
#
# Environment (set by tests/meson.build): VIREOD (the built vireod), VIREO_GUESTS_DIR (test guests),
# VIREO_WORKER, G_TEST_SRCDIR (tests/ in the source tree), G_TEST_BUILDDIR (tests/ in the build tree).

import json
import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
import xml.etree.ElementTree as ElementTree

# Debian's python3-dbusmock lives in the system interpreter's dist-packages; a python3 found first on PATH
# (pyenv, a venv) may not see it, so run again under the system one before giving up.
SYSTEM_PYTHON = '/usr/bin/python3'
try:
    import dbus
    import dbus.bus
    import dbusmock
    HAVE_DBUSMOCK = True
except ImportError:
    if (os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
            and os.access(SYSTEM_PYTHON, os.X_OK) and not os.environ.get('VIREO_TEST_POLKIT_REEXEC')):
        os.environ['VIREO_TEST_POLKIT_REEXEC'] = '1'
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    HAVE_DBUSMOCK = False

NO_DBUSMOCK = 'python3-dbusmock is not installed (Debian package python3-dbusmock)'

BUS_NAME = 'org.vireo.Vireo1'
ROOT_PATH = '/org/vireo/Vireo1'
MANAGER_IFACE = 'org.vireo.Vireo1.Manager'
MACHINE_IFACE = 'org.vireo.Vireo1.Machine'
SWITCH_IFACE = 'org.vireo.Vireo1.Switch'
CHECKPOINT_IFACE = 'org.vireo.Vireo1.Checkpoint'
OBJECT_MANAGER_IFACE = 'org.freedesktop.DBus.ObjectManager'
PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties'
PERMISSION_DENIED = 'org.vireo.Vireo1.Error.PermissionDenied'
INVALID_STATE = 'org.vireo.Vireo1.Error.InvalidState'
NOT_SUPPORTED = 'org.vireo.Vireo1.Error.NotSupported'

# The action ids of data/org.vireo.vireo.policy and service/daemon.h (DataFileTests checks they agree).
CREATE = 'org.vireo.vireo.create'
MODIFY = 'org.vireo.vireo.modify'
DELETE = 'org.vireo.vireo.delete'
START_STOP = 'org.vireo.vireo.start-stop'
CONSOLE = 'org.vireo.vireo.console'
MANAGE_SWITCHES = 'org.vireo.vireo.manage-switches'
ACTIONS = {CREATE, MODIFY, DELETE, START_STOP, CONSOLE, MANAGE_SWITCHES}

# The Machine methods that need start-stop (Shutdown takes a timeout, the others nothing).
START_STOP_METHODS = ['Start', 'Shutdown', 'TurnOff', 'Reset', 'Pause', 'Resume', 'Save']

NOBODY_UID = 65534
WAIT_SECONDS = 30
START_TIMEOUT = 120  # seconds; guest ring 0 is emulated on some hosts, so a start may be slow

SRCDIR = os.environ.get('G_TEST_SRCDIR', os.path.dirname(os.path.abspath(__file__)))
BUILDDIR = os.environ.get('G_TEST_BUILDDIR', '')
DATA_SRCDIR = os.path.join(SRCDIR, os.pardir, 'data')
DATA_BUILDDIR = os.path.join(BUILDDIR, os.pardir, 'data') if BUILDDIR else ''
SERVICE_SRCDIR = os.path.join(SRCDIR, os.pardir, 'service')
VIREOD = os.environ.get('VIREOD', '')
GUESTS_DIR = os.environ.get('VIREO_GUESTS_DIR', '')


def guest(name):
    return os.path.join(GUESTS_DIR, name + '.elf')


def bus_config(listen_dir):
    '''A system bus configured like Debian's (method calls denied unless a policy allows them), with our
    bus policy included, and a hole for the mocked polkitd as /usr/share/dbus-1/system.d/org.freedesktop.
    PolicyKit1.conf punches for the real one.'''
    own_user = ''
    if os.geteuid() != 0:
        # Only root may own org.vireo.Vireo1 under our policy; running unprivileged, let this user own the
        # names too (the ownership rule itself then goes untested).
        user = pwd.getpwuid(os.geteuid()).pw_name
        own_user = f'''  <policy user="{user}">
    <allow own="org.vireo.Vireo1"/>
    <allow own="org.freedesktop.PolicyKit1"/>
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
'''
    conf = os.path.realpath(os.path.join(DATA_SRCDIR, 'org.vireo.Vireo1.conf'))
    return f'''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <keep_umask/>
  <auth>EXTERNAL</auth>
  <listen>unix:dir={listen_dir}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.PolicyKit1"
           send_interface="org.freedesktop.PolicyKit1.Authority"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
{own_user}  <include>{conf}</include>
</busconfig>
'''


# Runs one method call as another user (bus policy and polkit-less checks depend on the caller's uid).
CLIENT = r'''
import json, sys
import dbus, dbus.bus
address, dest, path, iface, method, signature, args = json.loads(sys.argv[1])
bus = dbus.bus.BusConnection(address)
try:
    proxy = bus.get_object(dest, path, introspect=False)
    reply = proxy.get_dbus_method(method, iface)(*args, signature=signature)
    print(json.dumps({'reply': reply}))
except dbus.exceptions.DBusException as e:
    print(json.dumps({'error': e.get_dbus_name(), 'message': e.get_dbus_message()}))
'''


def kvm_usable():
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC))
        return True
    except OSError:
        return False


class ServiceFixture:
    '''A private system bus, optionally a mocked polkitd on it, and the real vireod serving it.'''

    def __init__(self, with_polkit):
        self.tmp = tempfile.mkdtemp(prefix='vireo-polkit-')
        self.storage = os.path.join(self.tmp, 'storage')
        self.runtime = os.path.join(self.tmp, 'run')
        listen = os.path.join(self.tmp, 'bus')
        os.mkdir(listen)
        os.chmod(self.tmp, 0o755)  # another user connects to the bus socket in here
        conf = os.path.join(self.tmp, 'system.conf')
        with open(conf, 'w') as f:
            f.write(bus_config(listen))
        self.saved_address = os.environ.get('DBUS_SYSTEM_BUS_ADDRESS')
        # The socket takes the umask (<keep_umask/>): world-writable, so another user may connect.
        umask = os.umask(0)
        try:
            self.bus_pid, self.address = dbusmock.DBusTestCase.start_dbus(conf=conf)
        finally:
            os.umask(umask)
        os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
        self.bus = dbus.bus.BusConnection(self.address)
        self.polkit_process = None
        self.polkit = None
        self.vireod = None
        if with_polkit:
            self.start_polkit()
        self.start_vireod()

    def start_polkit(self):
        self.polkit_process, obj = dbusmock.DBusTestCase.spawn_server_template(
            'polkitd', {}, stdout=subprocess.DEVNULL)
        self.polkit = dbus.Interface(obj, dbusmock.MOCK_IFACE)

    def stop_polkit(self):
        if self.polkit_process:
            self.polkit_process.terminate()
            self.polkit_process.wait(WAIT_SECONDS)
            self.polkit_process = None
            self.polkit = None

    def start_vireod(self):
        # vireod's log goes to stderr, keeping stdout for TAP.
        self.vireod = subprocess.Popen(
            [VIREOD, '--system', '--storage', self.storage, '--runtime-dir', self.runtime],
            stdout=sys.stderr, stderr=sys.stderr)
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.bus.name_has_owner(BUS_NAME):
            if self.vireod.poll() is not None:
                raise RuntimeError(f'vireod exited with status {self.vireod.returncode} before owning {BUS_NAME}')
            if time.monotonic() > deadline:
                raise RuntimeError(f'vireod did not own {BUS_NAME} within {WAIT_SECONDS} s')
            time.sleep(0.05)

    def stop(self):
        if self.vireod:
            self.vireod.terminate()
            try:
                self.vireod.wait(WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.vireod.kill()
                self.vireod.wait()
        self.kill_leftover_workers()
        self.stop_polkit()
        self.bus.close()
        dbusmock.DBusTestCase.stop_dbus(self.bus_pid)
        if self.saved_address is None:
            os.environ.pop('DBUS_SYSTEM_BUS_ADDRESS', None)
        else:
            os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = self.saved_address
        shutil.rmtree(self.tmp, ignore_errors=True)

    def kill_leftover_workers(self):
        # vireod leaves running machines' workers up on purpose; a failed case may leave one.  Ours are
        # those whose --socket lies in this fixture's runtime folder.
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open(f'/proc/{entry}/cmdline', 'rb') as f:
                    argv = f.read().split(b'\0')
            except OSError:
                continue
            if any(arg.startswith(self.runtime.encode() + b'/') for arg in argv):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass

    # --- calls ---

    def manager(self):
        return dbus.Interface(self.bus.get_object(BUS_NAME, ROOT_PATH), MANAGER_IFACE)

    def machine(self, path):
        return dbus.Interface(self.bus.get_object(BUS_NAME, path), MACHINE_IFACE)

    def manager_props(self):
        return dbus.Interface(self.bus.get_object(BUS_NAME, ROOT_PATH), PROPERTIES_IFACE).GetAll(MANAGER_IFACE)

    def machine_props(self, path):
        return dbus.Interface(self.bus.get_object(BUS_NAME, path), PROPERTIES_IFACE).GetAll(MACHINE_IFACE)

    def managed_objects(self):
        return dbus.Interface(self.bus.get_object(BUS_NAME, ROOT_PATH), OBJECT_MANAGER_IFACE).GetManagedObjects()

    def machine_names(self):
        return {str(ifaces[MACHINE_IFACE]['Name']) for ifaces in self.managed_objects().values()
                if MACHINE_IFACE in ifaces}

    def call_as(self, uid, path, iface, method, signature='', args=()):
        '''Calls @method as @uid in a child process; returns ('reply', value) or (error name, message).'''
        request = json.dumps([self.address, BUS_NAME, path, iface, method, signature, list(args)])
        done = subprocess.run([sys.executable, '-c', CLIENT, request], user=uid, group=uid, extra_groups=[],
                              cwd='/', capture_output=True, text=True, timeout=WAIT_SECONDS, check=False)
        if done.returncode != 0:
            raise RuntimeError(f'client as uid {uid} failed: {done.stderr}')
        answer = json.loads(done.stdout)
        if 'error' in answer:
            return answer['error'], answer['message']
        return 'reply', answer['reply']


@unittest.skipUnless(HAVE_DBUSMOCK, NO_DBUSMOCK)
class ServiceTestCase(unittest.TestCase):
    with_polkit = True
    fixture = None

    @classmethod
    def setUpClass(cls):
        if not VIREOD or not os.access(VIREOD, os.X_OK):
            raise unittest.SkipTest('VIREOD does not name the built vireod')
        if shutil.which('dbus-daemon') is None:
            raise unittest.SkipTest('dbus-daemon is not installed')
        cls.fixture = ServiceFixture(cls.with_polkit)

    @classmethod
    def tearDownClass(cls):
        if cls.fixture:
            cls.fixture.stop()
            cls.fixture = None

    def allow(self, *actions):
        self.fixture.polkit.SetAllowed(dbus.Array(actions, signature='s'))

    def assert_denied(self, call, action, *args, **kwargs):
        with self.assertRaises(dbus.exceptions.DBusException) as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.get_dbus_name(), PERMISSION_DENIED, caught.exception.get_dbus_message())
        self.assertIn(action, caught.exception.get_dbus_message())

    def assert_error(self, name, call, *args, **kwargs):
        with self.assertRaises(dbus.exceptions.DBusException) as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.get_dbus_name(), name, caught.exception.get_dbus_message())
        return caught.exception.get_dbus_message()

    def settings(self, name, kernel='hello'):
        return dbus.Dictionary({'name': name, 'kernel': guest(kernel)}, signature='sv')

    def stored_definitions(self):
        found = []
        for root, _dirs, files in os.walk(self.fixture.storage):
            found += [os.path.join(root, f) for f in files]
        return found


class PolkitTests(ServiceTestCase):
    '''vireod asks polkit, and does what it says, for each method; reading needs nobody's permission.'''

    def setUp(self):
        self.fixture.polkit.AllowUnknown(False)
        self.allow()

    def create(self, name, kernel='hello'):
        '''Creates a machine with only create allowed, then allows nothing again.'''
        self.allow(CREATE)
        try:
            path = self.fixture.manager().CreateMachine(self.settings(name, kernel))
        finally:
            self.allow()
        self.addCleanup(self.delete_quietly, path)
        return path

    def delete_quietly(self, path):
        self.allow(START_STOP, DELETE)
        try:
            if self.fixture.machine_props(path)['State'] not in ('off', 'saved', 'crashed'):
                self.fixture.machine(path).TurnOff(timeout=START_TIMEOUT)
            self.fixture.machine(path).Delete(False)
        except dbus.exceptions.DBusException:
            pass  # already deleted by the case
        finally:
            self.allow()

    def test_create_denied_when_nothing_is_allowed(self):
        before = self.stored_definitions()
        self.assert_denied(self.fixture.manager().CreateMachine, CREATE, self.settings('denied'))
        self.assertNotIn('denied', self.fixture.machine_names())
        self.assertEqual(self.stored_definitions(), before)

    def test_import_needs_create(self):
        path = self.create('to-export')
        xml = self.fixture.machine(path).ExportLibvirtXml()
        options = dbus.Dictionary({'name': 'imported', 'keep-uuid': False}, signature='sv')
        self.assert_denied(self.fixture.manager().ImportLibvirtXml, CREATE, xml, options)
        self.assertNotIn('imported', self.fixture.machine_names())

        self.allow(CREATE)
        imported = self.fixture.manager().ImportLibvirtXml(xml, options)
        self.addCleanup(self.delete_quietly, imported)
        self.assertEqual(self.fixture.machine_props(imported)['Name'], 'imported')

    def test_reading_is_free(self):
        path = self.create('readable')
        self.allow()
        props = self.fixture.manager_props()
        self.assertEqual(props['Mode'], 'system')
        self.assertEqual(os.path.realpath(props['StorageLocation']), os.path.realpath(self.fixture.storage))
        self.assertTrue(props['Version'])
        objects = self.fixture.managed_objects()
        self.assertIn(path, objects)
        self.assertEqual(objects[path][MACHINE_IFACE]['Name'], 'readable')
        machine = self.fixture.machine_props(path)
        self.assertEqual(machine['State'], 'off')
        self.assertEqual(machine['Settings']['kernel'], guest('hello'))

    def test_export_is_free(self):
        path = self.create('exported')
        xml = self.fixture.machine(path).ExportLibvirtXml()
        self.assertIn('<name>exported</name>', xml)
        self.assertIn(guest('hello'), xml)

    def test_create_allowed(self):
        self.allow(CREATE)
        path = self.fixture.manager().CreateMachine(self.settings('created'))
        self.addCleanup(self.delete_quietly, path)
        self.assertTrue(path.startswith(ROOT_PATH + '/machines/'), path)
        self.assertIn('created', self.fixture.machine_names())
        self.assertEqual(self.fixture.machine_props(path)['State'], 'off')
        self.assertTrue(self.stored_definitions(), 'CreateMachine stored nothing')

    def test_start_stop_methods_need_start_stop(self):
        path = self.create('start-stop')
        # Everything but start-stop: each method is refused before it looks at the (off) machine.
        self.allow(CREATE, MODIFY, DELETE, CONSOLE)
        machine = self.fixture.machine(path)
        for method in START_STOP_METHODS:
            with self.subTest(method=method):
                args = [dbus.UInt32(1)] if method == 'Shutdown' else []
                self.assert_denied(getattr(machine, method), START_STOP, *args)
        self.assertEqual(self.fixture.machine_props(path)['State'], 'off')
        self.assertEqual(self.fixture.machine_props(path)['LastError'], '')

        # Allowed, the same calls get as far as the machine's state: it is off.
        self.allow(START_STOP)
        for method in ['Shutdown', 'TurnOff', 'Reset', 'Pause', 'Resume', 'Save']:
            with self.subTest(method=method, allowed=True):
                args = [dbus.UInt32(1)] if method == 'Shutdown' else []
                self.assert_error(INVALID_STATE, getattr(machine, method), *args)

    def test_console_methods_need_console(self):
        path = self.create('console')
        machine = self.fixture.machine(path)
        self.allow(CREATE, MODIFY, DELETE, START_STOP)
        self.assert_denied(machine.OpenSerial, CONSOLE)
        self.assert_denied(machine.OpenDisplay, CONSOLE)

        self.allow(CONSOLE)
        self.assert_error(INVALID_STATE, machine.OpenSerial)
        self.assert_error(NOT_SUPPORTED, machine.OpenDisplay)

    def test_start_and_console_with_kvm(self):
        props = self.fixture.manager_props()
        if not props['KvmAvailable'] or not kvm_usable():
            self.skipTest(f'KVM is not available: {props["KvmStatus"]}')
        path = self.create('running', kernel='echo')
        machine = self.fixture.machine(path)

        self.allow(CREATE)
        self.assert_denied(machine.Start, START_STOP)
        self.assertEqual(self.fixture.machine_props(path)['State'], 'off')

        self.allow(START_STOP)
        machine.Start(timeout=START_TIMEOUT)
        self.assertIn(self.fixture.machine_props(path)['State'], ('running', 'paused'))
        self.assert_denied(machine.OpenSerial, CONSOLE)

        self.allow(START_STOP, CONSOLE)
        fd = machine.OpenSerial().take()
        with socket.socket(fileno=fd) as serial:
            shown = self.read_until(serial, b'', b'echo ready\n')
            serial.sendall(b'vireo')
            self.read_until(serial, shown, b'vireo')

        self.allow(CONSOLE)
        self.assert_denied(machine.TurnOff, START_STOP)
        self.assertNotEqual(self.fixture.machine_props(path)['State'], 'off')
        self.allow(START_STOP)
        machine.TurnOff(timeout=START_TIMEOUT)
        self.assertEqual(self.fixture.machine_props(path)['State'], 'off')

    def read_until(self, sock, shown, wanted):
        '''What @sock gives after @shown, appended to it, until @wanted appears in the new part.'''
        data = shown
        deadline = time.monotonic() + START_TIMEOUT
        while wanted not in data[len(shown):]:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f'the serial console did not show {wanted!r}; it showed {data!r}')
            ready, _, _ = select.select([sock], [], [], left)
            if ready:
                chunk = sock.recv(4096)
                if not chunk:
                    self.fail(f'the serial console closed before showing {wanted!r}; it showed {data!r}')
                data += chunk
        return data

    def test_update_and_rename_need_modify(self):
        path = self.create('modifiable')
        machine = self.fixture.machine(path)
        self.allow(CREATE, DELETE, START_STOP, CONSOLE)
        self.assert_denied(machine.Update, MODIFY, dbus.Dictionary({'notes': 'changed'}, signature='sv'))
        self.assert_denied(machine.Rename, MODIFY, 'renamed')
        props = self.fixture.machine_props(path)
        self.assertEqual(props['Name'], 'modifiable')
        self.assertEqual(props['Notes'], '')

        self.allow(MODIFY)
        machine.Update(dbus.Dictionary({'notes': 'changed'}, signature='sv'))
        machine.Rename('renamed')
        props = self.fixture.machine_props(path)
        self.assertEqual(props['Name'], 'renamed')
        self.assertEqual(props['Notes'], 'changed')

    def test_delete_needs_delete(self):
        path = self.create('deletable')
        machine = self.fixture.machine(path)
        self.allow(CREATE, MODIFY, START_STOP, CONSOLE)
        before = self.stored_definitions()
        self.assert_denied(machine.Delete, DELETE, False)
        self.assertIn(path, self.fixture.managed_objects())
        self.assertEqual(self.stored_definitions(), before)

        self.allow(DELETE)
        machine.Delete(False)
        self.assertNotIn(path, self.fixture.managed_objects())
        self.assertNotIn('deletable', self.fixture.machine_names())

    def switch_names(self):
        return {str(ifaces[SWITCH_IFACE]['Name']) for ifaces in self.fixture.managed_objects().values()
                if SWITCH_IFACE in ifaces}

    def test_switches_need_manage_switches(self):
        # Everything else is allowed: CreateSwitch is still refused before anything is made.
        self.allow(CREATE, MODIFY, DELETE, START_STOP, CONSOLE)
        self.assert_denied(self.fixture.manager().CreateSwitch, MANAGE_SWITCHES, 'Lab', 'private', '')
        self.assertEqual(self.switch_names(), {'Default Switch'})
        if os.geteuid() != 0:
            self.skipTest('making a bridge needs root')
        error, message = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'CreateSwitch', 'sss',
                                              ['Lab', 'private', ''])
        self.assertEqual(error, PERMISSION_DENIED, message)
        self.assertIn(MANAGE_SWITCHES, message)

        self.allow(MANAGE_SWITCHES)
        path = self.fixture.manager().CreateSwitch('Lab', 'private', '')
        self.assertIn('Lab', self.switch_names())
        props = dbus.Interface(self.fixture.bus.get_object(BUS_NAME, path), PROPERTIES_IFACE).GetAll(SWITCH_IFACE)
        bridge = str(props['Bridge'])
        self.assertTrue(os.path.isdir(f'/sys/class/net/{bridge}/bridge'), bridge)
        switch = dbus.Interface(self.fixture.bus.get_object(BUS_NAME, path), SWITCH_IFACE)
        self.allow()
        self.assert_denied(switch.Delete, MANAGE_SWITCHES)
        self.assertTrue(os.path.exists(f'/sys/class/net/{bridge}'))
        self.allow(MANAGE_SWITCHES)
        switch.Delete()
        self.assertEqual(self.switch_names(), {'Default Switch'})
        self.assertFalse(os.path.exists(f'/sys/class/net/{bridge}'))

    def test_another_user_is_judged_by_polkit(self):
        if os.geteuid() != 0:
            self.skipTest('calling as another user needs root')
        # The bus policy (data/org.vireo.Vireo1.conf) lets anyone reach the service; polkit decides.
        settings = {'name': 'by-nobody', 'kernel': guest('hello')}
        self.assertEqual(self.fixture.call_as(NOBODY_UID, ROOT_PATH, OBJECT_MANAGER_IFACE, 'GetManagedObjects')[0],
                         'reply')
        error, message = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'CreateMachine', 'a{sv}',
                                              [settings])
        self.assertEqual(error, PERMISSION_DENIED, message)
        self.assertIn(CREATE, message)

        self.allow(CREATE)
        kind, path = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'CreateMachine', 'a{sv}',
                                          [settings])
        self.assertEqual(kind, 'reply', path)
        self.addCleanup(self.delete_quietly, path)
        self.assertIn('by-nobody', self.fixture.machine_names())

    def nobody_can_read(self, *paths):
        """Whether uid 65534 can read each path (the build tree may sit in a folder only its owner enters)."""
        for path in paths:
            done = subprocess.run(['test', '-r', path], user=NOBODY_UID, group=NOBODY_UID, extra_groups=[],
                                  cwd='/', check=False)
            if done.returncode != 0:
                return False
        return True

    def test_files_are_opened_with_the_callers_rights(self):
        if os.geteuid() != 0:
            self.skipTest('calling as another user needs root')
        kernel = guest('hello')
        if not self.nobody_can_read(kernel):
            self.skipTest(f'uid {NOBODY_UID} cannot read {kernel} (is the build tree in a folder only its owner '
                          'may enter?)')
        self.allow(CREATE, MODIFY, START_STOP)
        # A root-only file named by a caller who cannot read it: refused, and nothing of it comes back.
        for key in ('initrd', 'kernel'):
            settings = {'name': f'shadow-{key}', 'kernel': kernel, key: '/etc/shadow'}
            error, message = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'CreateMachine', 'a{sv}',
                                                  [settings])
            self.assertEqual(error, PERMISSION_DENIED, message)
            self.assertIn('/etc/shadow', message)
            self.assertIn('permission denied', message)
            self.assertNotIn(f'shadow-{key}', self.fixture.machine_names())
        # Nor through an import, whose XML names the file.
        xml = (f"<domain type='kvm'><name>imported-shadow</name><memory>65536</memory><os><type>hvm</type>"
               f"<kernel>{kernel}</kernel><initrd>/etc/shadow</initrd></os></domain>")
        error, message = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'ImportLibvirtXml', 'sa{sv}',
                                              [xml, {}])
        self.assertEqual(error, PERMISSION_DENIED, message)
        # Nor through a file of the caller's own, swapped for a link to one it cannot read before Start.
        own = tempfile.mkdtemp(prefix='vireo-nobody-')
        self.addCleanup(shutil.rmtree, own, ignore_errors=True)
        os.chmod(own, 0o755)
        os.chown(own, NOBODY_UID, NOBODY_UID)
        initrd = os.path.join(own, 'initrd')
        with open(initrd, 'wb') as f:
            f.write(b'initrd')
        os.chown(initrd, NOBODY_UID, NOBODY_UID)
        kind, path = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'CreateMachine', 'a{sv}',
                                          [{'name': 'swapped', 'kernel': kernel, 'initrd': initrd}])
        self.assertEqual(kind, 'reply', path)
        self.addCleanup(self.delete_quietly, path)
        os.unlink(initrd)
        os.symlink('/etc/shadow', initrd)
        error, message = self.fixture.call_as(NOBODY_UID, path, MACHINE_IFACE, 'Start')
        self.assertEqual(error, PERMISSION_DENIED, message)
        # Started by root, the machine's files are still opened with the rights of the user who named them.
        self.assert_error(PERMISSION_DENIED, self.fixture.machine(path).Start, timeout=START_TIMEOUT)
        self.assertEqual(self.fixture.machine_props(path)['State'], 'off')

    def test_disk_methods_need_modify(self):
        self.allow(CREATE)
        path = self.create('disk-guarded')
        machine = self.fixture.machine(path)
        calls = [('CreateDisk', dbus.UInt64(1 << 20), dbus.Dictionary({}, signature='sv')),
                 ('AttachDisk', dbus.Dictionary({'device': 'cdrom'}, signature='sv')),
                 ('DetachDisk', 'vda', False),
                 ('ResizeDisk', 'vda', dbus.UInt64(1 << 21)),
                 ('ChangeMedium', 'sda', ''),
                 ('ImportDisk', '/nonexistent.vmdk', dbus.Dictionary({}, signature='sv')),
                 ('ChecksumDisk', 'vda'),
                 ('OpenDiskImage', 'vda'),
                 ('ReceiveDisk', dbus.Dictionary({'format': 'raw'}, signature='sv'),
                  dbus.Dictionary({}, signature='sv')),
                 ('OpenReceivedDisk', 'vda'),
                 ('FinishReceivedDisk', 'vda', dbus.Dictionary({}, signature='sv')),
                 ('OpenCheckpointArchive',),
                 ('ReceiveCheckpointArchive',),
                 ('FinishCheckpointArchive',)]
        for method, *args in calls:
            with self.subTest(method=method):
                self.assert_denied(getattr(machine, method), MODIFY, *args)
        self.assertEqual(self.fixture.machine_props(path)['Settings']['disks'], [])

    def test_checkpoint_methods_need_modify(self):
        path = self.create('checkpoint-guarded')
        machine = self.fixture.machine(path)
        no_options = dbus.Dictionary({}, signature='sv')
        self.assert_denied(machine.CreateCheckpoint, MODIFY, 'denied', no_options)
        self.allow(MODIFY)
        try:
            checkpoint_path = machine.CreateCheckpoint('allowed', no_options)
        finally:
            self.allow()
        checkpoint = dbus.Interface(self.fixture.bus.get_object(BUS_NAME, checkpoint_path), CHECKPOINT_IFACE)
        calls = [('Apply', no_options), ('Rename', 'renamed'), ('Delete', False), ('Export', 'exported')]
        for method, *args in calls:
            with self.subTest(method=method):
                self.assert_denied(getattr(checkpoint, method), MODIFY, *args)
        # Export makes a machine: modify alone is not enough.
        self.allow(MODIFY)
        try:
            self.assert_denied(checkpoint.Export, CREATE, 'exported')
        finally:
            self.allow()
        self.assertEqual(str(self.fixture.machine_props(path)['CurrentCheckpoint']), checkpoint_path)

    def nobody_file(self, folder, name, data=None, mode=0o600):
        path = os.path.join(folder, name)
        if data is not None:
            with open(path, 'wb') as f:
                f.write(data)
        os.chown(path, NOBODY_UID, NOBODY_UID)
        os.chmod(path, mode)
        return path

    def test_disk_methods_use_the_callers_rights(self):
        if os.geteuid() != 0:
            self.skipTest('calling as another user needs root')
        qemu_img = shutil.which('qemu-img')
        if qemu_img is None:
            self.skipTest('needs qemu-img (Debian: qemu-utils)')
        kernel = guest('hello')
        if not self.nobody_can_read(kernel):
            self.skipTest(f'uid {NOBODY_UID} cannot read {kernel}')
        self.allow(CREATE, MODIFY, START_STOP)
        own = tempfile.mkdtemp(prefix='vireo-nobody-disks-')
        self.addCleanup(shutil.rmtree, own, ignore_errors=True)
        os.chmod(own, 0o755)
        os.chown(own, NOBODY_UID, NOBODY_UID)
        secret = os.path.join(own, 'root-only.raw')
        with open(secret, 'wb') as f:
            f.write(b'S' * 65536)
        os.chmod(secret, 0o600)
        kind, path = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'CreateMachine', 'a{sv}',
                                          [{'name': 'nobodys', 'kernel': kernel}])
        self.assertEqual(kind, 'reply', path)
        self.addCleanup(self.delete_quietly, path)
        folder = os.path.join(self.fixture.storage, str(self.fixture.machine_props(path)['Uuid']))

        def call(method, signature, *args):
            return self.fixture.call_as(NOBODY_UID, path, MACHINE_IFACE, method, signature, list(args))

        # Files the caller cannot read are refused, whatever the method, and nothing of them is kept.
        for target in ('/etc/shadow', secret):
            error, message = call('AttachDisk', 'a{sv}', {'path': target, 'readonly': True})
            self.assertEqual(error, PERMISSION_DENIED, message)
            error, message = call('AttachDisk', 'a{sv}', {'path': target, 'device': 'cdrom'})
            self.assertEqual(error, PERMISSION_DENIED, message)
            error, message = call('ImportDisk', 'sa{sv}', target, {'format': 'raw'})
            self.assertEqual(error, PERMISSION_DENIED, message)
        # Nor are the files of the machine's folder that are no images vireod made: the definition, which
        # vireod would otherwise open with its own rights for the guest to rewrite.
        for name in ('machine.xml', 'state'):
            error, message = call('AttachDisk', 'a{sv}', {'path': os.path.join(folder, name), 'readonly': True})
            self.assertEqual(error, PERMISSION_DENIED, message)
        # A file of the caller's, read-only to them, is no writable disk.
        readonly = self.nobody_file(own, 'readonly.raw', b'r' * 65536, 0o400)
        error, message = call('AttachDisk', 'a{sv}', {'path': readonly})
        self.assertEqual(error, PERMISSION_DENIED, message)

        # A hostile qcow2 of the caller's whose backing file is a root-only file: qemu-img reads it as the
        # caller, so the import fails and leaves nothing in the machine's folder.
        for backing in ('/etc/shadow', secret):
            hostile = os.path.join(own, 'hostile.qcow2')
            if os.path.exists(hostile):
                os.unlink(hostile)
            subprocess.run([qemu_img, 'create', '-q', '-f', 'qcow2', '-u', '-b', backing, '-F', 'raw', hostile,
                            '64K'], check=True)
            self.nobody_file(own, 'hostile.qcow2')
            error, message = call('ImportDisk', 'sa{sv}', hostile, {'format': 'raw'})
            self.assertEqual(error, 'org.vireo.Vireo1.Error.Failed', message)
            self.assertEqual(sorted(os.listdir(folder)), ['machine.xml'])
            self.assertEqual(self.fixture.machine_props(path)['Settings']['disks'], [])

        # What the caller can read is imported; the copy is vireod's, in the machine's folder.
        source = self.nobody_file(own, 'mine.raw', b'M' * 65536 + b'\0' * 65536)
        kind, target = call('ImportDisk', 'sa{sv}', source, {})
        self.assertEqual(kind, 'reply', target)
        image = os.path.join(folder, f'{target}.qcow2')
        self.assertEqual(sorted(os.listdir(folder)), sorted(['machine.xml', f'{target}.qcow2']))
        self.assertEqual(os.stat(image).st_uid, 0)
        subprocess.run([qemu_img, 'compare', '-q', source, image], check=True)
        # A disk vireod made may be created, resized and detached by the caller, who cannot reach it.
        kind, created = call('CreateDisk', 'ta{sv}', 1 << 20, {'format': 'raw', 'bus': 'sata'})
        self.assertEqual(kind, 'reply', created)
        self.assertEqual(call('ResizeDisk', 'st', created, 1 << 21)[0], 'reply')
        self.assertEqual(os.stat(os.path.join(folder, f'{created}.img')).st_size, 1 << 21)
        # (qemu-img resizes vireod's qcow2 image as the caller, lent to them for that long.)
        self.assertEqual(call('ResizeDisk', 'st', target, 1 << 21)[0], 'reply')
        self.assertEqual(os.stat(image).st_uid, 0)
        self.assertEqual(os.stat(image).st_mode & 0o7777, 0o600)
        info = subprocess.run([qemu_img, 'info', '--output=json', image], check=True, capture_output=True, text=True)
        self.assertEqual(json.loads(info.stdout)['virtual-size'], 1 << 21)
        self.assertEqual(call('DetachDisk', 'sb', created, True)[0], 'reply')
        self.assertFalse(os.path.exists(os.path.join(folder, f'{created}.img')))
        # And another user's disk of the machine (root's, here) is not theirs to resize.
        kind, attached = self.fixture.call_as(0, path, MACHINE_IFACE, 'AttachDisk', 'a{sv}', [{'path': secret}])
        self.assertEqual(kind, 'reply', attached)
        error, message = call('ResizeDisk', 'st', attached, 1 << 20)
        self.assertEqual(error, PERMISSION_DENIED, message)

    def test_kept_images_of_a_deleted_machine_stay_out_of_reach(self):
        if os.geteuid() != 0:
            self.skipTest('calling as another user needs root')
        kernel = guest('hello')
        if not self.nobody_can_read(kernel) or shutil.which('qemu-img') is None:
            self.skipTest(f'needs qemu-img, and uid {NOBODY_UID} must read {kernel}')
        self.allow(CREATE, MODIFY, DELETE)
        # Root's machine leaves its disk behind when deleted without its disks.
        path = self.fixture.manager().CreateMachine(self.settings('roots'))
        machine = self.fixture.machine(path)
        uuid = str(self.fixture.machine_props(path)['Uuid'])
        target = machine.CreateDisk(dbus.UInt64(1 << 20), dbus.Dictionary({'format': 'raw'}, signature='sv'))
        machine.Delete(False)
        image = os.path.join(self.fixture.storage, uuid, f'{target}.img')
        self.assertTrue(os.path.exists(image))
        self.addCleanup(shutil.rmtree, os.path.join(self.fixture.storage, uuid), ignore_errors=True)
        # Another user who brings a definition with that UUID does not get the image with vireod's rights.
        xml = (f"<domain type='kvm'><name>heir</name><uuid>{uuid}</uuid><memory>65536</memory><os><type>hvm</type>"
               f"<kernel>{kernel}</kernel></os><devices><disk type='file' device='disk'>"
               f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk></devices></domain>")
        error, message = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'ImportLibvirtXml', 'sa{sv}',
                                              [xml, {}])
        self.assertEqual(error, PERMISSION_DENIED, message)
        xml = (f"<domain type='kvm'><name>heir</name><uuid>{uuid}</uuid><memory>65536</memory><os><type>hvm</type>"
               f"<kernel>{kernel}</kernel></os></domain>")
        kind, heir = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'ImportLibvirtXml', 'sa{sv}',
                                          [xml, {}])
        self.assertEqual(kind, 'reply', heir)
        self.addCleanup(self.delete_quietly, heir)
        # Nor by naming it afterwards (AttachDisk checks a disk as Update's "disks" does).
        error, message = self.fixture.call_as(NOBODY_UID, heir, MACHINE_IFACE, 'AttachDisk', 'a{sv}',
                                              [{'path': image}])
        self.assertEqual(error, PERMISSION_DENIED, message)
        self.assertEqual(self.fixture.machine_props(heir)['Settings']['disks'], [])

    def test_unknown_actions_are_not_ours_to_allow(self):
        # The mock's AllowUnknown allows any action it was not told about; vireod must still ask for its
        # own ids (nothing allowed under another name may let a call through).
        self.allow('org.vireo.vireo.other', 'org.freedesktop.create')
        self.assert_denied(self.fixture.manager().CreateMachine, CREATE, self.settings('other-action'))
        self.fixture.polkit.AllowUnknown(True)
        path = self.fixture.manager().CreateMachine(self.settings('unknown-allowed'))
        self.addCleanup(self.delete_quietly, path)
        self.assertIn('unknown-allowed', self.fixture.machine_names())


class NoPolkitTests(ServiceTestCase):
    '''Without polkitd on the bus, nobody can vouch for a caller but root.'''
    with_polkit = False

    def test_root_may_manage_machines(self):
        # This runs as root (CI does), so vireod lets every call through; unprivileged, it refuses.
        manager = self.fixture.manager()
        settings = dbus.Dictionary({'name': 'by-root', 'kernel': guest('hello')}, signature='sv')
        if os.geteuid() != 0:
            self.assert_denied(manager.CreateMachine, CREATE, settings)
            return
        path = manager.CreateMachine(settings)
        machine = self.fixture.machine(path)
        machine.Rename('renamed-by-root')
        self.assertEqual(self.fixture.machine_props(path)['Name'], 'renamed-by-root')
        self.assert_error(INVALID_STATE, machine.OpenSerial)  # authorized, but the machine is off
        machine.Delete(False)
        self.assertNotIn(path, self.fixture.managed_objects())

    def test_others_are_refused(self):
        if os.geteuid() != 0:
            self.skipTest('calling as another user needs root')
        settings = {'name': 'by-nobody', 'kernel': guest('hello')}
        kind, objects = self.fixture.call_as(NOBODY_UID, ROOT_PATH, OBJECT_MANAGER_IFACE, 'GetManagedObjects')
        self.assertEqual(kind, 'reply', objects)
        error, message = self.fixture.call_as(NOBODY_UID, ROOT_PATH, MANAGER_IFACE, 'CreateMachine', 'a{sv}',
                                              [settings])
        self.assertEqual(error, PERMISSION_DENIED, message)
        self.assertIn(CREATE, message)
        self.assertIn('polkit is not running', message)
        self.assertNotIn('by-nobody', self.fixture.machine_names())


class LatePolkitTests(ServiceTestCase):
    '''A polkitd that appears after vireod started is asked from then on, for root too.'''
    with_polkit = False

    def test_polkit_started_later_is_asked(self):
        manager = self.fixture.manager()
        self.fixture.start_polkit()
        self.addCleanup(self.fixture.stop_polkit)
        deadline = time.monotonic() + WAIT_SECONDS
        settings = dbus.Dictionary({'name': 'late', 'kernel': guest('hello')}, signature='sv')
        # vireod learns of the new owner from a signal; until then it still judges by uid alone.
        while True:
            try:
                path = manager.CreateMachine(settings)
            except dbus.exceptions.DBusException as e:
                self.assertEqual(e.get_dbus_name(), PERMISSION_DENIED, e.get_dbus_message())
                self.assertIn(CREATE, e.get_dbus_message())
                if 'polkit is not running' not in e.get_dbus_message():
                    break  # polkitd said no
            else:
                # Created as root before vireod noticed polkitd: remove it (with polkitd's leave, in case
                # vireod asks it by now) and try again.
                self.fixture.polkit.SetAllowed([DELETE])
                self.fixture.machine(path).Delete(False)
                self.fixture.polkit.SetAllowed(dbus.Array([], signature='s'))
            self.assertLess(time.monotonic(), deadline, 'vireod never asked the polkitd that appeared')
            time.sleep(0.1)
        self.fixture.polkit.SetAllowed([CREATE])
        path = manager.CreateMachine(settings)
        self.assertIn('late', self.fixture.machine_names())
        self.fixture.polkit.SetAllowed([DELETE])
        self.fixture.machine(path).Delete(False)
        self.assertNotIn('late', self.fixture.machine_names())


class DataFileTests(unittest.TestCase):
    '''The files data/meson.build installs: well-formed, consistent with the code and with each other.'''

    def data(self, name):
        return os.path.join(DATA_SRCDIR, name)

    def built(self, name):
        if not DATA_BUILDDIR:
            self.skipTest('G_TEST_BUILDDIR is not set')
        return os.path.join(DATA_BUILDDIR, name)

    def xmllint(self, *args):
        if shutil.which('xmllint') is None:
            self.skipTest('xmllint is not installed (Debian package libxml2-utils)')
        done = subprocess.run(['xmllint', '--noout', '--nonet', *args], capture_output=True, text=True,
                              check=False)
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_policy_is_valid(self):
        # Validate against polkit's DTD when polkitd installed it (the XML catalog maps the public id).
        if os.path.exists('/usr/share/polkit-1/policyconfig-1.dtd'):
            self.xmllint('--valid', self.data('org.vireo.vireo.policy'))
        else:
            self.xmllint(self.data('org.vireo.vireo.policy'))

    def test_bus_policy_is_well_formed(self):
        # dbus-daemon parses it for real in the service cases, which include it into their bus.
        self.xmllint(self.data('org.vireo.Vireo1.conf'))

    def test_policy_actions_match_the_code(self):
        with open(os.path.join(SERVICE_SRCDIR, 'daemon.h')) as f:
            in_code = set(re.findall(r'#define\s+VIREO_ACTION_\w+\s+"([^"]+)"', f.read()))
        tree = ElementTree.parse(self.data('org.vireo.vireo.policy'))
        in_policy = [action.get('id') for action in tree.getroot().iter('action')]
        self.assertEqual(len(in_policy), len(set(in_policy)), 'an action id appears twice')
        self.assertEqual(set(in_policy), in_code)
        self.assertEqual(in_code, ACTIONS)
        answers = {'no', 'yes', 'auth_self', 'auth_admin', 'auth_self_keep', 'auth_admin_keep'}
        for action in tree.getroot().iter('action'):
            with self.subTest(action=action.get('id')):
                self.assertTrue((action.findtext('description') or '').strip())
                self.assertTrue((action.findtext('message') or '').strip())
                for key in ('allow_any', 'allow_inactive', 'allow_active'):
                    self.assertIn(action.findtext(f'defaults/{key}'), answers, key)

    def test_rules_allow_the_vireo_group_only(self):
        if shutil.which('node') is None:
            self.skipTest('node is not installed; polkitd runs the rules in its own JavaScript engine')
        # Run the rules file as polkitd would, against a stand-in polkit object, and ask it about each
        # action for a member and a non-member of the "vireo" group, and about somebody else's action.
        script = r'''
const fs = require('fs');
const rules = [];
const polkit = { Result: { YES: 'yes', NO: 'no' }, addRule: (f) => rules.push(f), log: () => {} };
new Function('polkit', fs.readFileSync(process.argv[1], 'utf8'))(polkit);
const answer = (id, groups) => {
  for (const rule of rules) {
    const result = rule({ id }, { isInGroup: (g) => groups.includes(g), user: 'someone' });
    if (result !== undefined && result !== null) return result;
  }
  return null;
};
const out = {};
for (const id of JSON.parse(process.argv[2])) {
  out[id] = { member: answer(id, ['users', 'vireo']), other: answer(id, ['users', 'wheel']) };
}
console.log(JSON.stringify(out));
'''
        ids = sorted(ACTIONS) + ['org.freedesktop.login1.reboot', 'org.vireo.vireoX.create']
        done = subprocess.run(['node', '-e', script, self.data('org.vireo.vireo.rules'), json.dumps(ids)],
                              capture_output=True, text=True, check=False, timeout=WAIT_SECONDS)
        self.assertEqual(done.returncode, 0, done.stderr)
        answers = json.loads(done.stdout)
        for action in ACTIONS:
            self.assertEqual(answers[action], {'member': 'yes', 'other': None}, action)
        self.assertEqual(answers['org.freedesktop.login1.reboot'], {'member': None, 'other': None})
        self.assertEqual(answers['org.vireo.vireoX.create'], {'member': None, 'other': None})

    def test_bus_policy_lets_root_own_and_anyone_call(self):
        root = ElementTree.parse(self.data('org.vireo.Vireo1.conf')).getroot()
        owners = [p.get('user') for p in root.iter('policy') if p.find(f"allow[@own='{BUS_NAME}']") is not None]
        self.assertEqual(owners, ['root'])
        default = [p for p in root.iter('policy') if p.get('context') == 'default']
        self.assertEqual(len(default), 1)
        allowed = {a.get('send_interface') for a in default[0].iter('allow')
                   if a.get('send_destination') == BUS_NAME}
        # Every interface of the API, and the standard ones a client needs.
        api = ElementTree.parse(self.data('org.vireo.Vireo1.xml')).getroot()
        wanted = {i.get('name') for i in api.iter('interface')}
        wanted |= {OBJECT_MANAGER_IFACE, PROPERTIES_IFACE, 'org.freedesktop.DBus.Introspectable',
                   'org.freedesktop.DBus.Peer'}
        self.assertEqual(allowed, wanted)

    def read_keyfile(self, path):
        '''{section: {key: [values]}} of a .service or systemd unit file.'''
        sections = {}
        current = None
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith(('#', ';')):
                    continue
                if line.startswith('['):
                    current = sections.setdefault(line.strip('[]'), {})
                    continue
                key, _, value = line.partition('=')
                current.setdefault(key.strip(), []).append(value.strip())
        return sections

    def test_activation_files(self):
        for name, mode, unit in [('org.vireo.Vireo1.service', '--system', 'vireod.service'),
                                 ('org.vireo.Vireo1.session.service', '--session', 'vireod-session.service')]:
            with self.subTest(file=name):
                entry = self.read_keyfile(self.built(name))['D-BUS Service']
                self.assertEqual(entry['Name'], [BUS_NAME])
                exe, _, args = entry['Exec'][0].partition(' ')
                self.assertTrue(os.path.isabs(exe), exe)
                self.assertEqual(os.path.basename(exe), 'vireod')
                self.assertEqual(args, mode)
                self.assertEqual(entry['SystemdService'], [unit])
                self.assertNotIn('@', entry['Exec'][0], 'an unsubstituted @variable@')
                service = self.read_keyfile(self.built(unit))['Service']
                self.assertEqual(service['Type'], ['dbus'])
                self.assertEqual(service['BusName'], [BUS_NAME])
                self.assertEqual(service['ExecStart'], entry['Exec'], 'the bus and systemd start it alike')
                if mode == '--system':
                    self.assertEqual(entry['User'], ['root'])

    def test_units_verify(self):
        if shutil.which('systemd-analyze') is None:
            self.skipTest('systemd-analyze is not installed')
        if not VIREOD:
            self.skipTest('VIREOD is not set')
        tmp = tempfile.mkdtemp(prefix='vireo-units-')
        self.addCleanup(shutil.rmtree, tmp, True)
        runtime = os.path.join(tmp, 'runtime')
        os.mkdir(runtime, 0o700)
        for unit, scope in [('vireod.service', []), ('vireod-session.service', ['--user'])]:
            with self.subTest(unit=unit):
                # Point ExecStart at the built vireod, since verify checks that the program exists.
                with open(self.built(unit)) as f:
                    text = f.read()
                exec_start = self.read_keyfile(self.built(unit))['Service']['ExecStart'][0].split(' ')[0]
                with open(os.path.join(tmp, unit), 'w') as f:
                    f.write(text.replace(exec_start, os.path.abspath(VIREOD)))
                # --man=no: vireod has no manual page (yet) for Documentation=man:vireod(8) to find.
                env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
                done = subprocess.run(['systemd-analyze', *scope, '--man=no', 'verify', os.path.join(tmp, unit)],
                                      capture_output=True, text=True, env=env, check=False, timeout=WAIT_SECONDS)
                complaints = [line for line in (done.stdout + done.stderr).splitlines() if unit in line]
                self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
                self.assertEqual(complaints, [])


class TapResult(unittest.TestResult):
    '''One TAP line per case (a case whose subtests failed is "not ok"); tracebacks as "#" diagnostics
    on stdout and in full on stderr.'''

    def __init__(self):
        super().__init__()
        self.count = 0
        self.failed_subtests = set()

    @staticmethod
    def describe(test):
        if isinstance(test, unittest.TestCase):
            return f'{type(test).__name__}.{test._testMethodName}'
        return str(test)

    def line(self, status, test, directive=''):
        self.count += 1
        print(f'{status} {self.count} - {self.describe(test)}{directive}', flush=True)

    def diagnose(self, what, err):
        text = ''.join(traceback.format_exception(*err))
        for line in text.splitlines():
            print(f'# {line}', flush=True)
        sys.stderr.write(f'{what}\n{text}\n')

    def addSuccess(self, test):
        super().addSuccess(test)
        if test.id() in self.failed_subtests:
            self.failures.append((test, 'failed subtests'))
            self.line('not ok', test)
        else:
            self.line('ok', test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.line('ok', test, f' # SKIP {reason}')

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.line('not ok', test)
        self.diagnose(f'FAIL: {self.describe(test)}', err)

    def addError(self, test, err):
        super().addError(test, err)
        self.line('not ok', test)
        self.diagnose(f'ERROR: {self.describe(test)}', err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.failed_subtests.add(test.id())
            self.diagnose(f'FAIL: {subtest.id()}', err)

    def stopTest(self, test):
        # Python calls neither addSuccess nor addFailure for a case that failed only in subtests.
        if test.id() in self.failed_subtests and not any(t is test for t, _ in self.failures + self.errors):
            self.line('not ok', test)
            self.failures.append((test, 'failed subtests'))
        super().stopTest(test)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.line('ok', test, ' # TODO expected failure')

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.line('not ok', test, ' (unexpected success)')


def flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from flatten(test)
        else:
            yield test


def main():
    '''Runs every case, or those whose id contains one of the arguments.'''
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    if len(sys.argv) > 1:
        suite = unittest.TestSuite(t for t in flatten(suite) if any(w in t.id() for w in sys.argv[1:]))
    result = TapResult()
    suite.run(result)
    print(f'1..{result.count}', flush=True)
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
