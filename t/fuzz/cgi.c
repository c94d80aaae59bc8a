/* fuzz/cgi: libFuzzer target for lib/cgi.c and the token check of
   lib/dsetunsub.c, the parsers a CGI request reaches.  The input is a
   query string or form body.  Traps when a promise breaks: every decoded
   name and value is a C string of its own (no NUL inside), there are at
   most CGI_PARAMS_MAX pairs, HTML escaping leaves none of & < > " ' raw
   apart from the references it writes, and no input passes as a genuine
   token under a key nobody used to make it. */
#include <stdint.h>
#include <string.h>
#include "cgi.h"
#include "dsetunsub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  struct cgi c = CGI_ZERO;
  struct buf h = BUF_ZERO;
  struct dsetunsub u;
  struct verp_key key;
  size_t i, j;
  const char *p = (const char *)data;
  if (cgi_parse(&c, p, n) == 0 && c.n > CGI_PARAMS_MAX) __builtin_trap();
  for (i = 0; i < c.n; i++) {
    const char *v = c.p[i].value;
    if (!c.p[i].name || !v) __builtin_trap();
    buf_trunc(&h, 0);
    if (cgi_html(&h, v) == 0 && h.s)
      for (j = 0; j < h.len; j++) {
        if (h.s[j] == '<' || h.s[j] == '>' || h.s[j] == '"' || h.s[j] == '\'') __builtin_trap();
        if (h.s[j] == '&' && strncmp(h.s + j, "&amp;", 5) && strncmp(h.s + j, "&lt;", 4)
            && strncmp(h.s + j, "&gt;", 4) && strncmp(h.s + j, "&quot;", 6) && strncmp(h.s + j, "&#39;", 5))
          __builtin_trap();
      }
  }
  memset(&u, 0, sizeof u);
  memset(&key, 0x5a, sizeof key);
  key.n = 32;
  if (dsetunsub_check(&key, p, n, &u) == 1) __builtin_trap();   /* nobody made a token with this key */
  dsetunsub_free(&u);
  cgi_free(&c);
  buf_free(&h);
  return 0;
}
