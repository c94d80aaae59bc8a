#ifndef ENVELOPE_H
#define ENVELOPE_H
/* envelope.h: the envelope that travels with a message, in one dull format.

   Wire form (what queue-inject reads on fd 1, and the head of every spool
   file): NUL-terminated fields, each a one-letter tag then the value, ended
   by an empty field (so the whole ends in "\0\0"):

     T<tenant>        required, once: tenant name
     C<composition>   required, once: server composition ("default")
     I<client-ip>     optional: IP the message came from (SMTP client, API client)
     U<user>          optional: SMTP AUTH / API user that sent it
     H<helo>          optional: the client's EHLO/HELO name
     S<time>          optional on input, set by queue-inject: accept time, unix seconds
     Q<id>            set by queue-inject in the spool file only: the message id
     O<option>        zero or more: "8bitmime", "smtputf8", "bounce" (mail to a
                      bounce domain, taken by the receiving server: deliver
                      reads it as a bounce, never sends it; doc/bounces.md)
     F<sender>        required, once: envelope sender, may be empty (bounce)
     R<recipient>     one or more, at most ENVELOPE_MAXRCPT

   Addresses are in the internal form of addr.h (already checked by the
   writer, checked again by every reader).  Values never contain NUL, CR or LF. */
#include <stddef.h>
#include "buf.h"

#define ENVELOPE_MAXRCPT 10000
#define ENVELOPE_FIELD_MAX 2048     /* one field, tag included */
#define ENVELOPE_MAX (ENVELOPE_MAXRCPT * ENVELOPE_FIELD_MAX)

/* Absent optional fields are null pointers (accepted: -1). */
struct envelope {
  const char *tenant, *composition, *client_ip, *user, *helo, *id;
  const char *sender;
  long long accepted;              /* S field, -1 if absent */
  int is_8bitmime, is_smtputf8;
  size_t nrcpt;
  int is_bounce;                   /* O bounce */
  const char **rcpt;               /* nrcpt pointers into the parsed buffer */
};

/* Parse p[0..n): fields up to and including the "\0\0" end.  Pointers in e
   point into p; e->rcpt is malloc'd (envelope_free).  Returns the number of
   bytes consumed (the message follows there in a spool file), or -1 with
   errno EINVAL (malformed: missing/duplicate required field, bad tag, no
   end, too many recipients, bad address) or ENOMEM. */
long envelope_parse(struct envelope *e, const char *p, size_t n);
void envelope_free(struct envelope *e);
/* Append the wire form of e to b.  0 or -1 (ENOMEM, EINVAL for a value with
   NUL/CR/LF or a missing required field). */
int envelope_put(struct buf *b, const struct envelope *e);
#endif
