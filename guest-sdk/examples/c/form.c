/* form: the tutorials' POST form. GET shows the form (and greets a returning
 * visitor by cookie); POST, urlencoded or multipart, greets `firstname`, lists
 * an uploaded file and remembers the name in a cookie. No name sends the
 * browser back to the form (303); other methods get 405.
 * Build: clang-19 --target=wasm32-wasi -O2 -s -I guest-sdk/c -o form.wasm form.c */
#include "wasibin.h"

static void form_page(void) {
    char *cookie = wb_cookie("firstname");
    wb_header("Content-Type", "text/html; charset=utf-8");
    wb_puts("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Form</title></head><body>\n");
    if (cookie) {
        char *name = wb_url_decode(cookie, strlen(cookie));
        wb_puts("<p>Welcome back, ");
        wb_write_html(name ? name : "");
        wb_puts("!</p>\n");
        free(name);
        free(cookie);
    }
    wb_puts("<form method=\"post\" action=\"");
    wb_write_html(wb_script_name());
    wb_puts("\" enctype=\"multipart/form-data\">\n"
            "<label>First name: <input name=\"firstname\"></label>\n"
            "<input type=\"file\" name=\"upload\">\n"
            "<input type=\"submit\" value=\"Submit\">\n"
            "</form>\n</body></html>\n");
}

static void greet(void) {
    size_t len = 0;
    char *body = wb_body(&len);
    char *name, *cookie;
    wb_multipart mp;
    wb_part part;
    if (!body) {
        wb_error(400, "Bad Request");
        return;
    }
    name = wb_form(body, len, "firstname");
    if (!name || !*name) {
        wb_redirect(303, wb_script_name());
        free(name);
        free(body);
        return;
    }
    wb_status(200);
    wb_header("Content-Type", "text/html; charset=utf-8");
    cookie = wb_url_encode(name);
    if (cookie) wb_set_cookie("firstname", cookie, "Path=/");
    free(cookie);
    wb_puts("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body>\n<h1>Hello, ");
    wb_write_html(name);
    wb_puts("!</h1>\n");
    if (wb_multipart_init(&mp, wb_content_type(), body, len) == 0) {
        while (wb_multipart_next(&mp, &part) == 1) {
            if (part.is_file && part.filename[0] && strcmp(part.name, "upload") == 0) {
                wb_puts("<p>Received ");
                wb_write_html(part.filename);
                wb_printf(": %zu bytes</p>\n", part.data_len);
                break;
            }
        }
    }
    wb_puts("<p><a href=\"");
    wb_write_html(wb_script_name());
    wb_puts("\">Back to the form</a></p>\n</body></html>\n");
    free(name);
    free(body);
}

int main(void) {
    const char *method = wb_method();
    const char *path_info = wb_path_info();
    if (strcmp(path_info, "/missing") == 0) {
        wb_error(404, "Not Found");
    } else if (strcmp(path_info, "/again") == 0) {
        /* A local redirect: the server answers with the form itself. */
        wb_redirect_local(wb_script_name());
    } else if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        form_page();
    } else if (strcmp(method, "POST") == 0) {
        greet();
    } else {
        wb_status(405);
        wb_header("Allow", "GET, POST");
        wb_puts("Method Not Allowed\n");
    }
    return 0;
}
