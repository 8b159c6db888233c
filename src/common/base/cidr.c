#include "base/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int sv_cidr_parse(const char *s, struct sv_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct sv_cidr c;
	const char *slash;
	size_t hlen;
	unsigned prefix = 0, maxp, nbytes;

	if (s == NULL)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	slash = strchr(s, '/');
	hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c.addr) == 1) {
		c.family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, host, c.addr) == 1) {
		c.family = AF_INET6;
		maxp = 128;
	} else {
		return -EINVAL;
	}
	if (slash == NULL) {
		prefix = maxp;
	} else {
		const char *p = slash + 1;
		if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
			return -EINVAL;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			prefix = prefix * 10 + (unsigned)(*p - '0');
			if (prefix > maxp)
				return -EINVAL;
		}
	}
	c.prefix = prefix;
	/* Every bit below the prefix must be zero. */
	nbytes = maxp / 8;
	for (unsigned i = 0; i < nbytes; i++) {
		unsigned first = i * 8;
		uint8_t mask;
		if (first + 8 <= prefix)
			mask = 0xff;
		else if (first >= prefix)
			mask = 0;
		else
			mask = (uint8_t)(0xff << (8 - (prefix - first)));
		if ((c.addr[i] & (uint8_t)~mask) != 0)
			return -EINVAL;
	}
	*out = c;
	return 0;
}

static bool prefix_match(const uint8_t *net, const uint8_t *a, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(net, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (net[full] & mask) == (a[full] & mask);
}

bool sv_cidr_contains(const struct sv_cidr *c, int family, const void *addr)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *a = addr;

	if (c == NULL || a == NULL)
		return false;
	if (family == AF_INET6 && c->family == AF_INET && memcmp(a, v4mapped, 12) == 0) {
		family = AF_INET;
		a += 12;
	}
	if (family != c->family)
		return false;
	return prefix_match(c->addr, a, c->prefix);
}

bool sv_cidr_contains_sa(const struct sv_cidr *c, const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return sv_cidr_contains(c, AF_INET, &in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return sv_cidr_contains(c, AF_INET6, &in6->sin6_addr);
	}
	return false;
}

void sv_cidr_format(const struct sv_cidr *c, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	if (len == 0)
		return;
	if (c == NULL || inet_ntop(c->family, c->addr, host, sizeof(host)) == NULL) {
		snprintf(out, len, "?");
		return;
	}
	snprintf(out, len, "%s/%u", host, c->prefix);
}
