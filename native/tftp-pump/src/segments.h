// Shared by the addon's targets (pump.c, sendfile.c; each its own .node):
// N-API argument helpers and the segment list a BootFile is made of.
#ifndef RACKBOOT_SEGMENTS_H
#define RACKBOOT_SEGMENTS_H
#include <node_api.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int fd;           /* >= 0: read at offset */
  int64_t offset;
  int64_t length;
  uint8_t *data;    /* fd < 0 and data: bytes owned here; fd < 0 and !data: zeros */
} segment_t;

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int get_num(napi_env env, napi_value obj, const char *key, double *out) {
  napi_value v;
  napi_valuetype ty;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  if (napi_typeof(env, v, &ty) != napi_ok || ty != napi_number) return -1;
  return napi_get_value_double(env, v, out) == napi_ok ? 0 : -1;
}

static int has(napi_env env, napi_value obj, const char *key) {
  bool b = false;
  napi_has_named_property(env, obj, key, &b);
  return b;
}

static void free_segments(segment_t *segs, int n) {
  for (int i = 0; i < n; i++) free(segs[i].data);
  free(segs);
}

/* arr ([{fd, offset, length} | {data: Buffer} | {zero: n}]) copied into *out
   (*n entries, bytes copied); -1 on a bad entry, with what was made in *out and *n
   for free_segments. */
static int read_segment_array(napi_env env, napi_value arr, segment_t **out, int *n) {
  uint32_t len;
  bool is_arr = false;
  *out = NULL;
  *n = 0;
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, arr, &len) != napi_ok) return -1;
  segment_t *segs = calloc(len ? len : 1, sizeof *segs);
  if (!segs) return -1;
  *out = segs;
  for (uint32_t i = 0; i < len; i++) {
    napi_value s;
    napi_valuetype ty;
    segment_t *g = &segs[i];
    g->fd = -1;
    *n = (int)i + 1;
    if (napi_get_element(env, arr, i, &s) != napi_ok || napi_typeof(env, s, &ty) != napi_ok || ty != napi_object) return -1;
    double d, off, l;
    if (has(env, s, "fd")) {
      if (get_num(env, s, "fd", &d) < 0 || get_num(env, s, "offset", &off) < 0 || get_num(env, s, "length", &l) < 0) return -1;
      if (d < 0 || off < 0 || l < 0) return -1;
      g->fd = (int)d;
      g->offset = (int64_t)off;
      g->length = (int64_t)l;
    } else if (has(env, s, "data")) {
      napi_value b;
      void *p;
      size_t blen;
      bool isbuf = false;
      if (napi_get_named_property(env, s, "data", &b) != napi_ok || napi_is_buffer(env, b, &isbuf) != napi_ok || !isbuf) return -1;
      if (napi_get_buffer_info(env, b, &p, &blen) != napi_ok) return -1;
      g->data = malloc(blen ? blen : 1);
      if (!g->data) return -1;
      memcpy(g->data, p, blen);
      g->length = (int64_t)blen;
    } else if (has(env, s, "zero")) {
      if (get_num(env, s, "zero", &d) < 0 || d < 0) return -1;
      g->length = (int64_t)d;
    } else {
      return -1;
    }
  }
  return 0;
}
#endif
