/* special_test.c - unit tests for src/special.h: the DDR SVCB writer byte for byte (and as ldns
 * reads it), the NODATA answer of resolver.arpa, the Firefox canary and Private Relay NXDOMAIN,
 * through special_answer with a configuration loaded from a file. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "cache.h"
#include "conf.h"
#include "special.h"
#include "suffix.h"
#include "wire.h"
#include "wstate.h"

static const uint8_t TARGET[] = "\3dns\4home\7example"; /* 18 bytes with the root */
static const uint8_t DDR_QNAME[] = "\4_dns\10resolver\4arpa";

static struct ddr_endpoint dot_ep(void)
{
	struct ddr_endpoint e = { .alpn = DDR_DOT, .port = 853, .nv4 = 1, .v4 = { { 192, 168, 1, 1 } } };
	return e;
}

static struct ddr_endpoint doh_ep(void)
{
	struct ddr_endpoint e = { .alpn = DDR_DOH, .port = 443, .nv4 = 2,
				  .v4 = { { 192, 168, 1, 1 }, { 10, 0, 0, 1 } }, .nv6 = 1,
				  .v6 = { { 0xfd, 0, [15] = 1 } } };
	strcpy(e.path, "/dns-query");
	return e;
}

static void test_svcb_rdata_dot_bytes(void **state)
{
	(void)state;
	struct ddr_endpoint e = dot_ep();
	uint8_t out[512];
	static const uint8_t want[] = {
		0, 1,                                               /* SvcPriority 1 */
		3, 'd', 'n', 's', 4, 'h', 'o', 'm', 'e', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
		0, 1, 0, 4, 3, 'd', 'o', 't',                       /* alpn="dot" */
		0, 3, 0, 2, 0x03, 0x55,                             /* port=853 */
		0, 4, 0, 4, 192, 168, 1, 1,                         /* ipv4hint */
	};
	size_t n = special_svcb_rdata(1, TARGET, sizeof(TARGET), &e, out, sizeof(out));

	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	/* one byte short: nothing */
	assert_int_equal(special_svcb_rdata(1, TARGET, sizeof(TARGET), &e, out, sizeof(want) - 1), 0);
	/* "." is never a DDR TargetName (RFC 9462 section 4) */
	assert_int_equal(special_svcb_rdata(1, (const uint8_t *)"", 1, &e, out, sizeof(out)), 0);
}

