"""Compare our compiled orchestrator_service.proto descriptor with the durabletask SDK's.

Usage:
    check_descriptor.py DESCRIPTOR_SET   compare our encoded FileDescriptorSet with the SDK's
    check_descriptor.py --self-test      show that mutations of the SDK descriptor are reported

Everything is keyed by name, not declaration order: every message (top-level and nested, with
map-entry-ness), every field (number, type, type name, label, oneof, proto3_optional,
deprecated), every oneof, enum and enum value, every service method (input and output types,
streaming flags), the package, the syntax and the set of imports. Differences are printed
one per line as `<what>: <ours> != <sdk>`, and the exit status is 1 if there are any.
"""

import argparse
import copy
import sys
from importlib.metadata import version

from google.protobuf import descriptor_pb2

FDP = descriptor_pb2.FieldDescriptorProto
FILE_SUFFIX = "orchestrator_service.proto"


def sdk_file():
    """The SDK's orchestrator_service.proto as a FileDescriptorProto."""
    from durabletask.internal import orchestrator_service_pb2 as pb

    proto = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(proto)
    return proto


def our_file(path):
    """Our orchestrator_service.proto, picked out of the encoded FileDescriptorSet at `path`."""
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    matches = [f for f in fds.file if f.name.endswith(FILE_SUFFIX)]
    if len(matches) != 1:
        names = ", ".join(f.name for f in fds.file)
        sys.exit(f"expected one file ending in {FILE_SUFFIX} in {path}, found: {names}")
    return matches[0]


def summarize(fp):
    """A name-keyed, order-free model of a FileDescriptorProto: {kind: {name: attributes}}."""
    package = fp.package

    def type_name(name):
        name = name.lstrip(".")
        if package and name.startswith(package + "."):
            name = name[len(package) + 1 :]
        return name

    model = {
        "file": {
            "": {
                "package": package,
                "syntax": fp.syntax or "proto2",
                "dependencies": sorted(set(fp.dependency)),
            }
        },
        "message": {},
        "field": {},
        "enum": {},
        "enum value": {},
        "method": {},
    }

    def add_enum(enum, prefix):
        name = prefix + enum.name
        model["enum"][name] = {"values": sorted(v.name for v in enum.value)}
        for value in enum.value:
            model["enum value"][f"{name}.{value.name}"] = {"number": value.number}

    def add_message(msg, prefix):
        name = prefix + msg.name
        oneofs = [o.name for o in msg.oneof_decl]
        model["message"][name] = {
            "map_entry": msg.options.map_entry,
            "oneofs": sorted(oneofs),
            "fields": sorted(f.name for f in msg.field),
        }
        for field in msg.field:
            model["field"][f"{name}.{field.name}"] = {
                "number": field.number,
                "type": FDP.Type.Name(field.type),
                "type_name": type_name(field.type_name),
                "label": FDP.Label.Name(field.label),
                "oneof": oneofs[field.oneof_index] if field.HasField("oneof_index") else None,
                "proto3_optional": field.proto3_optional,
                "deprecated": field.options.deprecated,
            }
        for nested in msg.nested_type:
            add_message(nested, name + ".")
        for enum in msg.enum_type:
            add_enum(enum, name + ".")

    for msg in fp.message_type:
        add_message(msg, "")
    for enum in fp.enum_type:
        add_enum(enum, "")
    for service in fp.service:
        for method in service.method:
            model["method"][f"{service.name}.{method.name}"] = {
                "input_type": type_name(method.input_type),
                "output_type": type_name(method.output_type),
                "client_streaming": method.client_streaming,
                "server_streaming": method.server_streaming,
            }
    return model


def compare(ours, sdk):
    """Every difference between two FileDescriptorProtos, one line each (ours != sdk)."""
    a, b = summarize(ours), summarize(sdk)
    diffs = []
    for kind in a:
        for name in sorted(set(a[kind]) | set(b[kind])):
            label = f"{kind} {name}" if name else kind
            if name not in b[kind]:
                diffs.append(f"{label}: missing in the SDK")
            elif name not in a[kind]:
                diffs.append(f"{label}: missing in ours")
            else:
                for attr, ours_value in a[kind][name].items():
                    sdk_value = b[kind][name][attr]
                    if ours_value != sdk_value:
                        diffs.append(f"{label}: {attr} {ours_value} != {sdk_value}")
    return diffs


def counts(fp):
    model = summarize(fp)
    return len(model["message"]), len(model["enum"]), len(model["method"])


def check(path):
    sdk_version = version("durabletask")
    diffs = compare(our_file(path), sdk_file())
    if diffs:
        print(f"descriptor check: {len(diffs)} differences (ours != durabletask {sdk_version}):")
        for line in diffs:
            print(f"  {line}")
        return 1
    messages, enums, methods = counts(sdk_file())
    print(
        f"descriptor check: {messages} messages, {enums} enums, {methods} methods "
        f"identical to durabletask {sdk_version}"
    )
    return 0


# Self-test: each mutation changes a copy of the SDK descriptor and returns the start of the
# line the comparison must report for it.


def all_messages(fp):
    def walk(msgs, prefix):
        for msg in msgs:
            yield prefix + msg.name, msg
            yield from walk(msg.nested_type, prefix + msg.name + ".")

    return list(walk(fp.message_type, ""))


