/* bounce_text.c: the text scanning of the bounce parser (see bounce_text.h).
   Every loop is bounded by the length it is given; nothing allocates but
   through struct buf. */
#include <string.h>
#include "bounce_text.h"

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_alnum(int c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int is_local(int c)
{
  return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~.", c)) || c >= 0x80;
}
static int is_domain(int c) { return is_alnum(c) || c == '.' || c == '-' || c == '_'; }

/* First characters of orig_marks and orig_fields, either case. */
static const unsigned char mark_first[256] = {
  ['-'] = 1, ['|'] = 1, ['a'] = 1, ['c'] = 1, ['d'] = 1, ['m'] = 1, ['o'] = 1, ['r'] = 1,
  ['t'] = 1, ['x'] = 1, ['A'] = 1, ['C'] = 1, ['D'] = 1, ['M'] = 1, ['O'] = 1, ['R'] = 1,
  ['T'] = 1, ['X'] = 1
};

/* Header fields that start the returned message when pasted without a mark. */
static const char *const orig_fields[] = {
  "received: ", "return-path: ", "dkim-signature: ", "delivered-to: ",
  "x-received: ", "arc-seal: ", "authentication-results: ", "received-spf: ",
  "x-google-dkim-signature: ", "x-envelope-from: ", "x-original-to: ", 0
};

/* Lines at which the returned message starts in a free-form bounce. */
static const char *const orig_marks[] = {
  "--- below this line is a copy of the message",
  "------ this is a copy of the message",
  "----- original message -----",
  "--- original message follows",
  "original message follows",
  "------ original message ------",
  "----- the following is the original message",
  "--- the header of the original message is following",
  "message headers follow",
  "original mail as follows",
  "----- returned message -----",
  "------- returned message --------",
  "----- unsent message below -----",
  "------ original message headers",
  "--- original message header",
  "----- original message header",
  "|------------------------- message text follows:",
  "-----original message-----",
  "---------- forwarded message ----------",
  "----- message header follows -----",
  "the original message was:",
  "original-message",
  "content-type: message/rfc822",
  0
};

/* Case-insensitive search of needle (lowercase) in h[0..n); offset or -1. */
long bounce_text_find(const char *h, size_t n, const char *needle)
{
  size_t nn = strlen(needle), i;
  int c0, u0;
  if (!nn || nn > n) return nn ? -1 : 0;
  c0 = needle[0];
  u0 = c0 >= 'a' && c0 <= 'z' ? c0 - 32 : c0;
  for (i = 0; i + nn <= n; i++) {
    size_t k;
    /* jump to the next place the first character is, either case */
    const char *a = memchr(h + i, c0, n - nn + 1 - i);
    const char *b = u0 != c0 ? memchr(h + i, u0, (size_t)((a ? a : h + n - nn + 1) - (h + i))) : 0;
    if (b) a = b;
    if (!a) return -1;
    i = (size_t)(a - h);
    for (k = 1; k < nn; k++)
      if (lc((unsigned char)h[i + k]) != needle[k]) break;
    if (k == nn) return (long)i;
  }
  return -1;
}

/* Copy s[0..n) into dst as one line: white space collapsed, trimmed, cut
   at a UTF-8 character boundary when it does not fit. */
void bounce_text_line(char *dst, size_t dn, const char *s, size_t n)
{
  size_t i = 0, o = 0;
  int sp = 0;
  if (!dn) return;
  while (i < n && o + 1 < dn) {
    unsigned char c = (unsigned char)s[i];
    size_t j;
    if (c <= 32 || c == 127) { sp = 1; i++; continue; }
    if (sp && o) {
      if (o + 2 >= dn) break;
      dst[o++] = ' ';
    }
    sp = 0;
    /* a run of ordinary characters at once */
    for (j = i; j < n && (unsigned char)s[j] > 32 && s[j] != 127; j++) ;
    if (j - i > dn - 1 - o) { memcpy(dst + o, s + i, dn - 1 - o); i += dn - 1 - o; o = dn - 1; break; }
    memcpy(dst + o, s + i, j - i);
    o += j - i;
    i = j;
  }
  if (i < n)                        /* cut: do not leave half a character */
    while (o && ((unsigned char)dst[o - 1] & 0xc0) == 0x80) o--;
  if (i < n && o && (unsigned char)dst[o - 1] >= 0xc0) o--;
  dst[o] = 0;
}

/* Append s to the line dst (a space between), as put_line does. */
void bounce_text_append(char *dst, size_t dn, const char *s, size_t n)
{
  size_t o = strlen(dst);
  if (o + 2 >= dn) return;
  if (o) dst[o++] = ' ';
  bounce_text_line(dst + o, dn - o, s, n);
  if (!dst[o] && o) dst[o - 1] = 0;
}

/* Find an address in s[from..n): its bounds in *as, *ae.  1 found. */
int bounce_text_addr(const char *s, size_t n, size_t from, size_t *as, size_t *ae)
{
  size_t i;
  for (i = from; i < n; i++) {
    size_t a, e;
    const char *at = memchr(s + i, '@', n - i);
    if (!at) return 0;
    i = (size_t)(at - s);
    a = i;
    if (a > from && s[a - 1] == '"') {          /* "quoted local"@domain */
      size_t q = a - 1;
      while (q > from && s[q - 1] != '"' && s[q - 1] != '\n') q--;
      if (q > from && s[q - 1] == '"') a = q - 1;
    } else
      while (a > from && is_local((unsigned char)s[a - 1])) a--;
    while (a < i && s[a] == '.') a++;
    e = i + 1;
    while (e < n && is_domain((unsigned char)s[e])) e++;
    while (e > i + 1 && !is_alnum((unsigned char)s[e - 1])) e--;
    if (a == i || e <= i + 1) continue;
    *as = a;
    *ae = e;
    return 1;
  }
  return 0;
}

/* Does s[0..n) start with lowercase word w, ignoring case? */
static int prefix(const char *s, size_t n, const char *w)
{
  size_t i;
  for (i = 0; w[i]; i++)
    if (i >= n || lc((unsigned char)s[i]) != w[i]) return 0;
  return 1;
}

/* Length of text t[0..n) before the returned message. */
size_t bounce_text_cut(const char *t, size_t n)
{
  const char *p = t, *end = t + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t ln = nl ? (size_t)(nl - p) : (size_t)(end - p), i;
    const char *q = p;
    size_t qn = ln;
    while (qn && (*q == ' ' || *q == '\t')) q++, qn--;
    if (qn >= 8 && mark_first[(unsigned char)q[0]]) {
      int c0 = lc((unsigned char)q[0]);
      for (i = 0; orig_marks[i]; i++)
        if (orig_marks[i][0] == c0 && prefix(q, qn, orig_marks[i])) return (size_t)(p - t);
      if (q == p)
        for (i = 0; orig_fields[i]; i++)
          if (orig_fields[i][0] == c0 && prefix(p, ln, orig_fields[i])) return (size_t)(p - t);
    }
    if (!nl) break;
    p = nl + 1;
  }
  return n;
}

