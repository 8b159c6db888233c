"""nginx in front of sipvault-api for tests: nginx/sipvault.conf as shipped, turned into a
plain-HTTP variant on a free loopback port (TLS lines and the port-80 redirect dropped, the
upstream port and the dashboard root replaced), run as an unprivileged foreground process."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from serverfixture import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def test_config(src, port, api_port, root, tmp, extra_http=""):
    text = open(src).read()
    first = text.index("server {")
    second = text.index("server {", first + 1)
    server = text[first:second].rstrip()
    server = re.sub(r"listen 443 ssl http2;", "listen 127.0.0.1:%d;" % port, server)
    server = "\n".join(ln for ln in server.splitlines() if "ssl_certificate" not in ln)
    server = server.replace("127.0.0.1:8000", "127.0.0.1:%d" % api_port)
    server = server.replace("/opt/sipvault/dashboard", root)
    return """daemon off;
worker_processes 1;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/error.log info;
events { worker_connections 1024; }
http {
    access_log %(tmp)s/access.log;
    client_body_temp_path %(tmp)s/body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
    types { text/html html; application/json json; }
    %(extra)s
%(server)s
}
""" % {"tmp": tmp, "server": server, "extra": extra_http}


class Nginx:
    def __init__(self, src, api_port, extra_http=""):
        self.tmp = tempfile.mkdtemp(prefix="sv-nginx.")
        os.chmod(self.tmp, 0o755)  # workers started by root run as nobody
        self.root = os.path.join(self.tmp, "dashboard")
        os.makedirs(self.root)
        with open(os.path.join(self.root, "index.html"), "w") as f:
            f.write("<html>dashboard</html>\n")
        self.port = free_port()
        self.conf = os.path.join(self.tmp, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(test_config(src, self.port, api_port, self.root, self.tmp, extra_http))
        self.proc = None

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen([NGINX, "-c", self.conf, "-p", self.tmp],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.tmp, "stderr.log"), "wb"),
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + open(os.path.join(self.tmp,
                                                                        "stderr.log")).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx not listening")

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)
