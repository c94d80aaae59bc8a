/* fuzz/dq: libFuzzer target for deliver's parsers of data it did not
   write itself in this process: message headers (lib/dqhdr.c: fields,
   From addresses, RFC 2047 with iconv), rows of table "queue" (dq_decode)
   and worker result lines (dq_result_parse).  Traps when a promise breaks:
   header values hold no control byte and are valid UTF-8 within their
   limit; a decoded row encodes to the same bytes; a parsed result line
   has a kind of K, Z or D. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dq.h"
#include "dqhdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static void clean_or_trap(const struct buf *b)
{
  const unsigned char *s = (const unsigned char *)b->s;
  size_t i = 0;
  if (b->len > DQHDR_VALUE_MAX) __builtin_trap();
  while (i < b->len) {
    size_t len, k;
    if (s[i] < 0x20 || s[i] == 0x7f) __builtin_trap();
    if (s[i] < 0x80) { i++; continue; }
    len = s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;
    if (s[i] < 0xc2 || s[i] > 0xf4 || b->len - i < len) __builtin_trap();
    for (k = 1; k < len; k++) if ((s[i + k] & 0xc0) != 0x80) __builtin_trap();
    i += len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  const char *p = (const char *)data;
  struct dqhdr h = DQHDR_ZERO;
  struct dq_msg *m;
  struct dq_result r;
  char *line;
  if (dqhdr_parse(&h, p, n) == 0) {
    clean_or_trap(&h.from);
    clean_or_trap(&h.subject);
    clean_or_trap(&h.message_id);
    clean_or_trap(&h.api_data);
  }
  dqhdr_free(&h);
  if ((m = dq_decode(p, n))) {
    struct buf b = BUF_ZERO;
    if (dq_encode(&b, m) == 0 && (b.len != n || memcmp(b.s, p, n))) {
      /* Numbers may be written differently ("007"); the record must still
         decode to the same message. */
      struct dq_msg *m2 = dq_decode(b.s, b.len);
      struct buf b2 = BUF_ZERO;
      if (!m2 || dq_encode(&b2, m2) == -1 || b2.len != b.len || memcmp(b2.s, b.s, b.len))
        __builtin_trap();
      dq_msg_free(m2);
      buf_free(&b2);
    }
    buf_free(&b);
    dq_msg_free(m);
  }
  if ((line = malloc(n + 1))) {
    memcpy(line, p, n);
    if (dq_result_parse(&r, line, n) == 0 && r.kind != 'K' && r.kind != 'Z' && r.kind != 'D')
      __builtin_trap();
    free(line);
  }
  return 0;
}
