"""Quick-start scenarios: an orchestrator chaining and fanning out activities."""

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid

CITIES = ["Tokyo", "Seattle", "London"]


def hello(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello {name}!"


def hello_cities(ctx: task.OrchestrationContext, _):
    greetings = []
    for city in CITIES:
        greetings.append((yield ctx.call_activity(hello, input=city)))
    return greetings


def square(ctx: task.ActivityContext, n: int) -> int:
    return n * n


def chain_of_ten(ctx: task.OrchestrationContext, start: int):
    value = start
    for _ in range(10):
        value = yield ctx.call_activity(add_one, input=value)
    return value


def add_one(ctx: task.ActivityContext, n: int) -> int:
    return n + 1


def fan_out_squares(ctx: task.OrchestrationContext, n: int):
    results = yield task.when_all([ctx.call_activity(square, input=i) for i in range(n)])
    return results


def echo_input(ctx: task.OrchestrationContext, value):
    return {"instance_id": ctx.instance_id, "input": value}


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address,
                        orchestrators=[hello_cities, chain_of_ten, fan_out_squares, echo_input],
                        activities=[hello, square, add_one]) as w:
        yield w


def test_hello_cities(client, worker):
    iid = client.schedule_new_orchestration(hello_cities, instance_id=uid("hello"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.failure_details is None
    assert state.get_output() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert state.name == "hello_cities"
    assert state.instance_id == iid


def test_activity_chain_is_replay_stable(client, worker):
    iid = client.schedule_new_orchestration(chain_of_ten, input=5, instance_id=uid("chain"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == 15


def test_fan_out_fan_in(client, worker):
    iid = client.schedule_new_orchestration(fan_out_squares, input=12, instance_id=uid("fan"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == [i * i for i in range(12)]


def test_input_round_trip_and_generated_id(client, worker):
    payload = {"a": [1, 2.5, "x"], "b": None, "unicode": "héllo ✓"}
    iid = client.schedule_new_orchestration(echo_input, input=payload)
    assert iid  # the SDK generates an id when none is given
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_input() == payload
    assert state.get_output() == {"instance_id": iid, "input": payload}
    assert state.created_at <= state.last_updated_at
