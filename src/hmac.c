/* hmac.c - HMAC-SHA256 through OpenSSL 3's EVP_MAC (see hmac.h). */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include "hmac.h"

struct hmac {
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;            /* keyed once; EVP_MAC_init with no key restarts with it */
};

static void hmac_openssl_err(const char *what, char *err, size_t errlen)
{
	char e[256] = "no detail";
	unsigned long code = ERR_get_error();

	if (code)
		ERR_error_string_n(code, e, sizeof(e));
	ERR_clear_error();
	snprintf(err, errlen, "HMAC-SHA256: %s: %s", what, e);
}

struct hmac *hmac_new(const void *key, size_t keylen, char *err, size_t errlen)
{
	static const uint8_t none[1];
	struct hmac *h = calloc(1, sizeof(*h));
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!(h->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL))) {
		hmac_openssl_err("EVP_MAC_fetch", err, errlen);
		goto fail;
	}
	if (!(h->ctx = EVP_MAC_CTX_new(h->mac))) {
		hmac_openssl_err("EVP_MAC_CTX_new", err, errlen);
		goto fail;
	}
	/* an empty key is a valid HMAC key, but OpenSSL wants a pointer for it */
	if (!EVP_MAC_init(h->ctx, keylen ? key : none, keylen, params)) {
		hmac_openssl_err("EVP_MAC_init", err, errlen);
		goto fail;
	}
	return h;
fail:
	hmac_free(h);
	return NULL;
}

int hmac_sha256(struct hmac *h, const void *msg, size_t len, uint8_t out[32])
{
	size_t outlen = 0;

	if (EVP_MAC_init(h->ctx, NULL, 0, NULL) && EVP_MAC_update(h->ctx, msg, len) &&
	    EVP_MAC_final(h->ctx, out, &outlen, 32) && outlen == 32)
		return 0;
	ERR_clear_error();
	memset(out, 0, 32);
	return -1;
}

void hmac_free(struct hmac *h)
{
	if (!h)
		return;
	EVP_MAC_CTX_free(h->ctx); /* OpenSSL cleanses the key */
	EVP_MAC_free(h->mac);
	free(h);
}
