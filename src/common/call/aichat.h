/*
 * aichat.h - the pure parts of "chat with an AI about one call": the
 * conversation the dashboard sends, the context built from the call's
 * evidence, the request bodies of the two providers and the decoders of their
 * streamed answers. No sockets here; src/api/chat.c does the I/O.
 *
 * Providers:
 *   SV_AICHAT_OPENAI     OpenAI-compatible chat completions (SipPulse AI):
 *                        POST {url}/chat/completions, "stream": true; the
 *                        answer is SSE "data: {chunk}" lines, the text in
 *                        choices[0].delta.content, ended by "data: [DONE]".
 *   SV_AICHAT_ANTHROPIC  Anthropic Messages: POST {url}/v1/messages,
 *                        "stream": true; SSE events message_start,
 *                        content_block_start, content_block_delta (text in
 *                        delta.text of a text_delta), content_block_stop,
 *                        message_delta, message_stop, ping and error.
 *
 * Bounds (docs/chat.md): see the SV_AICHAT_* constants below. A large call's
 * ladder and log are cut in the middle: the first HEAD and the last TAIL lines
 * are kept and a line "[... N lines cut ...]" stands for the others; each kept
 * line is cut at LINE_MAX bytes; quality.json beyond QUALITY_MAX bytes is cut
 * the same way. The context is always valid UTF-8 (invalid bytes become '?',
 * control characters other than tab become spaces).
 */
#ifndef SV_AICHAT_H
#define SV_AICHAT_H

#include "base/buf.h"
#include "base/sse.h"

#include <stddef.h>

enum sv_aichat_provider {
	SV_AICHAT_OPENAI = 0,
	SV_AICHAT_ANTHROPIC = 1,
};

#define SV_AICHAT_LADDER_HEAD       150   /* SIP messages kept from the start */
#define SV_AICHAT_LADDER_TAIL       100   /* ... and from the end */
#define SV_AICHAT_LOG_HEAD          200   /* log lines kept from the start */
#define SV_AICHAT_LOG_TAIL          200   /* ... and from the end */
#define SV_AICHAT_LINE_MAX          400   /* bytes of one ladder or log line */
#define SV_AICHAT_QUALITY_MAX       16384 /* bytes of quality.json */
#define SV_AICHAT_MAX_MESSAGES      64    /* messages in one conversation */
#define SV_AICHAT_MAX_CONTENT       16384 /* bytes of one message */
#define SV_AICHAT_MAX_CONVERSATION  65536 /* bytes of all messages together */
#define SV_AICHAT_MAX_TOKENS        2048  /* max_tokens asked of the provider */
#define SV_AICHAT_ANTHROPIC_MODEL   "claude-sonnet-4-5"
#define SV_AICHAT_ANTHROPIC_VERSION "2023-06-01"

/* ---- the conversation (request body of POST /calls/{id}/chat) ---- */

enum sv_aichat_role {
	SV_AICHAT_USER = 0,
	SV_AICHAT_ASSISTANT = 1,
};

struct sv_aichat_msg {
	enum sv_aichat_role role;
	char *content; /* owned, NUL-terminated, valid UTF-8 */
	size_t len;
};

struct sv_aichat_conv {
	struct sv_aichat_msg *msgs; /* owned */
	size_t n;
};

/*
 * Parses {"messages":[{"role":"user"|"assistant","content":"..."}, ...]}
 * (other members are ignored). Rules: 1..SV_AICHAT_MAX_MESSAGES messages,
 * each content a non-empty string of at most SV_AICHAT_MAX_CONTENT bytes,
 * SV_AICHAT_MAX_CONVERSATION bytes in all, the first and the last message
 * from the user. 0 (out filled; release it), SV_E_PARSE (why holds a short
 * lower-case reason for the client), or -ENOMEM. out is empty on error.
 */
int sv_aichat_conv_parse(const char *body, size_t len, struct sv_aichat_conv *out, char *why,
                         size_t why_cap);
/* Frees the messages; accepts NULL. */
void sv_aichat_conv_release(struct sv_aichat_conv *c);

/* ---- the context (system prompt) ---- */

/* The call's evidence; every pointer may be NULL when its length is 0. */
struct sv_aichat_evidence {
	const char *customer, *call_id; /* NUL-terminated, may be NULL */
	const char *quality_json;
	size_t quality_len;
	const char *ladder_text; /* one line per SIP message, in order */
	size_t ladder_len;
	const char *log_text; /* the call's log lines, in order */
	size_t log_len;
};

/* Appends the system prompt for ev to out (instructions, then the call's
 * identity, quality.json, the ladder and the log, each bounded as above).
 * 0 or -ENOMEM (out as it was). */
