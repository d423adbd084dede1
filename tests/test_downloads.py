"""Downloads and catalog installs against a real HTTP server on 127.0.0.1 that the tests start.

The files are reference-layout checkpoints built here, tiny (ngf 8-16, 2 blocks) so that they are
small; the real catalog entries are resnet_9blocks / unet_256 with ngf 64, and the importer detects
the architecture from the keys either way. Nothing here reaches any other host.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from conftest import photo
from reference_arch import randomize, reference_resnet, reference_unet

from studio.cli.main import main
from studio.core import jobs
from studio.core.jobs import Control, Item, Progress
from studio.core.store import DownloadError, ModelStore, download_job, downloads, downloads_dir, install_job
from studio.core.translate import Translator

CG = "/cyclegan/pretrained_models"
HTML = b"<!DOCTYPE html><html><body>Not Found - the page you asked for moved</body></html>"


class Server:
    """A loopback HTTP server with Range support and misbehaviours chosen per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.behaviour: dict[str, dict] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.served = 0
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                owner.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        rng = h.headers.get("Range")
        self.requests.append((h.path, rng))
        how = self.behaviour.get(h.path, {})
        if "status" in how:
            h.send_error(how["status"])
            return
        if how.get("html"):
            h.send_response(200)
            h.send_header("Content-Type", how.get("content_type", "text/html; charset=utf-8"))
            h.send_header("Content-Length", str(len(HTML)))
            h.end_headers()
            h.wfile.write(HTML)
            return
        data = self.files.get(h.path)
        if data is None:
            h.send_error(404)
            return
        start = 0
        if rng and not how.get("ignore_range"):
            start = int(rng.split("=")[1].split("-")[0])
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data) - start))
        h.send_header("ETag", '"v1"')
        h.end_headers()
        body = data[start:]
        drop = how.pop("drop_after", None)  # only the first response is cut short
        stall = how.get("stall_after")
        if drop is not None:
            body = body[:drop]
        if stall is not None:
            h.wfile.write(body[:stall])
            h.wfile.flush()
            self.served += len(body[:stall])
            self.release.wait(how.get("stall_s", 3))
            h.close_connection = True
            return
        h.wfile.write(body)
        self.served += len(body)
        if drop is not None:
            h.close_connection = True

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    srv = Server()
    monkeypatch.setenv("STUDIO_MODEL_MIRROR", srv.url)
    monkeypatch.setattr(downloads, "RETRY_DELAY", 0.0)
    yield srv
    srv.close()


def resnet_bytes(seed: int = 0, ngf: int = 16) -> bytes:
    torch.manual_seed(seed)
    net = randomize(reference_resnet(ngf=ngf, blocks=2), seed)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


def unet_bytes(seed: int = 0) -> bytes:
    net = randomize(reference_unet(num_downs=5, ngf=8, norm="batch", dropout=True), seed)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


def nothing_left(store: ModelStore | None = None) -> None:
    store = store or ModelStore()
    assert [m.name for m in store.list()] == []
    assert not store.user_dir.exists() or not any(store.user_dir.iterdir()), "something half-written in the store"
    folder = downloads_dir()
    leftovers = [p.name for p in folder.iterdir()] if folder.exists() else []
    assert leftovers == [], f"left behind in downloads/: {leftovers}"


def install(ids, **kw):
    items: list[Item] = []
    done = jobs.run(install_job(ids, **kw), on_event=lambda e: items.append(e) if isinstance(e, Item) else None)
    return done, items


# -- done when ----------------------------------------------------------------------------------------

