/* vireo-frame.c — the guest's screen in tiles of immutable GdkMemoryTextures (our own copies, so a
 * texture never changes under a renderer that cached it and survives the surface it came from), rebuilt
 * only where the guest drew, and the letterbox layout between widget and guest pixels. */
#include "vireo-frame.h"

#include <math.h>
#include <spice/enums.h>
#include <string.h>

/* --- layout --- */

void
vireo_frame_layout_init (VireoFrameLayout *layout, int guest_width, int guest_height, int widget_width,
                         int widget_height, gboolean fit, double zoom)
{
  double width, height;

  memset (layout, 0, sizeof *layout);
  if (guest_width <= 0 || guest_height <= 0)
    return;
  layout->guest_width = guest_width;
  layout->guest_height = guest_height;
  widget_width = MAX (widget_width, 0);
  widget_height = MAX (widget_height, 0);

  if (fit)
    {
      double scale = MIN ((double) widget_width / guest_width, (double) widget_height / guest_height);
      width = MIN (round (guest_width * scale), widget_width);
      height = MIN (round (guest_height * scale), widget_height);
    }
  else
    {
      if (!(zoom > 0.0) || !isfinite (zoom))
        zoom = 1.0;
      width = round (guest_width * zoom);
      height = round (guest_height * zoom);
    }
  /* Zoomed far beyond any screen: still a size that int arithmetic below can hold. */
  layout->width = (int) MIN (width, (double) G_MAXINT / 4);
  layout->height = (int) MIN (height, (double) G_MAXINT / 4);
  layout->x = layout->width < widget_width ? (widget_width - layout->width) / 2 : 0;
  layout->y = layout->height < widget_height ? (widget_height - layout->height) / 2 : 0;
}

gboolean
vireo_frame_layout_to_guest (const VireoFrameLayout *layout, double x, double y, int *guest_x, int *guest_y)
{
  double gx, gy;

  *guest_x = 0;
  *guest_y = 0;
  if (layout->width <= 0 || layout->height <= 0 || !isfinite (x) || !isfinite (y))
    return FALSE;
  gx = floor ((x - layout->x) * layout->guest_width / layout->width);
  gy = floor ((y - layout->y) * layout->guest_height / layout->height);
  *guest_x = (int) CLAMP (gx, 0, layout->guest_width - 1);
  *guest_y = (int) CLAMP (gy, 0, layout->guest_height - 1);
  return gx >= 0 && gx < layout->guest_width && gy >= 0 && gy < layout->guest_height;
}

/* Where guest column or row @position lands: the same function for a tile's right edge and its right
 * neighbour's left edge, so they meet exactly. */
static int
layout_edge (int origin, int size, int guest_size, int position)
{
  return origin + (int) floor ((double) position * size / guest_size + 0.5);
}

void
vireo_frame_layout_to_widget (const VireoFrameLayout *layout, int x, int y, int width, int height,
                              graphene_rect_t *rect)
{
  int x0, y0, x1, y1;

  if (layout->guest_width <= 0 || layout->guest_height <= 0)
    {
      graphene_rect_init (rect, 0, 0, 0, 0);
      return;
    }
  x0 = layout_edge (layout->x, layout->width, layout->guest_width, x);
  x1 = layout_edge (layout->x, layout->width, layout->guest_width, x + width);
  y0 = layout_edge (layout->y, layout->height, layout->guest_height, y);
  y1 = layout_edge (layout->y, layout->height, layout->guest_height, y + height);
  graphene_rect_init (rect, x0, y0, x1 - x0, y1 - y0);
}

/* --- tiles --- */

typedef struct
{
  GdkTexture *texture;
  GBytes *bytes; /* the texture's pixels, B8G8R8A8 premultiplied with opaque alpha */
  gboolean damaged;
} Tile;

struct _VireoFrame
{
  int width;
  int height;
  guint columns;
  guint rows;
  Tile *tiles; /* columns × rows, row by row */
  guint n_damaged;
};

VireoFrame *
vireo_frame_new (void)
{
  return g_new0 (VireoFrame, 1);
}

void
vireo_frame_clear (VireoFrame *frame)
{
  for (guint i = 0; i < frame->columns * frame->rows; i++)
    {
      g_clear_object (&frame->tiles[i].texture);
      g_clear_pointer (&frame->tiles[i].bytes, g_bytes_unref);
    }
  g_clear_pointer (&frame->tiles, g_free);
  frame->width = frame->height = 0;
  frame->columns = frame->rows = 0;
  frame->n_damaged = 0;
}

