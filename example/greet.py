"""greet-me endpoint: a stdlib-only HTTP server that says hello.

Valohai runs it with ``server-command: python greet.py``.  Any path answers
GET, POST and PUT with JSON:

    {"greeting": "Hello, <name>!", "path": "<request path>", "prefix": "<URL prefix>",
     "version": "<deployment version>"}

<name> comes from the query string (?name=...), a urlencoded or multipart form
field "name", or a JSON body {"name": ...}; default "world".  <prefix> is the
X-VH-Prefix request header, else $VH_DEFAULT_PREFIX, else ""; <deployment version> is
$VH_DEPLOYMENT_VERSION, so a caller of an alias sees which version answered.
"""

import email.parser
import email.policy
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1024 * 1024


def name_from_multipart(content_type, body):
    """Return the "name" field of a multipart/form-data body, or None."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "name":
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return None


def name_from_body(content_type, body):
    if not body:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8", "replace")).get("name")
        return values[0] if values else None
    if media_type == "multipart/form-data":
        return name_from_multipart(content_type, body)
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            data = json.loads(body)
        except ValueError:
            raise ValueError("the body is not valid JSON")
        if isinstance(data, dict) and data.get("name") is not None:
            return str(data["name"])
    return None


class GreetHandler(BaseHTTPRequestHandler):
    server_version = "greet-me/1.0"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.answer(read_body=False)

    def do_POST(self):
        self.answer(read_body=True)

    def do_PUT(self):
        self.answer(read_body=True)

    def answer(self, read_body):
        url = urlsplit(self.path)
        name = None
        query_names = parse_qs(url.query).get("name")
        if query_names:
            name = query_names[0]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self.send_json(400, {"error": "bad Content-Length"})
        if length > MAX_BODY:
            return self.send_json(413, {"error": f"body larger than {MAX_BODY} bytes"})
        body = self.rfile.read(length) if length > 0 else b""
        if read_body and name is None:
            try:
                name = name_from_body(self.headers.get("Content-Type", ""), body)
            except ValueError as exc:
                return self.send_json(400, {"error": str(exc)})
        prefix = self.headers.get("X-VH-Prefix")
        if prefix is None:
            prefix = os.environ.get("VH_DEFAULT_PREFIX", "")
        version = os.environ.get("VH_DEPLOYMENT_VERSION", "")
        self.send_json(
            200, {"greeting": f"Hello, {name or 'world'}!", "path": url.path, "prefix": prefix, "version": version}
        )

    def send_json(self, status, payload):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))


def main():
    host = os.environ.get("VH_BIND_HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer((host, port), GreetHandler)
    server.daemon_threads = True
    print(f"greet-me listening on {host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
