"""Durable entities: function- and class-based entities driven by client signals and by
orchestrations (calls, one-way signals, failures with rollback), entity-to-entity signals and
entities starting orchestrations (protocol.md section 4)."""

import threading

import pytest

from durabletask import task
from durabletask.entities import DurableEntity, EntityContext, EntityInstanceId
from durabletask.internal import orchestrator_service_pb2 as pb

from dt_e2e import Status, complete, running_worker_with_entities, uid, wait_until

# Gates for `gated_add`: the entity operation blocks (in the worker) until the test opens them.
gates: dict[str, threading.Event] = {}
gates_lock = threading.Lock()


def gate(key: str) -> threading.Event:
    with gates_lock:
        return gates.setdefault(key, threading.Event())


def counter(ctx: EntityContext, value):
    current = ctx.get_state(int, 0)
    op = ctx.operation
    if op == "add":
        ctx.set_state(current + value)
        return current + value
    if op == "get":
        return current
    if op == "reset":
        ctx.set_state(0)
        return None
    if op == "delete":
        ctx.set_state(None)
        return None
    if op == "add_then_fail":
        ctx.set_state(current + value)
        raise ValueError(f"boom {value}")
    if op == "gated_add":
        if not gate(ctx.entity_id.key).wait(timeout=20):
            raise TimeoutError("gate never opened")
        ctx.set_state(current + value)
        return None
    if op == "forward":
        ctx.signal_entity(EntityInstanceId("counter", value["key"]), "add", value["amount"])
        ctx.set_state(current + 1)
        return None
    if op == "start_echo":
        return ctx.schedule_new_orchestration("echo", input=value["input"], instance_id=value["id"])
    raise ValueError(f"unknown operation {op!r}")


class Account(DurableEntity):
    def deposit(self, amount: int) -> int:
        balance = self.get_state(int, 0) + amount
        self.set_state(balance)
        return balance

    def balance(self) -> int:
        return self.get_state(int, 0)


def echo(ctx: task.OrchestrationContext, value):
    return {"echo": value, "id": ctx.instance_id}


def calls_counter(ctx: task.OrchestrationContext, key: str):
    e = EntityInstanceId("counter", key)
    a = yield ctx.call_entity(e, "add", 5)
    b = yield ctx.call_entity(e, "add", 2)
    c = yield ctx.call_entity(e, "get")
    return [a, b, c]


def calls_account(ctx: task.OrchestrationContext, key: str):
    e = EntityInstanceId("Account", key)
    first = yield ctx.call_entity(e, "deposit", 30)
    second = yield ctx.call_entity(e, "deposit", 12)
    balance = yield ctx.call_entity(e, "balance")
    return [first, second, balance]


def describe_failure(err: task.TaskFailedError) -> dict:
    inner = err.details.inner_failure
    return {"error_type": err.details.error_type, "message": err.details.message,
            "inner_type": inner.error_type if inner else None,
            "inner_message": inner.message if inner else None}


def catches_entity_failure(ctx: task.OrchestrationContext, key: str):
    e = EntityInstanceId("counter", key)
    ctx.signal_entity(e, "add", 5)
    try:
        yield ctx.call_entity(e, "add_then_fail", 10)
        caught = None
    except task.TaskFailedError as err:
        caught = describe_failure(err)
    after = yield ctx.call_entity(e, "get")
    return {"caught": caught, "after": after}


def calls_unregistered(ctx: task.OrchestrationContext, key: str):
    try:
        yield ctx.call_entity(EntityInstanceId("nosuchentity", key), "anything", 1)
    except task.TaskFailedError as err:
        return describe_failure(err)
    return "no failure"


def signals_and_returns(ctx: task.OrchestrationContext, key: str):
    ctx.signal_entity(EntityInstanceId("counter", key), "gated_add", 9)
    return "sent"


@pytest.fixture(scope="module")
def worker(server):
    with running_worker_with_entities(
            server.address,
            orchestrators=[echo, calls_counter, calls_account, catches_entity_failure, calls_unregistered,
                           signals_and_returns],
            entities=[counter, Account]) as w:
        yield w


def state_of(client, eid: EntityInstanceId):
    """The entity's deserialized state, or the string "absent" when get_entity returns None."""
    meta = client.get_entity(eid)
    return "absent" if meta is None else meta.get_typed_state()


def wait_for_state(client, eid: EntityInstanceId, expected, timeout: float = 10.0):
    wait_until(lambda: state_of(client, eid) == expected, timeout=timeout,
               message=lambda: f"{eid} state {expected!r} (now {state_of(client, eid)!r})")


def test_function_entity_signals_then_get_entity(client, worker):
    eid = EntityInstanceId("counter", uid("fn"))
    client.signal_entity(eid, "add", 3)
    client.signal_entity(eid, "add", 4)
    wait_for_state(client, eid, 7)
    meta = client.get_entity(eid)
    assert meta is not None
    assert str(meta.id) == f"@counter@{eid.key}"
    assert meta.includes_state is True
    assert meta.get_state() == "7"  # the raw serialized state
    assert meta.backlog_queue_size == 0


def test_class_entity_signals_then_get_entity(client, worker):
    eid = EntityInstanceId("Account", uid("cls"))
    assert str(eid) == f"@account@{eid.key}"  # names are lower-cased
    client.signal_entity(eid, "deposit", 10)
    client.signal_entity(eid, "deposit", 5)
    wait_for_state(client, eid, 15)


def test_never_seen_entity_is_none(client, worker):
    assert client.get_entity(EntityInstanceId("counter", uid("never"))) is None
    assert client.get_entity(EntityInstanceId("nosuchentity", uid("never")), include_state=False) is None