void bounce_text_html(struct buf *out, const char *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    /* text up to the next tag or entity at once */
    size_t j = i;
    while (j < n && p[j] != '<' && p[j] != '&') j++;
    buf_add(out, p + i, j - i);
    i = j;
    if (i >= n) break;
    if (p[i] == '<') {
      const char *gt;
      size_t k = i + 1;
      if (k < n && p[k] == '/') k++;
      if (k + 1 < n && ((lc(p[k]) == 'b' && lc(p[k + 1]) == 'r')
                        || (lc(p[k]) == 'p' && !is_alnum((unsigned char)p[k + 1]))
                        || (lc(p[k]) == 'd' && lc(p[k + 1]) == 'i')
                        || (lc(p[k]) == 't' && lc(p[k + 1]) == 'r')))
        buf_addc(out, '\n');
      gt = memchr(p + i, '>', n - i);
      i = gt ? (size_t)(gt - p) + 1 : n;
      continue;
    }
    {
      static const char *const ent[][2] = {
        { "&nbsp;", " " }, { "&lt;", "<" }, { "&gt;", ">" }, { "&amp;", "&" },
        { "&quot;", "\"" }, { "&#39;", "'" }, { 0, 0 }
      };
      int e;
      for (e = 0; ent[e][0]; e++) {
        size_t el = strlen(ent[e][0]);
        if (i + el <= n && bounce_text_find(p + i, el, ent[e][0]) == 0) {
          buf_adds(out, ent[e][1]);
          i += el;
          break;
        }
      }
      if (!ent[e][0]) buf_addc(out, p[i++]);
    }
  }
}