void
vireo_frame_free (VireoFrame *frame)
{
  if (frame == NULL)
    return;
  vireo_frame_clear (frame);
  g_free (frame);
}

gboolean
vireo_frame_format_supported (int format)
{
  switch (format)
    {
    case SPICE_SURFACE_FMT_32_xRGB:
    case SPICE_SURFACE_FMT_32_ARGB:
    case SPICE_SURFACE_FMT_16_565:
    case SPICE_SURFACE_FMT_16_555:
      return TRUE;
    default:
      return FALSE;
    }
}

static int
bytes_per_pixel (int format)
{
  return format == SPICE_SURFACE_FMT_16_565 || format == SPICE_SURFACE_FMT_16_555 ? 2 : 4;
}

gboolean
vireo_frame_set_size (VireoFrame *frame, int width, int height)
{
  vireo_frame_clear (frame);
  if (width <= 0 || height <= 0 || width > VIREO_FRAME_MAX_SIZE || height > VIREO_FRAME_MAX_SIZE)
    return FALSE;
  frame->width = width;
  frame->height = height;
  frame->columns = (width + VIREO_FRAME_TILE_SIZE - 1) / VIREO_FRAME_TILE_SIZE;
  frame->rows = (height + VIREO_FRAME_TILE_SIZE - 1) / VIREO_FRAME_TILE_SIZE;
  frame->tiles = g_new0 (Tile, frame->columns * frame->rows);
  for (guint i = 0; i < frame->columns * frame->rows; i++)
    frame->tiles[i].damaged = TRUE;
  frame->n_damaged = frame->columns * frame->rows;
  return TRUE;
}

int
vireo_frame_get_width (VireoFrame *frame)
{
  return frame->width;
}

int
vireo_frame_get_height (VireoFrame *frame)
{
  return frame->height;
}

void
vireo_frame_damage (VireoFrame *frame, int x, int y, int width, int height)
{
  gint64 x0 = MAX (x, 0), y0 = MAX (y, 0);
  gint64 x1 = MIN ((gint64) x + width, frame->width), y1 = MIN ((gint64) y + height, frame->height);

  if (width <= 0 || height <= 0 || x1 <= x0 || y1 <= y0)
    return;
  for (gint64 row = y0 / VIREO_FRAME_TILE_SIZE; row <= (y1 - 1) / VIREO_FRAME_TILE_SIZE; row++)
    for (gint64 column = x0 / VIREO_FRAME_TILE_SIZE; column <= (x1 - 1) / VIREO_FRAME_TILE_SIZE; column++)
      {
        Tile *tile = &frame->tiles[row * frame->columns + column];
        if (!tile->damaged)
          {
            tile->damaged = TRUE;
            frame->n_damaged++;
          }
      }
}

gboolean
vireo_frame_is_damaged (VireoFrame *frame)
{
  return frame->n_damaged > 0;
}

/* A 5- or 6-bit channel widened to 8 bits, so that its maximum is 0xff. */
static guint8
widen (guint value, guint bits)
{
  return (guint8) (value << (8 - bits) | value >> (2 * bits - 8));
}

/* One row of @n pixels in @format to B8G8R8A8 with opaque alpha.  SPICE formats are little-endian, so
 * the 32-bit ones are already B, G, R, X in memory; the 16-bit ones are 5-6-5 or 5-5-5 from the top. */
static void
convert_row (int format, const guint8 *src, guint8 *dst, int n)
{
  guint green_bits = format == SPICE_SURFACE_FMT_16_565 ? 6 : 5;

  if (format != SPICE_SURFACE_FMT_16_565 && format != SPICE_SURFACE_FMT_16_555)
    {
      memcpy (dst, src, (gsize) n * 4);
      for (int i = 0; i < n; i++)
        dst[4 * i + 3] = 0xff;
      return;
    }
  for (int i = 0; i < n; i++)
    {
      guint v = src[2 * i] | (guint) src[2 * i + 1] << 8;
      dst[4 * i + 0] = widen (v & 0x1f, 5);
      dst[4 * i + 1] = widen (v >> 5 & ((1u << green_bits) - 1), green_bits);
      dst[4 * i + 2] = widen (v >> (5 + green_bits) & 0x1f, 5);
      dst[4 * i + 3] = 0xff;
    }
}

