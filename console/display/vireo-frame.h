/* vireo-frame.h — the guest's screen as VireoDisplay draws it (vireo-frame.c): a copy of the SPICE
 * primary surface in 256×256 tiles, each an immutable GdkMemoryTexture that is rebuilt only when the guest
 * changed pixels in it, and the letterbox layout that places the guest in the widget and maps pointer
 * positions back.  Neither a widget nor a SPICE connection: tested on its own. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define VIREO_FRAME_TILE_SIZE 256
/* Larger surfaces are refused: no real mode comes near, and it bounds the copies. */
#define VIREO_FRAME_MAX_SIZE 16384

/* Where the guest's screen lies in a widget.  Edges are whole widget pixels, so tiles meet without
 * seams whatever the scale. */
typedef struct
{
  int guest_width;
  int guest_height;
  int x; /* the guest's top-left corner in the widget */
  int y;
  int width; /* the guest's screen in the widget: its size × the scale, rounded */
  int height;
} VireoFrameLayout;

/* Scaled to fit @widget_width × @widget_height keeping the aspect ratio and centred (@fit), or @zoom
 * widget pixels per guest pixel, centred when smaller than the widget and from the top-left otherwise. */
void vireo_frame_layout_init (VireoFrameLayout *layout, int guest_width, int guest_height, int widget_width,
                              int widget_height, gboolean fit, double zoom);
/* The guest pixel under widget point (@x, @y), clamped to the screen; FALSE when the point is outside
 * the guest's screen (letterbox) or there is no screen (then the position is 0, 0). */
gboolean vireo_frame_layout_to_guest (const VireoFrameLayout *layout, double x, double y, int *guest_x,
                                      int *guest_y);
/* The widget rectangle that shows guest rectangle (@x, @y, @width, @height). */
void vireo_frame_layout_to_widget (const VireoFrameLayout *layout, int x, int y, int width, int height,
                                   graphene_rect_t *rect);

typedef struct _VireoFrame VireoFrame;

VireoFrame *vireo_frame_new (void);
void vireo_frame_free (VireoFrame *frame);

/* Whether SPICE surface format @format (enum SpiceSurfaceFmt) can be shown: 32_xRGB, 32_ARGB, 16_565,
 * 16_555.  A screen has no transparency: alpha is not shown. */
gboolean vireo_frame_format_supported (int format);

/* A new surface of @width × @height: every tile is rebuilt by the next update, and shows black until
 * then.  FALSE for a size outside 1..VIREO_FRAME_MAX_SIZE (the frame is then empty). */
gboolean vireo_frame_set_size (VireoFrame *frame, int width, int height);
/* No surface at all: 0×0, no tiles. */
void vireo_frame_clear (VireoFrame *frame);
int vireo_frame_get_width (VireoFrame *frame);
int vireo_frame_get_height (VireoFrame *frame);

/* The guest changed this rectangle (clipped to the frame; nonsense is ignored). */
void vireo_frame_damage (VireoFrame *frame, int x, int y, int width, int height);
gboolean vireo_frame_is_damaged (VireoFrame *frame);
/* Rebuilds the damaged tiles from @pixels, the whole surface in @format with @stride bytes per row.
 * FALSE, changing nothing, when the format is unsupported or @stride cannot hold a row. */
gboolean vireo_frame_update (VireoFrame *frame, int format, const guint8 *pixels, gsize stride);

guint vireo_frame_get_n_tiles (VireoFrame *frame);
/* Tile @index (row by row) and the guest rectangle it covers; NULL texture before it was built. */
GdkTexture *vireo_frame_get_tile (VireoFrame *frame, guint index, cairo_rectangle_int_t *area);

/* Appends the built tiles where @layout puts them (the caller draws the background under them). */
void vireo_frame_snapshot (VireoFrame *frame, GtkSnapshot *snapshot, const VireoFrameLayout *layout);
/* The whole screen as the tiles show it, at the guest's size; NULL when there is none. */
GdkTexture *vireo_frame_to_texture (VireoFrame *frame);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoFrame, vireo_frame_free)

G_END_DECLS
