/* reply.h - reading hiredis replies: the one place that looks a field up in an HGETALL reply,
 * for the commands and for the HTML report. */
#ifndef JD_CTL_REPLY_H
#define JD_CTL_REPLY_H

#include <hiredis/hiredis.h>

/* The value of field in h, an HGETALL reply (field, value, ...), or NULL when h is NULL or has
 * no such field. Owned by h. */
const char *reply_hget(const redisReply *h, const char *field);

#endif