static void
tile_area (VireoFrame *frame, guint index, cairo_rectangle_int_t *area)
{
  area->x = (int) (index % frame->columns) * VIREO_FRAME_TILE_SIZE;
  area->y = (int) (index / frame->columns) * VIREO_FRAME_TILE_SIZE;
  area->width = MIN (VIREO_FRAME_TILE_SIZE, frame->width - area->x);
  area->height = MIN (VIREO_FRAME_TILE_SIZE, frame->height - area->y);
}

gboolean
vireo_frame_update (VireoFrame *frame, int format, const guint8 *pixels, gsize stride)
{
  int bpp = bytes_per_pixel (format);

  if (!vireo_frame_format_supported (format) || pixels == NULL || stride < (gsize) frame->width * bpp)
    return FALSE;

  for (guint i = 0; i < frame->columns * frame->rows && frame->n_damaged > 0; i++)
    {
      Tile *tile = &frame->tiles[i];
      cairo_rectangle_int_t area;
      gsize tile_stride;
      guint8 *data;

      if (!tile->damaged)
        continue;
      tile_area (frame, i, &area);
      tile_stride = (gsize) area.width * 4;
      data = g_malloc (tile_stride * area.height);
      for (int row = 0; row < area.height; row++)
        convert_row (format, pixels + (gsize) (area.y + row) * stride + (gsize) area.x * bpp,
                     data + row * tile_stride, area.width);

      g_clear_object (&tile->texture);
      g_clear_pointer (&tile->bytes, g_bytes_unref);
      tile->bytes = g_bytes_new_take (data, tile_stride * area.height);
      tile->texture = gdk_memory_texture_new (area.width, area.height, GDK_MEMORY_B8G8R8A8_PREMULTIPLIED,
                                              tile->bytes, tile_stride);
      tile->damaged = FALSE;
      frame->n_damaged--;
    }
  return TRUE;
}

guint
vireo_frame_get_n_tiles (VireoFrame *frame)
{
  return frame->columns * frame->rows;
}

GdkTexture *
vireo_frame_get_tile (VireoFrame *frame, guint index, cairo_rectangle_int_t *area)
{
  g_return_val_if_fail (index < frame->columns * frame->rows, NULL);
  tile_area (frame, index, area);
  return frame->tiles[index].texture;
}

void
vireo_frame_snapshot (VireoFrame *frame, GtkSnapshot *snapshot, const VireoFrameLayout *layout)
{
  if (layout->guest_width != frame->width || layout->guest_height != frame->height)
    return;
  for (guint i = 0; i < frame->columns * frame->rows; i++)
    {
      cairo_rectangle_int_t area;
      graphene_rect_t rect;

      if (frame->tiles[i].texture == NULL)
        continue;
      tile_area (frame, i, &area);
      vireo_frame_layout_to_widget (layout, area.x, area.y, area.width, area.height, &rect);
      if (rect.size.width > 0 && rect.size.height > 0)
        gtk_snapshot_append_texture (snapshot, frame->tiles[i].texture, &rect);
    }
}

GdkTexture *
vireo_frame_to_texture (VireoFrame *frame)
{
  g_autoptr (GBytes) bytes = NULL;
  gsize stride = (gsize) frame->width * 4;
  guint32 *data;

  if (frame->width == 0 || frame->height == 0)
    return NULL;
  data = g_malloc (stride * frame->height);
  /* Opaque black where no tile was built yet, as the widget shows it. */
  for (gsize i = 0; i < (gsize) frame->width * frame->height; i++)
    data[i] = GUINT32_TO_LE (0xff000000u);
  for (guint i = 0; i < frame->columns * frame->rows; i++)
    {
      cairo_rectangle_int_t area;
      const guint8 *tile;

      if (frame->tiles[i].bytes == NULL)
        continue;
      tile_area (frame, i, &area);
      tile = g_bytes_get_data (frame->tiles[i].bytes, NULL);
      for (int row = 0; row < area.height; row++)
        memcpy ((guint8 *) data + (gsize) (area.y + row) * stride + (gsize) area.x * 4,
                tile + (gsize) row * area.width * 4, (gsize) area.width * 4);
    }
  bytes = g_bytes_new_take (data, stride * frame->height);
  return gdk_memory_texture_new (frame->width, frame->height, GDK_MEMORY_B8G8R8A8_PREMULTIPLIED, bytes,
                                 stride);
}