def other_type(name):
    empty = ".google.protobuf.Empty"
    return empty if name != empty else ".google.protobuf.Struct"


def first_field(fp, predicate):
    for name, msg in all_messages(fp):
        for field in msg.field:
            if predicate(msg, field):
                return name, field
    raise AssertionError("self-test: no field fits the mutation")


def mutate_number(fp):
    name, field = first_field(fp, lambda m, f: True)
    field.number += 1000
    return f"field {name}.{field.name}: number"


def mutate_type(fp):
    name, field = first_field(fp, lambda m, f: f.type == FDP.TYPE_STRING)
    field.type = FDP.TYPE_BYTES
    return f"field {name}.{field.name}: type"


def mutate_type_name(fp):
    name, field = first_field(fp, lambda m, f: f.type == FDP.TYPE_MESSAGE)
    field.type_name = other_type(field.type_name)
    return f"field {name}.{field.name}: type_name"


def mutate_label(fp):
    name, field = first_field(
        fp, lambda m, f: f.label == FDP.LABEL_OPTIONAL and not f.HasField("oneof_index")
    )
    field.label = FDP.LABEL_REPEATED
    return f"field {name}.{field.name}: label"


def mutate_oneof(fp):
    name, field = first_field(
        fp, lambda m, f: f.HasField("oneof_index") and not f.proto3_optional
    )
    field.ClearField("oneof_index")
    return f"field {name}.{field.name}: oneof"


def mutate_proto3_optional(fp):
    name, field = first_field(fp, lambda m, f: True)
    field.proto3_optional = not field.proto3_optional
    return f"field {name}.{field.name}: proto3_optional"


def mutate_deprecated(fp):
    name, field = first_field(fp, lambda m, f: not f.options.deprecated)
    field.options.deprecated = True
    return f"field {name}.{field.name}: deprecated"


def mutate_map_key(fp):
    entry_name, entry = next((n, m) for n, m in all_messages(fp) if m.options.map_entry)
    key = next(f for f in entry.field if f.name == "key")
    key.type = FDP.TYPE_INT64 if key.type != FDP.TYPE_INT64 else FDP.TYPE_STRING
    return f"field {entry_name}.key: type"


def mutate_enum_value_name(fp):
    enum = fp.enum_type[0]
    old = enum.value[0].name
    enum.value[0].name = old + "_RENAMED"
    return f"enum value {enum.name}.{old}: missing in ours"


def mutate_enum_value_number(fp):
    enum = fp.enum_type[0]
    enum.value[-1].number += 100
    return f"enum value {enum.name}.{enum.value[-1].name}: number"


def mutate_server_streaming(fp):
    service = fp.service[0]
    method = next(m for m in service.method if not m.server_streaming)
    method.server_streaming = True
    return f"method {service.name}.{method.name}: server_streaming True != False"


def mutate_client_streaming(fp):
    service = fp.service[0]
    method = service.method[0]
    method.client_streaming = not method.client_streaming
    return f"method {service.name}.{method.name}: client_streaming"


def mutate_input_type(fp):
    service = fp.service[0]
    method = service.method[0]
    method.input_type = other_type(method.input_type)
    return f"method {service.name}.{method.name}: input_type"


def mutate_drop_message(fp):
    msg = fp.message_type[-1]
    del fp.message_type[-1]
    return f"message {msg.name}: missing in ours"


def mutate_drop_method(fp):
    service = fp.service[0]
    method = service.method[-1]
    del service.method[-1]
    return f"method {service.name}.{method.name}: missing in ours"


def mutate_dependency(fp):
    del fp.dependency[-1]
    return "file: dependencies"


def mutate_package(fp):
    fp.package = "mutated"
    return "file: package"


MUTATIONS = [
    mutate_number,
    mutate_type,
    mutate_type_name,
    mutate_label,
    mutate_oneof,
    mutate_proto3_optional,
    mutate_deprecated,
    mutate_map_key,
    mutate_enum_value_name,
    mutate_enum_value_number,
    mutate_server_streaming,
    mutate_client_streaming,
    mutate_input_type,
    mutate_drop_message,
    mutate_drop_method,
    mutate_dependency,
    mutate_package,
]


def self_test():
    sdk = sdk_file()
    baseline = compare(sdk, copy.deepcopy(sdk))
    if baseline:
        print("descriptor self-test: the SDK descriptor differs from a copy of itself:")
        print("\n".join(f"  {line}" for line in baseline))
        return 1
    failures = []
    for mutation in MUTATIONS:
        mutated = copy.deepcopy(sdk)
        expected = mutation(mutated)
        diffs = compare(mutated, sdk)
        if not any(line.startswith(expected) for line in diffs):
            failures.append(f"  {mutation.__name__}: expected `{expected}...`, got {diffs}")
    if failures:
        print("descriptor self-test: mutations not detected:")
        print("\n".join(failures))
        return 1
    print(f"descriptor self-test: {len(MUTATIONS)} mutations detected")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("descriptor_set", nargs="?", help="our encoded FileDescriptorSet")
    parser.add_argument("--self-test", action="store_true", help="check that mutations are reported")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.descriptor_set:
        parser.error("give DESCRIPTOR_SET or --self-test")
    return check(args.descriptor_set)


if __name__ == "__main__":
    sys.exit(main())
