/* tls_ctx.c - the DNS-over-TLS server context. Without tls_certificate and tls_key a
 * self-signed EC P-256 certificate (CN = the host name, 10 years) is made on first start in
 * tls_dir and reused afterwards: clients that do not check certificates (Android's automatic
 * Private DNS) accept it, and others can pin its key. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "tls_ctx.h"

/* The last OpenSSL error as text, or what when there is none. */
static const char *tc_ssl_err(const char *what)
{
	static _Thread_local char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e)
		return what;
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* Make the self-signed pair at cert/key (the key 0600, written first). 0 or -1 with err. */
static int tc_make_self(const char *dir, const char *cert, const char *key, char *err, size_t errlen)
{
	char host[256] = "jurisdns";
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	FILE *f = NULL;
	int fd, rc = -1;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (!host[0])
		snprintf(host, sizeof(host), "jurisdns");
	if (!(pk = EVP_EC_gen("P-256")) || !(x = X509_new())) {
		snprintf(err, errlen, "%s: making a key: %s", key, tc_ssl_err("out of memory"));
		goto out;
	}
	X509_set_version(x, 2);
	uint64_t serial = 0;
	if (RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
		serial = (uint64_t)time(NULL);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_pubkey(x, pk);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)host, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, pk, EVP_sha256())) {
		snprintf(err, errlen, "%s: signing: %s", cert, tc_ssl_err("failed"));
		goto out;
	}
	unlink(key);
	if ((fd = open(key, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 || !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "%s: %s", key, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (!PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0) {
		f = NULL;
		snprintf(err, errlen, "%s: cannot write the key", key);
		goto out;
	}
	if (!(f = fopen(cert, "w")) || !PEM_write_X509(f, x) || fclose(f) != 0) {
		f = NULL;
		snprintf(err, errlen, "%s: cannot write the certificate", cert);
		goto out;
	}
	f = NULL;
	rc = 0;
out:
	if (f)
		fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

/* base64(SHA-256(SubjectPublicKeyInfo)) of ctx's certificate into pin. */
static void tc_pin(SSL_CTX *ctx, char *pin, size_t pinlen)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	unsigned char *der = NULL, md[32];
	unsigned char b64[48];
	int n;

	if (pinlen)
		pin[0] = '\0';
	if (!x || (n = i2d_PUBKEY(X509_get0_pubkey(x), &der)) <= 0)
		return;
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	EVP_EncodeBlock(b64, md, sizeof(md));
	snprintf(pin, pinlen, "%s", b64);
}

/* Session tickets (RFC 5077, RFC 8446 4.6.1): one key set for the process, so that a ticket
 * stays good across workers and certificate reloads. A new key every TLS_TICKET_ROTATE_S; the
 * previous one still decrypts (and the ticket is renewed) for one more period. The workers'
 * handshakes call this from their threads: the keys are under a mutex. */
#define TLS_TICKET_ROTATE_S (12 * 3600)

struct tc_ticket_key {
	unsigned char name[16], aes[32], hmac[32];
	time_t made;
	bool set;
};

static pthread_mutex_t tc_ticket_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tc_ticket_key tc_keys[2]; /* [0] current, [1] previous */
static time_t (*tc_clock)(void); /* NULL: time(); under the lock too */

void tls_ctx_set_clock(time_t (*now)(void))
{
	pthread_mutex_lock(&tc_ticket_lock);
	tc_clock = now;
	pthread_mutex_unlock(&tc_ticket_lock);
}

/* Under the lock: a fresh current key when there is none or it is due. */
static int tc_ticket_rotate(time_t now)
{
	if (tc_keys[0].set && now - tc_keys[0].made < TLS_TICKET_ROTATE_S)
		return 0;
	struct tc_ticket_key k = { .made = now, .set = true };
	if (RAND_bytes(k.name, sizeof(k.name)) != 1 || RAND_bytes(k.aes, sizeof(k.aes)) != 1 ||
	    RAND_bytes(k.hmac, sizeof(k.hmac)) != 1)
		return -1;
	/* idle for two periods or more (keys turn only at handshakes): the old key is past its
	 * time as the previous one too */
	if (tc_keys[0].set && now - tc_keys[0].made >= 2 * TLS_TICKET_ROTATE_S)
		OPENSSL_cleanse(&tc_keys[0], sizeof(tc_keys[0]));
	tc_keys[1] = tc_keys[0];
	tc_keys[0] = k;
	return 0;
}

static int tc_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
			EVP_MAC_CTX *hctx, int enc)
{
	struct tc_ticket_key k;
	int rc = 1;

	(void)ssl;
	pthread_mutex_lock(&tc_ticket_lock);
	if (tc_ticket_rotate(tc_clock ? tc_clock() : time(NULL)) < 0) {
		pthread_mutex_unlock(&tc_ticket_lock);
		return -1;
	}
	if (enc) {
		k = tc_keys[0];
	} else if (tc_keys[0].set && !memcmp(name, tc_keys[0].name, 16)) {
		k = tc_keys[0];
	} else if (tc_keys[1].set && !memcmp(name, tc_keys[1].name, 16)) {
		k = tc_keys[1];
		rc = 2; /* good, but renew it with the current key */
	} else {
		pthread_mutex_unlock(&tc_ticket_lock);
		return 0; /* unknown or expired: a full handshake */
	}
	pthread_mutex_unlock(&tc_ticket_lock);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string("key", k.hmac, sizeof(k.hmac)),
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			rc = -1;
	} else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
		rc = -1;
	}
	if (rc > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* The ex_data index that marks a DoH connection (tls_ctx_alpn_h2); made before any worker runs. */
static int tc_h2_index = -1;

void tls_ctx_alpn_h2(struct ssl_st *ssl)
{
	SSL_set_ex_data(ssl, tc_h2_index, (void *)1);
}

/* ALPN (RFC 7858 does not require it; RFC 9461 names it "dot"): take "dot" when offered. A DoH
 * connection takes only "h2" (RFC 8484 5.2: HTTP/2 at least), and a client that offers
 * protocols but not h2 gets no_application_protocol (RFC 7301 3.2). */
static int tc_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		   unsigned inlen, void *arg)
{
	static const unsigned char dot[] = { 3, 'd', 'o', 't' };
	static const unsigned char h2[] = { 2, 'h', '2' };
	bool doh = tc_h2_index >= 0 && SSL_get_ex_data(ssl, tc_h2_index);
	unsigned char *sel;

	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, doh ? h2 : dot, doh ? sizeof(h2) : sizeof(dot), in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return doh ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

struct ssl_ctx_st *tls_ctx_make(const struct conf *c, bool make_self, char *pin, size_t pinlen,
				char *err, size_t errlen)
{
	char cert[600], key[600];
	SSL_CTX *ctx;

	if (c->tls_certificate[0] != '\0' || c->tls_key[0] != '\0') {
		if (!c->tls_certificate[0] || !c->tls_key[0]) {
			snprintf(err, errlen, "tls_certificate and tls_key go together: set both or neither");
			return NULL;
		}
		snprintf(cert, sizeof(cert), "%s", c->tls_certificate);
		snprintf(key, sizeof(key), "%s", c->tls_key);
	} else {
		snprintf(cert, sizeof(cert), "%s/cert.pem", c->tls_dir);
		snprintf(key, sizeof(key), "%s/key.pem", c->tls_dir);
		if (access(cert, F_OK) < 0 || access(key, F_OK) < 0) {
			if (!make_self) {
				if (errlen)
					err[0] = '\0'; /* nothing to check yet: made on the first start */
				return NULL;
			}
			if (tc_make_self(c->tls_dir, cert, key, err, errlen) < 0)
				return NULL;
		}
	}
	ERR_clear_error();
	if (tc_h2_index < 0)
		tc_h2_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (!(ctx = SSL_CTX_new(TLS_server_method()))) {
		snprintf(err, errlen, "TLS: %s", tc_ssl_err("out of memory"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* stateless tickets only: no session cache shared between the workers */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections keep no buffers */
	SSL_CTX_set_alpn_select_cb(ctx, tc_alpn, NULL);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tc_ticket_cb);
	/* a ticket lives one rotation period (OpenSSL's default is 2 h): sealed with the current
	 * key, it is decrypted by it or, after the next rotation, by the previous one */
	SSL_CTX_set_timeout(ctx, TLS_TICKET_ROTATE_S);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "%s: not a usable PEM certificate chain: %s", cert,
			 tc_ssl_err(strerror(errno)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(err, errlen, "%s: the key does not match the certificate %s", key, cert);
		else
			snprintf(err, errlen, "%s: not a usable PEM private key: %s", key,
				 tc_ssl_err(strerror(errno)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: the key does not match the certificate %s", key, cert);
		goto fail;
	}
	tc_pin(ctx, pin, pinlen);
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}
