"""The public surface matches the installed SDK's `durabletask.testing`: the same names, and
the same parameters (names, kinds, defaults, annotations) on every function and method, so
drift in either is caught."""

from __future__ import annotations

import inspect

import pytest

import durabletask.testing as sdk_testing
import durabletask.testing.in_memory_backend as sdk_module

import durabletask_rs
import durabletask_rs.testing as our_testing
import durabletask_rs.testing.in_memory_backend as our_module

SDK = sdk_testing.InMemoryOrchestrationBackend
OURS = our_testing.InMemoryOrchestrationBackend


def test_same_exported_names():
    assert our_testing.__all__ == sdk_testing.__all__
    for name in sdk_testing.__all__:
        assert getattr(our_testing, name) is getattr(our_module, name)


def _public_methods(cls: type) -> set[str]:
    """Methods a test would call: the SDK class's own, minus its gRPC servicer methods."""
    servicer = {n for n in dir(cls) if n[:1].isupper()}
    return {n for n, v in vars(cls).items()
            if callable(v) and not n.startswith("_") and n not in servicer} | {"__init__"}


def _assert_same_parameters(ours, theirs, where: str) -> None:
    """The SDK's parameters, in order, then only keyword-only additions defaulting to None (so
    no call written for the SDK changes meaning)."""
    a = inspect.signature(ours, eval_str=True)
    b = inspect.signature(theirs, eval_str=True)
    ours_params = list(a.parameters.values())
    want = [(p.name, p.kind, p.default, p.annotation) for p in b.parameters.values()]
    got = [(p.name, p.kind, p.default, p.annotation) for p in ours_params[:len(want)]]
    assert got == want, f"{where}: ours {a} vs the SDK's {b}"
    for extra in ours_params[len(want):]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY and extra.default is None, \
            f"{where}: our addition {extra} must be keyword-only with default None"
    if b.return_annotation is not inspect.Signature.empty:
        assert _same_type(a.return_annotation, b.return_annotation), where


def _same_type(ours, theirs) -> bool:
    """Equal annotations; our class stands for the SDK's class of the same name."""
    if isinstance(ours, type) and isinstance(theirs, type) and ours.__module__ != theirs.__module__:
        return ours.__qualname__ == theirs.__qualname__
    return ours == theirs


def test_every_sdk_method_exists_with_the_same_parameters():
    methods = _public_methods(SDK)
    assert {"__init__", "start", "stop", "reset"} <= methods
    for name in sorted(methods):
        assert hasattr(OURS, name), f"InMemoryOrchestrationBackend.{name} is missing"
        _assert_same_parameters(getattr(OURS, name), getattr(SDK, name), name)


def test_create_test_backend_has_the_same_parameters():
    _assert_same_parameters(our_testing.create_test_backend, sdk_testing.create_test_backend,
                            "create_test_backend")
    hints = inspect.signature(our_testing.create_test_backend, eval_str=True)
    assert hints.return_annotation is OURS
    assert not _same_type(int, str) and not _same_type(OURS, dict)


def test_the_comparison_notices_a_difference():
    def drifted(port: int = 50052, max_history_size: int = 10000):
        pass

    with pytest.raises(AssertionError):
        _assert_same_parameters(drifted, sdk_testing.create_test_backend, "drifted")

    def positional_extra(port: int = 50051, max_history_size: int = 10000, extra=None):
        pass

    with pytest.raises(AssertionError):
        _assert_same_parameters(positional_extra, sdk_testing.create_test_backend, "extra")

    def keyword_extra_not_none(port: int = 50051, max_history_size: int = 10000, *,
                               time_skipping=False):
        pass

    with pytest.raises(AssertionError):
        _assert_same_parameters(keyword_extra_not_none, sdk_testing.create_test_backend,
                                "keyword-only extra defaulting to False")


def test_everything_public_is_documented():
    for obj in (durabletask_rs, our_testing, our_module, OURS, OURS.start, OURS.stop, OURS.reset,
                OURS.port, OURS.address, our_testing.create_test_backend):
        assert inspect.getdoc(obj), f"{obj!r} has no docstring"


def test_no_runtime_dependency_on_the_sdk():
    from importlib.metadata import requires

    assert not requires("durabletask-rs")
    source = inspect.getsource(our_module)
    assert "import durabletask\n" not in source and "from durabletask." not in source


def test_the_quickstart_copy_changes_only_the_import():
    """test_sdk_quickstart.py is the SDK's Quick Start with one import changed: the only line
    that names durabletask_rs is that import (and the docstring that says so)."""
    from pathlib import Path

    source = (Path(__file__).with_name("test_sdk_quickstart.py")).read_text()
    code = source.split('"""', 2)[2]  # past the module docstring
    lines = [line for line in code.splitlines() if "durabletask_rs" in line]
    assert lines == ["from durabletask_rs.testing import create_test_backend"
                     "  # was: from durabletask.testing import ..."]
