"""Benchmark: N HTTP health checks against a local server, opsready.runbooks.health_check in one task versus an
ansible.builtin.uri loop over the same URLs, in one run on this machine. Prints both times and the ratio.

    .venv/bin/python bench/health_sweep.py [--checks 200] [--concurrency 16]

Both playbooks run on localhost (connection local) with this checkout as opsready.runbooks. The server answers
{"status": "ok"} and both sides check status 200 and that JSON field. Times are the task's own duration (from the
json callback) and the whole ansible-playbook process (startup included).
"""
import argparse
import http.server
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

PROJECT = pathlib.Path(__file__).resolve().parents[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog (5) makes a burst of connects wait for a 1 s SYN retry


def playbooks(urls, concurrency):
    checks = [{"name": "endpoint %d" % n, "http": {"url": url, "json": {"status": "ok"}}} for n, url in enumerate(urls)]
    ours = [{"name": "health_check", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "sweep", "opsready.runbooks.health_check": {
            "checks": checks, "concurrency": concurrency, "fail_on": "warning",
            "thresholds": {"latency_ms": {"warning": 10000, "critical": 20000}}}}]}]  # like for like: uri has no latency budget
    peer = [{"name": "uri loop", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "sweep", "ansible.builtin.uri": {"url": "{{ item }}", "status_code": 200, "return_content": True},
         "loop": urls, "register": "answers", "loop_control": {"label": "{{ item }}"}},
        {"name": "status ok", "ansible.builtin.assert": {
            "that": "answers.results | map(attribute='json.status') | unique == ['ok']", "quiet": True}}]}]
    return ours, peer


def run(playbook, workdir):
    path = workdir / "playbook.yml"
    path.write_text(json.dumps(playbook))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".ansible" / "collections"),
               ANSIBLE_HOME=str(workdir / "home"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CONFIG=str(workdir / "none.cfg"))
    start = time.monotonic()
    done = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "-e", "ansible_connection=local", "-e", "ansible_python_interpreter=" + sys.executable,
                           str(path)], env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    if done.returncode:
        sys.exit("benchmark playbook failed:\n" + done.stdout[-3000:] + done.stderr[-3000:])
    task = json.loads(done.stdout)["plays"][0]["tasks"][0]
    duration = task["task"]["duration"]
    seconds = (_ts(duration["end"]) - _ts(duration["start"]))
    return seconds, wall, task["hosts"]["localhost"]


def _ts(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = ["http://127.0.0.1:%d/health/%d" % (server.server_port, n) for n in range(args.checks)]
    ours, peer = playbooks(urls, args.concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        (pathlib.Path(tmp) / "none.cfg").write_text("[defaults]\n")
        our_task, our_wall, result = run(ours, pathlib.Path(tmp))
        assert result["summary"]["ok"] == args.checks, result["summary"]
        peer_task, peer_wall, dummy = run(peer, pathlib.Path(tmp))
    server.shutdown()
    when = time.strftime("%Y-%m-%d %H:%M")
    print("%d HTTP checks against a local server, concurrency %d, %s" % (args.checks, args.concurrency, when))
    print("%-42s %8s %12s" % ("", "task s", "playbook s"))
    print("%-42s %8.2f %12.2f   (module's own elapsed: %.2f s)" % ("opsready.runbooks.health_check, one task",
                                                                   our_task, our_wall, result["elapsed"]))
    print("%-42s %8.2f %12.2f" % ("ansible.builtin.uri loop", peer_task, peer_wall))
    latencies = sorted(c["observed"]["latency_ms"] for c in result["checks"])
    print("health_check request latency ms: median %.1f, p95 %.1f, max %.1f" % (
        latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)], latencies[-1]))
    print("%-42s %7.1fx %11.1fx" % ("ratio (uri loop / health_check)", peer_task / our_task, peer_wall / our_wall))


if __name__ == "__main__":
    main()
