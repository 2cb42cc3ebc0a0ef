"""The HTTP server of the local target's processes: werkzeug's request parsing, with connections kept alive.

werkzeug's development server closes every connection after one answer, so each AWS call of the
pipeline paid for a new TCP connection and a new thread, where AWS keeps connections alive. This handler
runs the WSGI application itself: it gives the application the request body as a stream limited to its
length, reads whatever the application left of it, answers with a Content-Length, and keeps the
connection for the client's next request, unless the client asked to close it or the body cannot be
read to its end (then the connection closes, as before).

Everything http.server refuses itself (a request line or headers too long, too many headers, a
malformed request) is answered with JSON, as every answer of API Gateway is, not HTML.
"""

import json
import signal
from http import HTTPStatus

from tapctl.local.shared import background

# A body larger than this is not read to its end to keep the connection: it is closed instead.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
_LOOPBACK_NAMES = {"localhost", "::1"}


def _loopback(host):
    name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    parts = name.split(".")
    return name.lower() in _LOOPBACK_NAMES or (
        len(parts) == 4 and parts[0] == "127" and all(part.isdigit() and int(part) < 256 for part in parts))


def refusal(environ, *, access_key, signed=True):
    """Why a local target's server refuses a request, or None. A loopback port is reachable from any web
    page open in the user's browser: by a plain form POST (no CORS preflight, no headers of its own) or,
    after DNS rebinding, under another site's name. So the Host must be a loopback name, moto's control
    API (``/moto-api``: reset wipes every resource, data.json dumps them) is not served, and an AWS API
    request (``signed``) must carry the target's own credentials, which no web page can add."""
    if not _loopback(environ.get("HTTP_HOST", "")):
        return "the Host header names no loopback address: the local target answers only 127.0.0.1 or localhost"
    if environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0] == "moto-api":
        return "moto's control API is not served by the local target"
    if signed and f"Credential={access_key}/" not in environ.get("HTTP_AUTHORIZATION", "") \
            and f"X-Amz-Credential={access_key}%2F" not in environ.get("QUERY_STRING", ""):
        return "the request is not signed with the local target's credentials"
    return None


def refused(start_response, reason):
    body = json.dumps({"message": reason}).encode()
    start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def phrase(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def handler_class():
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.wsgi import LimitedStream

    class KeepAlive(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # an answer is never held back waiting for the client's ACK

        def send_error(self, code, message=None, explain=None):
            body = json.dumps({"message": message or phrase(code)}).encode()
            self.log_error("code %d, message %s", code, message)
            self.send_response(code, message)
            self.send_header("Connection", "close")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
                self.wfile.write(body)

        def run_wsgi(self):
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = self.make_environ()
            body = None
            if environ.get("wsgi.input_terminated"):
                self.close_connection = True  # a chunked body: its trailer is not read, so the connection ends
            else:  # a Content-Length body (or none)
                try:
                    length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
                except ValueError:
                    length = 0
                    self.close_connection = True  # where the next request starts is unknown
                body = environ["wsgi.input"] = LimitedStream(self.rfile, length)
            started = []

            def start_response(status, headers, exc_info=None):
                if exc_info and started:
                    raise exc_info[1].with_traceback(exc_info[2])
                started[:] = [status, headers]
                return lambda data: chunks.append(data)

            chunks = []
            try:
                result = self.server.app(environ, start_response)
                try:
                    chunks.extend(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
            except Exception as error:  # the application's own failure: a JSON 500, the connection closed
                self.server.log("error", f"{type(error).__name__}: {error}")
                data = json.dumps({"message": "Internal server error"}).encode()
                started[:] = ["500 Internal Server Error", [("Content-Type", "application/json")]]
                chunks = [data]
                self.close_connection = True
            self._finish_body(body)
            data = b"".join(chunks)
            status, headers = started
            code, _, phrase = status.partition(" ")
            self.send_response(int(code), phrase)
            for key, value in headers:
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            if self.command == "HEAD" or int(code) in (204, 304) or 100 <= int(code) < 200:
                data = b""
            else:
                self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self._headers_buffer.extend((b"\r\n", data))  # headers and body in one write
            self.flush_headers()

        def _finish_body(self, body):
            """Read what the application left of the body, so the next request starts where it should."""
            if body is None or self.close_connection:
                return
            try:
                if body.limit - body.tell() > MAX_DRAIN_BYTES:
                    self.close_connection = True
                else:
                    body.exhaust()
            except Exception:  # the client went away (werkzeug's ClientDisconnected) or the socket failed
                self.close_connection = True

    return KeepAlive


def serve(app, port, on_close=lambda: None):
    """Serve ``app`` on 127.0.0.1:``port`` (a thread per connection) until SIGTERM or SIGINT."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would flood the log
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=handler_class())

    def stop(*_):
        background(server.shutdown, "shutdown")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        on_close()

