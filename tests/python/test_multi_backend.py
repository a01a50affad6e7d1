"""Several independent backends on different ports, each running its own orchestration."""

from durabletask import task

from dt_e2e import Status, complete, extra_server, new_client, running_worker, uid


def which_backend(ctx: task.OrchestrationContext, label: str):
    greeting = yield ctx.call_activity(tag, input=label)
    return greeting


def tag(ctx: task.ActivityContext, label: str) -> str:
    return f"ran on {label}"


def test_two_backends_on_different_ports(server):
    with extra_server() as second:
        assert second.port != server.port
        with running_worker(server.address, orchestrators=[which_backend], activities=[tag]), \
                running_worker(second.address, orchestrators=[which_backend], activities=[tag]), \
                new_client(server.address) as c1, new_client(second.address) as c2:
            id1 = c1.schedule_new_orchestration(which_backend, input="first", instance_id=uid("mb1"))
            id2 = c2.schedule_new_orchestration(which_backend, input="second", instance_id=uid("mb2"))

            s1 = complete(c1, id1)
            s2 = complete(c2, id2)
            assert (s1.runtime_status, s1.get_output()) == (Status.COMPLETED, "ran on first")
            assert (s2.runtime_status, s2.get_output()) == (Status.COMPLETED, "ran on second")

            # The stores are separate: neither backend knows the other's instance.
            assert c1.get_orchestration_state(id2) is None
            assert c2.get_orchestration_state(id1) is None


def test_same_instance_id_on_two_backends(server):
    iid = uid("shared")
    with extra_server() as second:
        with running_worker(server.address, orchestrators=[which_backend], activities=[tag]), \
                running_worker(second.address, orchestrators=[which_backend], activities=[tag]), \
                new_client(server.address) as c1, new_client(second.address) as c2:
            c1.schedule_new_orchestration(which_backend, input="A", instance_id=iid)
            c2.schedule_new_orchestration(which_backend, input="B", instance_id=iid)
            assert complete(c1, iid).get_output() == "ran on A"
            assert complete(c2, iid).get_output() == "ran on B"
