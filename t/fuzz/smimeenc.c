/* fuzz/smimeenc: libFuzzer target for lib/smimeenc.c, which walks the MIME
   structure of the messages it is given before S/MIME signs them.  The
   input is a MIME entity (header fields, empty line, body), CRLF lines.
   Traps when a promise of smimeenc.h breaks: a 7-bit entity comes out
   unchanged, nothing is re-encoded without being counted, and the
   quoted-printable and base64 encoders make 7-bit text. */
#include <stdint.h>
#include <string.h>
#include "buf.h"
#include "smimeenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  struct buf out = BUF_ZERO, enc = BUF_ZERO;
  const char *p = (const char *)data;
  unsigned changed = 0;
  if (smimeenc_entity(p, n, &out, &changed) == 0) {
    if (smimeenc_is7bit(p, n) && (out.len != n || (n && memcmp(out.s, p, n)) || changed))
      __builtin_trap();
    if (!changed && (out.len != n || (n && memcmp(out.s, p, n)))) __builtin_trap();
  }
  if (smimeenc_qp(p, n, &enc) == 0 && !smimeenc_is7bit(enc.s ? enc.s : "", enc.len))
    __builtin_trap();
  buf_trunc(&enc, 0);
  if (smimeenc_b64(p, n, &enc) == 0 && !smimeenc_is7bit(enc.s ? enc.s : "", enc.len))
    __builtin_trap();
  buf_free(&out);
  buf_free(&enc);
  return 0;
}
