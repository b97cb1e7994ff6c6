#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into tests/fuzz/corpus/<target>/ (the state target's seed
comes from state-seed.c, which needs the devices' own save functions).  Each seed is a short, meaningful
run in the input format its target describes in its first comment; run again after changing a format.

Usage: tests/fuzz/make-seeds.py
"""
import os
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def write(target, name, data):
    path = os.path.join(HERE, "corpus", target, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def u8(v): return struct.pack("<B", v & 0xff)
def u16(v): return struct.pack("<H", v & 0xffff)
def u32(v): return struct.pack("<I", v & 0xffffffff)
def u64(v): return struct.pack("<Q", v & 0xffffffffffffffff)


def desc(addr, length, flags, next_):
    return u64(addr) + u32(length) + u16(flags) + u16(next_)


# ---- virtqueue: size 4 (selector 2), rings at 0x0 / 0x40 / 0x60, buffers from 0x100 ----
NEXT, WRITE, INDIRECT = 1, 2, 4


def virtqueue_seed(flags, descs, heads, avail_flags=0, extra=b"", ops=b"\x00\x00\x00\x00\x00\x02"):
    image = bytearray(0x200)
    for i, d in enumerate(descs):
        image[16 * i:16 * i + 16] = d
    image[0x40:0x42] = u16(avail_flags)
    image[0x42:0x44] = u16(len(heads))
    for i, h in enumerate(heads):
        image[0x44 + 2 * i:0x46 + 2 * i] = u16(h)
    image[0x100:0x100 + 8] = b"request!"
    image[0x180:0x180 + len(extra)] = extra
    header = u8(2) + u8(flags | 4) + u16(0) + u16(0x40) + u16(0x60) + u16(0) + u16(0)
    return header + u16(len(image)) + bytes(image) + ops


write("virtqueue", "chain", virtqueue_seed(0, [desc(0x100, 8, NEXT, 1), desc(0x140, 32, WRITE, 0)], [0]))
write("virtqueue", "two-chains-event-idx",
      virtqueue_seed(1, [desc(0x100, 8, 0, 0), desc(0x140, 16, WRITE, 0)], [0, 1],
                     ops=b"\x00\x00\x00\x02\x00\x00\x00\x02\x01\x42\x00\x02\x03\x00\x00"))
write("virtqueue", "indirect",
      virtqueue_seed(2, [desc(0x180, 32, INDIRECT, 0)], [0],
                     extra=desc(0x100, 8, NEXT, 1) + desc(0x140, 32, WRITE, 0)))

# ---- virtio-pci: the echo device (slot 1) and the keyboard (slot 2) brought up as Linux does ----
KEYBOARD = 0x10


def cfg_write(reg, width_sel, value, slot=0):
    return u8(0x0 | slot) + u8(reg) + u8(width_sel) + u32(value)


def regs_write(offset, width_sel, value, slot=0):
    return u8(0x2 | slot) + u16(offset) + u8(width_sel) + u64(value)


def regs_read(offset, width_sel, slot=0):
    return u8(0x3 | slot) + u16(offset) + u8(width_sel)


def poke(offset, data):
    return u8(0x6) + u16(offset) + u8(len(data)) + data


def bring_up(slot, queues):
    """queues: list of (index, base offset in the 1 MiB window); size 4 each."""
    out = cfg_write(0x04, 1, 0x0006, slot)                    # memory decoding, bus mastering
    out += regs_write(0x14, 0, 0, slot) + regs_write(0x14, 0, 1, slot) + regs_write(0x14, 0, 3, slot)
    out += regs_write(0x08, 2, 0, slot) + regs_write(0x0c, 2, 0, slot)
    out += regs_write(0x08, 2, 1, slot) + regs_write(0x0c, 2, 1, slot)   # VERSION_1
    out += regs_write(0x14, 0, 0x0b, slot) + regs_read(0x14, 0, slot)
    for index, base in queues:
        gpa = 0x100000 + base
        out += regs_write(0x16, 1, index, slot) + regs_write(0x18, 1, 4, slot)
        out += regs_write(0x20, 2, gpa, slot) + regs_write(0x24, 2, 0, slot)
        out += regs_write(0x28, 2, gpa + 0x40, slot) + regs_write(0x2c, 2, 0, slot)
        out += regs_write(0x30, 2, gpa + 0x50, slot) + regs_write(0x34, 2, 0, slot)
        out += regs_write(0x1a, 1, 0xffff, slot) + regs_write(0x1c, 1, 1, slot)
    out += regs_write(0x14, 0, 0x0f, slot)
    return out


def make_available(base, head, avail_idx, descs):
    out = b""
    for i, d in enumerate(descs):
        out += poke(base + 16 * (head + i), d)
    out += poke(base + 0x44 + 2 * ((avail_idx - 1) % 4), u16(head))
    out += poke(base + 0x42, u16(avail_idx))
    return out


echo = bring_up(0, [(0, 0x0000)])
echo += poke(0x8000, b"abc")
echo += make_available(0x0000, 0, 1, [desc(0x108000, 3, NEXT, 1), desc(0x108100, 16, WRITE, 0)])
echo += regs_write(0x3000, 1, 0) + u8(0x7) + regs_read(0x1000, 0)   # kick queue 0, run, read the ISR
write("virtio-pci", "echo-round-trip", echo)
write("virtio-pci", "echo-save-load", echo + u8(0x8) + regs_read(0x14, 0) + regs_write(0x14, 0, 0))

keyboard = bring_up(KEYBOARD, [(0, 0x1000), (1, 0x2000)])
keyboard += make_available(0x1000, 0, 2, [desc(0x109000, 8, WRITE, 0), desc(0x109008, 8, WRITE, 0)])
keyboard += regs_write(0x3000, 1, 0, KEYBOARD) + u8(0x7)
keyboard += u8(0x9) + u16(30) + u8(1) + u8(0x9) + u16(30) + u8(0) + u8(0x7)
keyboard += regs_write(0x16, 1, 0, KEYBOARD) + u8(0x18) + regs_write(0x2000, 0, 1, KEYBOARD)   # config select
write("virtio-pci", "keyboard-events", keyboard)
# MSI-X: vector 0 programmed and unmasked, MSI-X turned on, then the configuration vector.
msix = cfg_write(0x04, 1, 0x0006) + u8(0x4) + u16(0) + u8(2) + u32(0xfee00000) + u8(0x4) + u16(8) + u8(2) + u32(0x41)
msix += u8(0x4) + u16(12) + u8(2) + u32(0) + u8(0x1) + u8(0x84) + u8(1) + cfg_write(0x86, 1, 0x8000)
msix += regs_write(0x10, 1, 0) + regs_read(0x10, 1) + u8(0x5) + u16(0x800) + u8(2)
write("virtio-pci", "msix", msix)

# ---- ahci: ports 0 (disk) and 1 (CD-ROM) up, command lists at 1 MiB + 0x1000 * port ----

AHCI_WINDOW = 0x100000


def ahci_poke(addr, data):
    out = b""
    for i in range(0, len(data), 32):
        chunk = data[i:i + 32]
        out += u8(0) + u16(addr - AHCI_WINDOW + i) + u8(len(chunk)) + chunk
    return out


def ahci_command(port, slot, table_at, fis, cdb=b"", prds=(), write_=False):
    flags = 5 | (1 << 5 if cdb else 0) | (1 << 6 if write_ else 0) | (len(prds) << 16)
    header = u32(flags) + u32(0) + u64(table_at) + bytes(16)
    table = fis.ljust(0x40, b"\0") + cdb.ljust(0x40, b"\0")
    for address, length in prds:
        table += u64(address) + u32(0) + u32(length - 1)
    return ahci_poke(AHCI_WINDOW + 0x1000 * port + 32 * slot, header) + ahci_poke(table_at, table)


def ahci_fis(command, lba=0, count=0, features=0):
    return bytes([0x27, 0x80, command, features, lba & 0xff, (lba >> 8) & 0xff, (lba >> 16) & 0xff, 0x40,
                  (lba >> 24) & 0xff, 0, 0, 0, count & 0xff, (count >> 8) & 0xff, 0, 0, 0, 0, 0, 0])


def ahci_issue(port, slots):
    return u8(1) + u8(port) + u32(slots) + u8(2)


W = AHCI_WINDOW
seed = ahci_command(0, 0, W + 0x2000, ahci_fis(0xec), prds=[(W + 0x8000, 512)]) + ahci_issue(0, 1)
seed += ahci_command(0, 0, W + 0x2000, ahci_fis(0x35, 4, 2), prds=[(W + 0x8000, 512), (W + 0x9000, 512)],
                     write_=True) + ahci_issue(0, 1)
seed += ahci_command(0, 0, W + 0x2000, ahci_fis(0x25, 4, 2), prds=[(W + 0xa000, 1024)]) + ahci_issue(0, 1)
seed += ahci_command(0, 0, W + 0x2000, ahci_fis(0xea)) + ahci_issue(0, 1) + u8(5)
write("ahci", "disk-rw", seed)
packet = ahci_fis(0xa0, 0, 0, 1)
seed = ahci_command(1, 0, W + 0x3000, packet, bytes([0x12, 0, 0, 0, 36] + [0] * 7), prds=[(W + 0x8000, 36)])
seed += ahci_issue(1, 1)
seed += ahci_command(1, 0, W + 0x3000, packet, bytes([0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0]),
                     prds=[(W + 0x8000, 4096)]) + ahci_issue(1, 1)
seed += u8(7) + u8(0) + u8(7) + u8(2)
seed += ahci_command(1, 0, W + 0x3000, packet, bytes(12), prds=[(W + 0x8000, 2)]) + ahci_issue(1, 1) + u8(5)
seed += ahci_command(1, 0, W + 0x3000, packet, bytes([0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0, 0, 0]),
                     prds=[(W + 0x8000, 8)]) + ahci_issue(1, 1)
write("ahci", "cdrom-change", seed)
seed = ahci_command(0, 0, W + 0x2000, ahci_fis(0x25, 0, 8), prds=[(0xfffff000, 4096)]) + ahci_issue(0, 1)
seed += u8(3) + u16(0x118) + u8(2) + u32(0x10) + u8(3) + u16(0x118) + u8(2) + u32(0x11)
seed += ahci_command(0, 3, W + 0x2400, ahci_fis(0x61, 8, 0, 2)[:12] + bytes([3 << 3]) + bytes(7),
                     prds=[(W + 0x8000, 1024)], write_=True)
seed += u8(3) + u16(0x134) + u8(2) + u32(8) + ahci_issue(0, 8)
seed += ahci_poke(W + 0xc000, u64(2 | (4 << 48)))
seed += ahci_command(0, 0, W + 0x2000, ahci_fis(0x06, 0, 1, 1), prds=[(W + 0xc000, 512)], write_=True)
seed += ahci_issue(0, 1)
write("ahci", "hostile", seed)

# ---- virtio-blk: the driver is up; queue of 16 at window 0 (avail +0x100, used +0x128) ----
BLK_HEADER, BLK_DATA, BLK_STATUS = 0x101000, 0x102000, 0x103000


def blk_poke(offset, data):
    out = b""
    for at in range(0, len(data), 32):
        chunk = data[at:at + 32]
        out += u8(0) + u16(offset + at) + u8(len(chunk)) + chunk
    return out


def blk_request(avail_idx, type_, sector, buffers, header_len=16):
    """buffers: (address, length, writable) after the header; the status byte last."""
    descs = [(BLK_HEADER, header_len, False)] + buffers + [(BLK_STATUS, 1, True)]
    head = (avail_idx - 1) * 4 % 16
    out = blk_poke(BLK_HEADER - 0x100000, u32(type_) + u32(0) + u64(sector))
    for i, (addr, length, writable) in enumerate(descs):
        last = i == len(descs) - 1
        flags = (0 if last else NEXT) | (WRITE if writable else 0)
        out += blk_poke(16 * ((head + i) % 16), desc(addr, length, flags, 0 if last else (head + i + 1) % 16))
    out += blk_poke(0x104 + 2 * ((avail_idx - 1) % 16), u16(head))
    out += blk_poke(0x102, u16(avail_idx))
    return out + u8(1) + u8(2)


T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES = 0, 1, 4, 8, 11, 13
rw = blk_poke(BLK_DATA - 0x100000, b"\xa5" * 32)
rw += blk_request(1, T_OUT, 1, [(BLK_DATA, 256, False), (BLK_DATA + 256, 256, False)])
rw += blk_request(2, T_IN, 1, [(BLK_DATA + 512, 512, True)])
rw += blk_request(3, T_FLUSH, 0, [])
rw += blk_request(4, T_GET_ID, 0, [(BLK_DATA, 20, True)])
write("virtio-blk", "read-write", rw)
rng = blk_poke(BLK_DATA - 0x100000, u64(2) + u32(4) + u32(0))
rng += blk_request(1, T_DISCARD, 0, [(BLK_DATA, 16, False)])
rng += blk_request(2, T_WRITE_ZEROES, 0, [(BLK_DATA, 16, False)])
rng += blk_request(3, T_IN, 2, [(BLK_DATA + 512, 2048, True)]) + u8(5)
write("virtio-blk", "discard-zeroes-save", rng)
bad = blk_request(1, T_IN, 127, [(BLK_DATA, 1024, True)])           # past the end
bad += blk_request(2, T_IN, 0, [(BLK_DATA, 100, True)])             # not whole sectors
bad += blk_request(3, T_OUT, 0, [(BLK_DATA, 512, True)])            # data in the wrong direction
bad += blk_request(4, 0x99, 0, [(BLK_DATA, 512, True)])             # no such type
bad += blk_request(5, T_IN, 0, [(BLK_DATA, 512, True)], header_len=8)
bad += u8(3) + u16(0x14) + u8(0) + u64(0)                           # reset by the driver
write("virtio-blk", "hostile", bad)

# ---- devices: port accesses (op = 2 * device + write), MMIO (14) and host events (15) ----
SERIAL, I8042_DATA, I8042_CMD, RTC, ACPI_PM, PCI, DISPI = range(7)


def pio_write(dev, offset, width_sel, value):
    return u8(2 * dev + 1) + u8(offset) + u8(width_sel) + u32(value)


def pio_read(dev, offset, width_sel=0):
    return u8(2 * dev) + u8(offset) + u8(width_sel)


def host(kind, data=None):
    return u8(15) + u8(kind) + (u8(len(data)) + data if data is not None else b"")


serial = pio_write(SERIAL, 3, 0, 0x80) + pio_write(SERIAL, 0, 0, 1) + pio_write(SERIAL, 1, 0, 0)
serial += pio_write(SERIAL, 3, 0, 0x03) + pio_write(SERIAL, 2, 0, 0xc7) + pio_write(SERIAL, 4, 0, 0x0b)
serial += pio_write(SERIAL, 1, 0, 0x0f) + pio_write(SERIAL, 0, 0, ord("A")) + pio_read(SERIAL, 5)
serial += host(0, b"hello") + pio_read(SERIAL, 2) + pio_read(SERIAL, 0) + pio_read(SERIAL, 5)
serial += pio_write(SERIAL, 4, 0, 0x1b) + pio_write(SERIAL, 0, 0, ord("B")) + pio_read(SERIAL, 0)
write("devices", "serial", serial + host(4))

i8042 = pio_write(I8042_CMD, 0, 0, 0xaa) + pio_read(I8042_DATA, 0) + pio_write(I8042_CMD, 0, 0, 0x20)
i8042 += pio_read(I8042_DATA, 0) + pio_write(I8042_CMD, 0, 0, 0x60) + pio_write(I8042_DATA, 0, 0, 0x47)
i8042 += pio_write(I8042_DATA, 0, 0, 0xff) + pio_read(I8042_DATA, 0) + pio_read(I8042_DATA, 0)
i8042 += pio_write(I8042_DATA, 0, 0, 0xed) + pio_write(I8042_DATA, 0, 0, 0x07) + host(1, b"\x1e\x9e")
i8042 += pio_read(I8042_CMD, 0) + pio_read(I8042_DATA, 0) + host(3) + pio_read(I8042_DATA, 0) + host(4)
i8042 += pio_write(I8042_CMD, 0, 0, 0xfe)
write("devices", "i8042", i8042)

rtc = pio_write(RTC, 0, 0, 0x0b) + pio_write(RTC, 1, 0, 0x06) + pio_write(RTC, 0, 0, 0x00) + pio_read(RTC, 1)
rtc += pio_write(RTC, 0, 0, 0x0a) + pio_read(RTC, 1) + pio_write(RTC, 0, 0, 0x34) + pio_read(RTC, 1)
rtc += pio_write(RTC, 0, 0, 0x8e) + pio_write(RTC, 1, 0, 0x55) + pio_write(RTC, 0, 0, 0x0b)
rtc += pio_write(RTC, 1, 0, 0x22) + pio_write(RTC, 0, 0, 0x0c) + pio_read(RTC, 1) + host(4)
write("devices", "rtc", rtc)

acpi = pio_write(ACPI_PM, 2, 1, 0x0100) + host(2) + pio_read(ACPI_PM, 0, 1) + pio_write(ACPI_PM, 0, 1, 0x0100)
acpi += pio_read(ACPI_PM, 8, 2) + pio_write(ACPI_PM, 4, 1, 0x0001) + host(4) + pio_write(ACPI_PM, 4, 1, 0x3401)
acpi += pio_write(ACPI_PM, 12, 0, 0x01)
write("devices", "acpi-pm", acpi)

# The display on slot 1: identity, BAR sizing, memory decoding, a mode set through the ports and BAR 2.
pci = pio_write(PCI, 0, 2, 0x80000800) + pio_read(PCI, 4, 2) + pio_write(PCI, 0, 2, 0x80000810)
pci += pio_write(PCI, 4, 2, 0xffffffff) + pio_read(PCI, 4, 2) + pio_write(PCI, 4, 2, 0xe0000000)
pci += pio_write(PCI, 0, 2, 0x80000804) + pio_write(PCI, 4, 1, 0x0003) + pio_read(PCI, 6, 1)
pci += pio_write(PCI, 0, 2, 0x80000834) + pio_read(PCI, 4, 0) + host(4)
write("devices", "pci", pci)


def dispi(index, value):
    return pio_write(DISPI, 0, 1, index) + pio_write(DISPI, 1, 1, value)


def mmio(bar2, write_, width_sel, offset, value=0):
    flags = (1 if write_ else 0) | (2 if bar2 else 0) | (width_sel << 2)
    return u8(14) + u8(flags) + u32(offset) + (u64(value) if write_ else b"")


display = pio_write(PCI, 0, 2, 0x80000804) + pio_write(PCI, 4, 1, 0x0003)
display += pio_write(DISPI, 0, 1, 0) + pio_read(DISPI, 1, 1)
display += dispi(4, 0) + dispi(1, 800) + dispi(2, 600) + dispi(3, 32) + dispi(6, 1024) + dispi(4, 0x41)
display += host(5) + mmio(False, True, 2, 0x1000, 0xffffffff) + mmio(False, True, 3, 800 * 4 * 599, 1) + host(5)
display += mmio(True, False, 2, 0) + mmio(True, True, 1, 0x500 + 2 * 9, 16) + mmio(True, False, 1, 0x500 + 2 * 9)
display += mmio(True, True, 0, 0x400 + 0x1c0 - 0x3c0 + 0x10, 0x20) + mmio(True, False, 2, 0x600) + host(4) + host(5)
write("devices", "bochs-display", display)

# ---- loader: u8 flags (1 initrd, 2 command line), then the kernel ----
EM_386, EM_X86_64, ET_EXEC, PT_LOAD, PT_NOTE = 3, 62, 2, 1, 4


def elf(is_64, entry, segments):
    notes = u32(4) + u32(8 if is_64 else 4) + u32(18) + b"Xen\0" + (u64(entry) if is_64 else u32(entry))
    ehsize, phsize = (64, 56) if is_64 else (52, 32)
    n_ph = len(segments) + 1
    notes_off = ehsize + n_ph * phsize
    data_off = (notes_off + len(notes) + 15) & ~15
    phdrs, body, pos = b"", b"", data_off
    for paddr, filesz, memsz in segments:
        if is_64:
            phdrs += u32(PT_LOAD) + u32(7) + u64(pos) + u64(0xffffffff80000000 + paddr) + u64(paddr)
            phdrs += u64(filesz) + u64(memsz) + u64(0x200000)
        else:
            phdrs += u32(PT_LOAD) + u32(pos) + u32(paddr) + u32(paddr) + u32(filesz) + u32(memsz)
            phdrs += u32(7) + u32(0x1000)
        body += bytes((i * 7 + 1) & 0xff for i in range(filesz)) + bytes((-filesz) % 16)
        pos += (filesz + 15) & ~15
    if is_64:
        phdrs += u32(PT_NOTE) + u32(4) + u64(notes_off) + u64(0) + u64(0) + u64(len(notes)) + u64(0) + u64(4)
        ehdr = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + u16(ET_EXEC) + u16(EM_X86_64) + u32(1)
        ehdr += u64(0xffffffff81000000) + u64(ehsize) + u64(0) + u32(0) + u16(ehsize) + u16(phsize)
        ehdr += u16(n_ph) + u16(64) + u16(0) + u16(0)
    else:
        phdrs += u32(PT_NOTE) + u32(notes_off) + u32(0) + u32(0) + u32(len(notes)) + u32(0) + u32(4) + u32(4)
        ehdr = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9) + u16(ET_EXEC) + u16(EM_386) + u32(1)
        ehdr += u32(entry) + u32(ehsize) + u32(0) + u32(0) + u16(ehsize) + u16(phsize)
        ehdr += u16(n_ph) + u16(40) + u16(0) + u16(0)
    out = ehdr + phdrs + notes
    return out + bytes(data_off - len(out)) + body


def bzimage(version=0x020f, xloadflags=3, relocatable=1, pm_size=0x200):
    setup_sects = 1
    setup_size = (setup_sects + 1) * 512
    image = bytearray(setup_size + pm_size)
    image[0x1f1] = setup_sects
    image[0x1f4:0x1f8] = u32(pm_size // 16)
    image[0x1fe:0x200] = u16(0xaa55)
    image[0x200], image[0x201] = 0xeb, 0x6a
    image[0x202:0x206] = b"HdrS"
    image[0x206:0x208] = u16(version)
    image[0x211] = 0x01
    image[0x214:0x218] = u32(0x100000)
    image[0x22c:0x230] = u32(0x7fffffff)
    image[0x230:0x234] = u32(0x200000)
    image[0x234] = relocatable
    image[0x235] = 21
    image[0x236:0x238] = u16(xloadflags)
    image[0x238:0x23c] = u32(2047)
    image[0x258:0x260] = u64(16 * MIB)
    image[0x260:0x264] = u32(8 * MIB)
    for i in range(pm_size):
        image[setup_size + i] = (i * 13 + 5) & 0xff
    return bytes(image)


cmdline = b"console=ttyS0 quiet"
write("loader", "pvh64", u8(0) + elf(True, 16 * MIB + 0x40, [(16 * MIB, 0x80, 0x80), (18 * MIB, 0x40, 0x1000)]))
write("loader", "pvh32-initrd-cmdline",
      u8(3) + u16(64) + bytes(range(64)) + u8(len(cmdline)) + cmdline + elf(False, MIB + 0x10, [(MIB, 0x40, 0x40)]))
write("loader", "bzimage", u8(2) + u8(len(cmdline)) + cmdline + bzimage())
write("loader", "bzimage-fixed-initrd", u8(1) + u16(32) + bytes(32) + bzimage(version=0x020c, relocatable=0))
write("loader", "gzip", u8(0) + b"\x1f\x8b\x08\x00" + bytes(16))

# ---- libvirt XML: ours, and what virt-manager and GNOME Boxes write ----
write("libvirt-xml", "kernel-boot.xml", b"""<domain type="kvm">
  <name>tiny</name>
  <uuid>8f3a2c1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b</uuid>
  <title>Tiny VM</title>
  <description>notes</description>
  <memory unit="MiB">256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch="x86_64">hvm</type>
    <kernel>/var/lib/vireo/vmlinuz</kernel>
    <initrd>/var/lib/vireo/initrd.img</initrd>
    <cmdline>console=ttyS0</cmdline>
  </os>
  <metadata>
    <vireo:machine xmlns:vireo="https://vireo.org/xmlns/vireo/1">
      <vireo:name>Tiny VM</vireo:name>
      <vireo:network>nat</vireo:network>
      <vireo:auto-start>always</vireo:auto-start>
    </vireo:machine>
  </metadata>
  <devices>
    <serial type="pty"/>
    <graphics type="spice"/>
  </devices>
