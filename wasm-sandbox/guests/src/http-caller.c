/*
 * http-caller: an HTTP workload that calls another service
 * (exports wasi:http/incoming-handler, imports wasi:http/outgoing-handler).
 *
 * For every request it sends GET to the URL in env TARGET_URL (read from
 * wasi:cli/environment), e.g. http://localhost:8081/from-caller or
 * http://web.default.svc.cluster.local/, and answers
 *   200 "caller got <status>: <response body>"   when a response arrived
 *   502 "caller failed: <error-code name>"       when the outgoing request
 *       failed; the name is the wasi:http error-code case, e.g.
 *       connection-refused, DNS-error, HTTP-request-denied (internal-error
 *       is followed by ": <message>" when the host gives one)
 *   502 "caller failed: TARGET_URL not set" / "... bad TARGET_URL"
 * The response body read back is capped at 1 MiB.
 *
 * Tests use it for Service name/VIP resolution in the outgoing-request hook
 * and for egress policy. Built like http-hello (reactor + proxy adapter,
 * world shoal:guests/http-guest).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_guest.h"

#define MAX_BODY (1024 * 1024)

static const char *const error_names[] = {
    "DNS-timeout", "DNS-error", "destination-not-found", "destination-unavailable",
    "destination-IP-prohibited", "destination-IP-unroutable", "connection-refused",
    "connection-terminated", "connection-timeout", "connection-read-timeout",
    "connection-write-timeout", "connection-limit-reached", "TLS-protocol-error",
    "TLS-certificate-error", "TLS-alert-received", "HTTP-request-denied",
    "HTTP-request-length-required", "HTTP-request-body-size", "HTTP-request-method-invalid",
    "HTTP-request-URI-invalid", "HTTP-request-URI-too-long", "HTTP-request-header-section-size",
    "HTTP-request-header-size", "HTTP-request-trailer-section-size", "HTTP-request-trailer-size",
    "HTTP-response-incomplete", "HTTP-response-header-section-size", "HTTP-response-header-size",
    "HTTP-response-body-size", "HTTP-response-trailer-section-size", "HTTP-response-trailer-size",
    "HTTP-response-transfer-coding", "HTTP-response-content-coding", "HTTP-response-timeout",
    "HTTP-upgrade-failed", "HTTP-protocol-error", "loop-detected", "configuration-error",
    "internal-error",
};

/* Value of `name` in the component's environment, or NULL (caller frees). */
static char *env_var(const char *name) {
    http_guest_list_tuple2_string_string_t env;
    wasi_cli_environment_get_environment(&env);
    char *value = NULL;
    size_t nlen = strlen(name);
    for (size_t i = 0; i < env.len && !value; i++) {
        http_guest_string_t *k = &env.ptr[i].f0, *v = &env.ptr[i].f1;
        if (k->len == nlen && memcmp(k->ptr, name, nlen) == 0) {
            value = malloc(v->len + 1);
            memcpy(value, v->ptr, v->len);
            value[v->len] = 0;
        }
    }
    http_guest_list_tuple2_string_string_free(&env);
    return value;
}

static void add_header(wasi_http_types_own_fields_t headers, const char *name, const char *value) {
    wasi_http_types_field_name_t n;
    http_guest_string_set(&n, name);
    wasi_http_types_field_value_t v = {(uint8_t *)value, strlen(value)};
    wasi_http_types_header_error_t err;
    wasi_http_types_method_fields_append(wasi_http_types_borrow_fields(headers), &n, &v, &err);
}

