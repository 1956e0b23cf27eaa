// hello: greets ?name=, else the `name` cookie, else the world.
// A script for wasibin's built-in QuickJS interpreter: copy it into
// plugins/ and it serves /hello (see guest-sdk/README.md).
serve((req) => {
  const name = req.query.get("name") ?? req.cookie("name") ?? "world";
  return text(`Hello, ${name}!\n`);
});
