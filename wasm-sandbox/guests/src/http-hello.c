/*
 * http-hello: the basic HTTP workload (exports wasi:http/incoming-handler).
 *
 * Answers every request 200, content-type text/plain, body
 *   "hello from <POD_NAME>/<CONTAINER_NAME> path=<path-with-query>\n"
 * with POD_NAME and CONTAINER_NAME read from wasi:cli/environment (the
 * proxy world has no environment, so the component imports it directly; a
 * missing variable prints as empty). Special paths:
 *   /crash  traps (__builtin_trap) before answering; tests check that the
 *           next request is still served (a fresh instance per request)
 *   /spin   spins forever on the CPU without calling the host; tests check
 *           per-request timeouts / epoch or fuel interruption
 *
 * Built as a reactor core module with the wit-bindgen C bindings in
 * ../bindings, adapted with the preview-1 *proxy* adapter. World:
 * shoal:guests/http-guest (../wit/shoal-guests.wit).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_guest.h"

static volatile uint64_t spin_state = 1;

/* Value of `name` in the component's environment, or "" (caller frees). */
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
    return value ? value : strdup("");
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

void exports_wasi_http_incoming_handler_handle(
    exports_wasi_http_incoming_handler_own_incoming_request_t request,
    exports_wasi_http_incoming_handler_own_response_outparam_t response_out) {
    http_guest_string_t path;
    if (!wasi_http_types_method_incoming_request_path_with_query(
            wasi_http_types_borrow_incoming_request(request), &path))
        http_guest_string_dup(&path, "/");
    const uint8_t *q = memchr(path.ptr, '?', path.len);
    size_t plen = q ? (size_t)(q - path.ptr) : path.len;

    if (plen == 6 && memcmp(path.ptr, "/crash", 6) == 0)
        __builtin_trap();
    if (plen == 5 && memcmp(path.ptr, "/spin", 5) == 0)
        for (;;)
            spin_state = spin_state * 6364136223846793005ULL + 1442695040888963407ULL;

    char *pod = env_var("POD_NAME");
    char *container = env_var("CONTAINER_NAME");
    size_t cap = strlen(pod) + strlen(container) + path.len + 64;
    char *body = malloc(cap);
    int len = snprintf(body, cap, "hello from %s/%s path=%.*s\n", pod, container, (int)path.len,
                       (const char *)path.ptr);

    wasi_http_types_incoming_request_drop_own(request);
    respond(response_out, 200, body, (size_t)len);

    free(body);
    free(pod);
    free(container);
    http_guest_string_free(&path);
}
