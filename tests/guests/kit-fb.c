/* kit-fb.c — the guest kit's framebuffer: mode setting on a Bochs DISPI display (through BAR 2's
 * MMIO registers, else the legacy ports) and drawing straight into video memory: rectangles, pixels
 * and text in the kit's font.  Every drawing call clips to the current mode. */
#include "kit-private.h"

/* DISPI register indexes (16 bits each: at 0x500 + 2 * index in BAR 2, or index/data ports). */
enum
{
  DISPI_ID = 0,
  DISPI_XRES = 1,
  DISPI_YRES = 2,
  DISPI_BPP = 3,
  DISPI_ENABLE = 4,
  DISPI_BANK = 5,
  DISPI_VIRT_WIDTH = 6,
  DISPI_VIRT_HEIGHT = 7,
  DISPI_X_OFFSET = 8,
  DISPI_Y_OFFSET = 9,
};

#define DISPI_MMIO_OFFSET 0x500
#define DISPI_MMIO_LEN    0x20
#define DISPI_ID_MIN      0xb0c0
#define DISPI_ID_MAX      0xb0c5
#define DISPI_ENABLED     0x01
#define DISPI_LFB_ENABLED 0x40
#define FB_VRAM_BAR       0
#define FB_MMIO_BAR       2
/* On a VGA-compatible function (QEMU's std VGA) the attribute controller blanks the screen until
 * its palette-address-source bit is set; BAR 2 maps ports 0x3c0-0x3df at 0x400. */
#define VGA_MMIO_ATTRIBUTE 0x400
#define VGA_MMIO_STATUS    0x41a /* 0x3da: reading it resets the attribute flip-flop */
#define VGA_ATTRIBUTE_PAS  0x20

static uint16_t
dispi_read (KitFb *fb, unsigned index)
{
  if (fb->dispi)
    return fb->dispi[index];
  outw (HV_PORT_BOCHS_DISPI, (uint16_t) index);
  return inw (HV_PORT_BOCHS_DISPI + 1);
}

static void
dispi_write (KitFb *fb, unsigned index, uint16_t value)
{
  if (fb->dispi)
    fb->dispi[index] = value;
  else
    {
      outw (HV_PORT_BOCHS_DISPI, (uint16_t) index);
      outw (HV_PORT_BOCHS_DISPI + 1, value);
    }
}

static void
unblank_vga (const KitPciBar *mmio_bar)
{
  volatile uint8_t *vga = kit_pci_bar_map (mmio_bar, VGA_MMIO_ATTRIBUTE, 0x20);

  if (vga == NULL)
    return;
  (void) vga[VGA_MMIO_STATUS - VGA_MMIO_ATTRIBUTE];
  vga[0] = VGA_ATTRIBUTE_PAS;
}

bool
kit_fb_init (KitFb *fb)
{
  KitPciBar mmio_bar;

  memset (fb, 0, sizeof *fb);
  if (!kit_pci_find (KIT_FB_VENDOR_ID, KIT_FB_DEVICE_ID, 0, &fb->pci))
    return false;
  if (!kit_pci_bar (&fb->pci, FB_VRAM_BAR, &fb->vram_bar) || fb->vram_bar.is_io
      || kit_pci_bar_map (&fb->vram_bar, 0, fb->vram_bar.size) == NULL)
    {
      kit_printf ("kit: fb: framebuffer BAR 0 unusable (address 0x%lx size 0x%lx)\n", fb->vram_bar.address,
                  fb->vram_bar.size);
      return false;
    }
  /* BAR 2 is absent on old std VGA; the ports then reach the same registers. */
  if (kit_pci_bar (&fb->pci, FB_MMIO_BAR, &mmio_bar) && !mmio_bar.is_io)
    fb->dispi = kit_pci_bar_map (&mmio_bar, DISPI_MMIO_OFFSET, DISPI_MMIO_LEN);
  kit_pci_enable (&fb->pci, KIT_PCI_COMMAND_MEMORY | (fb->dispi ? 0 : KIT_PCI_COMMAND_IO));

  fb->dispi_id = dispi_read (fb, DISPI_ID);
  if (fb->dispi_id < DISPI_ID_MIN || fb->dispi_id > DISPI_ID_MAX)
    {
      kit_printf ("kit: fb: DISPI ID 0x%x is not a Bochs display's\n", fb->dispi_id);
      return false;
    }
  if (fb->dispi && fb->pci.class_code == 0x03 && fb->pci.subclass == 0x00)
    unblank_vga (&mmio_bar);
  return true;
}

