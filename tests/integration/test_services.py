import socket

import pytest

from fashion_pipeline.services import MotoService, ServiceError, free_port


def test_up_twice_status_and_down(tmp_path):
    service = MotoService(tmp_path, free_port())
    try:
        assert "started" in service.up()
        pid = service.owned_pid()
        assert "already running" in service.up()
        assert service.owned_pid() == pid
        status = service.status()
        assert status.running and status.pid == pid and str(service.port) in status.address
    finally:
        assert "stopped" in service.down()
    assert not service.status().running
    assert "not running" in service.down()


def test_refuses_a_port_someone_else_holds_and_never_stops_it(tmp_path):
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        service = MotoService(tmp_path, port)
        with pytest.raises(ServiceError, match="did not start"):
            service.up()
        # a pid file pointing at an unrelated process is not ours to kill
        (tmp_path / "moto.pid").write_text("1")
        assert "not running" in service.down()
