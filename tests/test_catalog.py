"""The catalog of installable models: the data in resources/catalog.json, finding entries, the mirror,
what is installed, `studio models available`. Installs themselves are in test_downloads.py."""

from __future__ import annotations

import json
import socket

import pytest
from test_downloads import Server, install, resnet_bytes

from studio.cli.main import main
from studio.core import report
from studio.core.store import (
    DEFAULT_MIRROR,
    MIRROR_ENV,
    CatalogError,
    ModelStore,
    check_online,
    entry_url,
    find_entry,
    installed,
    load_catalog,
    mirror_url,
)
from studio.core.store.catalog import default_catalog_path

CYCLEGAN = ["apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra",
            "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "sat2map",
            "map2sat", "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label",
            "facades_label2photo", "iphone2dslr_flower"]
PIX2PIX = ["edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"]
PAIRS = [("horse2zebra", "zebra2horse"), ("apple2orange", "orange2apple"),
         ("summer2winter_yosemite", "winter2summer_yosemite"), ("monet2photo", "style_monet"),
         ("sat2map", "map2sat"), ("cityscapes_photo2label", "cityscapes_label2photo"),
         ("facades_photo2label", "facades_label2photo"), ("pix2pix/sat2map", "pix2pix/map2sat")]


def test_the_catalog_lists_every_published_model_as_the_reference_lays_them_out():
    doc = json.loads(default_catalog_path().read_text(encoding="utf-8"))
    assert doc["format_version"] == 1
    catalog = load_catalog()
    assert [e.name for e in catalog if e.kind == "cyclegan"] == CYCLEGAN
    assert [e.name for e in catalog if e.kind == "pix2pix"] == PIX2PIX
    assert len({e.id for e in catalog}) == len(catalog) == 23
    by_id = {e.id: e for e in catalog}
    for entry in catalog:
        # The published generators are resnet_9blocks (instance norm, ngf 64) and unet_256 (batch norm,
        # ngf 64); the tests serve tiny files of the same layout, since import detects from the keys.
        if entry.kind == "cyclegan":
            assert entry.path == f"cyclegan/pretrained_models/{entry.name}.pth" and entry.arch == "resnet_9blocks"
        else:
            assert entry.path == f"pix2pix/models-pytorch/{entry.name}.pth" and entry.arch == "unet_256"
        assert entry.description and "\n" not in entry.description and entry.title and len(entry.domains) == 2
        assert entry.source == "pytorch-CycleGAN-and-pix2pix" and entry.size_bytes
        if entry.pair is not None:
            assert by_id[entry.pair].pair == entry.id and by_id[entry.pair].kind == entry.kind
            assert by_id[entry.pair].domains == entry.domains[::-1]
    assert sorted(tuple(sorted((e.id, e.pair))) for e in catalog if e.pair) == sorted(
        tuple(sorted(p)) for p in PAIRS for _ in range(2))
    assert by_id["style_monet"].description == "Photo → painting in the style of Monet"
    assert {e.id for e in catalog if e.kind == "pix2pix"} >= {"pix2pix/sat2map", "edges2shoes"}
    assert find_entry(catalog, "pix2pix/sat2map").model_name == "pix2pix-sat2map"


def test_find_entry_by_id_kind_and_name():
    catalog = load_catalog()
    assert find_entry(catalog, "sat2map").kind == "cyclegan"
    assert find_entry(catalog, "cyclegan/sat2map").id == "sat2map"
    assert find_entry(catalog, "pix2pix/map2sat").kind == "pix2pix"
    assert find_entry(catalog, "pix2pix/edges2shoes").id == "edges2shoes"
    with pytest.raises(CatalogError) as err:
        find_entry(catalog, "zebra")
    assert "zebra2horse" in str(err.value) and "studio models available" in str(err.value)


