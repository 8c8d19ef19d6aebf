"""The `fashion` command line, called as a user would (in-process, through main)."""
import json

from fashion_pipeline.cli import main


def test_generate_then_land_twice(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", "--scale", "tiny", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "_truth" / "manifest.json").read_text())["seed"] == 3
    raw = str(tmp_path / "raw")
    assert main(["land", "--from", str(out), "--raw-root", raw, "--ingest-date", "2020-09-23"]) == 0
    first = capsys.readouterr().out
    assert first.count("landed ") == 3
    assert main(["land", "--from", str(out), "--raw-root", raw, "--ingest-date", "2020-09-24"]) == 0
    assert capsys.readouterr().out.count("skipped ") == 3


def test_land_refuses_a_directory_without_hm_files(tmp_path, capsys):
    assert main(["land", "--from", str(tmp_path), "--raw-root", str(tmp_path / "raw")]) == 1
    assert "nothing to land" in capsys.readouterr().err


def test_services_status_up_down(tmp_path, capsys, monkeypatch):
    from fashion_pipeline.services import free_port

    # A state dir only its owner may enter, like a clone in a home directory.
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    # Ports as a user moves them: the variables conf/local.yaml reads, so that clients follow.
    monkeypatch.setenv("FASHION_MOTO_PORT", str(free_port()))
    monkeypatch.setenv("FASHION_POSTGRES_PORT", str(free_port()))
    options = ["--set", f"paths.state_dir={state_dir}"]
    try:
        assert main(["services", "up", *options]) == 0
        assert "credentials published to Secrets Manager" in capsys.readouterr().out
        assert main(["services", "status", *options]) == 0
        assert capsys.readouterr().out.count("running (pid") == 2
    finally:
        assert main(["services", "down", *options]) == 0
    assert capsys.readouterr().out.count("stopped (pid") == 2
    assert main(["services", "status", *options]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["stopped", "stopped"]
    assert main(["services", "clean", *options]) == 0
    assert "removed" in capsys.readouterr().out


def test_bad_configuration_is_exit_code_2(capsys):
    assert main(["services", "status", "--set", "spark.no_such_key=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fashion services: invalid configuration") and "spark.no_such_key" in err and err.count("\n") == 1
