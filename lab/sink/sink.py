"""The lab's webhook sink: records every request it gets, stands in for Slack, PagerDuty and status pages.

Any method on any path is recorded (one JSON object per line in the log file) and answered 200 {"ok": true}.
GET /_sink/requests returns what was recorded; DELETE /_sink/requests forgets it.
Usage: python3 sink.py PORT LOGFILE
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL = "/_sink/requests"


class Recorder:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def record(self, entry):
        with self.lock, open(self.path, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")

    def entries(self):
        with self.lock:
            try:
                with open(self.path) as f:
                    return [json.loads(line) for line in f if line.strip()]
            except FileNotFoundError:
                return []

    def clear(self):
        with self.lock:
            open(self.path, "w").close()


def make_handler(recorder):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self):
            if self.path == CONTROL and self.command == "GET":
                return self._reply(200, recorder.entries())
            if self.path == CONTROL and self.command == "DELETE":
                recorder.clear()
                return self._reply(200, {"ok": True})
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            recorder.record({
                "time": time.time(), "method": self.command, "path": self.path,
                "headers": dict(self.headers.items()), "body": body,
            })
            return self._reply(200, {"ok": True})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, fmt, *args):  # the log file is the record; keep the journal quiet
            pass

    return Handler


def serve(port, path, host="0.0.0.0"):
    return ThreadingHTTPServer((host, port), make_handler(Recorder(path)))


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2]).serve_forever()
