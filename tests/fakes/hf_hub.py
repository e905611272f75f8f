"""A small Hugging Face Hub on 127.0.0.1 for tests: the endpoints ``huggingface_hub`` calls to
create a dataset repository and commit files to it (create, validate-yaml, preupload, commit).

Every file arrives inline ("regular" upload mode), so committed files are kept as bytes in
``FakeHub.repos[repo_id]["files"]``. A request without ``Authorization: Bearer <token>`` gets
401, as the real Hub answers a bad token.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = r"(?P<repo>[^/]+/[^/]+)"


class FakeHub:
    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                hub.requests.append((self.path, self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != f"Bearer {hub.token}":
                    return self._reply(
                        401, {"error": "Invalid credentials in Authorization header"}
                    )
                path = self.path.split("?")[0]
                if path == "/api/repos/create":
                    data = json.loads(body)
                    repo_id = f"{data.get('organization') or 'user'}/{data['name']}"
                    hub.repos.setdefault(
                        repo_id,
                        {
                            "private": data.get(
                                "visibility", "private" if data.get("private") else "public"
                            )
                            == "private",
                            "type": data.get("type"),
                            "files": {},
                        },
                    )
                    return self._reply(200, {"url": f"{hub.url}/datasets/{repo_id}"})
                if path == "/api/validate-yaml":
                    return self._reply(200, {"errors": [], "warnings": []})
                m = re.fullmatch(rf"/api/datasets/{REPO}/preupload/(?P<rev>[^/]+)", path)
                if m:
                    files = json.loads(body)["files"]
                    return self._reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                for f in files
                            ]
                        },
                    )
                m = re.fullmatch(rf"/api/datasets/{REPO}/commit/(?P<rev>[^/]+)", path)
                if m:
                    repo = hub.repos.get(m["repo"])
                    if repo is None:
                        return self._reply(404, {"error": "Repository not found"})
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            repo.setdefault("commits", []).append(item["value"]["summary"])
                        elif item["key"] == "file":
                            value = item["value"]
                            repo["files"][value["path"]] = base64.b64decode(value["content"])
                    oid = f"{len(repo['commits']):040x}"
                    return self._reply(
                        200,
                        {
                            "commitUrl": f"{hub.url}/datasets/{m['repo']}/commit/{oid}",
                            "commitOid": oid,
                        },
                    )
                return self._reply(404, {"error": f"no route {path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
