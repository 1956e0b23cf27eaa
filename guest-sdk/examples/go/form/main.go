// form is the tutorials' POST form. GET shows the form (and greets a
// returning visitor by cookie); POST, urlencoded or multipart, greets
// firstname, lists an uploaded file and remembers the name in a cookie. No
// name sends the browser back to the form (303); other methods get 405.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -ldflags=-s -trimpath -o form.wasm ./form
package main

import (
	"strconv"
	"strings"

	"example.invalid/wasibin"
)

func handle(req *wasibin.Request) (*wasibin.Response, error) {
	switch req.PathInfo() {
	case "/missing":
		return wasibin.NotFound(), nil
	case "/again":
		// A local redirect: the server answers with the form itself.
		return wasibin.RedirectLocal(req.ScriptName()), nil
	}
	switch req.Method() {
	case "GET", "HEAD":
		return formPage(req), nil
	case "POST":
		return greet(req)
	default:
		return wasibin.MethodNotAllowed("GET", "POST"), nil
	}
}

func formPage(req *wasibin.Request) *wasibin.Response {
	var page strings.Builder
	page.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Form</title></head><body>\n")
	if name, ok := req.Cookie("firstname"); ok {
		page.WriteString("<p>Welcome back, " + wasibin.EscapeHTML(wasibin.DecodeComponent(name)) + "!</p>\n")
	}
	page.WriteString("<form method=\"post\" action=\"" + wasibin.EscapeHTML(req.ScriptName()) +
		"\" enctype=\"multipart/form-data\">\n" +
		"<label>First name: <input name=\"firstname\"></label>\n" +
		"<input type=\"file\" name=\"upload\">\n" +
		"<input type=\"submit\" value=\"Submit\">\n" +
		"</form>\n</body></html>\n")
	return wasibin.HTML(page.String())
}

func greet(req *wasibin.Request) (*wasibin.Response, error) {
	form, err := req.Form()
	if err != nil {
		return nil, err // 400 or 415, with the reason
	}
	name := form.Value("firstname")
	if name == "" {
		return wasibin.SeeOther(req.ScriptName()), nil
	}
	var page strings.Builder
	page.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Hello</title></head><body>\n" +
		"<h1>Hello, " + wasibin.EscapeHTML(name) + "!</h1>\n")
	if file := form.File("upload"); file != nil && file.Filename != "" {
		page.WriteString("<p>Received " + wasibin.EscapeHTML(file.Filename) + ": " +
			strconv.Itoa(len(file.Data)) + " bytes</p>\n")
	}
	page.WriteString("<p><a href=\"" + wasibin.EscapeHTML(req.ScriptName()) + "\">Back to the form</a></p>\n</body></html>\n")
	return wasibin.HTML(page.String()).
		WithCookie(wasibin.Cookie{Name: "firstname", Value: wasibin.EncodeComponent(name), Path: "/"}), nil
}

func main() {
	wasibin.Run(handle)
}
