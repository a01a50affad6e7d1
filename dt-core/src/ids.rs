//! Identifier newtypes, so an instance id is never passed where an execution id is meant.

use std::fmt;

/// The user-visible id of an orchestration instance (or of an entity, `@name@key`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(String);

/// The id of one execution of an instance; continue-as-new, restart and rewind start new ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutionId(String);

macro_rules! string_id {
    ($t:ident) => {
        impl $t {
            /// Wraps an id string.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $t {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $t {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }
    };
}

string_id!(InstanceId);
string_id!(ExecutionId);
