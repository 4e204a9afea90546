/* hmac.h - HMAC-SHA256 (RFC 2104) under a key set once, through OpenSSL 3's EVP_MAC: the query
 * log's client identifiers with client_id = hash. Not thread-safe: one per thread. */
#ifndef JD_HMAC_H
#define JD_HMAC_H

#include <stddef.h>
#include <stdint.h>

struct hmac;

/* A MAC keyed with keylen bytes of key (any length; a key over 64 bytes is hashed first, as RFC
 * 2104 says). Returns NULL with the reason in err when OpenSSL cannot provide it. The caller may
 * wipe its copy of the key afterwards. */
struct hmac *hmac_new(const void *key, size_t keylen, char *err, size_t errlen);
/* out = HMAC-SHA256(key, msg). Returns 0, or -1 (out zeroed) if OpenSSL failed. */
int hmac_sha256(struct hmac *h, const void *msg, size_t len, uint8_t out[32]);
/* Free h and the key it holds (NULL is fine). */
void hmac_free(struct hmac *h);

#endif
