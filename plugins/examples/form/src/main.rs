//! `form`: the tutorials' POST form. GET shows the form (and greets a returning
//! visitor by cookie); POST, urlencoded or multipart, greets `firstname`,
//! lists an uploaded file and remembers the name in a cookie. No name sends
//! the browser back to the form (303); other methods get 405. `/form/missing`
//! answers 404 and `/form/again` is a local redirect to the form.
//!
//! Build: `cargo build --release -p example-form --target wasm32-wasip1`

use std::fmt::Write;

use wasibin_guest::{decode_component, encode_component, escape_html, Cookie, Request, Response};

fn handle(req: &Request) -> wasibin_guest::Result {
    match req.path_info() {
        "/missing" => return Ok(Response::not_found()),
        // A local redirect: the server answers with the form itself.
        "/again" => return Ok(Response::redirect_local(req.script_name())),
        _ => {}
    }
    match req.method() {
        "GET" | "HEAD" => Ok(form_page(req)),
        "POST" => greet(req),
        _ => Ok(Response::method_not_allowed(&["GET", "POST"])),
    }
}

fn form_page(req: &Request) -> Response {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Form</title></head><body>\n",
    );
    if let Some(name) = req.cookie("firstname") {
        let name = decode_component(name.as_bytes());
        let _ = writeln!(page, "<p>Welcome back, {}!</p>", escape_html(&name));
    }
    let _ = write!(
        page,
        "<form method=\"post\" action=\"{}\" enctype=\"multipart/form-data\">\n\
         <label>First name: <input name=\"firstname\"></label>\n\
         <input type=\"file\" name=\"upload\">\n\
         <input type=\"submit\" value=\"Submit\">\n\
         </form>\n</body></html>\n",
        escape_html(req.script_name())
    );
    Response::html(page)
}

fn greet(req: &Request) -> wasibin_guest::Result {
    let form = req.form()?;
    let name = form.get("firstname").unwrap_or("");
    if name.is_empty() {
        return Ok(Response::see_other(req.script_name()));
    }
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body>\n\
         <h1>Hello, {}!</h1>\n",
        escape_html(name)
    );
    if let Some(file) = form.file("upload").filter(|f| !f.filename().is_empty()) {
        writeln!(
            page,
            "<p>Received {}: {} bytes</p>",
            escape_html(file.filename()),
            file.data().len()
        )?;
    }
    writeln!(
        page,
        "<p><a href=\"{}\">Back to the form</a></p>\n</body></html>",
        escape_html(req.script_name())
    )?;
    Ok(
        Response::html(page)
            .with_cookie(Cookie::new("firstname", encode_component(name)).path("/")),
    )
}

fn main() {
    wasibin_guest::run(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(content_type: &str, body: &str) -> Response {
        let req = Request::builder("POST", "/form")
            .header("Content-Type", content_type)
            .body(body)
            .build();
        wasibin_guest::dispatch(&req, handle)
    }

    #[test]
    fn greets_escaped_and_sets_cookie() {
        let resp = post("application/x-www-form-urlencoded", "firstname=%3Cb%3EAda");
        let page = String::from_utf8(resp.body().to_vec()).unwrap();
        assert!(page.contains("<h1>Hello, &lt;b&gt;Ada!</h1>"), "{page}");
        assert_eq!(
            resp.header("Set-Cookie"),
            Some("firstname=%3Cb%3EAda; Path=/")
        );
    }

    #[test]
    fn multipart_upload() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"firstname\"\r\n\r\nAda\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"n.txt\"\r\n\r\n12345\r\n--b--\r\n";
        let resp = post("multipart/form-data; boundary=b", body);
        let page = String::from_utf8(resp.body().to_vec()).unwrap();
        assert!(page.contains("<p>Received n.txt: 5 bytes</p>"), "{page}");
    }

    #[test]
    fn no_name_redirects_and_put_is_refused() {
        let resp = post("application/x-www-form-urlencoded", "firstname=");
        assert_eq!(
            (resp.status(), resp.header("Location")),
            (303, Some("/form"))
        );
        let resp = wasibin_guest::dispatch(&Request::builder("PUT", "/form").build(), handle);
        assert_eq!(
            (resp.status(), resp.header("Allow")),
            (405, Some("GET, POST"))
        );
        let resp = post("application/json", "{}");
        assert_eq!(resp.status(), 415);
    }

    #[test]
    fn welcomes_back() {
        let req = Request::builder("GET", "/form")
            .header("Cookie", "firstname=Ada%20L")
            .build();
        let page =
            String::from_utf8(wasibin_guest::dispatch(&req, handle).body().to_vec()).unwrap();
        assert!(page.contains("<p>Welcome back, Ada L!</p>"), "{page}");
    }
}