/* Sends a complete response: status, text/plain, body. */
static void respond(wasi_http_types_own_response_outparam_t out, uint16_t status,
                    const char *body, size_t len) {
    char content_length[24];
    snprintf(content_length, sizeof content_length, "%zu", len);
    wasi_http_types_own_fields_t headers = wasi_http_types_constructor_fields();
    add_header(headers, "content-type", "text/plain");
    add_header(headers, "content-length", content_length);

    wasi_http_types_own_outgoing_response_t resp = wasi_http_types_constructor_outgoing_response(headers);
    wasi_http_types_method_outgoing_response_set_status_code(
        wasi_http_types_borrow_outgoing_response(resp), status);
    wasi_http_types_own_outgoing_body_t outgoing_body;
    if (!wasi_http_types_method_outgoing_response_body(wasi_http_types_borrow_outgoing_response(resp),
                                                        &outgoing_body))
        __builtin_trap();

    wasi_http_types_result_own_outgoing_response_error_code_t result = {.is_err = false};
    result.val.ok = resp;
    wasi_http_types_static_response_outparam_set(out, &result);

    wasi_http_types_own_output_stream_t stream;
    if (!wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(outgoing_body),
                                                    &stream))
        __builtin_trap();
    wasi_io_streams_borrow_output_stream_t s = wasi_io_streams_borrow_output_stream(stream);
    for (size_t off = 0; off < len;) {
        size_t n = len - off > 4096 ? 4096 : len - off;
        http_guest_list_u8_t chunk = {(uint8_t *)body + off, n};
        wasi_io_streams_stream_error_t err;
        if (!wasi_io_streams_method_output_stream_blocking_write_and_flush(s, &chunk, &err))
            break; /* the client went away */
        off += n;
    }
    wasi_io_streams_output_stream_drop_own(stream);
    wasi_http_types_error_code_t err;
    wasi_http_types_static_outgoing_body_finish(outgoing_body, NULL, &err);
}

static void respond_str(wasi_http_types_own_response_outparam_t out, uint16_t status, const char *body) {
    respond(out, status, body, strlen(body));
}

static void fail_with_code(wasi_http_types_own_response_outparam_t out, wasi_http_types_error_code_t *code) {
    char msg[512];
    const char *name = code->tag < sizeof error_names / sizeof error_names[0] ? error_names[code->tag]
                                                                              : "unknown-error";
    if (code->tag == WASI_HTTP_TYPES_ERROR_CODE_INTERNAL_ERROR && code->val.internal_error.is_some)
        snprintf(msg, sizeof msg, "caller failed: %s: %.*s", name, (int)code->val.internal_error.val.len,
                 (const char *)code->val.internal_error.val.ptr);
    else
        snprintf(msg, sizeof msg, "caller failed: %s", name);
    wasi_http_types_error_code_free(code);
    respond_str(out, 502, msg);
}

/* Splits "scheme://authority/path?query"; returns 0 on success. */
static int parse_url(const char *url, wasi_http_types_scheme_t *scheme, http_guest_string_t *authority,
                     http_guest_string_t *path) {
    const char *rest;
    if (strncmp(url, "http://", 7) == 0) {
        scheme->tag = WASI_HTTP_TYPES_SCHEME_HTTP;
        rest = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        scheme->tag = WASI_HTTP_TYPES_SCHEME_HTTPS;
        rest = url + 8;
    } else {
        return -1;
    }
    size_t alen = strcspn(rest, "/?");
    if (alen == 0)
        return -1;
    http_guest_string_dup_n(authority, rest, alen);
    if (rest[alen] == '/')
        http_guest_string_dup(path, rest + alen);
    else {
        /* "http://host" or "http://host?q": path is "/" plus any query */
        char *p = malloc(strlen(rest + alen) + 2);
        p[0] = '/';
        strcpy(p + 1, rest + alen);
        http_guest_string_dup(path, p);
        free(p);
    }
    return 0;
}

