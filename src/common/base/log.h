/*
 * log.h - the one logger of every SIP VAULT program.
 *
 * One line per event: "2026-11-26T10:00:00.123Z warn  server: message".
 * The level check happens in the macros, before any argument is formatted.
 * Output goes to stderr (foreground) or syslog (daemon under systemd, where
 * journald picks it up). libevent, libcurl and libbpf messages are routed
 * through here by sv_log_route_libs().
 *
 * As in OpenBSD's daemons, log_warn() and log_err() append ": " and
 * strerror(errno) to the message, log_warnx() and log_errx() do not:
 *
 *	if (unlink(path) != 0)
 *		log_warn("cannot remove %s", path);   // "cannot remove x: Permission denied"
 *
 * errno is read before the arguments are evaluated and is left unchanged by
 * every logging call, so `log_warn(...); return -errno;` works.
 */
#ifndef SV_LOG_H
#define SV_LOG_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

enum sv_log_level {
	SV_LOG_DEBUG = 0,
	SV_LOG_INFO = 1,
	SV_LOG_WARN = 2,
	SV_LOG_ERROR = 3,
};

/* The current threshold; messages below it are not formatted. */
extern enum sv_log_level sv_log_threshold;

/* Sets the program name printed on each line (borrowed, must outlive logging). */
void sv_log_init(const char *progname, enum sv_log_level level);
void sv_log_set_level(enum sv_log_level level);
/* Sends output to syslog instead of stderr (true) or back to stderr (false). */
void sv_log_use_syslog(int on);
/* Parses "debug", "info", "warn"/"warning", "error" (case-insensitive). 0 or -EINVAL. */
int sv_log_level_parse(const char *s, enum sv_log_level *out);
const char *sv_log_level_name(enum sv_log_level level);

/* Routes libevent and libbpf diagnostics through this logger. */
void sv_log_route_libs(void);
/* A CURLOPT_DEBUGFUNCTION-compatible callback that logs libcurl text at debug. */
int sv_log_curl_debug(void *handle, int type, char *data, size_t size, void *userp);

void sv_log_write(enum sv_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sv_log_vwrite(enum sv_log_level level, const char *fmt, va_list ap);
/* As sv_log_write(), then ": " and the text of errnum (an errno value, or a
 * negated one: -EIO and EIO both read "Input/output error"). */
void sv_log_write_errno(enum sv_log_level level, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sv_log(level, ...)                                  \
	do {                                                \
		if ((level) >= sv_log_threshold)            \
			sv_log_write((level), __VA_ARGS__); \
	} while (0)
/* Like sv_log(), with ": strerror(errno)" appended; errno is sampled before
 * the arguments are evaluated. */
#define sv_log_errno(level, ...)                                                       \
	do {                                                                           \
		if ((level) >= sv_log_threshold) {                                     \
			int sv_log_saved_errno_ = errno;                               \
			sv_log_write_errno((level), sv_log_saved_errno_, __VA_ARGS__); \
		}                                                                      \
	} while (0)
#define log_debug(...) sv_log(SV_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  sv_log(SV_LOG_INFO, __VA_ARGS__)
#define log_warnx(...) sv_log(SV_LOG_WARN, __VA_ARGS__)
#define log_errx(...)  sv_log(SV_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  sv_log_errno(SV_LOG_WARN, __VA_ARGS__)
#define log_err(...)   sv_log_errno(SV_LOG_ERROR, __VA_ARGS__)

#endif
