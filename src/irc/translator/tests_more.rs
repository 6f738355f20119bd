//! More translator unit tests.