</domain>
""")
write("libvirt-xml", "disk-boot.xml", b"""<domain type='kvm'>
  <name>fedora</name>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>4</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/fedora.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/tmp/install.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <source network='default'/>
    </interface>
  </devices>
</domain>
""")
write("libvirt-xml", "not-kvm.xml", b"<domain type='xen'><name>x</name><memory>1</memory></domain>\n")
write("libvirt-xml", "nics.xml", b"""<domain type='kvm'>
  <name>nics</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type><kernel>/boot/vmlinuz</kernel></os>
  <devices>
    <interface type='bridge'><mac address='52:54:00:9a:0b:1c'/><source bridge='br0'/><model type='virtio'/></interface>
    <interface type='user'>
      <mac address='52:54:00:9a:0b:1d'/>
      <portForward proto='tcp'><range start='2222' to='22'/></portForward>
      <portForward proto='udp' address='0.0.0.0'><range start='5353'/><range start='6000' end='6010'/></portForward>
      <model type='virtio'/><link state='down'/>
    </interface>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
  </devices>
</domain>
""")

# ---- fw-cfg: SeaBIOS's own sequence, then DMA descriptors where they must be refused ----
def fw_select(key): return u8(0) + u16(key)
def fw_read(n): return b"".join(u8(1) + u8(0) + u8(1) for _ in range(n))
def fw_dma(desc, control=None, length=0, address=0, high=None):
    flags = (1 if control is not None else 0) | (2 if high is not None else 0)
    out = u8(2) + u8(flags) + u32(desc) + (u32(high) if high is not None else b"")
    if control is not None:
        out += u32(control) + u32(length) + u64(address)
    return out

SELECT, READ, SKIP, WRITE = 0x08, 0x02, 0x04, 0x10
write("fw-cfg", "seabios-probe",
      fw_select(0) + fw_read(4) + fw_select(1) + fw_read(4)
      + fw_dma(0x1000, 0x19 << 16 | SELECT | READ, 4, 0x2000) + fw_dma(0x1000, READ, 64 * 3, 0x2000)
      + fw_dma(0x1000, 0x21 << 16 | SELECT | READ, 100, 0x3000))
write("fw-cfg", "hostile-dma",
      fw_dma(0x1000, 0x21 << 16 | SELECT | READ, 0x20000, 0)          # longer than RAM
      + fw_dma(0xfff8, 0x20 << 16 | SELECT | READ, 4, 0)              # descriptor straddles the end
      + fw_dma(0x1000, 0x20 << 16 | SELECT | READ, 8, 0xfffc)         # buffer straddles the end
      + fw_dma(0x1000, 0x20 << 16 | SELECT | READ, 16, 0xfffffffffffffff8)
      + fw_dma(0x10, 0x20 << 16 | SELECT | WRITE, 4, 0x100)
      + fw_dma(0x1000, 0x21 << 16 | SELECT | SKIP, 0xffffffff, 0) + fw_dma(0x1000, READ, 16, 0x1004)
      + fw_dma(0x1000, high=1))
write("fw-cfg", "ports", u8(1) + u8(0x3) + u8(0) + u32(0x19) + u8(1) + u8(0x2) + u8(3)
      + u8(1) + u8(0x0f) + u8(0) + u32(0x12345678) + u8(3) + u16(0x1000) + u8(4) + b"\0\0\0\x08")
# ---- qcow2: images made by qemu-img (small clusters keep them small), each with a few requests ----
def qcow2_ops(ops):
    return u8(len(ops)) + b"".join(u8(op) + u32(offset) + u16(length) for op, offset, length in ops)


def qemu_image(create, io=(), convert_from=None, snapshot=False):
    import shutil
    import tempfile
    if shutil.which("qemu-img") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "i.qcow2")
        if convert_from is not None:
            src = os.path.join(tmp, "src.raw")
            with open(src, "wb") as f:
                f.write(convert_from)
            subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2"] + create + [src, path],
                           check=True)
        else:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2"] + create[:-1] + [path, create[-1]],
                           check=True)
        for command in io:
            subprocess.run(["qemu-io", "-c", command, path], check=True, stdout=subprocess.DEVNULL)
        if snapshot:
            subprocess.run(["qemu-img", "snapshot", "-c", "s1", path], check=True)
        with open(path, "rb") as f:
            return f.read()


QCOW2_RW, QCOW2_SELF_BACKING, QCOW2_RAW_BACKING = 1, 2, 4
QCOW2_MIXED_OPS = [(0, 0, 4096), (1, 1000, 3000), (1, 70000, 9000), (2, 8192, 4096), (3, 300, 600),
                   (4, 0, 0), (0, 0, 65535)]
qcow2_seeds = {
    "v3-512": (QCOW2_RW, ["-o", "cluster_size=512", "128k"], ["write -P 0xab 0 4k", "write -z 8k 4k"], None),
    "v2-512": (QCOW2_RW, ["-o", "compat=0.10,cluster_size=512", "128k"], ["write -P 0xab 1k 4k"], None),
    "refcount-1bit": (QCOW2_RW, ["-o", "cluster_size=512,refcount_bits=1", "64k"], ["write 0 2k"], None),
    "refcount-64bit": (QCOW2_RW, ["-o", "cluster_size=512,refcount_bits=64", "64k"], ["write 0 2k"], None),
    "compressed-zlib": (0, ["-c", "-o", "cluster_size=512"], [], b"compressible " * 2000),
    "compressed-zstd": (QCOW2_RW, ["-c", "-o", "cluster_size=512,compression_type=zstd"], [], b"zstd " * 4000),
    "backing-self": (QCOW2_SELF_BACKING, ["-o", "cluster_size=512", "-b", "i.qcow2", "-F", "qcow2", "-u",
                                          "64k"], [], None),
    "backing-raw": (QCOW2_RW | QCOW2_RAW_BACKING, ["-o", "cluster_size=512", "-b", "base.raw", "-F", "raw",
                                                   "-u", "64k"], [], None),
    "extended-l2": (0, ["-o", "cluster_size=16k,extended_l2=on", "64k"], ["write -P 0x11 2k 2k"], None),
    "snapshot": (QCOW2_RW, ["-o", "cluster_size=512", "64k"], ["write -P 0x11 0 8k"], None),
}
for name, (flags, create, io, source) in qcow2_seeds.items():
    image = qemu_image(create, io, source, snapshot=name == "snapshot")
    if image is None:
        print("not writing the qcow2 seeds: qemu-img is not installed (Debian: qemu-utils)")
        break
    write("qcow2", name, u8(flags) + qcow2_ops(QCOW2_MIXED_OPS) + image)

# ---- state: written by the devices' own save functions (state-seed.c) ----
state_seed = os.path.join(HERE, "..", "..", "build", "tests", "fuzz", "fuzz-state-seed")
echo_guest = os.path.join(HERE, "..", "..", "build", "tests", "guests", "echo.elf")
if os.path.exists(state_seed):
    # With the echo test guest (and KVM), also a real VM's state: vCPUs and VM state included.
    subprocess.run([state_seed, os.path.join(HERE, "corpus", "state")]
                   + ([echo_guest] if os.path.exists(echo_guest) else []), check=True)
else:
    print("not writing the state seeds: run `meson compile -C build fuzz-state-seed` first")