void exports_wasi_http_incoming_handler_handle(
    exports_wasi_http_incoming_handler_own_incoming_request_t request,
    exports_wasi_http_incoming_handler_own_response_outparam_t response_out) {
    wasi_http_types_incoming_request_drop_own(request);

    char *url = env_var("TARGET_URL");
    if (!url) {
        respond_str(response_out, 502, "caller failed: TARGET_URL not set");
        return;
    }
    wasi_http_types_scheme_t scheme;
    http_guest_string_t authority, path;
    int bad = parse_url(url, &scheme, &authority, &path);
    free(url);
    if (bad) {
        respond_str(response_out, 502, "caller failed: bad TARGET_URL");
        return;
    }

    wasi_http_types_own_outgoing_request_t req =
        wasi_http_types_constructor_outgoing_request(wasi_http_types_constructor_fields());
    wasi_http_types_borrow_outgoing_request_t breq = wasi_http_types_borrow_outgoing_request(req);
    wasi_http_types_method_t get = {.tag = WASI_HTTP_TYPES_METHOD_GET};
    wasi_http_types_method_outgoing_request_set_method(breq, &get);
    wasi_http_types_method_outgoing_request_set_scheme(breq, &scheme);
    wasi_http_types_method_outgoing_request_set_authority(breq, &authority);
    wasi_http_types_method_outgoing_request_set_path_with_query(breq, &path);
    http_guest_string_free(&authority);
    http_guest_string_free(&path);

    wasi_http_types_own_future_incoming_response_t future;
    wasi_http_types_error_code_t code;
    if (!wasi_http_outgoing_handler_handle(req, NULL, &future, &code)) {
        fail_with_code(response_out, &code);
        return;
    }

    wasi_http_types_borrow_future_incoming_response_t bfuture =
        wasi_http_types_borrow_future_incoming_response(future);
    wasi_http_types_result_result_own_incoming_response_error_code_void_t got;
    while (!wasi_http_types_method_future_incoming_response_get(bfuture, &got)) {
        wasi_io_poll_own_pollable_t ready = wasi_http_types_method_future_incoming_response_subscribe(bfuture);
        wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
        wasi_io_poll_pollable_drop_own(ready);
    }
    wasi_http_types_future_incoming_response_drop_own(future);
    if (got.is_err) { /* the response was already taken: cannot happen here */
        respond_str(response_out, 502, "caller failed: response already taken");
        return;
    }
    if (got.val.ok.is_err) {
        fail_with_code(response_out, &got.val.ok.val.err);
        return;
    }
    wasi_http_types_own_incoming_response_t resp = got.val.ok.val.ok;
    wasi_http_types_borrow_incoming_response_t bresp = wasi_http_types_borrow_incoming_response(resp);
    unsigned status = wasi_http_types_method_incoming_response_status(bresp);

    char *body = malloc(MAX_BODY + 64);
    size_t len = (size_t)snprintf(body, 64, "caller got %u: ", status);
    wasi_http_types_own_incoming_body_t incoming_body;
    if (wasi_http_types_method_incoming_response_consume(bresp, &incoming_body)) {
        wasi_http_types_own_input_stream_t stream;
        if (wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(incoming_body),
                                                        &stream)) {
            wasi_io_streams_borrow_input_stream_t s = wasi_io_streams_borrow_input_stream(stream);
            size_t got_body = 0;
            while (got_body < MAX_BODY) {
                http_guest_list_u8_t chunk;
                wasi_io_streams_stream_error_t err;
                if (!wasi_io_streams_method_input_stream_blocking_read(s, MAX_BODY - got_body, &chunk, &err)) {
                    wasi_io_streams_stream_error_free(&err); /* closed (end of body) or failed */
                    break;
                }
                memcpy(body + len, chunk.ptr, chunk.len);
                len += chunk.len;
                got_body += chunk.len;
                http_guest_list_u8_free(&chunk);
            }
            wasi_io_streams_input_stream_drop_own(stream);
        }
        wasi_http_types_future_trailers_drop_own(wasi_http_types_static_incoming_body_finish(incoming_body));
    }
    wasi_http_types_incoming_response_drop_own(resp);

    respond(response_out, 200, body, len);
    free(body);
}
