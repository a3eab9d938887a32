#!/usr/bin/env python3
"""A stand-in for the Kubernetes API server's events endpoint, for events_test.

fake_apiserver.py <dir> <mode>: listens on 127.0.0.1 (ephemeral port, written to <dir>/port),
appends each request as one JSON line {method, path, authorization, content_type, body} to
<dir>/requests.jsonl and answers: mode "ok" 201 with the event, "forbid" 403 (no RBAC), "hang"
never (until the client times out).
"""
import http.server
import json
import os
import sys
import threading

out_dir, mode = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        rec = {
            "method": "POST",
            "path": self.path,
            "authorization": self.headers.get("Authorization", ""),
            "content_type": self.headers.get("Content-Type", ""),
            "body": json.loads(body or b"null"),
        }
        with open(os.path.join(out_dir, "requests.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        if mode == "hang":
            threading.Event().wait(30)
            return
        code = 201 if mode == "ok" else 403
        reply = body if code == 201 else b'{"kind":"Status","code":403}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tmp = os.path.join(out_dir, "port.tmp")
with open(tmp, "w") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, os.path.join(out_dir, "port"))
server.serve_forever()
