//! Translator unit tests.