/* Does the line l[0..n) start with an address (after list marks)?  Gives
   the address bounds and where the rest of the line starts. */
int bounce_text_rcpt(const char *l, size_t n, size_t *as, size_t *ae, size_t *rest)
{
  size_t i = 0, e;
  while (i < n && (is_ws((unsigned char)l[i]) || l[i] == '>' || l[i] == '*' || l[i] == '-'
                   || l[i] == '#'))
    i++;
  if (i < n && (l[i] == '<' || l[i] == '"' || l[i] == '\'' || l[i] == '[')) i++;
  if (i >= n || !is_local((unsigned char)l[i])) return 0;
  if (!bounce_text_addr(l, n, i, as, ae)) return 0;
  if (*as != i && !(*as + 1 == i && l[*as] == '"')) return 0;
  e = *ae;
  while (e < n && (l[e] == '>' || l[e] == '"' || l[e] == '\'' || l[e] == ']' || l[e] == ':'))
    e++;
  /* "a@b <a@b>" (Sendmail style) */
  *rest = e;
  return 1;
}

/* 1 if the text has fewer than 3 letters outside addresses. */
int bounce_text_weak(const char *s)
{
  size_t i = 0, n = strlen(s), as, ae, letters = 0;
  while (i < n && letters < 3) {
    size_t stop = n;
    if (bounce_text_addr(s, n, i, &as, &ae)) stop = as; else ae = n;
    for (; i < stop; i++)
      if (((unsigned char)s[i] >= 'A' && is_alnum((unsigned char)s[i])) || (unsigned char)s[i] >= 0xc0)
        letters++;                    /* a UTF-8 character counts once */
    i = ae;
  }
  return letters < 3;
}

/* Lines of t that carry an SMTP reply ("550 5.1.1 ...", "<<< 550 ...",
   "(reason: 550 ...)", "... said: 550 ..."), those naming addr first,
   joined into dst.  1 if any. */
int bounce_text_replies(const char *t, size_t n, const char *addr, char *dst, size_t dn)
{
  const char *p, *end = t + n;
  char low[256];                    /* an address longer than this is not one */
  size_t i;
  int pass, got = 0, lines = 0;
  for (i = 0; addr[i] && i + 1 < sizeof low; i++) low[i] = (char)lc((unsigned char)addr[i]);
  low[i] = 0;
  dst[0] = 0;
  for (pass = 0; pass < 2 && !got; pass++)
    for (p = t; p && p < end && lines < 8;) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t ln = nl ? (size_t)(nl - p) : (size_t)(end - p), k = 0;
      long said;
      while (k < ln && is_ws((unsigned char)p[k])) k++;
      if (k + 3 < ln && !memcmp(p + k, "<<<", 3)) k += 3;
      else if (k + 4 < ln && !memcmp(p + k, "Out:", 4)) k += 4;   /* Postfix smtpd transcript */
      else if (k + 8 < ln && bounce_text_find(p + k, 8, "(reason:") == 0) k += 8;
      while (k < ln && is_ws((unsigned char)p[k])) k++;
      said = bounce_text_find(p, ln, "said: ");
      if (said >= 0 && k < (size_t)said + 6) k = (size_t)said + 6;
      if (k + 4 <= ln && (p[k] == '4' || p[k] == '5') && p[k + 1] >= '0' && p[k + 1] <= '9'
          && p[k + 2] >= '0' && p[k + 2] <= '9' && (p[k + 3] == ' ' || p[k + 3] == '-')
          && (pass || !low[0] || bounce_text_find(p, ln, low) >= 0)) {
        bounce_text_append(dst, dn, p + k, ln - k);
        got = 1;
        lines++;
      }
      p = nl ? nl + 1 : 0;
    }
  return got;
}
