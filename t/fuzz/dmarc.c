/* fuzz/dmarc: libFuzzer target for lib/dmarc.c.  The input is the text of
   a TXT record at _dmarc.DOMAIN.  Traps when a promise of dmarc.h breaks:
   a valid record has a policy, alignment r or s, pct 0..100, at most
   DMARC_URI_MAX URIs each starting "mailto:" and holding an '@'; an
   invalid one says why; a record we make parses back to itself. */
#include <stdint.h>
#include <string.h>
#include "buf.h"
#include "dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  struct dmarc_rec r, r2;
  struct buf why = BUF_ZERO, rec = BUF_ZERO;
  size_t i;
  int rc = dmarc_parse((const char *)data, n, &r, &why);
  if (rc == DMARC_OK) {
    if (r.p < DMARC_NONE || r.p > DMARC_REJECT || r.sp < -1 || r.sp > DMARC_REJECT
        || (r.adkim != 'r' && r.adkim != 's') || (r.aspf != 'r' && r.aspf != 's')
        || r.pct < 0 || r.pct > 100 || r.nrua > DMARC_URI_MAX || r.nruf > DMARC_URI_MAX)
      __builtin_trap();
    for (i = 0; i < r.nrua; i++)
      if (strncasecmp(r.rua[i], "mailto:", 7) || !strchr(r.rua[i], '@')) __builtin_trap();
    /* What we would publish for its first rua parses back. */
    if (r.nrua && !strchr(r.rua[0], '!') && dmarc_record(r.p, r.rua[0] + 7, &rec) == 0) {
      if (dmarc_parse(rec.s, rec.len, &r2, &why) != DMARC_OK || r2.p != r.p
          || !dmarc_has_rua(&r2, r.rua[0] + 7))
        __builtin_trap();
    }
  } else if (rc == DMARC_INVALID) {
    if (!why.len) __builtin_trap();
  } else if (rc != DMARC_NOT_DMARC) {
    __builtin_trap();
  }
  buf_free(&why);
  buf_free(&rec);
  return 0;
}
