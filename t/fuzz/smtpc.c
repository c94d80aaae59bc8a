/* fuzz/smtpc: libFuzzer target for the parsers of lib/smtpc.c that see
   what remote servers send: reply lines and EHLO keyword lists; and for
   dot-stuffing, which sees every message.  The first byte picks the
   chunk size for stuffing.  Traps when a promise of smtpc.h breaks: a
   parsed code has three digits 1xx-5xx; stuffed output ends in CRLF.CRLF,
   has no bare CR or LF, no line that starts with a single dot, and gives
   back the input (bare CR and LF as CRLF) when unstuffed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "smtpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  const char *p = (const char *)data;
  struct buf out = BUF_ZERO, want = BUF_ZERO, back = BUF_ZERO;
  struct smtpc_dot d = SMTPC_DOT_INIT;
  unsigned long long size;
  size_t chunk, off = 0, i;
  int code, last;
  if (n == 0) return 0;
  if (smtpc_reply_line(p, n, &code, &last) == 0 && (code < 100 || code > 599))
    __builtin_trap();
  smtpc_ehlo_parse(p, n, &size);
  chunk = (size_t)data[0] % 17 + 1;
  p++;
  n--;
  while (off < n) {
    size_t c = n - off < chunk ? n - off : chunk;
    if (smtpc_dotstuff(&out, &d, p + off, c) == -1) goto done;
    off += c;
  }
  if (smtpc_dotstuff_end(&out, &d) == -1) goto done;
  if (out.len < 3 || memcmp(out.s + out.len - 3, ".\r\n", 3)) __builtin_trap();
  if (out.len > 3 && memcmp(out.s + out.len - 5, "\r\n", 2)) __builtin_trap();
  for (i = 0; i < out.len; i++) {
    if (out.s[i] == '\r' && (i + 1 == out.len || out.s[i + 1] != '\n')) __builtin_trap();
    if (out.s[i] == '\n' && (i == 0 || out.s[i - 1] != '\r')) __builtin_trap();
  }
  /* Unstuff (drop the end, undouble line-start dots) and compare with the
     input, its line ends normalised. */
  for (i = 0; i < n; i++) {
    if (p[i] == '\r') {
      buf_add(&want, "\r\n", 2);
      if (i + 1 < n && p[i + 1] == '\n') i++;
    } else if (p[i] == '\n') {
      buf_add(&want, "\r\n", 2);
    } else {
      buf_addc(&want, p[i]);
    }
  }
  if (want.len && (want.len < 2 || memcmp(want.s + want.len - 2, "\r\n", 2))) buf_add(&want, "\r\n", 2);
  for (i = 0; i < out.len - 3; i++) {
    int bol = i == 0 || out.s[i - 1] == '\n';
    if (bol && out.s[i] == '.') {
      if (out.s[i + 1] != '.') __builtin_trap();    /* a lone dot inside the data */
      i++;
    }
    buf_addc(&back, out.s[i]);
  }
  if (back.len != want.len || (back.len && memcmp(back.s, want.s, back.len))) __builtin_trap();
done:
  buf_free(&out);
  buf_free(&want);
  buf_free(&back);
  return 0;
}
