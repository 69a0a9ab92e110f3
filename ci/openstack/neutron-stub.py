#!/usr/bin/python3
"""A stand-in for Neutron on 127.0.0.1:9696, NOT a network service: Nova (Zed) asks
Neutron for the ports of every server it shows or lists (the security groups of the
server view) and when it deletes one, even for servers booted with "networks": "none";
without a "network" endpoint those calls fail with 500 (EndpointNotFound). This answers
them with empty lists, so Nova runs without Neutron. Anything else is a 404, so a
client that really needs Neutron fails visibly. (ci/openstack/README.md.)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMPTY = {
    "/v2.0/ports": "ports",
    "/v2.0/networks": "networks",
    "/v2.0/subnets": "subnets",
    "/v2.0/security-groups": "security_groups",
    "/v2.0/floatingips": "floatingips",
    "/v2.0/extensions": "extensions",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body):
        text = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("", "/v2.0"):
            return self.answer(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": "http://127.0.0.1:9696/v2.0/"}]}]})
        if path in EMPTY:
            return self.answer(200, {EMPTY[path]: []})
        self.answer(404, {"NeutronError": {"type": "HTTPNotFound", "message": f"neutron-stub: {path} is not served (no Neutron here)", "detail": ""}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.answer(404, {"NeutronError": {"type": "HTTPNotFound", "message": "neutron-stub: no Neutron here", "detail": ""}})

    do_PUT = do_POST
    do_DELETE = do_POST

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 9696), Handler).serve_forever()