def test_cli_install_translates_like_an_import_by_path_and_the_pair_makes_one_model(server, tmp_path, capsys):
    h2z, z2h = resnet_bytes(1), resnet_bytes(2)
    server.files[f"{CG}/horse2zebra.pth"] = h2z
    server.files[f"{CG}/zebra2horse.pth"] = z2h
    assert main(["models", "install", "horse2zebra"]) == 0
    assert "installed horse2zebra" in capsys.readouterr().out
    store = ModelStore()
    info = store.get("horse2zebra")
    assert info.kind == "cyclegan" and info.directions() == ["a2b"] and info.domains == {"A": "horse", "B": "zebra"}
    prov = info.card["provenance"]
    assert prov["source"] == "catalog" and prov["catalog_id"] == "horse2zebra"
    assert prov["url"] == f"{server.url}{CG}/horse2zebra.pth"
    assert prov["sha256"] == hashlib.sha256(h2z).hexdigest() and prov["bytes"] == len(h2z)
    assert prov["downloaded"][:4].isdigit()

    for name, data in (("h2z-by-path", h2z), ("z2h-by-path", z2h)):
        (tmp_path / f"{name}.pth").write_bytes(data)
        store.import_file(tmp_path / f"{name}.pth", name=name, kind="cyclegan")
    img = photo("coffee", (64, 64))

    def out(model, direction="a2b"):
        return Translator(store.load(model), direction, device="cpu").translate_array(img, tile=0)

    assert np.array_equal(out("horse2zebra"), out("h2z-by-path"))

    assert main(["models", "install", "zebra2horse"]) == 0
    catalog_models = [m for m in store.list() if m.card["provenance"].get("source") == "catalog"]
    assert [m.name for m in catalog_models] == ["horse2zebra"], "one model with both directions"
    both = store.get("horse2zebra")
    assert both.directions() == ["a2b", "b2a"]
    assert both.card["provenance"]["pair"]["catalog_id"] == "zebra2horse"
    assert np.array_equal(out("horse2zebra", "a2b"), out("h2z-by-path"))
    assert np.array_equal(out("horse2zebra", "b2a"), out("z2h-by-path"))

    served = server.served
    assert main(["models", "install", "zebra2horse", "horse2zebra"]) == 0  # installed: nothing fetched
    assert server.served == served


def test_both_directions_asked_together_make_one_model(server):
    server.files[f"{CG}/style_monet.pth"] = resnet_bytes(3)
    server.files[f"{CG}/monet2photo.pth"] = resnet_bytes(4)
    done, items = install(["style_monet", "monet2photo"])
    assert done == {"installed": ["style_monet"], "failed": [], "cancelled": False}
    assert [(i.path, i.output) for i in items] == [("style_monet", "style_monet"), ("monet2photo", "style_monet")]
    info = ModelStore().get("style_monet")
    assert info.directions() == ["a2b", "b2a"] and info.domains == {"A": "photo", "B": "monet"}


def test_pix2pix_entry_installs_as_pix2pix(server):
    server.files["/pix2pix/models-pytorch/sat2map.pth"] = unet_bytes()
    done, _ = install(["pix2pix/sat2map"], local_name="aerial")
    assert done["installed"] == ["aerial"]
    info = ModelStore().get("aerial")
    assert info.kind == "pix2pix" and info.card["provenance"]["catalog_id"] == "pix2pix/sat2map"


