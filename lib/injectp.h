#ifndef INJECTP_H
#define INJECTP_H
/* injectp.h: the protocol of queue-inject's server form (queue-inject -d,
   on the UNIX socket $CMC_HOME/run/inject.sock).  One message per
   exchange, several exchanges per connection if the client likes:

     client: E<len>\n<len bytes: the envelope, wire form of envelope.h>
             D<len>\n<len bytes of the message>     zero or more times
             .\n                                    the message is complete
     server: ID\n                  committed: durable in spool/new/ID
             100 <text>\n          refused for good (as exit 100)
             111 <text>\n          not queued, try again (as exit 111)

   <len> is decimal, 1 to 10 digits, no sign, no leading zero (a lone 0
   is allowed for D).  The envelope comes first, so the server writes the
   message into tmp/ as it arrives.  After an error reply the server
   closes the connection; a client that goes away before ".\n" leaves
   nothing behind.  Pure functions: no I/O. */
#include <stddef.h>

#define INJECTP_HEAD_MAX 12                 /* "D" + 10 digits + "\n" */
#define INJECTP_DATA_MAX (1024 * 1024)      /* one D frame's payload */
#define INJECTP_REPLY_MAX 256               /* one reply line, "\n" included */

/* Put the head of a frame of type 'E' or 'D' with len payload bytes, or
   of '.', into out (INJECTP_HEAD_MAX bytes).  Its length. */
size_t injectp_head(char *out, char type, size_t len);
/* Parse a frame head at p[0..n).  Returns its length (> 0) with *type
   ('E', 'D' or '.') and *len set; 0 if more bytes are needed; -1 (errno
   EPROTO) if p cannot start a frame.  The caller checks len against its
   limits. */
long injectp_parse(const char *p, size_t n, char *type, unsigned long long *len);
#endif