int sv_aichat_context(const struct sv_aichat_evidence *ev, struct sv_buf *out);

/*
 * Appends the lines of text[0..len) to out, at most head + tail of them: the
 * first head and the last tail lines, and between them one line
 * "[... N lines cut ...]" when N > 0 lines were left out. Lines end in LF
 * (a CR before it is dropped); a last line without LF counts; every line
 * written ends in LF, is cut at line_max bytes (at a UTF-8 boundary, with
 * " [...]" added) and sanitised as the context is. *total (may be NULL)
 * receives the number of lines in text. 0 or -ENOMEM (out as it was).
 */
int sv_aichat_cut_lines(const char *text, size_t len, size_t head, size_t tail, size_t line_max,
                        struct sv_buf *out, size_t *total);

/* Appends s[0..len) to out as valid UTF-8 with invalid bytes replaced by
 * '?' and control characters other than tab and LF by ' '. 0 or -ENOMEM. */
int sv_aichat_sanitize(const char *s, size_t len, struct sv_buf *out);

/* ---- request bodies ---- */

/*
 * Appends the JSON body of a streaming request to out:
 *   OPENAI:    {"model":M,"stream":true,"max_tokens":N,"messages":[
 *               {"role":"system","content":SYSTEM}, ...conversation]}
 *   ANTHROPIC: {"model":M,"stream":true,"max_tokens":N,"system":SYSTEM,
 *               "messages":[...conversation]}
 * system must be valid UTF-8 (sv_aichat_context() makes it so). model NULL
 * or "" takes SV_AICHAT_ANTHROPIC_MODEL for Anthropic and is -EINVAL for
 * OpenAI. 0, -EINVAL or -ENOMEM (out as it was).
 */
int sv_aichat_request(enum sv_aichat_provider p, const char *model, const char *system,
                      size_t system_len, const struct sv_aichat_conv *conv, struct sv_buf *out);

/* ---- the streamed answer ---- */

/* Called with each piece of answer text (valid UTF-8, not NUL-terminated).
 * Returning non-zero stops the decoder; sv_aichat_dec_feed() returns it. */
typedef int (*sv_aichat_text_fn)(const char *text, size_t len, void *arg);

enum sv_aichat_state {
	SV_AICHAT_RUNNING = 0, /* more is expected */
	SV_AICHAT_DONE = 1,    /* the provider said the answer is complete */
	SV_AICHAT_FAILED = 2,  /* the provider sent an error in the stream */
};

struct sv_aichat_dec {
	enum sv_aichat_provider provider;
	enum sv_aichat_state state;
	sv_aichat_text_fn fn;
	void *arg;
	struct sv_sse sse;
	int finish_seen;      /* OpenAI: a choice had a finish_reason */
	int message_seen;     /* Anthropic: message_start came */
	char stop[32];        /* finish/stop reason ("" when none came) */
	char error[256];      /* FAILED: "type: message" from the provider */
	unsigned long events; /* SSE events read */
};

/* Limits of the decoder's SSE reader. */
#define SV_AICHAT_SSE_MAX_LINE  (256 << 10)
#define SV_AICHAT_SSE_MAX_EVENT (256 << 10)

void sv_aichat_dec_init(struct sv_aichat_dec *d, enum sv_aichat_provider p, sv_aichat_text_fn fn,
                        void *arg);
void sv_aichat_dec_release(struct sv_aichat_dec *d);
/*
 * Reads the next bytes of the response body. 0 while all is well (also once
 * DONE or FAILED; later bytes are then ignored); SV_E_PARSE for an event that
 * is not what the protocol says (error holds why), SV_E_TOOBIG, -ENOMEM, or
 * the text callback's non-zero value. Errors are sticky.
 */
int sv_aichat_dec_feed(struct sv_aichat_dec *d, const void *data, size_t len);
/*
 * The body ended. 0 when the answer is complete (OpenAI: "[DONE]" came, or a
 * finish_reason when a server omits "[DONE]"; Anthropic: message_stop), else
 * the sticky error or -EPIPE (cut short; error says so). FAILED gives -EPROTO
 * with error holding the provider's message.
 */
int sv_aichat_dec_finish(struct sv_aichat_dec *d);

/*
 * A short reason for a failed HTTP answer of either provider, for the client:
 * "HTTP 429: rate_limit_error: Too many requests" when body holds an error
 * document ({"error":{"type"?,"message"}} or {"type":"error","error":{...}}),
 * "HTTP 500" otherwise. Written to out (always NUL-terminated, cut to cap).
 */
void sv_aichat_http_error(int status, const char *body, size_t len, char *out, size_t cap);

#endif
