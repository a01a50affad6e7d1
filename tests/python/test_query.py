"""QueryInstances and ListInstanceIds, including paging."""

import grpc
import pytest

from durabletask import client as dt_client
from durabletask import task
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from google.protobuf import wrappers_pb2

from dt_e2e import Status, complete, extra_server, new_client, running_worker, uid, wait_for_status


def numbered(ctx: task.OrchestrationContext, n: int):
    return n * 10


def waits(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[numbered, waits]) as w:
        yield w


def _start_completed(c, prefix: str, count: int) -> list[str]:
    ids = [f"{prefix}{i}" for i in range(count)]
    for i, iid in enumerate(ids):
        c.schedule_new_orchestration(numbered, input=i, instance_id=iid)
    for iid in ids:
        assert complete(c, iid).runtime_status == Status.COMPLETED
    return ids


def test_query_by_prefix_and_status_across_pages(client, worker):
    prefix = uid("qry") + "-"
    ids = _start_completed(client, prefix, 5)
    running = client.schedule_new_orchestration(waits, instance_id=f"{prefix}running")
    wait_for_status(client, running, Status.RUNNING)
    unrelated = client.schedule_new_orchestration(numbered, input=99, instance_id=uid("other"))
    complete(client, unrelated)

    query = dt_client.OrchestrationQuery(instance_id_prefix=prefix, runtime_status=[Status.COMPLETED],
                                         max_instance_count=2, fetch_inputs_and_outputs=True)
    states = client.get_all_orchestration_states(query)
    assert sorted(s.instance_id for s in states) == sorted(ids)
    by_id = {s.instance_id: s for s in states}
    for i, iid in enumerate(ids):
        assert by_id[iid].name == "numbered"
        assert by_id[iid].runtime_status == Status.COMPLETED
        assert by_id[iid].get_input() == i
        assert by_id[iid].get_output() == i * 10

    everything = client.get_all_orchestration_states(
        dt_client.OrchestrationQuery(instance_id_prefix=prefix, max_instance_count=4))
    assert sorted(s.instance_id for s in everything) == sorted(ids + [running])
    assert all(s.serialized_input is None and s.serialized_output is None for s in everything)

    client.terminate_orchestration(running)
    complete(client, running)


def test_query_page_tokens(server, client, worker):
    prefix = uid("qpage") + "-"
    ids = _start_completed(client, prefix, 5)
    pages: list[list[str]] = []
    with grpc.insecure_channel(server.address) as channel:
        stub = stubs.TaskHubSidecarServiceStub(channel)
        token = None
        for _ in range(10):
            resp = stub.QueryInstances(pb.QueryInstancesRequest(query=pb.InstanceQuery(
                instanceIdPrefix=wrappers_pb2.StringValue(value=prefix), maxInstanceCount=2,
                continuationToken=token)))
            pages.append([s.instanceId for s in resp.orchestrationState])
            if not resp.HasField("continuationToken") or not resp.continuationToken.value:
                break
            assert resp.continuationToken.value != "0"
            token = resp.continuationToken
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(i for p in pages for i in p) == sorted(ids)


def test_list_instance_ids_paging():
    # A dedicated backend: ListInstanceIds has no prefix filter, so it must see only our instances.
    with extra_server() as own, running_worker(own.address, orchestrators=[numbered, waits]), \
            new_client(own.address) as c:
        ids = []
        for i in range(5):  # completed one after the other => a known completion order
            iid = c.schedule_new_orchestration(numbered, input=i, instance_id=uid(f"list{i}"))
            assert complete(c, iid).runtime_status == Status.COMPLETED
            ids.append(iid)
        running = c.schedule_new_orchestration(waits, instance_id=uid("list-pending"))  # not terminal

        first = c.list_instance_ids(page_size=2)
        assert first.items == ids[0:2]
        assert first.continuation_token is not None
        assert ids[1] in first.continuation_token

        second = c.list_instance_ids(page_size=2, continuation_token=first.continuation_token)
        assert second.items == ids[2:4]
        assert second.continuation_token is not None
        assert ids[3] in second.continuation_token

        last = c.list_instance_ids(page_size=2, continuation_token=second.continuation_token)
        assert last.items == ids[4:5]
        assert last.continuation_token is None

        only_completed = c.list_instance_ids(runtime_status=[Status.COMPLETED])
        assert only_completed.items == ids
        assert only_completed.continuation_token is None
        assert running not in only_completed.items
        assert c.list_instance_ids(runtime_status=[Status.FAILED]).items == []
