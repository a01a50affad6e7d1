//! Conformance checks every Store implementation must pass.