def test_include_state_false_sends_no_state(client, worker):
    eid = EntityInstanceId("counter", uid("nostate"))
    client.signal_entity(eid, "add", 11)
    wait_for_state(client, eid, 11)
    meta = client.get_entity(eid, include_state=False)
    assert meta is not None
    assert meta.includes_state is False
    assert meta.get_state() is None
    # The SDK drops the state itself; check that the server did not send it either.
    raw = client._stub.GetEntity(pb.GetEntityRequest(instanceId=str(eid), includeState=False))
    assert raw.exists is True
    assert raw.entity.instanceId == str(eid)
    assert not raw.entity.HasField("serializedState")
    assert raw.entity.HasField("lastModifiedTime")


def test_falsy_state_zero_persists(client, worker):
    eid = EntityInstanceId("counter", uid("zero"))
    client.signal_entity(eid, "add", 5)
    wait_for_state(client, eid, 5)
    client.signal_entity(eid, "reset")
    wait_for_state(client, eid, 0)
    meta = client.get_entity(eid)
    assert meta is not None
    assert meta.get_state() == "0"


@pytest.mark.fixes_reference("an entity whose state was deleted is still reported as existing")
def test_entity_with_deleted_state_is_absent(client, worker):
    eid = EntityInstanceId("counter", uid("del"))
    client.signal_entity(eid, "add", 5)
    wait_for_state(client, eid, 5)
    client.signal_entity(eid, "delete")
    wait_for_state(client, eid, "absent")
    assert client.get_entity(eid, include_state=False) is None


@pytest.mark.fixes_reference("an entity whose state was deleted is still reported as existing")
def test_class_entity_delete_makes_it_absent(client, worker):
    eid = EntityInstanceId("Account", uid("cdel"))
    client.signal_entity(eid, "deposit", 8)
    wait_for_state(client, eid, 8)
    client.signal_entity(eid, "delete")
    wait_for_state(client, eid, "absent")
    # Signalling it again starts from an empty state.
    client.signal_entity(eid, "deposit", 1)
    wait_for_state(client, eid, 1)


def test_orchestration_calls_function_entity(client, worker):
    key = uid("call")
    iid = client.schedule_new_orchestration(calls_counter, input=key, instance_id=uid("calls"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == [5, 7, 7]
    assert state_of(client, EntityInstanceId("counter", key)) == 7


def test_orchestration_calls_class_entity(client, worker):
    key = uid("acct")
    iid = client.schedule_new_orchestration(calls_account, input=key, instance_id=uid("calls"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == [30, 42, 42]
    assert state_of(client, EntityInstanceId("account", key)) == 42


def test_entity_failure_reaches_orchestration_and_is_rolled_back(client, worker):
    key = uid("fail")
    eid = EntityInstanceId("counter", key)
    iid = client.schedule_new_orchestration(catches_entity_failure, input=key, instance_id=uid("efail"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == {
        "caught": {
            "error_type": "durabletask.entities.entity_operation_failed_exception.EntityOperationFailedException",
            "message": f"Operation 'add_then_fail' on entity '{eid}' failed with error: boom 10",
            "inner_type": "builtins.ValueError",
            "inner_message": "boom 10",
        },
        # The signalled add (before the failing call) is kept; the failed add is rolled back.
        "after": 5,
    }
    assert state_of(client, eid) == 5


def test_call_to_unregistered_entity_fails_the_call(client, worker):
    key = uid("unreg")
    iid = client.schedule_new_orchestration(calls_unregistered, input=key, instance_id=uid("unreg"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == {
        "error_type": "durabletask.entities.entity_operation_failed_exception.EntityOperationFailedException",
        "message": f"Operation 'anything' on entity '@nosuchentity@{key}' failed with error: "
                   "Entity function named 'nosuchentity' was not registered!",
        "inner_type": "durabletask.worker.EntityNotRegisteredError",
        "inner_message": "Entity function named 'nosuchentity' was not registered!",
    }


def test_orchestration_signal_is_one_way(client, worker):
    key = uid("sig")
    eid = EntityInstanceId("counter", key)
    client.signal_entity(eid, "add", 1)
    wait_for_state(client, eid, 1)
    g = gate(key)
    try:
        iid = client.schedule_new_orchestration(signals_and_returns, input=key, instance_id=uid("osig"))
        # The orchestration finishes while the signalled operation is still blocked in the worker.
        state = complete(client, iid, timeout=10)
        assert state.runtime_status == Status.COMPLETED
        assert state.get_output() == "sent"
        assert state_of(client, eid) == 1
    finally:
        g.set()
    wait_for_state(client, eid, 10)


def test_entity_signals_another_entity(client, worker):
    a = EntityInstanceId("counter", uid("src"))
    b = EntityInstanceId("counter", uid("dst"))
    client.signal_entity(a, "forward", {"key": b.key, "amount": 21})
    wait_for_state(client, b, 21)
    assert state_of(client, a) == 1


def test_entity_starts_orchestration(client, worker):
    eid = EntityInstanceId("counter", uid("starter"))
    child = uid("from-entity")
    client.signal_entity(eid, "start_echo", {"id": child, "input": "hello"})
    wait_until(lambda: client.get_orchestration_state(child) is not None, timeout=10,
               message=f"orchestration {child} started by the entity")
    state = complete(client, child, timeout=10)
    assert state.runtime_status == Status.COMPLETED
    assert state.name == "echo"
    assert state.get_output() == {"echo": "hello", "id": child}
