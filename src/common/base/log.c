#include "base/log.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

enum sv_log_level sv_log_threshold = SV_LOG_INFO;
static const char *log_prog = "sipvault";
static int log_syslog;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sv_log_init(const char *progname, enum sv_log_level level)
{
	if (progname != NULL)
		log_prog = progname;
	sv_log_threshold = level;
}

void sv_log_set_level(enum sv_log_level level)
{
	sv_log_threshold = level;
}

void sv_log_use_syslog(int on)
{
	if (on && !log_syslog)
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && log_syslog)
		closelog();
	log_syslog = on;
}

int sv_log_level_parse(const char *s, enum sv_log_level *out)
{
	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum sv_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = SV_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *sv_log_level_name(enum sv_log_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "?";
}

/* Writes one line; msg is modified (line breaks become spaces). */
static void emit(enum sv_log_level level, char *msg)
{
	/* Keep one event on one line whatever the message holds. */
	for (char *p = msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (log_syslog) {
		static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
		syslog(prio[level], "%s", msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000,
	        sv_log_level_name(level), log_prog, msg);
}

void sv_log_vwrite(enum sv_log_level level, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(level, msg);
	errno = saved;
}

void sv_log_write(enum sv_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sv_log_vwrite(level, fmt, ap);
	va_end(ap);
}

void sv_log_write_errno(enum sv_log_level level, int errnum, const char *fmt, ...)
{
	int saved = errno;
	char msg[2048 + 256], why[200];
	va_list ap;

	/* the message is cut as sv_log_write() cuts it; the errno text always fits */
	va_start(ap, fmt);
	vsnprintf(msg, 2048, fmt, ap);
	va_end(ap);
	/* strerror_r (GNU: may return a static string instead of filling why) */
	const char *text = strerror_r(errnum < 0 ? -errnum : errnum, why, sizeof(why));
	size_t n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", text);
	emit(level, msg);
	errno = saved;
}

static void route_event_log(int severity, const char *msg)
{
	enum sv_log_level l = SV_LOG_DEBUG;
	if (severity == EVENT_LOG_MSG)
		l = SV_LOG_INFO;
	else if (severity == EVENT_LOG_WARN)
		l = SV_LOG_WARN;
	else if (severity == EVENT_LOG_ERR)
		l = SV_LOG_ERROR;
	sv_log(l, "libevent: %s", msg);
}

static int bpf_print_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum sv_log_level l = level == LIBBPF_WARN ? SV_LOG_WARN : SV_LOG_DEBUG;
	if (l < sv_log_threshold)
		return 0;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	sv_log_write(l, "libbpf: %s", msg);
	return 0;
}

void sv_log_route_libs(void)
{
	event_set_log_callback(route_event_log);
	libbpf_set_print(bpf_print_cb);
}

int sv_log_curl_debug(void *handle, int type, char *data, size_t size, void *userp)
{
	/* CURLINFO_TEXT is 0: only curl's own informational text, never payloads. */
	if (type != 0 || SV_LOG_DEBUG < sv_log_threshold)
		return 0;
	while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
		size--;
	sv_log_write(SV_LOG_DEBUG, "libcurl: %.*s", (int)size, data);
	return 0;
}
