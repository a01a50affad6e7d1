"""Activity failures and retry policies."""

from datetime import timedelta

import pytest

from durabletask import task

from dt_e2e import Counter, Status, complete, running_worker, uid

attempts = Counter()

RETRY3 = task.RetryPolicy(first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=3)


def raises_value_error(ctx: task.ActivityContext, text: str):
    raise ValueError(text)


class SilentError(RuntimeError):
    """A user exception whose str() is empty."""


def raises_empty_message(ctx: task.ActivityContext, _):
    raise SilentError()


def flaky(ctx: task.ActivityContext, _):
    n = attempts.incr(ctx.orchestration_id)
    if n < 3:
        raise RuntimeError(f"transient failure (attempt {n})")
    return n


def always_fails(ctx: task.ActivityContext, _):
    n = attempts.incr(ctx.orchestration_id)
    raise RuntimeError(f"always fails (attempt {n})")


def calls_failing_activity(ctx: task.OrchestrationContext, text: str):
    result = yield ctx.call_activity(raises_value_error, input=text)
    return result


def calls_empty_message_activity(ctx: task.OrchestrationContext, _):
    result = yield ctx.call_activity(raises_empty_message)
    return result


def catches_activity_failure(ctx: task.OrchestrationContext, _):
    try:
        yield ctx.call_activity(raises_value_error, input="caught me")
    except task.TaskFailedError as e:
        return {"error_type": e.details.error_type, "message": e.details.message}
    return "no failure"


def retries_flaky(ctx: task.OrchestrationContext, _):
    result = yield ctx.call_activity(flaky, retry_policy=RETRY3)
    return result


def retries_always_failing(ctx: task.OrchestrationContext, _):
    result = yield ctx.call_activity(always_fails, retry_policy=RETRY3)
    return result


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address,
                        orchestrators=[calls_failing_activity, calls_empty_message_activity,
                                       catches_activity_failure, retries_flaky, retries_always_failing],
                        activities=[raises_value_error, raises_empty_message, flaky, always_fails]) as w:
        yield w


def test_activity_exception_fails_orchestration(client, worker):
    iid = client.schedule_new_orchestration(calls_failing_activity, input="kaboom", instance_id=uid("afail"))
    state = complete(client, iid)
    assert state.runtime_status == Status.FAILED
    assert state.serialized_output is None
    fd = state.failure_details
    assert fd is not None
    assert fd.error_type == "durabletask.task.TaskFailedError"
    assert fd.message == f"{iid}: Activity task #1 failed: kaboom"
    assert fd.inner_failure is not None
    assert fd.inner_failure.error_type == "builtins.ValueError"
    assert fd.inner_failure.message == "kaboom"
    assert fd.inner_failure.stack_trace and "raises_value_error" in fd.inner_failure.stack_trace


def test_activity_failure_can_be_caught(client, worker):
    iid = client.schedule_new_orchestration(catches_activity_failure, instance_id=uid("acatch"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"error_type": "builtins.ValueError", "message": "caught me"}


@pytest.mark.fixes_reference("an activity failure with an empty message is recorded as a success")
def test_activity_failure_with_empty_message_still_fails(client, worker):
    iid = client.schedule_new_orchestration(calls_empty_message_activity, instance_id=uid("aempty"))
    state = complete(client, iid)
    assert state.runtime_status == Status.FAILED
    fd = state.failure_details
    assert fd is not None
    assert fd.inner_failure is not None
    assert fd.inner_failure.error_type.endswith(".SilentError")
    assert fd.inner_failure.message == ""


def test_retry_policy_succeeds_on_third_attempt(client, worker):
    iid = uid("retry-ok")
    client.schedule_new_orchestration(retries_flaky, instance_id=iid)
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == 3
    assert attempts.get(iid) == 3


def test_retry_policy_gives_up_after_max_attempts(client, worker):
    iid = uid("retry-fail")
    client.schedule_new_orchestration(retries_always_failing, instance_id=iid)
    state = complete(client, iid)
    assert state.runtime_status == Status.FAILED
    assert attempts.get(iid) == 3
    fd = state.failure_details
    assert fd is not None and fd.inner_failure is not None
    assert fd.inner_failure.error_type == "builtins.RuntimeError"
    assert fd.inner_failure.message == "always fails (attempt 3)"
