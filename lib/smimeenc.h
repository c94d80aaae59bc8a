#ifndef SMIMEENC_H
#define SMIMEENC_H
/* smimeenc.h: make a MIME entity 7-bit before it is S/MIME-signed.  A
   relay that meets 8-bit data and a receiver without 8BITMIME converts
   it, and a converted entity no longer matches its signature (RFC 8551
   3.1.2 wants 7-bit inside multipart/signed).  So each leaf part whose
   body is not 7-bit under an identity encoding (none, 7bit, 8bit,
   binary) is re-encoded: text parts as quoted-printable (still readable,
   CRLF line breaks kept), other parts as base64.  Multipart bodies are
   walked (to SMIMEENC_DEPTH_MAX levels); message parts (message/rfc822...), which may not
   be encoded, and parts already in quoted-printable or base64 are left
   as they are.  Input and output have CRLF line ends. */
#include <stddef.h>
#include "buf.h"

#define SMIMEENC_DEPTH_MAX 32
#define SMIMEENC_LINE_MAX 998       /* bytes of a 7-bit line, CRLF not counted */

/* 1 if p[0..n) is 7-bit: no byte over 127, no NUL, CR and LF only as
   CRLF, lines at most SMIMEENC_LINE_MAX bytes.  0 if not. */
int smimeenc_is7bit(const char *p, size_t n);
/* The entity e[0..n) (header fields, empty line, body) made 7-bit as said
   above, appended to out; *changed counts the parts re-encoded.  0 or -1
   ENOMEM. */
int smimeenc_entity(const char *e, size_t n, struct buf *out, unsigned *changed);
/* Quoted-printable (RFC 2045 6.7) of p[0..n), lines of at most 76 bytes,
   each CRLF of p kept as a line break; appended to out.  0 or -1. */
int smimeenc_qp(const char *p, size_t n, struct buf *out);
/* Base64 of p[0..n) in CRLF-ended lines of 76 characters.  0 or -1. */
int smimeenc_b64(const char *p, size_t n, struct buf *out);
#endif
