/* dsetunsub.c: unsubscribe tokens and header fields (see dsetunsub.h).
   HMAC-SHA256 and base64 come from OpenSSL; only the URL alphabet and the
   padding are handled here. */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "dsetunsub.h"

static int b64url(struct buf *out, const unsigned char *p, size_t n)
{
  size_t need = (n + 2) / 3 * 4, i;
  int k;
  if (n > 1u << 20 || buf_ready(out, need + 1) == -1) return errno = n > 1u << 20 ? EINVAL : ENOMEM, -1;
  k = EVP_EncodeBlock((unsigned char *)out->s + out->len, p, (int)n);
  if (k < 0) return errno = EINVAL, -1;
  for (i = 0; i < (size_t)k; i++) {
    char *c = out->s + out->len + i;
    if (*c == '+') *c = '-';
    else if (*c == '/') *c = '_';
  }
  while (k > 0 && out->s[out->len + (size_t)k - 1] == '=') k--;
  out->len += (size_t)k;
  out->s[out->len] = 0;
  return 0;
}

/* Decode base64url p[0..n) onto out: 0, or -1 EINVAL / ENOMEM. */
static int unb64url(struct buf *out, const char *p, size_t n)
{
  struct buf in = BUF_ZERO;
  size_t i, pad = 0;
  int k, r = -1;
  if (n % 4 == 1) return errno = EINVAL, -1;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      errno = EINVAL;
      goto out;
    }
    if (buf_addc(&in, c) == -1) goto out;
  }
  while (in.len % 4) {
    if (buf_addc(&in, '=') == -1) goto out;
    pad++;
  }
  if (buf_ready(out, in.len / 4 * 3 + 1) == -1) goto out;
  k = in.len ? EVP_DecodeBlock((unsigned char *)out->s + out->len, (unsigned char *)in.s, (int)in.len) : 0;
  if (k < 0 || (size_t)k < pad) { errno = EINVAL; goto out; }
  out->len += (size_t)k - pad;
  out->s[out->len] = 0;
  r = 0;
out:
  buf_free(&in);
  return r;
}

static int mac(const struct verp_key *key, const char *p, size_t n, unsigned char *md)
{
  struct buf in = BUF_ZERO;
  unsigned char full[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  int ok;
  if (!key || !key->n) return errno = EINVAL, -1;
  if (buf_add(&in, "cmc-unsub1", 11) == -1 || buf_add(&in, p, n) == -1) {
    buf_free(&in);
    return errno = ENOMEM, -1;
  }
  ok = HMAC(EVP_sha256(), key->k, (int)key->n, (const unsigned char *)in.s, in.len, full, &len) != 0
       && len >= DSETUNSUB_MAC_LEN;
  buf_free(&in);
  if (!ok) return errno = EIO, -1;
  memcpy(md, full, DSETUNSUB_MAC_LEN);
  OPENSSL_cleanse(full, sizeof full);
  return 0;
}

int dsetunsub_token(struct buf *out, const struct verp_key *key, const char *tenant,
                    const char *comp, const char *filter, const char *rcpt)
{
  struct buf p = BUF_ZERO;
  unsigned char md[DSETUNSUB_MAC_LEN];
  const char *f[4];
  size_t i;
  int r = -1;
  f[0] = tenant; f[1] = comp; f[2] = filter; f[3] = rcpt;
  for (i = 0; i < 4; i++) {
    if (!f[i] || strchr(f[i], '\n')) { errno = EINVAL; goto out; }
    if ((i && buf_addc(&p, '\n') == -1) || buf_adds(&p, f[i]) == -1) goto out;
  }
  if (mac(key, p.s, p.len, md) == -1) goto out;
  if (b64url(out, (unsigned char *)p.s, p.len) == -1 || buf_addc(out, '.') == -1
      || b64url(out, md, sizeof md) == -1)
    goto out;
  r = 0;
out:
  buf_free(&p);
  return r;
}

void dsetunsub_free(struct dsetunsub *u)
{
  buf_free(&u->tenant);
  buf_free(&u->comp);
  buf_free(&u->filter);
  buf_free(&u->rcpt);
}

int dsetunsub_check(const struct verp_key *key, const char *token, size_t n, struct dsetunsub *u)
{
  struct buf p = BUF_ZERO, m = BUF_ZERO;
  unsigned char md[DSETUNSUB_MAC_LEN];
  const char *dot, *s, *e;
  struct buf *f[4];
  size_t i;
  int r = 0;
  f[0] = &u->tenant; f[1] = &u->comp; f[2] = &u->filter; f[3] = &u->rcpt;
  for (i = 0; i < 4; i++) buf_trunc(f[i], 0);
  if (n == 0 || n > DSETUNSUB_TOKEN_MAX || !(dot = memchr(token, '.', n))) return 0;
  if (unb64url(&p, token, (size_t)(dot - token)) == -1
      || unb64url(&m, dot + 1, n - (size_t)(dot - token) - 1) == -1) {
    r = errno == ENOMEM ? -1 : 0;
    goto out;
  }
  if (m.len != DSETUNSUB_MAC_LEN || memchr(p.s, 0, p.len)) goto out;
  if (mac(key, p.s, p.len, md) == -1) { r = errno == ENOMEM ? -1 : 0; goto out; }
  if (CRYPTO_memcmp(md, m.s, DSETUNSUB_MAC_LEN) != 0) goto out;
  /* genuine: split the fields */
  s = p.s;
  e = p.s + p.len;
  for (i = 0; i < 4; i++) {
    const char *nl = i < 3 ? memchr(s, '\n', (size_t)(e - s)) : e;
    if (!nl) goto out;
    if (buf_set(f[i], s, (size_t)(nl - s)) == -1) { r = -1; goto out; }
    s = nl + 1;
  }
  r = 1;
out:
  if (r != 1)
    for (i = 0; i < 4; i++) buf_trunc(f[i], 0);
  buf_free(&p);
  buf_free(&m);
  return r;
}

int dsetunsub_headers(struct buf *out, const char *url, const char *mailto, const char *token)
{
  size_t start = out->len, l1, l2;
  if (buf_adds(out, "List-Unsubscribe: <") == -1 || buf_adds(out, url) == -1
      || buf_adds(out, strchr(url, '?') ? "&t=" : "?t=") == -1 || buf_adds(out, token) == -1
      || buf_adds(out, ">,\r\n") == -1)
    return -1;
  l1 = out->len - start - 2;
  if (buf_adds(out, " <mailto:") == -1 || buf_adds(out, mailto) == -1
      || buf_adds(out, "?subject=") == -1 || buf_adds(out, token) == -1 || buf_adds(out, ">\r\n") == -1)
    return -1;
  l2 = out->len - start - l1 - 4;
  if (l1 > DSETUNSUB_LINE_MAX || l2 > DSETUNSUB_LINE_MAX) {
    buf_trunc(out, start);
    return errno = EINVAL, -1;
  }
  return buf_adds(out, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
}