bool
kit_fb_set_mode (KitFb *fb, uint32_t width, uint32_t height)
{
  if (width == 0 || height == 0 || width > 0xffff || height > 0xffff)
    return false;
  fb->pixels = NULL;
  fb->width = fb->height = fb->pitch = 0;

  /* The registers only take effect as a set when ENABLE goes from off to on. */
  dispi_write (fb, DISPI_ENABLE, 0);
  dispi_write (fb, DISPI_XRES, (uint16_t) width);
  dispi_write (fb, DISPI_YRES, (uint16_t) height);
  dispi_write (fb, DISPI_BPP, 32);
  dispi_write (fb, DISPI_BANK, 0);
  dispi_write (fb, DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
  dispi_write (fb, DISPI_VIRT_WIDTH, (uint16_t) width);
  dispi_write (fb, DISPI_X_OFFSET, 0);
  dispi_write (fb, DISPI_Y_OFFSET, 0);

  uint16_t xres = dispi_read (fb, DISPI_XRES);
  uint16_t yres = dispi_read (fb, DISPI_YRES);
  uint16_t bpp = dispi_read (fb, DISPI_BPP);
  uint16_t enable = dispi_read (fb, DISPI_ENABLE);
  uint16_t virt_width = dispi_read (fb, DISPI_VIRT_WIDTH);
  if (xres != width || yres != height || bpp != 32 || !(enable & DISPI_ENABLED) || virt_width < width)
    {
      kit_printf ("kit: fb: %ux%ux32 refused: the device reads back %ux%ux%u enable 0x%x "
                  "virtual width %u\n",
                  width, height, xres, yres, bpp, enable, virt_width);
      return false;
    }

  uint64_t bytes = (uint64_t) virt_width * 4 * height;
  volatile uint32_t *pixels = kit_pci_bar_map (&fb->vram_bar, 0, bytes);
  if (pixels == NULL)
    {
      kit_printf ("kit: fb: %ux%u needs 0x%lx bytes, the framebuffer BAR has 0x%lx\n", width, height, bytes,
                  fb->vram_bar.size);
      return false;
    }
  fb->pixels = pixels;
  fb->width = width;
  fb->height = height;
  fb->pitch = virt_width;
  return true;
}

/* Clips [*x, *x + *w) x [*y, *y + *h) to the screen; FALSE when nothing is left. */
static bool
clip (const KitFb *fb, int *x, int *y, int *w, int *h)
{
  int64_t x0 = *x, y0 = *y, x1 = (int64_t) *x + *w, y1 = (int64_t) *y + *h;

  if (fb->pixels == NULL)
    return false;
  if (x0 < 0)
    x0 = 0;
  if (y0 < 0)
    y0 = 0;
  if (x1 > fb->width)
    x1 = fb->width;
  if (y1 > fb->height)
    y1 = fb->height;
  if (x0 >= x1 || y0 >= y1)
    return false;
  *x = (int) x0;
  *y = (int) y0;
  *w = (int) (x1 - x0);
  *h = (int) (y1 - y0);
  return true;
}

void
kit_fb_fill_rect (KitFb *fb, int x, int y, int width, int height, uint32_t rgb)
{
  if (!clip (fb, &x, &y, &width, &height))
    return;
  for (int row = 0; row < height; row++)
    {
      void *dst = (void *) (uintptr_t) (fb->pixels + (size_t) (y + row) * fb->pitch + x);
      size_t n = (size_t) width;
      /* One string store per row: the framebuffer is plain memory to the guest. */
      __asm__ volatile("rep stosl" : "+D"(dst), "+c"(n) : "a"(rgb) : "memory");
    }
}

void
kit_fb_put_pixel (KitFb *fb, int x, int y, uint32_t rgb)
{
  if (fb->pixels && x >= 0 && y >= 0 && (uint32_t) x < fb->width && (uint32_t) y < fb->height)
    fb->pixels[(size_t) y * fb->pitch + (size_t) x] = rgb;
}

uint32_t
kit_fb_get_pixel (KitFb *fb, int x, int y)
{
  if (fb->pixels && x >= 0 && y >= 0 && (uint32_t) x < fb->width && (uint32_t) y < fb->height)
    return fb->pixels[(size_t) y * fb->pitch + (size_t) x] & 0xffffff;
  return 0;
}

void
kit_fb_char (KitFb *fb, int x, int y, char c, uint32_t fg, uint32_t bg, unsigned scale)
{
  int s = scale == 0 ? 1 : scale > 16 ? 16 : (int) scale;

  if (bg != KIT_FB_TRANSPARENT)
    kit_fb_fill_rect (fb, x, y, KIT_FONT_WIDTH * s, KIT_FONT_HEIGHT * s, bg);
  for (unsigned row = 0; row < KIT_FONT_HEIGHT; row++)
    {
      uint8_t bits = kit_font_row (c, row);
      for (int col = 0; bits != 0; col++, bits = (uint8_t) (bits << 1))
        if (bits & 0x80)
          {
            if (s == 1)
              kit_fb_put_pixel (fb, x + col, y + (int) row, fg);
            else
              kit_fb_fill_rect (fb, x + col * s, y + (int) row * s, s, s, fg);
          }
    }
}

int
kit_fb_text (KitFb *fb, int x, int y, const char *text, uint32_t fg, uint32_t bg, unsigned scale)
{
  int s = scale == 0 ? 1 : scale > 16 ? 16 : (int) scale;
  int cx = x;

  for (; *text; text++)
    {
      if (*text == '\n')
        {
          cx = x;
          y += KIT_FONT_HEIGHT * s;
          continue;
        }
      kit_fb_char (fb, cx, y, *text, fg, bg, (unsigned) s);
      cx += KIT_FONT_WIDTH * s;
    }
  return cx;
}