def test_the_mirror_comes_from_the_override_then_the_environment_then_the_reference_host(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert mirror_url() == DEFAULT_MIRROR == "http://efrosgans.eecs.berkeley.edu"
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/studio/")
    assert mirror_url() == "http://127.0.0.1:9/studio"
    assert mirror_url("https://models.example.studio") == "https://models.example.studio"
    with pytest.raises(CatalogError):
        mirror_url("ftp://x")
    entry = find_entry(load_catalog(), "horse2zebra")
    assert entry_url(entry, mirror_url()) == "http://127.0.0.1:9/studio/cyclegan/pretrained_models/horse2zebra.pth"


def test_a_new_source_is_only_entries_with_their_own_host(tmp_path, monkeypatch):
    srv = Server()
    try:
        srv.files["/cut/horse2zebra_cut.pth"] = resnet_bytes(20)
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps({"format_version": 1, "entries": [{
            "id": "cut/horse2zebra", "name": "horse2zebra_cut", "kind": "cyclegan", "arch": "resnet_9blocks",
            "domains": ["horse", "zebra"], "title": "Horse → zebra (CUT)", "description": "Zebra stripes, CUT",
            "path": "cut/horse2zebra_cut.pth", "pair": None, "base": srv.url, "source": "CUT"}]}))
        monkeypatch.delenv(MIRROR_ENV, raising=False)
        catalog = load_catalog(path)
        assert entry_url(catalog[0], mirror_url()) == f"{srv.url}/cut/horse2zebra_cut.pth"
        assert entry_url(catalog[0], "http://mirror") == "http://mirror/cut/horse2zebra_cut.pth"
        done, _ = install(["cut/horse2zebra"], catalog=catalog)
        assert done["installed"] == ["cut-horse2zebra"]
        assert installed(ModelStore(), catalog) == {"cut/horse2zebra": "cut-horse2zebra"}
    finally:
        srv.close()


def test_bad_catalogs_say_what_is_wrong(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"format_version": 99, "entries": []}))
    with pytest.raises(CatalogError, match="version"):
        load_catalog(path)
    path.write_text(json.dumps({"format_version": 1, "entries": [{"id": "x"}]}))
    with pytest.raises(CatalogError, match="bad catalog entry 'x'"):
        load_catalog(path)


def test_check_online_answers_in_one_line():
    srv = Server()
    try:
        assert check_online(srv.url) is None
    finally:
        srv.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reason = check_online(f"http://127.0.0.1:{port}", timeout=1.0)
    assert reason == f"cannot reach 127.0.0.1:{port}: connection refused"


def test_models_available_shows_what_is_installed(monkeypatch, capsys):
    srv = Server()
    try:
        monkeypatch.setenv(MIRROR_ENV, srv.url)
        srv.files["/cyclegan/pretrained_models/style_vangogh.pth"] = resnet_bytes(21)
        assert main(["models", "install", "style_vangogh", "--as", "gogh", "-q"]) == 0
    finally:
        srv.close()
    capsys.readouterr()
    assert main(["models", "available"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "INSTALLED", "SIZE", "DESCRIPTION"]
    row = next(line for line in lines if line.startswith("style_vangogh"))
    assert "gogh" in row and "CycleGAN" in row and "Van Gogh" in row
    assert any(line.startswith("pix2pix/sat2map") and "pix2pix" in line for line in lines)
    assert main(["models", "available", "--json"]) == 0
    records = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["style_vangogh"]["installed"] == "gogh" and records["horse2zebra"]["installed"] is None
    assert records["horse2zebra"]["pair"] == "zebra2horse" and records["day2night"]["kind"] == "pix2pix"


def test_byte_reports():
    assert report.speed(3_200_000) == "3.2 MB/s" and report.speed(None) == "—"
    assert report.transfer(12_300_000, 45_600_000, 3_200_000, 10) == "12.3 MB of 45.6 MB, 3.2 MB/s, 0:10 left"
    assert report.transfer(500, 0) == "500 B"
