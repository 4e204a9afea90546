/* reply.c - hiredis reply lookups shared by jurisdns-ctl's commands and its report. */
#include "config.h"
#include <string.h>
#include "reply.h"

const char *reply_hget(const redisReply *h, const char *field)
{
	size_t n = strlen(field);

	for (size_t i = 0; h && i + 1 < h->elements; i += 2)
		if (h->element[i]->len == n && !memcmp(h->element[i]->str, field, n))
			return h->element[i + 1]->str;
	return NULL;
}
