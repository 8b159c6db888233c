/*
 * cidr.h - IPv4/IPv6 network prefixes ("10.0.0.0/8", "2001:db8::/32").
 *
 * Used for the per-customer "hep_sources" lists: a HEP packet is attributed
 * to the customer whose prefix contains its source address. Pure functions,
 * no allocation.
 */
#ifndef SV_CIDR_H
#define SV_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct sv_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network address, 4 or 16 bytes used, host bits zero */
	unsigned prefix;  /* 0..32 or 0..128 */
};

/*
 * Parses "ADDR/PREFIX" or a bare "ADDR" (a host: /32 or /128). The prefix is
 * decimal without sign or leading zeros. Host bits set below the prefix
 * ("10.0.0.1/8") are rejected: such an entry is almost always a typo.
 * Returns 0, or -EINVAL with *out untouched.
 */
int sv_cidr_parse(const char *s, struct sv_cidr *out);

/*
 * True when the address (family AF_INET with 4 bytes or AF_INET6 with 16) is
 * inside c. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 prefixes
 * as the IPv4 address it carries.
 */
bool sv_cidr_contains(const struct sv_cidr *c, int family, const void *addr);

/* Same for a struct sockaddr_in / sockaddr_in6; false for other families or NULL. */
bool sv_cidr_contains_sa(const struct sv_cidr *c, const struct sockaddr *sa);

/* Writes "ADDR/PREFIX" into out (NUL-terminated, truncated to len). */
void sv_cidr_format(const struct sv_cidr *c, char *out, size_t len);

#endif