static void test_svcb_rdata_doh_bytes(void **state)
{
	(void)state;
	struct ddr_endpoint e = doh_ep();
	uint8_t out[512];
	static const uint8_t want[] = {
		0, 2,
		3, 'd', 'n', 's', 4, 'h', 'o', 'm', 'e', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
		0, 1, 0, 3, 2, 'h', '2',                            /* alpn="h2" */
		0, 3, 0, 2, 0x01, 0xbb,                             /* port=443 */
		0, 4, 0, 8, 192, 168, 1, 1, 10, 0, 0, 1,            /* ipv4hint, two */
		0, 6, 0, 16, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* ipv6hint */
		0, 7, 0, 16, '/', 'd', 'n', 's', '-', 'q', 'u', 'e', 'r', 'y',
		'{', '?', 'd', 'n', 's', '}',                       /* dohpath */
	};
	size_t n = special_svcb_rdata(2, TARGET, sizeof(TARGET), &e, out, sizeof(out));

	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	/* no path configured: the RFC 8484 default */
	e.path[0] = 0;
	assert_int_equal(special_svcb_rdata(2, TARGET, sizeof(TARGET), &e, out, sizeof(out)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

/* ldns's text of every record of section sec ("ANSWER" or "AUTHORITY"), one per line */
static void rrs_text(const uint8_t *pkt, size_t len, ldns_pkt_section sec, char *buf, size_t cap,
		     ldns_pkt_rcode *rcode)
{
	ldns_pkt *p = NULL;

	assert_int_equal(ldns_wire2pkt(&p, pkt, len), LDNS_STATUS_OK);
	*rcode = ldns_pkt_get_rcode(p);
	ldns_rr_list *l = ldns_pkt_get_section_clone(p, sec);
	buf[0] = 0;
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		char *s = ldns_rr2str(ldns_rr_list_rr(l, i));
		assert_non_null(s);
		assert_true(strlen(buf) + strlen(s) < cap);
		strcat(buf, s);
		free(s);
	}
	ldns_rr_list_deep_free(l);
	ldns_pkt_free(p);
}

static void test_ddr_message_parses(void **state)
{
	(void)state;
	struct ddr_endpoint eps[2] = { dot_ep(), doh_ep() };
	uint8_t out[SPECIAL_MAX];
	char text[2048];
	ldns_pkt_rcode rc;
	size_t n = special_ddr_message(DDR_QNAME, sizeof(DDR_QNAME), TYPE_SVCB, F_RD, TARGET,
				       sizeof(TARGET), eps, 2, 300, out, sizeof(out));

	assert_true(n > 0);
	assert_int_equal(out[0] | out[1], 0);             /* ID 0: the pipeline sets the client's */
	assert_int_equal(out[2] & 0x81, 0x81);            /* QR, RD kept */
	assert_int_equal(out[6] << 8 | out[7], 2);        /* ANCOUNT */
	rrs_text(out, n, LDNS_SECTION_ANSWER, text, sizeof(text), &rc);
	assert_int_equal(rc, LDNS_RCODE_NOERROR);
	assert_string_equal(text,
		"_dns.resolver.arpa.\t300\tIN\tSVCB\t1 dns.home.example. alpn=dot port=853 "
		"ipv4hint=192.168.1.1\n"
		"_dns.resolver.arpa.\t300\tIN\tSVCB\t2 dns.home.example. alpn=h2 port=443 "
		"ipv4hint=192.168.1.1,10.0.0.1 ipv6hint=fd00::1 dohpath=/dns-query{?dns}\n");
	/* too small a buffer: 0, never a cut record */
	assert_int_equal(special_ddr_message(DDR_QNAME, sizeof(DDR_QNAME), TYPE_SVCB, 0, TARGET,
					     sizeof(TARGET), eps, 2, 300, out, n - 1), 0);
}

static void assert_nodata_soa(const uint8_t *out, size_t n, const char *zone, uint32_t ttl,
			      ldns_pkt_rcode want_rc)
{
	char text[1024], want[512];
	ldns_pkt_rcode rc;

	assert_int_equal(out[6] << 8 | out[7], 0); /* no answer */
	assert_int_equal(out[8] << 8 | out[9], 1); /* the SOA */
	rrs_text(out, n, LDNS_SECTION_AUTHORITY, text, sizeof(text), &rc);
	assert_int_equal(rc, want_rc);
	snprintf(want, sizeof(want), "%s\t%u\tIN\tSOA\tlocalhost. nobody.invalid. 1 3600 1200 604800 %u\n",
		 zone, ttl, ttl);
	assert_string_equal(text, want);
}

static void test_ddr_message_nodata(void **state)
{
	(void)state;
	struct ddr_endpoint eps[1] = { dot_ep() };
	uint8_t out[SPECIAL_MAX];
	size_t n;

	/* no endpoints (today: no DoT/DoH listener) */
	n = special_ddr_message(DDR_QNAME, sizeof(DDR_QNAME), TYPE_SVCB, 0, TARGET, sizeof(TARGET),
				NULL, 0, 300, out, sizeof(out));
	assert_true(n > 0);
	assert_nodata_soa(out, n, "resolver.arpa.", 300, LDNS_RCODE_NOERROR);
	/* endpoints but no ddr_name: no TargetName is allowed, so NODATA too */
	n = special_ddr_message(DDR_QNAME, sizeof(DDR_QNAME), TYPE_SVCB, 0, NULL, 0, eps, 1, 60, out,
				sizeof(out));
	assert_true(n > 0);
	assert_nodata_soa(out, n, "resolver.arpa.", 60, LDNS_RCODE_NOERROR);
}

/* --- special_answer with a loaded configuration --- */

struct env {
	struct conf *c;
	struct worker *w;
	char path[64];
};

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[512];
	static const char text[] =
		"[server]\nddr_name = DNS.Home.Example.\n[upstream]\nserver = 127.0.0.1\n"
		"[cache]\nnegative_ttl = 120\n[policy]\nblock_private_relay = yes\n";

	assert_non_null(e);
	strcpy(e->path, "/tmp/special_test.XXXXXX");
	int fd = mkstemp(e->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	e->c = conf_load(e->path, NULL, "/dev/null", err, sizeof(err));
	if (!e->c)
		fail_msg("%s", err);
	assert_int_equal(e->c->ddr_name_len, sizeof(TARGET));
	assert_memory_equal(e->c->ddr_name, TARGET, sizeof(TARGET));
	assert_true(e->c->block_private_relay);
	e->w = calloc(1, sizeof(*e->w));
	assert_non_null(e->w);
	assert_int_equal(uv_loop_init(&e->w->loop), 0);
	e->w->conf = e->c;
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	uv_loop_close(&e->w->loop);
	free(e->w);
	conf_unref(e->c);
	unlink(e->path);
	free(e);
	return 0;
}

/* Ask special_answer for name/type and write the answer for the client (ID 0x1234). Returns
 * the result; the answer is in out, its length in *len. */
static enum special_result ask(struct env *e, const char *name, uint16_t type, uint8_t *out,
			       size_t *len)
{
	uint8_t q[512], key[DNS_MAX_NAME + 5];
	size_t o = 12;
	struct dns_query dq;
	struct cache_entry *ce = NULL;
	int n;

	memset(q, 0, 12);
	q[0] = 0x12, q[1] = 0x34, q[2] = 0x01, q[5] = 1;
	n = domain_to_wire(name, q + o);
	assert_true(n > 0);
	o += (size_t)n;
	q[o++] = (uint8_t)(type >> 8), q[o++] = (uint8_t)type, q[o++] = 0, q[o++] = 1;
	assert_int_equal(wire_parse_query(q, o, &dq), RCODE_NOERROR);
	size_t keylen = wire_query_key(&dq, key);
	enum special_result r = special_answer(e->w, &dq, key, keylen, 1, &ce);
	*len = 0;
	if (r == SPECIAL_ANSWER) {
		assert_non_null(ce);
		*len = cache_write_answer(ce, &dq, uv_now(&e->w->loop), 65535, 1232, out);
		cache_entry_free(ce);
		assert_int_equal(out[0] << 8 | out[1], 0x1234);
	} else {
		assert_null(ce);
	}
	return r;
}

static void test_answer_resolver_arpa(void **state)
{
	struct env *e = *state;
	uint8_t out[SPECIAL_MAX];
	size_t n;

	/* no DoT/DoH listener yet: NODATA, even with ddr_name set */
	assert_int_equal(ask(e, "_dns.resolver.arpa", TYPE_SVCB, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "resolver.arpa.", 120, LDNS_RCODE_NOERROR);
	assert_int_equal(ask(e, "_DNS.Resolver.ARPA", TYPE_A, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "resolver.arpa.", 120, LDNS_RCODE_NOERROR);
	assert_int_equal(ask(e, "x.y.resolver.arpa", TYPE_AAAA, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "resolver.arpa.", 120, LDNS_RCODE_NOERROR);
	assert_int_equal(ask(e, "resolver.arpa", TYPE_NS, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "resolver.arpa.", 120, LDNS_RCODE_NOERROR);
	/* the apex's SOA when asked for */
	assert_int_equal(ask(e, "resolver.arpa", TYPE_SOA, out, &n), SPECIAL_ANSWER);
	assert_int_equal(out[6] << 8 | out[7], 1);
	assert_int_equal(out[8] << 8 | out[9], 0);

	/* with endpoints (as the DoT/DoH listeners will add them): the SVCB records */
	e->c->ddr[0] = dot_ep();
	e->c->nddr = 1;
	char text[1024];
	ldns_pkt_rcode rc;
	assert_int_equal(ask(e, "_dns.resolver.arpa", TYPE_SVCB, out, &n), SPECIAL_ANSWER);
	rrs_text(out, n, LDNS_SECTION_ANSWER, text, sizeof(text), &rc);
	e->c->nddr = 0;
	assert_int_equal(rc, LDNS_RCODE_NOERROR);
	assert_string_equal(text, "_dns.resolver.arpa.\t300\tIN\tSVCB\t1 dns.home.example. alpn=dot "
			    "port=853 ipv4hint=192.168.1.1\n");
	/* not under resolver.arpa: not special */
	assert_int_equal(ask(e, "xresolver.arpa", TYPE_A, out, &n), SPECIAL_NONE);
}

static void test_answer_canary_and_relay(void **state)
{
	struct env *e = *state;
	uint8_t out[SPECIAL_MAX];
	size_t n;

	assert_int_equal(ask(e, "use-application-dns.net", TYPE_A, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "use-application-dns.net.", 120, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ask(e, "Use-Application-DNS.net", TYPE_AAAA, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "use-application-dns.net.", 120, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ask(e, "a.use-application-dns.net", TYPE_HTTPS, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "use-application-dns.net.", 120, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ask(e, "xuse-application-dns.net", TYPE_A, out, &n), SPECIAL_NONE);

	assert_int_equal(ask(e, "mask.icloud.com", TYPE_A, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "mask.icloud.com.", 120, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ask(e, "mask-h2.icloud.com", TYPE_HTTPS, out, &n), SPECIAL_ANSWER);
	assert_nodata_soa(out, n, "mask-h2.icloud.com.", 120, LDNS_RCODE_NXDOMAIN);
	/* exact names only */
	assert_int_equal(ask(e, "www.icloud.com", TYPE_A, out, &n), SPECIAL_NONE);
	assert_int_equal(ask(e, "x.mask.icloud.com", TYPE_A, out, &n), SPECIAL_NONE);
	/* the default: Private Relay left alone */
	e->c->block_private_relay = false;
	assert_int_equal(ask(e, "mask.icloud.com", TYPE_A, out, &n), SPECIAL_NONE);
	e->c->block_private_relay = true;
}

static struct conf *load_text(const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/special_conf.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct conf *c = conf_load(path, NULL, "/dev/null", err, errlen);
	unlink(path);
	return c;
}

static void test_conf_keys(void **state)
{
	(void)state;
	char err[512];
	static const char *const bad[] = {
		"[upstream]\nserver = 127.0.0.1\n[server]\nddr_name = .\n",
		"[upstream]\nserver = 127.0.0.1\n[server]\nddr_name = a..b\n",
		"[upstream]\nserver = 127.0.0.1\n[policy]\nblock_private_relay = maybe\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_null(load_text(bad[i], err, sizeof(err)));
		assert_non_null(strstr(err, i < 2 ? "ddr_name" : "block_private_relay"));
	}
	struct conf *c = load_text("[upstream]\nserver = 127.0.0.1\n", err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	assert_false(c->block_private_relay); /* default no */
	assert_int_equal(c->ddr_name_len, 0);
	assert_int_equal(c->nddr, 0);
	conf_unref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_svcb_rdata_dot_bytes),
		cmocka_unit_test(test_svcb_rdata_doh_bytes),
		cmocka_unit_test(test_ddr_message_parses),
		cmocka_unit_test(test_ddr_message_nodata),
		cmocka_unit_test_setup_teardown(test_answer_resolver_arpa, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_answer_canary_and_relay, env_setup, env_teardown),
		cmocka_unit_test(test_conf_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
