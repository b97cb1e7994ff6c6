/* test-image-info.c — an image's format and backing file from its header (hypervisor/image-info.c), the
 * part of qcow2 the privileged service reads: headers built here, damaged on purpose. */
#include "test-util.h"
#include "image-info.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER_BITS 16

static void
put32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static void
put64 (uint8_t *p, uint64_t v)
{
  put32 (p, v >> 32);
  put32 (p + 4, (uint32_t) v);
}

/* A version 3 header (104 bytes) naming @backing at @name_offset, with a backing-format extension
 * @format when not NULL. */
static GByteArray *
header (const char *backing, uint64_t name_offset, const char *format)
{
  GByteArray *image = g_byte_array_new ();
  uint8_t *h;

  g_byte_array_set_size (image, 1 << CLUSTER_BITS);
  h = image->data;
  memset (h, 0, image->len);
  put32 (h, 0x514649fb);
  put32 (h + 4, 3);
  put32 (h + 20, CLUSTER_BITS);
  put32 (h + 100, 104);
  if (format)
    {
      put32 (h + 104, 0xe2792aca);
      put32 (h + 108, (uint32_t) strlen (format));
      memcpy (h + 112, format, strlen (format));
    }
  if (backing)
    {
      put64 (h + 8, name_offset);
      put32 (h + 16, (uint32_t) strlen (backing));
      memcpy (h + name_offset, backing, strlen (backing));
    }
  return image;
}

static int
as_file (GByteArray *image)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("vireo-image-XXXXXX", &path, NULL);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, image->data, image->len), ==, (ssize_t) image->len);
  g_unlink (path);
  g_byte_array_unref (image);
  return fd;
}

static void
assert_reads (GByteArray *image, gboolean qcow2, const char *backing, const char *format)
{
  HvImageInfo info;
  g_autoptr (GError) error = NULL;
  int fd = as_file (image);

  g_assert_true (hv_image_info_read (fd, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.qcow2, ==, qcow2);
  g_assert_cmpstr (info.backing, ==, backing);
  g_assert_cmpstr (info.backing_format, ==, format);
  hv_image_info_clear (&info);
  close (fd);
}

static void
assert_refused (GByteArray *image, const char *needle)
{
  HvImageInfo info;
  g_autoptr (GError) error = NULL;
  int fd = as_file (image);

  g_assert_false (hv_image_info_read (fd, &info, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_test_message ("refused: %s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_null (info.backing);
  close (fd);
}

static void
test_good (void)
{
  GByteArray *raw = g_byte_array_new ();

  g_byte_array_append (raw, (const guint8 *) "not a qcow2 image", 17);
  assert_reads (raw, FALSE, NULL, NULL);
  assert_reads (g_byte_array_new (), FALSE, NULL, NULL); /* empty: raw */
  assert_reads (header (NULL, 0, NULL), TRUE, NULL, NULL);
  assert_reads (header ("base.raw", 512, NULL), TRUE, "base.raw", NULL);
  assert_reads (header ("../b/base.qcow2", 512, "qcow2"), TRUE, "../b/base.qcow2", "qcow2");
}

static void
test_damaged (void)
{
  GByteArray *image;
  char long_name[HV_IMAGE_BACKING_NAME_MAX + 2];

  image = header (NULL, 0, NULL);
  g_byte_array_set_size (image, 50);
  assert_refused (image, "ends inside the header");

  image = header (NULL, 0, NULL);
  put32 (image->data + 4, 4);
  assert_refused (image, "version 4");

  image = header (NULL, 0, NULL);
  put32 (image->data + 20, 40);
  assert_refused (image, "cluster size");

  image = header (NULL, 0, NULL);
  put32 (image->data + 100, 7);
  assert_refused (image, "header length");

  image = header ("base", 512, NULL);
  put64 (image->data + 8, G_MAXUINT64 - 2);
  assert_refused (image, "outside the first cluster");

  image = header ("base", 60, NULL); /* inside the header */
  assert_refused (image, "outside the first cluster");

  memset (long_name, 'x', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  assert_refused (header (long_name, 512, NULL), "too long");

  image = header ("base", 512, NULL);
  image->data[514] = '\0';
  assert_refused (image, "not text");

  assert_refused (header ("base", 512, "vmdk"), "“vmdk” format");

  image = header ("base", 512, "raw");
  put32 (image->data + 108, 100000);
  assert_refused (image, "extension runs past");
}

static void
test_backing_path (void)
{
  g_autofree char *relative = hv_image_backing_path ("/images/vm/overlay.qcow2", "base.raw");
  g_autofree char *absolute = hv_image_backing_path ("/images/vm/overlay.qcow2", "/srv/base.raw");
  g_autofree char *up = hv_image_backing_path ("overlay.qcow2", "../base.raw");

  g_assert_cmpstr (relative, ==, "/images/vm/base.raw");
  g_assert_cmpstr (absolute, ==, "/srv/base.raw");
  g_assert_cmpstr (up, ==, "./../base.raw");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image-info/good", test_good);
  g_test_add_func ("/image-info/damaged", test_damaged);
  g_test_add_func ("/image-info/backing-path", test_backing_path);
  return g_test_run ();
}
