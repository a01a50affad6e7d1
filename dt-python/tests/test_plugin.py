"""The pytest plugin, installed through the `pytest11` entry point: `dt_backend` is one server
per session, reset before each test."""

from __future__ import annotations

import textwrap

PLUGIN_TESTS = textwrap.dedent("""
    from durabletask import client, worker

    seen_ports = []

    def hello(ctx, name):
        return f"Hello, {name}!"

    def test_first(dt_backend):
        seen_ports.append(dt_backend.port)
        with worker.TaskHubGrpcWorker(host_address=dt_backend.address) as w, \\
                client.TaskHubGrpcClient(host_address=dt_backend.address) as c:
            w.add_orchestrator(hello)
            w.start()
            c.schedule_new_orchestration(hello, input="first", instance_id="left-behind")
            state = c.wait_for_orchestration_completion("left-behind", timeout=30)
            assert state.get_output() == "Hello, first!"

    def test_second_sees_a_reset_backend_on_the_same_server(dt_backend):
        seen_ports.append(dt_backend.port)
        assert seen_ports[0] == seen_ports[1] != 0
        with client.TaskHubGrpcClient(host_address=dt_backend.address) as c:
            assert c.get_orchestration_state("left-behind") is None

    def test_session_backend_is_the_same_object(dt_backend, dt_backend_session):
        assert dt_backend is dt_backend_session
""")


def test_dt_backend_fixture_in_a_fresh_pytest_process(pytester):
    pytester.makepyfile(test_with_plugin=PLUGIN_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_plugin_is_registered_by_entry_point():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "durabletask_rs.pytest_plugin" in names