def test_a_download_killed_halfway_resumes_where_it_stopped(server, tmp_path):
    data = resnet_bytes(5)
    half = len(data) // 2
    path = f"{CG}/horse2zebra.pth"
    server.files[path] = data
    server.behaviour[path] = {"stall_after": half, "stall_s": 60}
    target = downloads_dir() / "horse2zebra.pth"
    code = ("import sys; from studio.core import jobs; from studio.core.store import download_job; "
            "jobs.run(download_job(sys.argv[1], sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, server.url + path, str(target)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    part = downloads.part_path(target)
    try:
        deadline = time.monotonic() + 60
        while not (part.is_file() and part.stat().st_size == half):
            assert proc.poll() is None and time.monotonic() < deadline, "the download never got halfway"
            time.sleep(0.05)
        proc.kill()  # as a crash or a power cut would: no clean-up runs
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert part.stat().st_size == half, "an interrupted download keeps its partial file"
    server.behaviour.pop(path)
    served_before = server.served
    assert main(["models", "install", "horse2zebra", "-q"]) == 0
    assert server.requests[-1] == (path, f"bytes={half}-"), "the resume asked for the rest only"
    assert server.served - served_before == len(data) - half and server.served == len(data), "no byte fetched twice"
    assert target.read_bytes() == data and not part.exists()
    assert ModelStore().get("horse2zebra").card["provenance"]["sha256"] == hashlib.sha256(data).hexdigest()


# -- bad cases --------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, words", [(404, "404 Not Found"), (500, "500 Internal Server Error")])
def test_server_errors_fail_with_one_line(server, status, words):
    server.behaviour[f"{CG}/horse2zebra.pth"] = {"status": status}
    done, items = install(["horse2zebra"])
    assert done["installed"] == [] and done["failed"][0][0] == "horse2zebra"
    assert words in items[0].error and "\n" not in items[0].error
    nothing_left()


def test_connection_refused_says_so(monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    monkeypatch.setenv("STUDIO_MODEL_MIRROR", f"http://127.0.0.1:{port}")
    assert main(["models", "install", "horse2zebra", "-q"]) == 1
    err = capsys.readouterr().err
    assert f"could not install horse2zebra: cannot download from 127.0.0.1:{port}: connection refused" in err
    nothing_left()


def test_a_dropped_connection_is_resumed_with_a_range_request(server):
    data = resnet_bytes(6)
    path = f"{CG}/horse2zebra.pth"
    server.files[path] = data
    server.behaviour[path] = {"drop_after": len(data) // 3}
    done, _ = install(["horse2zebra"])
    assert done["installed"] == ["horse2zebra"]
    assert [r for _, r in server.requests] == [None, f"bytes={len(data) // 3}-"]
    assert server.served == len(data), "the bytes were not fetched twice"
    assert ModelStore().get("horse2zebra").card["provenance"]["bytes"] == len(data)


def test_a_dropped_connection_past_the_retries_keeps_the_partial_file_to_resume(server, monkeypatch):
    monkeypatch.setattr(downloads, "RETRIES", 0)
    data = resnet_bytes(6)
    path = f"{CG}/horse2zebra.pth"
    server.files[path] = data
    server.behaviour[path] = {"drop_after": 1000}
    done, items = install(["horse2zebra"])
    assert "dropped after 1000 of" in items[0].error and "resume" in items[0].error
    assert downloads.part_path(downloads_dir() / "horse2zebra.pth").stat().st_size == 1000
    done, _ = install(["horse2zebra"])
    assert done["installed"] == ["horse2zebra"] and server.requests[-1][1] == "bytes=1000-"
    assert server.served == len(data)


def test_a_server_that_ignores_range_is_started_over(server):
    data = resnet_bytes(7)
    path = f"{CG}/horse2zebra.pth"
    server.files[path] = data
    server.behaviour[path] = {"drop_after": len(data) // 2, "ignore_range": True}
    done, _ = install(["horse2zebra"])
    assert done["installed"] == ["horse2zebra"]
    assert server.requests[1][1] == f"bytes={len(data) // 2}-"  # asked, answered 200 with the whole file
    assert (downloads_dir() / "horse2zebra.pth").read_bytes() == data
    assert ModelStore().get("horse2zebra").card["provenance"]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_an_html_page_instead_of_weights_is_refused(server, content_type):
    server.behaviour[f"{CG}/horse2zebra.pth"] = {"html": True, "content_type": content_type}
    done, items = install(["horse2zebra"])
    assert "web page" in items[0].error
    nothing_left()


def test_a_file_whose_keys_fit_no_architecture_is_refused(server):
    buf = io.BytesIO()
    torch.save({"encoder.weight": torch.zeros(4, 4)}, buf)
    server.files[f"{CG}/horse2zebra.pth"] = buf.getvalue()
    done, items = install(["horse2zebra"])
    assert "not a generator of a known architecture" in items[0].error
    nothing_left()


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_that_would_run_code_is_refused_and_the_code_never_runs(server, tmp_path):
    marker = tmp_path / "pwned"
    server.files[f"{CG}/horse2zebra.pth"] = pickle.dumps({"model.1.weight": torch.zeros(1), "x": _Payload(marker)})
    done, items = install(["horse2zebra"])
    assert "refused" in items[0].error and "run code" in items[0].error
    assert not marker.exists(), "the payload ran"
    nothing_left()


def test_a_full_disk_fails_cleanly(server, monkeypatch):
    server.files[f"{CG}/horse2zebra.pth"] = resnet_bytes(8)

    def full(handle, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(downloads, "write_chunk", full)
    done, items = install(["horse2zebra"])
    assert "disk is full" in items[0].error
    nothing_left()


def test_a_stalled_server_fails_in_bounded_time(server, monkeypatch):
    monkeypatch.setattr(downloads, "READ_TIMEOUT", 0.5)
    path = f"{CG}/horse2zebra.pth"
    server.files[path] = resnet_bytes(9)
    server.behaviour[path] = {"stall_after": 0, "stall_s": 30}
    started = time.monotonic()
    done, items = install(["horse2zebra"])
    assert time.monotonic() - started < 10
    assert "stopped sending" in items[0].error and "0.5 s" in items[0].error
    nothing_left()  # nothing had arrived: no partial file worth keeping


def test_cancel_removes_the_partial_file(server):
    server.files[f"{CG}/horse2zebra.pth"] = resnet_bytes(10)
    control = Control()

    def on_event(event):
        if isinstance(event, Progress):
            control.cancel()

    done = jobs.run(install_job(["horse2zebra"], control=control), on_event=on_event)
    assert done["cancelled"] and done["installed"] == []
    nothing_left()


def test_ctrl_c_in_the_cli_cancels_cleanly(server, monkeypatch, capsys):
    server.files[f"{CG}/horse2zebra.pth"] = resnet_bytes(11)
    calls = []

    def interrupted(handle, data):
        calls.append(len(data))
        handle.write(data)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(downloads, "CHUNK", 4096)
    monkeypatch.setattr(downloads, "write_chunk", interrupted)
    assert main(["models", "install", "horse2zebra", "-q"]) == 130
    assert "cancelled" in capsys.readouterr().err
    nothing_left()


# -- plain downloads --------------------------------------------------------------------------------

def test_import_url_downloads_then_imports(server, capsys):
    server.files["/files/my_net.pth"] = resnet_bytes(12)
    assert main(["models", "import", f"{server.url}/files/my_net.pth", "--kind", "cyclegan", "-q"]) == 0
    assert "imported my_net" in capsys.readouterr().out
    assert ModelStore().get("my_net").directions() == ["a2b"]


def test_download_job_reports_bytes_and_reuses_a_complete_file(server):
    data = resnet_bytes(13)
    server.files["/f.pth"] = data
    target = downloads_dir() / "f.pth"
    events = []
    assert jobs.run(download_job(server.url + "/f.pth", target), on_event=events.append) == target
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert (last.done, last.total) == (len(data), len(data)) and "bytes_per_s" in last.stats
    assert jobs.run(download_job(server.url + "/f.pth", target)) == target
    assert server.served == len(data) and len(server.requests) == 1, "an already downloaded file is not fetched again"


def test_only_http_urls_are_downloaded(tmp_path):
    with pytest.raises(DownloadError):
        jobs.run(download_job("file:///etc/passwd", tmp_path / "x.pth"))


def test_a_file_already_downloaded_is_not_fetched_again_after_its_model_is_removed(server):
    server.files[f"{CG}/horse2zebra.pth"] = data = resnet_bytes(14)
    assert install(["horse2zebra"])[0]["installed"] == ["horse2zebra"]
    ModelStore().remove("horse2zebra")
    assert install(["horse2zebra"])[0]["installed"] == ["horse2zebra"]
    assert server.served == len(data) and len(server.requests) == 1
